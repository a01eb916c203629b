"""TD3 (Fujimoto et al. 2018): twin critics, target policy smoothing and delayed actor updates; DDPG as config.

One gradient step (`train_on_batch`):
    critics: y = r + gamma * (1 - terminated) * min_k Q'_k(s', clip(mu'(s') + clip(eps, -c, c), -1, 1)),
             eps ~ N(0, noise_std);  loss = sum_k mean (Q_k(s, a) - y)^2
    every `actor.update_freq` steps: actor loss -mean Q_1(s, mu(s)), then Polyak updates of both targets.
DDPG is the same class with `algo.critic.ensemble.n=1 algo.actor.update_freq=1 algo.actor.noise_std=0`
(configs/ddpg.json).

With plain ReLU MLPs on low-dim observations and `train.manual_backward` on (the default), the step runs the
networks through hand-written backward passes (`robokit.models.mlp_backprop`), as SAC's does: the same
gradients, with mu(s) = tanh(head(s)) and d mu / d head = 1 - mu^2.
"""

import torch

from robokit.algo.online_base import (Exploration, OffPolicyAlgo, action_gradient, compute_dtype, critic_passes,
                                     ensemble_td_loss, frozen_parameters, low_dim_only)
from robokit.algo.registry import register_algo_factory_func
from robokit.algo.value_utils import TargetNetworksMixin
from robokit.models.mlp_backprop import ReluMLPPass
from robokit.models.policy_nets import DeterministicHead, MLPPolicy
from robokit.models.value_nets import ActionValueNetwork, CriticEnsemble
from robokit.utils import batch_keys as K


@register_algo_factory_func("td3")
def algo_config_to_class(algo_config):
    """TD3 has one class; DDPG and other variants are config (critic count, delay, smoothing noise)."""
    return TD3, {}


