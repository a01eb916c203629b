"""Hierarchical behaviour cloning (GTI, Mandlekar et al. 2020): a GL planner sets subgoals, a BC actor reaches them.

Built by composing the "gl" and "bc" factories. Training (`algo.mode`):
    separate  the actor trains toward the dataset's subgoals (the observation subgoal_horizon steps ahead)
    cascade   the actor trains toward the planner's predicted subgoals
The actor is a goal-conditioned BC policy whose goal keys are the subgoal keys (or "latent_subgoal", the
planner VAE's latent, with `algo.latent_subgoal.enabled`). Acting: a new subgoal every
`subgoal_update_interval` steps.
"""

from collections import OrderedDict
from copy import deepcopy

import torch

from robokit.algo.base import HierarchicalAlgo
from robokit.algo.composed import ComposedAlgo
from robokit.algo.registry import algo_name_to_factory_func, register_algo_factory_func
from robokit.config.observation import ModalityKeysConfig
from robokit.utils import batch_keys as K
from robokit.utils.tensors import to_device

LATENT_SUBGOAL = "latent_subgoal"  # the actor's goal key when conditioning on the planner VAE's latent


@register_algo_factory_func("hbc")
def algo_config_to_class(algo_config):
    actor_cls, _ = algo_name_to_factory_func("bc")(algo_config.actor)
    planner_cls, _ = algo_name_to_factory_func("gl")(algo_config.planner)
    return HBC, dict(planner_algo_class=planner_cls, policy_algo_class=actor_cls)


class HBC(ComposedAlgo, HierarchicalAlgo):
    """Planner (GL / GL_VAE) + goal-conditioned actor (BC / BC_RNN)."""

    def __init__(self, planner_algo_class, policy_algo_class, algo_config, obs_config, global_config,
                 obs_key_shapes, ac_dim, device, **planner_kwargs):
        self._init_common(algo_config, obs_config, global_config, ac_dim, device)
        self.planner = self._make_planner(planner_algo_class, obs_key_shapes, **planner_kwargs)
        if algo_config.latent_subgoal.enabled:
            self.actor_goal_shapes = OrderedDict([(LATENT_SUBGOAL, (self.planner.latent_dim,))])
        else:
            self.actor_goal_shapes = OrderedDict(self.planner.subgoal_shapes)
        actor_obs_config = deepcopy(obs_config.actor)
        actor_obs_config.modalities.goal = ModalityKeysConfig(low_dim=list(self.actor_goal_shapes))
        self.actor = policy_algo_class(algo_config.actor, actor_obs_config, global_config,
                                       {**obs_key_shapes, **self.actor_goal_shapes}, ac_dim, device)
        self._set_parts({"planner": self.planner, "actor": self.actor})
        self.obs_shapes = OrderedDict(sorted({**self.planner.obs_shapes, **self.actor.obs_shapes}.items()))
        self.goal_shapes = self.planner.goal_shapes
        self.obs_modalities = {**self.planner.obs_modalities, **self.actor.obs_modalities}
        self.reset()

    def _make_planner(self, planner_algo_class, obs_key_shapes, **kwargs):
        return planner_algo_class(self.algo_config.planner, self.obs_config.planner, self.global_config,
                                  obs_key_shapes, self.ac_dim, self.device, **kwargs)

    @property
    def _latent(self) -> bool:
        return self.algo_config.latent_subgoal.enabled

    # ----- training -----
    def _actor_goals(self, batch: dict, planner_batch: dict) -> dict:
        """The actor's goals for a batch: the planner's subgoal targets, or the observation a random number of
        steps ahead, or their VAE latents."""
        subgoals = self.planner.subgoal_targets(planner_batch)
        if self.algo_config.actor_use_random_subgoals:
            next_obs = batch[K.NEXT_OBS]
            first = next(iter(next_obs.values()))
            steps = torch.randint(0, first.shape[1], (first.shape[0],))  # (B,) window step of the subgoal
            rows = torch.arange(first.shape[0])
            subgoals = to_device({k: next_obs[k][rows, steps] for k in self.planner.subgoal_shapes}, self.device)
        if not self._latent:
            return subgoals
        correction = self.algo_config.latent_subgoal.prior_correction
        latent = self.planner.encode_subgoals(planner_batch[K.OBS], planner_batch.get(K.GOAL_OBS), subgoals,
                                              correction.num_samples if correction.enabled else 0)
        return {LATENT_SUBGOAL: latent}

    def process_batch_for_training(self, batch: dict) -> dict:
        planner_batch = self.planner.process_batch_for_training(batch)
        goals = self._actor_goals(batch, planner_batch)
        actor_batch = self.actor.process_batch_for_training({**batch, K.GOAL_OBS: goals})
        return {"planner": planner_batch, "actor": actor_batch}

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        info = {"planner": self.planner.train_on_batch(batch["planner"], epoch, validate=validate)}
        actor_batch = batch["actor"]
        if self.algo_config.mode == "cascade":  # the actor learns to follow the planner's own predictions
            predicted = self._predict_subgoals(self.planner.planner_inputs(batch["planner"]))
            actor_batch = {**actor_batch, K.GOAL_OBS: predicted}
        info["actor"] = self.actor.train_on_batch(actor_batch, epoch, validate=validate)
        return info

    # ----- deployment -----
    def _predict_subgoals(self, inputs: tuple[dict, dict | None]) -> dict:
        obs, goal = inputs
        if self._latent:
            return {LATENT_SUBGOAL: self.planner.sample_latent_subgoals(obs, goal)}
        return self.planner.get_subgoal_predictions(obs, goal)

    @property
    def current_subgoal(self) -> dict | None:
        """The subgoal the actor is following: {k: (B, *shape)}, or None before the first action."""
        return None if self._current_subgoal is None else {k: v.clone() for k, v in self._current_subgoal.items()}

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """obs {k: (B, *shape)} -> actions (B, A); re-plans every `subgoal_update_interval` calls."""
        batch_size = next(iter(obs_dict.values())).shape[0]
        stale = self._current_subgoal is None or next(iter(self._current_subgoal.values())).shape[0] != batch_size
        if stale or self._step % self.algo_config.subgoal_update_interval == 0:
            planner_obs = {k: obs_dict[k] for k in self.planner.obs_shapes}
            self._current_subgoal = self._predict_subgoals((planner_obs, goal_dict))
        self._step += 1
        actor_obs = {k: obs_dict[k] for k in self.actor.obs_shapes}
        return self.actor.get_action(actor_obs, self._current_subgoal)

    def reset(self) -> None:
        super().reset()
        self._current_subgoal, self._step = None, 0
