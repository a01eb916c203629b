"""Batch-constrained Q-learning: BCQ (VAE action sampler), BCQ_GMM and BCQ_Distributional (C51 critic).

A generative model of the dataset's actions (the action sampler) proposes N actions per state, an optional
perturbation actor nudges them, and the critics pick the best: the TD target maximises over proposals at
the next state, and acting maximises over `num_action_samples_rollout` proposals. Keeping the maximisation
to dataset-like actions is what makes the Q-learning safe offline.
"""

import torch
import torch.nn.functional as F

from robokit.algo.bc import action_vae_from_config, vae_losses
from robokit.algo.registry import register_algo_factory_func
from robokit.algo.value_utils import TDAlgo, ensemble_target, td_loss, tile
from robokit.errors import ConfigError
from robokit.models.policy_nets import MLPPolicy, PerturbationActor, VAEPolicy
from robokit.models.value_nets import CriticEnsemble, DistributionalActionValueNetwork, project_onto_atoms
from robokit.utils import batch_keys as K

SAMPLER_LOG_NAMES = {"loss": "Loss", "reconstruction_loss": "Reconstruction_Loss", "kl_loss": "KL_Loss"}


@register_algo_factory_func("bcq")
def algo_config_to_class(algo_config):
    """BCQ_Distributional if `critic.distributional.enabled`, else BCQ_GMM / BCQ by the action sampler."""
    sampler = algo_config.action_sampler
    if sampler.gmm.enabled == sampler.vae.enabled:
        raise ConfigError(
            "enable exactly one action sampler: algo.action_sampler.vae.enabled=true (BCQ) or "
            f"algo.action_sampler.gmm.enabled=true (BCQ_GMM); got vae={sampler.vae.enabled}, gmm={sampler.gmm.enabled}"
        )
    if algo_config.critic.distributional.enabled:
        if algo_config.critic.value_bounds is None:
            raise ConfigError("algo.critic.distributional.enabled needs algo.critic.value_bounds=[low, high] "
                              "for the atoms of the value distribution")
        if sampler.gmm.enabled:
            raise ConfigError("BCQ_Distributional uses the VAE action sampler; set algo.action_sampler.gmm.enabled="
                              "false and algo.action_sampler.vae.enabled=true")
        return BCQ_Distributional, {}
    return (BCQ_GMM if sampler.gmm.enabled else BCQ), {}


