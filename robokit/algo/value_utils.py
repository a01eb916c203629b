"""Pieces shared by the value-based algorithms (BCQ, CQL, IQL, TD3-BC, TD3): target networks and n-step transitions.

    n_step_transitions(batch, ...)       a window of T >= n steps -> (s, a, R^(n), s_n, done, gamma^k) transitions
    TargetNetworksMixin                  keeps `nets["<name>_target"]` copies, in eval mode, updated softly:
                                         target <- (1 - tau) * target + tau * source
    smoothed_target_actions, DelayedActorMixin   TD3's target policy smoothing and delayed actor (TD3, TD3-BC)
    TDAlgo                               their common base: n-step batches, critic ensembles, TD targets
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from robokit.algo.base import PolicyAlgo, ValueAlgo, scalars
from robokit.errors import ConfigError
from robokit.models.policy_nets import MLPPolicy
from robokit.models.value_nets import ActionValueNetwork, CriticEnsemble
from robokit.utils import batch_keys as K
from robokit.utils.tensors import to_device

DISCOUNTS = "discounts"  # batch key of the per-sample bootstrap discount gamma^k (B,)
ACTION_EPS = 1e-6  # dataset actions are clamped into (-1 + eps, 1 - eps) before a tanh-Gaussian log_prob


def td_loss(pred: torch.Tensor, target: torch.Tensor, use_huber: bool = False) -> torch.Tensor:
    """Mean squared (or Huber) TD error between predictions and detached targets of the same shape."""
    target = target.detach()
    return F.smooth_l1_loss(pred, target) if use_huber else F.mse_loss(pred, target)


def n_step_transitions(batch: dict, obs_keys, goal_keys, n_step: int, discount: float,
                       infinite_horizon: bool = False) -> dict:
    """Turn windows of T >= n_step steps (window step 0 is the sample's step t) into n-step transitions.

    Returns obs and actions at t, `rewards` R = sum_{i<k} gamma^i r_{t+i}, `next_obs` = the observation after
    the k-th step, `dones` (whether a done occurred within those k steps) and `discounts` = gamma^k, where
    k <= n_step stops at the first done and at the end of the episode (padded steps, `pad_mask` False).
    A bootstrapped target is then R + (1 - done) * discounts * V(next_obs). Shapes: rewards, dones,
    discounts (B,). `infinite_horizon` scales terminal rewards by 1 / (1 - gamma), as robomimic's BCQ does.
    """
    rewards = batch[K.REWARDS]  # (B, T)
    if rewards.shape[1] < n_step:
        raise ConfigError(f"algo.n_step={n_step} needs windows of at least {n_step} steps; "
                          f"set train.seq_length >= {n_step} (got {rewards.shape[1]})")
    rewards = rewards[:, :n_step].float()  # (B, n)
    dones = batch[K.DONES][:, :n_step].float() > 0  # (B, n)
    pad_mask = batch.get(K.PAD_MASK)
    real = pad_mask[:, :n_step].bool() if pad_mask is not None else torch.ones_like(dones)  # (B, n)
    # step i counts when it is real and no done happened at an earlier step (cumulative done before i)
    done_before = torch.cumsum(dones.long(), dim=1) - dones.long()  # (B, n)
    used = real & (done_before == 0)  # (B, n); step 0 is always used
    gammas = discount ** torch.arange(n_step, dtype=rewards.dtype, device=rewards.device)  # (n,)
    n_used = used.sum(dim=1)  # (B,) k >= 1
    out_rewards = (rewards * gammas * used).sum(dim=1)  # (B,)
    out_dones = (dones & used).any(dim=1).float()  # (B,)
    if infinite_horizon:
        out_rewards = torch.where(out_dones > 0, out_rewards / (1.0 - discount), out_rewards)
    last = (n_used - 1).clamp(min=0)  # (B,) window index of the k-th step
    rows = torch.arange(last.shape[0], device=last.device)
    out = {
        K.OBS: {k: batch[K.OBS][k][:, 0] for k in obs_keys},
        K.NEXT_OBS: {k: batch[K.NEXT_OBS][k][rows, last] for k in obs_keys},
        K.ACTIONS: batch[K.ACTIONS][:, 0],
        K.REWARDS: out_rewards,
        K.DONES: out_dones,
        DISCOUNTS: discount ** n_used.to(rewards.dtype),
    }
    if goal_keys:
        out[K.GOAL_OBS] = {k: batch[K.GOAL_OBS][k] for k in goal_keys}
    return out


class TargetNetworksMixin:
    """For an Algo whose `nets` hold online networks and `<name>_target` copies (listed in `TARGET_NETS`).

    Targets start as exact copies, never get an optimiser, stay in eval mode and move by `update_targets`.
    """

    TARGET_NETS: tuple[str, ...] = ("critic",)

    def _create_target_networks(self) -> None:
        """Call at the end of `_create_networks`: builds `<name>_target` copies of every TARGET_NETS network."""
        for name in self.TARGET_NETS:
            if name in self.nets:
                target = copy.deepcopy(self.nets[name])
                target.requires_grad_(False)
                self.nets[f"{name}_target"] = target.eval()

    def update_targets(self, tau: float, names=None) -> None:
        """Soft-update the targets of `names` (default: all TARGET_NETS present)."""
        for name in names or self.TARGET_NETS:
            if f"{name}_target" in self.nets:
                pair = self._target_tensors(name)
                with torch.no_grad():
                    for target_param, param in zip(pair["target_params"], pair["params"], strict=True):
                        target_param.lerp_(param, tau)  # t + tau * (s - t)
                    for target_buffer, buffer in zip(pair["target_buffers"], pair["buffers"], strict=True):
                        target_buffer.copy_(buffer)

    def _target_tensors(self, name: str) -> dict:
        """The parameter / buffer lists of a network and its target, made once (walking the module tree on
        every update costs as much as a small network's update)."""
        cache = self.__dict__.setdefault("_target_tensor_cache", {})
        if name not in cache:
            source, target = self.nets[name], self.nets[f"{name}_target"]
            cache[name] = {"params": list(source.parameters()), "target_params": list(target.parameters()),
                           "buffers": list(source.buffers()), "target_buffers": list(target.buffers())}
        return cache[name]

    def set_train(self) -> None:
        super().set_train()
        for name in self.TARGET_NETS:
            if f"{name}_target" in self.nets:
                self.nets[f"{name}_target"].eval()


def smoothed_target_actions(actor_target: nn.Module, next_obs: dict, actor_config, goal: dict | None = None):
    """TD3's target policy smoothing: clip(mu'(s') + clip(eps, -c, c), -1, 1), eps ~ N(0, noise_std): (B, A)."""
    actions = actor_target(next_obs, goal)
    noise = torch.randn_like(actions) * actor_config.noise_std
    return (actions + noise.clamp(-actor_config.noise_clip, actor_config.noise_clip)).clamp(-1.0, 1.0)


class DelayedActorMixin:
    """For TD3-style algorithms whose actor steps once every `algo.actor.update_freq` critic steps."""

    def optimizer_steps_per_batch(self, net_name: str) -> float:
        """The actor steps once every `actor.update_freq` critic steps, every other network once per batch."""
        return 1.0 / self.algo_config.actor.update_freq if net_name == "actor" else 1.0


def tile(obs: dict | None, n: int) -> dict | None:
    """Repeat each sample n times along the batch dim: {k: (B, ...)} -> {k: (B * n, ...)}, b0 b0 .. b1 b1 .."""
    if obs is None:
        return None
    return {k: v.repeat_interleave(n, dim=0) for k, v in obs.items()}


def ensemble_target(qs: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """Combine ensemble values (K, ...) -> (...): weight * min + (1 - weight) * max (weight 1: clipped double Q)."""
    q_min = qs.min(dim=0).values
    if weight == 1.0:
        return q_min
    return weight * q_min + (1.0 - weight) * qs.max(dim=0).values


def inside_tanh_range(actions: torch.Tensor, use_tanh: bool) -> torch.Tensor:
    """Dataset actions a tanh-squashed distribution can score (its log_prob is -inf at exactly +-1)."""
    return actions.clamp(-1.0 + ACTION_EPS, 1.0 - ACTION_EPS) if use_tanh else actions


def make_stochastic_actor(encoder, ac_dim: int, actor_config) -> MLPPolicy:
    """A Gaussian / tanh-Gaussian / GMM MLP policy from an `ActorNetConfig`-holding actor section (CQL, IQL)."""
    net = actor_config.net
    common = net.common
    if net.type == "gmm":
        params = dict(num_modes=net.gmm.num_modes, min_std=net.gmm.min_std,
                      std_activation=common.std_activation, low_noise_eval=common.low_noise_eval)
        return MLPPolicy(encoder, ac_dim, actor_config.layer_dims, "gmm", params)
    params = dict(fixed_std=net.gaussian.fixed_std, init_std=net.gaussian.init_std,
                  std_activation=common.std_activation, low_noise_eval=common.low_noise_eval)
    policy = MLPPolicy(encoder, ac_dim, actor_config.layer_dims, "tanh_gaussian" if common.use_tanh else "gaussian",
                       params)
    w = net.gaussian.init_last_fc_weight
    if w is not None:
        nn.init.uniform_(policy.head.mean.weight, -w, w)
        nn.init.uniform_(policy.head.mean.bias, -w, w)
    return policy


class TDAlgo(TargetNetworksMixin, PolicyAlgo, ValueAlgo):
    """Base of the offline value-based algorithms (BCQ, CQL, IQL, TD3-BC).

    Batches become n-step transitions (`n_step_transitions`, n = `algo.n_step`, 1 when absent):
    obs / next_obs {k: (B, ...)}, actions (B, A), rewards / dones / discounts (B,).
    """

    @property
    def n_step(self) -> int:
        return int(getattr(self.algo_config, "n_step", 1))

    def _make_critics(self, critic_config, n: int | None = None) -> CriticEnsemble:
        """An ensemble of `critic.ensemble.n` (or n) Q networks."""
        n = critic_config.ensemble.n if n is None else n
        bounds = getattr(critic_config, "value_bounds", None)
        return CriticEnsemble(
            ActionValueNetwork(self._make_encoder(), self.ac_dim, critic_config.layer_dims, bounds) for _ in range(n)
        )

    def process_batch_for_training(self, batch: dict) -> dict:
        infinite_horizon = getattr(self.algo_config, "infinite_horizon", False)
        transitions = n_step_transitions(batch, self.obs_shapes, self.goal_shapes, self.n_step,
                                         self.algo_config.discount, infinite_horizon)
        return to_device(transitions, self.device)

    @staticmethod
    def bootstrap(batch: dict, next_values: torch.Tensor) -> torch.Tensor:
        """TD target r + (1 - done) * gamma^k * V(s_next): next values (B,) or (B, Z) -> targets of that shape."""
        trailing = (1,) * (next_values.dim() - 1)
        r, d, g = (batch[k].reshape(-1, *trailing) for k in (K.REWARDS, K.DONES, DISCOUNTS))
        return r + (1.0 - d) * g * next_values

    def log_info(self, info: dict) -> dict:
        """Every tensor / number in `info` as a float, plus the learning rates."""
        log = super().log_info(info)
        log.update(scalars(info))
        return log
