"""Soft Actor-Critic (Haarnoja et al. 2018): twin critics, a tanh-squashed Gaussian actor, automatic entropy tuning.

One gradient step (`train_on_batch`), in Stable-Baselines3's order:
    1. sample a ~ pi(s), log pi(a|s) (reparameterised);  alpha loss -log(alpha) * (log pi + target_entropy)
    2. critics: y = r + gamma * (1 - terminated) * (min_k Q'_k(s', a') - alpha * log pi(a'|s')),  a' ~ pi(s')
       loss = sum_k mean (Q_k(s, a) - y)^2
    3. actor: mean(alpha * log pi(a|s) - min_k Q_k(s, a))
    4. every `target_update_interval` steps: Polyak update of the target critics
Fixed-alpha SAC is the same class with `algo.alpha.auto=false`.

With plain ReLU MLPs on low-dim observations and `train.manual_backward` on (the default), the step runs the
networks through hand-written backward passes (`robokit.models.mlp_backprop`) instead of autograd: the same
gradients, 15-37% less time per step on a CPU. The derivatives of the squashed Gaussian, with eps the noise
of the reparameterised sample u = mean + eps * std, a = tanh(u), and epsilon = `algo.actor.log_prob_epsilon`
(1e-6, as in the SAC authors' code and Stable-Baselines3; 0 is the exact correction),
log pi = sum(-eps^2/2 - log_std - log(2 pi)/2) - sum log(1 - a^2 + epsilon):
    d log pi / d mean = 2a s,    d log pi / d log_std = 2a s * eps * std - 1,    d a / d u = 1 - a^2,
with s = (1 - a^2) / (1 - a^2 + epsilon) (s = 1 for the exact correction).
"""

import math

import torch
from torch import nn

from robokit.algo.online_base import (Exploration, OffPolicyAlgo, action_gradient, compute_dtype, critic_passes,
                                     ensemble_td_loss, frozen_parameters, low_dim_only)
from robokit.algo.registry import register_algo_factory_func
from robokit.algo.value_utils import TargetNetworksMixin
from robokit.models.mlp_backprop import ReluMLPPass
from robokit.models.rl_policies import SquashedGaussianActor, squashed_gaussian_sample
from robokit.models.value_nets import ActionValueNetwork, CriticEnsemble
from robokit.utils import batch_keys as K