class BCQ(TDAlgo):
    """BCQ with a conditional-VAE action sampler (Fujimoto et al. 2019)."""

    TARGET_NETS = ("critic", "actor")

    # ----- networks -----
    def _create_networks(self) -> None:
        self.nets["critic"] = self._create_critics()
        self.nets["action_sampler"] = self._create_action_sampler()
        actor = self.algo_config.actor
        if actor.enabled:
            self.nets["actor"] = PerturbationActor(self._make_encoder(), self.ac_dim, actor.layer_dims,
                                                   actor.perturbation_scale)
        self._create_target_networks()

    def _create_critics(self) -> CriticEnsemble:
        return self._make_critics(self.algo_config.critic)

    def _create_action_sampler(self):
        encoder = self._make_encoder()
        vae = action_vae_from_config(self.algo_config.action_sampler.vae, encoder.output_dim, self.ac_dim)
        return VAEPolicy(encoder, vae)

    # ----- training -----
    def _trains(self, net: str, epoch: int, validate: bool) -> bool:
        return not validate and getattr(self.algo_config.optim_params, net).trains_in(epoch)

    def _action_sampler_loss(self, batch: dict, epoch: int) -> dict:
        """VAE ELBO on the dataset's actions; the encoder freezes from `freeze_encoder_epoch` on."""
        cfg = self.algo_config.action_sampler
        sampler = self.nets["action_sampler"]
        frozen = cfg.freeze_encoder_epoch != -1 and epoch >= cfg.freeze_encoder_epoch
        sampler.vae.encoder.requires_grad_(not frozen)
        reconstruction, kl = sampler.forward_train(batch[K.OBS], batch.get(K.GOAL_OBS), batch[K.ACTIONS])
        return vae_losses(reconstruction, kl, batch[K.ACTIONS], cfg.vae)

    def _sample_actions(self, obs: dict, goal: dict | None, target: bool) -> torch.Tensor:
        """Proposals (B, A) from the action sampler (in eval mode: low-noise GMMs), perturbed by the actor."""
        sampler = self.nets["action_sampler"]
        was_training = sampler.training
        sampler.eval()
        with torch.no_grad():
            actions = sampler(obs, goal)
            if not isinstance(actions, torch.Tensor):  # a distribution (GMM sampler)
                actions = actions.sample()
            if "actor" in self.nets:
                actions = self.nets["actor_target" if target else "actor"](obs, actions, goal)
        sampler.train(was_training)
        return actions

    def _td_targets(self, batch: dict) -> torch.Tensor:
        """r + (1 - done) * gamma^k * max over N proposals of the ensemble-combined target Q: (B,)."""
        n = self.algo_config.critic.num_action_samples
        next_obs, goal = tile(batch[K.NEXT_OBS], n), tile(batch.get(K.GOAL_OBS), n)  # (B * N, ...)
        with torch.no_grad():
            actions = self._sample_actions(next_obs, goal, target=True)  # (B * N, A)
            qs = self.nets["critic_target"](next_obs, actions, goal)  # (K, B * N)
            q = ensemble_target(qs, self.algo_config.critic.ensemble.weight).reshape(-1, n)  # (B, N)
            return self.bootstrap(batch, q.max(dim=1).values)

    def _critic_loss(self, batch: dict, info: dict) -> torch.Tensor:
        q_targets = self._td_targets(batch)  # (B,)
        qs = self.nets["critic"](batch[K.OBS], batch[K.ACTIONS], batch.get(K.GOAL_OBS))  # (K, B)
        losses = [td_loss(q, q_targets, self.algo_config.critic.use_huber) for q in qs]
        for i, loss in enumerate(losses):
            info[f"Critic/Critic{i + 1}_Loss"] = loss.detach()
        info["Critic/Q_Targets"] = q_targets.mean()
        return torch.stack(losses).sum()

    def _actor_loss(self, batch: dict) -> torch.Tensor:
        """DDPG loss of the perturbation actor on detached proposals: -Q1(s, actor(s, a~))."""
        obs, goal = batch[K.OBS], batch.get(K.GOAL_OBS)
        proposals = self._sample_actions(obs, goal, target=False)
        perturbed = self.nets["actor"](obs, proposals, goal)
        return -self.nets["critic"][0](obs, perturbed, goal).mean()

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        info = {}
        with torch.set_grad_enabled(not validate):
            sampler_losses = self._action_sampler_loss(batch, epoch)
            info.update({f"Action_Sampler/{SAMPLER_LOG_NAMES[k]}": v.detach() for k, v in sampler_losses.items()})
            if self._trains("action_sampler", epoch, validate):
                info["Action_Sampler/Grad_Norms"] = self.backprop("action_sampler", sampler_losses["loss"])

            critic_loss = self._critic_loss(batch, info)
            train_critic = self._trains("critic", epoch, validate)
            if train_critic:
                info["Critic/Grad_Norms"] = self.backprop("critic", critic_loss,
                                                          max_grad_norm=self.algo_config.critic.max_gradient_norm)

            train_actor = "actor" in self.nets and self._trains("actor", epoch, validate)
            if "actor" in self.nets:
                actor_loss = self._actor_loss(batch)
                info["Actor/Loss"] = actor_loss.detach()
                if train_actor:
                    info["Actor/Grad_Norms"] = self.backprop("actor", actor_loss)
        if train_critic:
            self.update_targets(self.algo_config.target_tau, ["critic"])
        if train_actor:
            self.update_targets(self.algo_config.target_tau, ["actor"])
        info["Loss"] = sampler_losses["loss"].detach() + critic_loss.detach() + info.get("Actor/Loss", 0.0)
        return info

    # ----- deployment -----
    def _best_action(self, obs: dict, goal: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Best of `num_action_samples_rollout` proposals under critic 1: (values (B,), actions (B, A))."""
        n = self.algo_config.critic.num_action_samples_rollout
        obs_tiled, goal_tiled = tile(obs, n), tile(goal, n)
        with torch.no_grad():
            actions = self._sample_actions(obs_tiled, goal_tiled, target=False)  # (B * N, A)
            values = self.nets["critic"][0](obs_tiled, actions, goal_tiled).reshape(-1, n)  # (B, N)
            best = values.argmax(dim=1)  # (B,)
            rows = torch.arange(best.shape[0], device=best.device)
            return values[rows, best], actions.reshape(-1, n, self.ac_dim)[rows, best]

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """obs {k: (B, *shape)} -> actions (B, A): the highest-valued of the sampled proposals."""
        self._check_eval()
        return self._best_action(obs_dict, goal_dict)[1]

    def get_state_value(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """V(s) = max over sampled proposals of Q1(s, a): (B,)."""
        return self._best_action(obs_dict, goal_dict)[0]

    def get_state_action_value(self, obs_dict: dict, actions: torch.Tensor, goal_dict: dict | None = None):
        """Q1(s, a): (B,)."""
        with torch.no_grad():
            return self.nets["critic"][0](obs_dict, actions, goal_dict)


class BCQ_GMM(BCQ):
    """BCQ whose action sampler is a GMM policy trained by maximum likelihood."""

    def _create_action_sampler(self):
        cfg = self.algo_config.action_sampler
        params = {k: v for k, v in cfg.gmm.to_dict().items() if k != "enabled"}
        return MLPPolicy(self._make_encoder(), self.ac_dim, cfg.actor_layer_dims, "gmm", params)

    def _action_sampler_loss(self, batch: dict, epoch: int) -> dict:
        dist = self.nets["action_sampler"](batch[K.OBS], batch.get(K.GOAL_OBS))
        return {"loss": -dist.log_prob(batch[K.ACTIONS]).mean()}


class BCQ_Distributional(BCQ):
    """BCQ with one C51 critic: a categorical distribution over values, trained by cross-entropy.

    `critic.ensemble` is ignored (a single critic), as in robomimic.
    """

    def _create_critics(self) -> CriticEnsemble:
        cfg = self.algo_config.critic
        return CriticEnsemble([DistributionalActionValueNetwork(
            self._make_encoder(), self.ac_dim, cfg.layer_dims, cfg.value_bounds, cfg.distributional.num_atoms)])

    def _td_targets(self, batch: dict) -> torch.Tensor:
        """Target probabilities (B, N_atoms): the best proposal's distribution, shifted by the Bellman backup and
        projected back onto the atoms."""
        n = self.algo_config.critic.num_action_samples
        next_obs, goal = tile(batch[K.NEXT_OBS], n), tile(batch.get(K.GOAL_OBS), n)
        critic = self.nets["critic_target"][0]
        with torch.no_grad():
            actions = self._sample_actions(next_obs, goal, target=True)  # (B * N, A)
            probs = F.softmax(critic.logits(next_obs, actions, goal), dim=-1)  # (B * N, Z)
            probs = probs.reshape(-1, n, probs.shape[-1])  # (B, N, Z)
            best = (probs @ critic.atoms).argmax(dim=1)  # (B,)
            best_probs = probs[torch.arange(best.shape[0], device=best.device), best]  # (B, Z)
            shifted = self.bootstrap(batch, critic.atoms.expand_as(best_probs))  # (B, Z) where the atoms move to
            return project_onto_atoms(shifted, best_probs, critic.atoms)

    def _critic_loss(self, batch: dict, info: dict) -> torch.Tensor:
        target_probs = self._td_targets(batch)  # (B, Z)
        critic = self.nets["critic"][0]
        log_probs = F.log_softmax(critic.logits(batch[K.OBS], batch[K.ACTIONS], batch.get(K.GOAL_OBS)), dim=-1)
        loss = F.kl_div(log_probs, target_probs, reduction="batchmean")
        info["Critic/Critic1_Loss"] = loss.detach()
        info["Critic/Q_Targets"] = (target_probs @ critic.atoms).mean()
        return loss
