"""IRIS (Mandlekar et al. 2020): HBC whose planner proposes subgoals with a GL_VAE and keeps the one a BCQ
value function rates highest.

Built by composing the "gl", "bcq" and "bc" factories: `ValuePlanner` = GL_VAE + BCQ (trained side by side
on the same windows), and IRIS = HBC with the value planner in place of the GL planner.
"""

from collections import OrderedDict

import torch

from robokit.algo.base import PlannerAlgo, ValueAlgo
from robokit.algo.composed import ComposedAlgo
from robokit.algo.hbc import HBC
from robokit.algo.registry import algo_name_to_factory_func, register_algo_factory_func
from robokit.algo.value_utils import tile
from robokit.errors import ConfigError
from robokit.utils import batch_keys as K


@register_algo_factory_func("iris")
def algo_config_to_class(algo_config):
    if algo_config.latent_subgoal.enabled:
        raise ConfigError("IRIS does not support latent subgoals; set algo.latent_subgoal.enabled=false")
    actor_cls, _ = algo_name_to_factory_func("bc")(algo_config.actor)
    planner_cls, _ = algo_name_to_factory_func("gl")(algo_config.value_planner.planner)
    value_cls, _ = algo_name_to_factory_func("bcq")(algo_config.value_planner.value)
    return IRIS, dict(planner_algo_class=planner_cls, value_algo_class=value_cls, policy_algo_class=actor_cls)


class ValuePlanner(ComposedAlgo, PlannerAlgo, ValueAlgo):
    """Samples `num_samples` subgoals from the planner and returns the one with the highest value V(subgoal)."""

    def __init__(self, planner_algo_class, value_algo_class, algo_config, obs_config, global_config,
                 obs_key_shapes, ac_dim, device):
        self._init_common(algo_config, obs_config, global_config, ac_dim, device)
        self.planner = planner_algo_class(algo_config.planner, obs_config.planner, global_config, obs_key_shapes,
                                          ac_dim, device)
        self.value = value_algo_class(algo_config.value, obs_config.value, global_config, obs_key_shapes,
                                      ac_dim, device)
        self._set_parts({"planner": self.planner, "value": self.value})
        self.subgoal_shapes = self.planner.subgoal_shapes
        # the value scores subgoals; the only other input it may take is the instruction (language conditioning)
        instruction = {k: v for k, v in self.value.obs_shapes.items() if k == K.LANG}
        self.obs_shapes = OrderedDict(sorted({**self.planner.obs_shapes, **instruction}.items()))
        self.goal_shapes = self.planner.goal_shapes
        self.obs_modalities = {**self.value.obs_modalities, **self.planner.obs_modalities}

    def subgoal_targets(self, processed: dict) -> dict:
        return self.planner.subgoal_targets(processed["planner"])

    def planner_inputs(self, processed: dict) -> tuple[dict, dict | None]:
        return self.planner.planner_inputs(processed["planner"])

    def sample_subgoals(self, obs_dict: dict, goal_dict: dict | None = None, num_samples: int = 1) -> dict:
        obs = {k: obs_dict[k] for k in self.planner.obs_shapes}
        return self.planner.sample_subgoals(obs, goal_dict, num_samples)

    def get_subgoal_predictions(self, obs_dict: dict, goal_dict: dict | None = None) -> dict:
        """The best of `num_samples` proposals per observation: {k: (B, *shape)}. The value rates each proposal
        as its observation, with the observation's instruction (obs key LANG) when it is language-conditioned."""
        n = self.algo_config.num_samples
        proposals = self.sample_subgoals(obs_dict, goal_dict, n)  # {k: (B, N, *shape)}
        flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in proposals.items()}  # {k: (B * N, *shape)}
        if K.LANG in self.value.obs_shapes:
            flat[K.LANG] = tile({K.LANG: obs_dict[K.LANG]}, n)[K.LANG]  # (B * N, V), proposal-major like flat
        value_goal = None
        if self.value.goal_shapes:
            value_goal = tile({k: goal_dict[k] for k in self.value.goal_shapes}, n)
        with torch.no_grad():
            values = self.get_state_value({k: flat[k] for k in self.value.obs_shapes}, value_goal).reshape(-1, n)
        best = values.argmax(dim=1)  # (B,)
        rows = torch.arange(best.shape[0], device=best.device)
        return {k: v[rows, best] for k, v in proposals.items()}

    def get_state_value(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        return self.value.get_state_value(obs_dict, goal_dict)

    def get_state_action_value(self, obs_dict: dict, actions: torch.Tensor, goal_dict: dict | None = None):
        return self.value.get_state_action_value(obs_dict, actions, goal_dict)


class IRIS(HBC, ValueAlgo):
    """HBC with a value planner: planner (GL_VAE) + value (BCQ) + goal-conditioned actor (BC_RNN)."""

    def __init__(self, planner_algo_class, value_algo_class, policy_algo_class, algo_config, obs_config,
                 global_config, obs_key_shapes, ac_dim, device):
        super().__init__(planner_algo_class, policy_algo_class, algo_config, obs_config, global_config,
                         obs_key_shapes, ac_dim, device, value_algo_class=value_algo_class)

    def _make_planner(self, planner_algo_class, obs_key_shapes, value_algo_class=None):
        return ValuePlanner(planner_algo_class, value_algo_class, self.algo_config.value_planner,
                            self.obs_config.value_planner, self.global_config, obs_key_shapes, self.ac_dim, self.device)

    def get_state_value(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        return self.planner.get_state_value(obs_dict, goal_dict)

    def get_state_action_value(self, obs_dict: dict, actions: torch.Tensor, goal_dict: dict | None = None):
        return self.planner.get_state_action_value(obs_dict, actions, goal_dict)