def log_prob_slope(actions: torch.Tensor, squash_slope: torch.Tensor, epsilon: float) -> torch.Tensor:
    """d log pi / d u of the squashed Gaussian through its tanh correction: 2a, or 2a (1 - a^2) / (1 - a^2 +
    epsilon) for Stable-Baselines3's form; actions a and squash_slope 1 - a^2 (B, A)."""
    if epsilon > 0:
        return 2.0 * actions * squash_slope / (squash_slope + epsilon)
    return 2.0 * actions


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
        self._passes = self._make_passes()

    def _make_passes(self) -> dict | None:
        """The networks as `ReluMLPPass`es when the step can run by hand (see the module docstring), else None."""
        actor = self.nets["actor"]
        if not self.manual_backward() or not low_dim_only(actor.encoder):
            return None
        passes = {"actor": ReluMLPPass.of(actor.trunk, actor.head), "critic": critic_passes(self.nets["critic"]),
                  "critic_target": critic_passes(self.nets["critic_target"])}
        if None in passes.values() or not ReluMLPPass.covers([passes["actor"]], actor):
            return None
        return passes

    # ----- acting -----
    def explore(self, obs: dict) -> Exploration:
        with torch.no_grad():
            return Exploration(self.nets["actor"].sample_actions(obs))

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """Deterministic action tanh(mean): obs {k: (B, *shape)} -> (B, A)."""
        with torch.no_grad():
            return self.nets["actor"].mode(obs_dict)

    # ----- learning -----
    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        """One SAC step on {obs, next_obs, actions (B, A), rewards (B,), dones (B,)}; returns detached info."""
        if self._passes is not None and not validate:
            return self._train_on_batch_by_hand(batch)
        cfg = self.algo_config
        obs, next_obs = batch[K.OBS], batch[K.NEXT_OBS]
        actor, critic, critic_target = self.nets["actor"], self.nets["critic"], self.nets["critic_target"]

        with torch.set_grad_enabled(not validate):
            actions_pi, log_prob = actor.sample(obs)  # (B, A), (B,)
            alpha_module = self.nets["alpha"]
            info = {}
            if cfg.alpha.auto and not validate:
                alpha_loss = -(alpha_module.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
                info["Alpha_Loss"] = alpha_loss.detach()
                alpha = alpha_module().detach()  # the value before this step, for the losses below
                self.backprop("alpha", alpha_loss)
            else:
                alpha = alpha_module().detach()

            with torch.no_grad():
                next_actions, next_log_prob = actor.sample(next_obs)  # (B, A), (B,)
                next_q = critic_target(next_obs, next_actions).min(dim=0).values  # (B,)
                next_v = next_q - alpha * next_log_prob
                target = batch[K.REWARDS] + self.discount * (1.0 - batch[K.DONES]) * next_v  # (B,)
            q = critic(obs, batch[K.ACTIONS])  # (K, B)
            critic_loss = ensemble_td_loss(q, target, cfg.critic.use_huber)
            if not validate:
                info["Critic/Grad_Norms"] = self.backprop("critic", critic_loss,
                                                          max_grad_norm=cfg.critic.max_gradient_norm)

            with frozen_parameters(self.critic_parameters()):
                q_pi = critic(obs, actions_pi).min(dim=0).values  # (B,)
            actor_loss = (alpha * log_prob - q_pi).mean()
            if not validate:
                info["Actor/Grad_Norms"] = self.backprop("actor", actor_loss, max_grad_norm=cfg.actor.max_gradient_norm)
                self._num_updates += 1
                if self._num_updates % cfg.target_update_interval == 0:
                    self.update_targets(cfg.target_tau)

        info.update({
            "Critic_Loss": critic_loss.detach(),
            "Actor_Loss": actor_loss.detach(),
            "Q_Mean": q.detach().mean(),
            "Alpha": alpha,
            "Entropy": -log_prob.detach().mean(),
        })
        return info

    def _samples_by_hand(self, obs: torch.Tensor, next_obs: torch.Tensor, dtype: torch.dtype):
        """`actor.sample` of obs and of next_obs (B, D each) in one pass of the actor over both: actions (B, A)
        and log pi (B,) of each, and what the backward of the obs half needs."""
        actor, n = self.nets["actor"], obs.shape[0]
        out, cache = self._passes["actor"].forward(torch.cat([obs, next_obs]), dtype)  # (2B, 2A): mean, raw log_std
        mean, raw_log_std = out.chunk(2, dim=-1)
        log_std = raw_log_std.clamp(actor.log_std_min, actor.log_std_max)
        eps = torch.cat([torch.randn_like(mean[:n]), torch.randn_like(mean[n:])])  # autograd's two draws, in order
        actions, log_prob, _ = squashed_gaussian_sample(mean, log_std, eps, actor.log_prob_epsilon)
        in_range = raw_log_std[:n] == log_std[:n]  # where the clamp passes the gradient on (bounds included)
        saved = (cache.first_rows(n), in_range, eps[:n], log_std[:n].exp())
        return (actions[:n], log_prob[:n]), (actions[n:], log_prob[n:]), saved

    @torch.no_grad()
    def _train_on_batch_by_hand(self, batch: dict) -> dict:
        """`train_on_batch` with the networks' gradients written out: the same steps, values and info (its losses
        and means only when `log_diagnostics` asks for them)."""
        cfg, passes, actor = self.algo_config, self._passes, self.nets["actor"]
        dtype = compute_dtype(self.device)
        with torch.autocast(self.device.type, enabled=False):
            # the weights changed since the last step (optimisers, target updates, checkpoints)
            ReluMLPPass.refresh([passes["actor"], *passes["critic"], *passes["critic_target"]], dtype)
            obs, next_obs = actor.encoder(batch[K.OBS]), actor.encoder(batch[K.NEXT_OBS])  # (B, D)

            (actions_pi, log_prob), (next_actions, next_log_prob), actor_saved = \
                self._samples_by_hand(obs, next_obs, dtype)
            alpha_module, info = self.nets["alpha"], {}
            alpha = alpha_module().detach()  # the value before this step, for the losses below
            if cfg.alpha.auto:  # loss -mean(log alpha * (log pi + target entropy)), linear in log alpha
                entropy_gap = (log_prob + self.target_entropy).mean()
                if self.log_diagnostics:
                    info["Alpha_Loss"] = -alpha_module.log_alpha.detach() * entropy_gap
                log_alpha = alpha_module.log_alpha
                if log_alpha.grad is None:
                    log_alpha.grad = torch.zeros_like(log_alpha)
                torch.neg(entropy_gap, out=log_alpha.grad)  # the whole gradient: nothing to zero first
                self.apply_gradients("alpha")

            next_x = torch.cat([next_obs, next_actions], dim=-1)
            next_q = torch.cat([p.forward(next_x, dtype, keep=False)[0] for p in passes["critic_target"]],
                               dim=1).amin(dim=1)  # (B, K) -> (B,)
            target = batch[K.REWARDS] + self.discount * (1.0 - batch[K.DONES]) * (next_q - alpha * next_log_prob)
            q, critic_loss, info["Critic/Grad_Norms"] = self._critic_step_by_hand(
                passes["critic"], torch.cat([obs, batch[K.ACTIONS]], dim=-1), target, dtype)

            # actor loss mean(alpha * log pi - min_k Q_k(s, a)): the min's gradient goes to the smallest Q
            runs = [p.forward(torch.cat([obs, actions_pi], dim=-1), dtype) for p in passes["critic"]]
            q_pi, smallest = torch.cat([out for out, _ in runs], dim=1).min(dim=1)  # (B, K) -> (B,)
            members = torch.arange(len(runs), device=q_pi.device).unsqueeze(-1)  # (K, 1)
            grad_q_pi = torch.where(members == smallest, -1.0 / q_pi.shape[0], 0.0)  # (K, B)
            grad_actions = action_gradient(passes["critic"], runs, grad_q_pi, self.ac_dim)  # (B, A)
            cache, in_range, eps, std = actor_saved
            grad_log_prob = alpha / q_pi.shape[0]  # dL/d log pi of each sample
            squash_slope = 1.0 - actions_pi.pow(2)  # d a / d u
            grad_u = grad_actions * squash_slope + grad_log_prob * log_prob_slope(actions_pi, squash_slope,
                                                                                  actor.log_prob_epsilon)
            grad_log_std = (grad_u * eps * std - grad_log_prob) * in_range
            passes["actor"].backward(cache, torch.cat([grad_u, grad_log_std], dim=-1))
            info["Actor/Grad_Norms"] = self.apply_gradients("actor", cfg.actor.max_gradient_norm)
            self._num_updates += 1
            if self._num_updates % cfg.target_update_interval == 0:
                self.update_targets(cfg.target_tau)

        info["Alpha"] = alpha
        if self.log_diagnostics:  # values only logging reads
            info.update({"Critic_Loss": critic_loss, "Actor_Loss": (alpha * log_prob - q_pi).mean(),
                         "Q_Mean": q.mean(), "Entropy": -log_prob.mean()})
        return info
