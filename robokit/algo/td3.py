"""TD3 (Fujimoto et al. 2018): twin critics, target policy smoothing and delayed actor updates; DDPG as config.

One gradient step (`train_on_batch`):
    critics: y = r + gamma * (1 - terminated) * min_k Q'_k(s', clip(mu'(s') + clip(eps, -c, c), -1, 1)),
             eps ~ N(0, noise_std);  loss = sum_k mean (Q_k(s, a) - y)^2
    every `actor.update_freq` steps: actor loss -mean Q_1(s, mu(s)), then Polyak updates of both targets.
DDPG is the same class with `algo.critic.ensemble.n=1 algo.actor.update_freq=1 algo.actor.noise_std=0`
(configs/ddpg.json).
"""

import torch

from robokit.algo.online_base import Exploration, OffPolicyAlgo, ensemble_td_loss, frozen_parameters
from robokit.algo.registry import register_algo_factory_func
from robokit.algo.value_utils import DelayedActorMixin, TargetNetworksMixin, smoothed_target_actions
from robokit.models.policy_nets import MLPPolicy
from robokit.models.value_nets import ActionValueNetwork, CriticEnsemble
from robokit.utils import batch_keys as K


@register_algo_factory_func("td3")
def algo_config_to_class(algo_config):
    """TD3 has one class; DDPG and other variants are config (critic count, delay, smoothing noise)."""
    return TD3, {}


class TD3(DelayedActorMixin, TargetNetworksMixin, OffPolicyAlgo):
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

    # ----- acting -----
    def explore(self, obs: dict) -> Exploration:
        """mu(s) + N(0, exploration_noise), clipped to [-1, 1]: (N, A)."""
        with torch.no_grad():
            actions = self.nets["actor"](obs)
            noise = torch.randn_like(actions) * self.algo_config.actor.exploration_noise
            return Exploration((actions + noise).clamp(-1.0, 1.0))

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """Deterministic action mu(s): obs {k: (B, *shape)} -> (B, A)."""
        self._check_eval()
        with torch.no_grad():
            return self.nets["actor"](obs_dict)

    # ----- learning -----
    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        """One critic step (and every `update_freq` steps an actor step) on a replay batch."""
        cfg = self.algo_config
        obs = batch[K.OBS]
        with torch.no_grad():
            next_actions = smoothed_target_actions(self.nets["actor_target"], batch[K.NEXT_OBS], cfg.actor)
            next_q = self.nets["critic_target"](batch[K.NEXT_OBS], next_actions)
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