class TD3(TargetNetworksMixin, OffPolicyAlgo):
    """Twin Delayed DDPG; see the module docstring."""

    TARGET_NETS = ("actor", "critic")

    def _create_networks(self) -> None:
        cfg = self.algo_config
        self.nets["actor"] = MLPPolicy(self._make_encoder(), self.ac_dim, cfg.actor.layer_dims, "deterministic")
        self.nets["critic"] = CriticEnsemble(
            ActionValueNetwork(self._make_encoder(), self.ac_dim, cfg.critic.layer_dims)
            for _ in range(cfg.critic.ensemble.n)
        )
        self._num_updates = 0
        self._create_target_networks()
        self._passes = self._make_passes()

    def _make_passes(self) -> dict | None:
        """The networks as `ReluMLPPass`es when the step can run by hand (see the module docstring), else None."""
        actors = {name: self.nets[name] for name in ("actor", "actor_target")}
        if not self.manual_backward() or not all(
                low_dim_only(a.encoder) and type(a.head) is DeterministicHead for a in actors.values()):
            return None
        passes = {name: ReluMLPPass.of(a.mlp, a.head.linear) for name, a in actors.items()}
        passes.update(critic=critic_passes(self.nets["critic"]), critic_target=critic_passes(self.nets["critic_target"]))
        if None in passes.values() or not ReluMLPPass.covers([passes["actor"]], actors["actor"]):
            return None
        return passes

    # ----- acting -----
    def explore(self, obs: dict) -> Exploration:
        """mu(s) + N(0, exploration_noise), clipped to [-1, 1]: (N, A)."""
        with torch.no_grad():
            actions = self.nets["actor"](obs)
            noise = torch.randn_like(actions) * self.algo_config.actor.exploration_noise
            return Exploration((actions + noise).clamp(-1.0, 1.0))

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """Deterministic action mu(s): obs {k: (B, *shape)} -> (B, A)."""
        with torch.no_grad():
            return self.nets["actor"](obs_dict)

    # ----- learning -----
    def target_actions(self, next_obs: dict) -> torch.Tensor:
        """Smoothed target-policy actions: clip(mu'(s') + clip(eps, -c, c), -1, 1), (B, A)."""
        actor_cfg = self.algo_config.actor
        actions = self.nets["actor_target"](next_obs)
        noise = (torch.randn_like(actions) * actor_cfg.noise_std).clamp(-actor_cfg.noise_clip, actor_cfg.noise_clip)
        return (actions + noise).clamp(-1.0, 1.0)

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        """One critic step (and every `update_freq` steps an actor step) on a replay batch."""
        if self._passes is not None and not validate:
            return self._train_on_batch_by_hand(batch)
        cfg = self.algo_config
        obs = batch[K.OBS]
        with torch.no_grad():
            next_q = self.nets["critic_target"](batch[K.NEXT_OBS], self.target_actions(batch[K.NEXT_OBS]))
            target = batch[K.REWARDS] + self.discount * (1.0 - batch[K.DONES]) * next_q.min(dim=0).values  # (B,)
        with torch.set_grad_enabled(not validate):
            q = self.nets["critic"](obs, batch[K.ACTIONS])  # (K, B)
            critic_loss = ensemble_td_loss(q, target, cfg.critic.use_huber)
            info = {"Critic_Loss": critic_loss.detach(), "Q_Mean": q.detach().mean()}
            if validate:
                return info
            info["Critic/Grad_Norms"] = self.backprop("critic", critic_loss, max_grad_norm=cfg.critic.max_gradient_norm)
            self._num_updates += 1
            if self._num_updates % cfg.actor.update_freq == 0:
                with frozen_parameters(self.critic_parameters()):
                    actor_loss = -self.nets["critic"][0](obs, self.nets["actor"](obs)).mean()
                info["Actor/Grad_Norms"] = self.backprop("actor", actor_loss, max_grad_norm=cfg.actor.max_gradient_norm)
                self.update_targets(cfg.target_tau)
                info["Actor_Loss"] = actor_loss.detach()
        return info

    @torch.no_grad()
    def _train_on_batch_by_hand(self, batch: dict) -> dict:
        """`train_on_batch` with the networks' gradients written out: the same steps, values and info (its losses
        and means only when `log_diagnostics` asks for them)."""
        cfg, passes, actor_cfg = self.algo_config, self._passes, self.algo_config.actor
        dtype = compute_dtype(self.device)
        with torch.autocast(self.device.type, enabled=False):
            # the weights changed since the last step (optimisers, target updates, checkpoints)
            ReluMLPPass.refresh([passes["actor"], passes["actor_target"], *passes["critic"], *passes["critic_target"]],
                                dtype)
            encoder = self.nets["actor"].encoder
            obs, next_obs = encoder(batch[K.OBS]), encoder(batch[K.NEXT_OBS])  # (B, D)
            next_actions = torch.tanh(passes["actor_target"].forward(next_obs, dtype, keep=False)[0])
            noise = (torch.randn_like(next_actions) * actor_cfg.noise_std).clamp(-actor_cfg.noise_clip,
                                                                                  actor_cfg.noise_clip)
            next_x = torch.cat([next_obs, (next_actions + noise).clamp(-1.0, 1.0)], dim=-1)
            next_q = torch.stack([p.forward(next_x, dtype, keep=False)[0].squeeze(-1)
                                  for p in passes["critic_target"]]).min(dim=0).values  # (B,)
            target = batch[K.REWARDS] + self.discount * (1.0 - batch[K.DONES]) * next_q
            q, critic_loss, grad_norm = self._critic_step_by_hand(
                passes["critic"], torch.cat([obs, batch[K.ACTIONS]], dim=-1), target, dtype)
            info = {"Critic/Grad_Norms": grad_norm}
            if self.log_diagnostics:  # values only logging reads
                info.update({"Critic_Loss": critic_loss, "Q_Mean": q.mean()})
            self._num_updates += 1
            if self._num_updates % actor_cfg.update_freq == 0:
                head, cache = passes["actor"].forward(obs, dtype)
                actions = torch.tanh(head)  # (B, A)
                run = passes["critic"][0].forward(torch.cat([obs, actions], dim=-1), dtype)
                grad_q = torch.full((1, actions.shape[0]), -1.0 / actions.shape[0], device=actions.device)
                grad_actions = action_gradient(passes["critic"][:1], [run], grad_q, self.ac_dim)  # (B, A)
                passes["actor"].backward(cache, grad_actions * (1.0 - actions.pow(2)))
                info["Actor/Grad_Norms"] = self.apply_gradients("actor", actor_cfg.max_gradient_norm)
                self.update_targets(cfg.target_tau)
                if self.log_diagnostics:
                    info["Actor_Loss"] = -run[0].mean()  # -mean Q_1(s, mu(s))
        return info
