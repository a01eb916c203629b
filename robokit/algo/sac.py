"""Soft Actor-Critic (Haarnoja et al. 2018): twin critics, a tanh-squashed Gaussian actor, automatic entropy tuning.

One gradient step (`train_on_batch`), in Stable-Baselines3's order:
    1. sample a ~ pi(s), log pi(a|s) (reparameterised);  alpha loss -log(alpha) * (log pi + target_entropy)
    2. critics: y = r + gamma * (1 - terminated) * (min_k Q'_k(s', a') - alpha * log pi(a'|s')),  a' ~ pi(s')
       loss = sum_k mean (Q_k(s, a) - y)^2
    3. actor: mean(alpha * log pi(a|s) - min_k Q_k(s, a))
    4. every `target_update_interval` steps: Polyak update of the target critics
Fixed-alpha SAC is the same class with `algo.alpha.auto=false`.
"""

import math

import torch
from torch import nn

from robokit.algo.online_base import Exploration, OffPolicyAlgo, ensemble_td_loss, frozen_parameters
from robokit.algo.registry import register_algo_factory_func
from robokit.algo.value_utils import TargetNetworksMixin
from robokit.models.rl_policies import SquashedGaussianActor
from robokit.models.value_nets import ActionValueNetwork, CriticEnsemble
from robokit.utils import batch_keys as K


@register_algo_factory_func("sac")
def algo_config_to_class(algo_config):
    """SAC has one class; fixed or tuned entropy is config (`algo.alpha.auto`)."""
    return SAC, {}


class LogAlpha(nn.Module):
    """log(alpha) as a parameter (trainable when tuned automatically); `forward()` returns alpha."""

    def __init__(self, init: float, learn: bool):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.tensor(math.log(init) if init > 0 else -math.inf), requires_grad=learn)

    def forward(self) -> torch.Tensor:
        return self.log_alpha.exp()


class SAC(TargetNetworksMixin, OffPolicyAlgo):
    """Soft Actor-Critic; see the module docstring."""

    TARGET_NETS = ("critic",)

    def _create_networks(self) -> None:
        cfg = self.algo_config
        self.nets["actor"] = SquashedGaussianActor(
            self._make_encoder(), self.ac_dim, cfg.actor.layer_dims, cfg.actor.log_std_min, cfg.actor.log_std_max,
            cfg.actor.log_prob_epsilon,
        )
        self.nets["critic"] = CriticEnsemble(
            ActionValueNetwork(self._make_encoder(), self.ac_dim, cfg.critic.layer_dims)
            for _ in range(cfg.critic.ensemble.n)
        )
        self.nets["alpha"] = LogAlpha(cfg.alpha.init, learn=cfg.alpha.auto)
        target = cfg.alpha.target_entropy
        self.target_entropy = float(-self.ac_dim if target is None else target)
        self._num_updates = 0
        self._create_target_networks()

    # ----- acting -----
    def explore(self, obs: dict) -> Exploration:
        with torch.no_grad():
            return Exploration(self.nets["actor"].sample_actions(obs))

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """Deterministic action tanh(mean): obs {k: (B, *shape)} -> (B, A)."""
        self._check_eval()
        with torch.no_grad():
            return self.nets["actor"].mode(obs_dict)

    # ----- learning -----
    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        """One SAC step on {obs, next_obs, actions (B, A), rewards (B,), dones (B,)}; returns detached info."""
        cfg = self.algo_config
        obs, next_obs = batch[K.OBS], batch[K.NEXT_OBS]
        actor, critic, critic_target = self.nets["actor"], self.nets["critic"], self.nets["critic_target"]

        with torch.set_grad_enabled(not validate):
            # 1. the entropy coefficient, from this step's log pi
            actions_pi, log_prob = actor.sample(obs)  # (B, A), (B,)
            alpha = self.nets["alpha"]().detach()  # the value before this step, for the losses below
            info = {"Alpha": alpha, "Entropy": -log_prob.detach().mean()}
            if cfg.alpha.auto and not validate:
                alpha_loss = -(self.nets["alpha"].log_alpha * (log_prob.detach() + self.target_entropy)).mean()
                info["Alpha_Loss"] = alpha_loss.detach()
                self.backprop("alpha", alpha_loss)

            # 2. the critics, towards the soft TD target
            with torch.no_grad():
                next_actions, next_log_prob = actor.sample(next_obs)  # (B, A), (B,)
                next_q = critic_target(next_obs, next_actions).min(dim=0).values  # (B,)
                next_v = next_q - alpha * next_log_prob
                target = batch[K.REWARDS] + self.discount * (1.0 - batch[K.DONES]) * next_v  # (B,)
            q = critic(obs, batch[K.ACTIONS])  # (K, B)
            critic_loss = ensemble_td_loss(q, target, cfg.critic.use_huber)
            info.update(Critic_Loss=critic_loss.detach(), Q_Mean=q.detach().mean())
            if not validate:
                info["Critic/Grad_Norms"] = self.backprop("critic", critic_loss,
                                                          max_grad_norm=cfg.critic.max_gradient_norm)

            # 3. the actor, through the (just updated) critics, whose own parameters get no gradient
            with frozen_parameters(self.critic_parameters()):
                q_pi = critic(obs, actions_pi).min(dim=0).values  # (B,)
            actor_loss = (alpha * log_prob - q_pi).mean()
            info["Actor_Loss"] = actor_loss.detach()
            if validate:
                return info
            info["Actor/Grad_Norms"] = self.backprop("actor", actor_loss, max_grad_norm=cfg.actor.max_gradient_norm)

        # 4. the target critics
        self._num_updates += 1
        if self._num_updates % cfg.target_update_interval == 0:
            self.update_targets(cfg.target_tau)
        return info
