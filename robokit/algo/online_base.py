"""Kinds of algorithms that learn from their own interaction, driven by the online loop (robokit.train.online).

Policies act in [-1, 1]^A; the loop (and RolloutPolicy, through the checkpoint's action statistics) scales
actions to the environment's bounds. `get_action` is the deterministic policy used for evaluation and
deployment; `explore` is the behaviour policy used to collect experience.

- `OffPolicyAlgo` (SAC, TD3): `train_on_batch` takes replay-buffer batches {obs, next_obs, actions (B, A),
  rewards (B,), dones (B,) = terminated}; the loop decides how many gradient steps per env step.
- `OnPolicyAlgo` (PPO, A2C): `train_on_rollout` takes a whole rollout (see RolloutStorage), computes the
  behaviour policy's log-probabilities and values for all of it in one batched pass, and runs the algorithm's
  epochs / minibatches.
"""

import contextlib
import functools
from dataclasses import dataclass
from typing import ClassVar

import torch

from robokit.algo.base import PolicyAlgo, ValueAlgo, scalars
from robokit.algo.value_utils import td_loss
from robokit.models.mlp_backprop import ReluMLPPass
from robokit.models.obs_encoder import FlattenEncoder
from robokit.models.policy_nets import ObsGoalEncoder
from robokit.models.value_nets import ActionValueNetwork


@dataclass
class Exploration:
    """What the behaviour policy did for a batch of N observations."""

    actions: torch.Tensor  # (N, A) in policy units (on-policy: unclipped samples)


class OnlineAlgo(PolicyAlgo):
    """Base of the online algorithms."""

    ON_POLICY: ClassVar[bool] = False
    FLAT_PARAMETERS = True  # many small gradient steps on small MLPs: per-tensor overheads matter

    def _make_encoder(self) -> ObsGoalEncoder:
        return ObsGoalEncoder(self.obs_shapes, self.goal_shapes, self.obs_modalities, self.encoder_configs)

    @property
    def discount(self) -> float:
        return float(self.algo_config.discount)

    def explore(self, obs: dict) -> Exploration:
        """Behaviour actions for obs {k: (N, *shape)} (normalised, on the algorithm's device)."""
        raise NotImplementedError

    def log_info(self, info: dict) -> dict:
        """{name: float}: learning rates plus every scalar tensor / float in `info`."""
        log = super().log_info(info)
        log.update(scalars(info))
        return log


class OffPolicyAlgo(OnlineAlgo):
    """Learns from replay-buffer batches; see the module docstring."""

    def critic_parameters(self) -> list:
        """The critic's parameters, listed once (walking the module tree every step costs more than the step)."""
        if getattr(self, "_critic_params", None) is None:
            self._critic_params = list(self.nets["critic"].parameters())
        return self._critic_params

    def manual_backward(self) -> bool:
        """Whether `train.manual_backward` asks for hand-written backward passes (`ReluMLPPass`)."""
        return bool(getattr(self.global_config.train, "manual_backward", False))

    def _critic_step_by_hand(self, passes: list, x: torch.Tensor, target: torch.Tensor, dtype: torch.dtype):
        """One critic update from inputs x (B, D + A) and TD targets (B,) through the critics' passes.

        Returns q (K, B), the loss (None unless `log_diagnostics`: only logging reads it) and the gradient norm (see
        `apply_gradients`); refreshes the passes."""
        cfg = self.algo_config.critic
        runs = [p.forward(x, dtype) for p in passes]
        q = torch.stack([out.squeeze(-1) for out, _ in runs])  # (K, B)
        grad_q = ensemble_td_loss_grad(q, target, cfg.use_huber)  # (K, B)
        for p, (_, cache), g in zip(passes, runs, grad_q):
            p.backward(cache, g.unsqueeze(-1))
        grad_norm = self.apply_gradients("critic", cfg.max_gradient_norm)
        ReluMLPPass.refresh(passes, dtype)
        loss = ensemble_td_loss(q, target, cfg.use_huber) if self.log_diagnostics else None
        return q, loss, grad_norm


def action_gradient(passes: list, runs: list, grad_q: torch.Tensor, num_actions: int) -> torch.Tensor:
    """dL/da (B, A) of critics run by hand on [features, a] (`runs`: their forward outputs and caches), given
    dL/dQ_k (K, B); the critics' own parameters get no gradient."""
    grads = [p.backward(cache, g.unsqueeze(-1), param_grads=False, input_grad=True)[:, -num_actions:]
             for p, (_, cache), g in zip(passes, runs, grad_q)]
    return functools.reduce(torch.add, grads)


def critic_passes(critics) -> list | None:
    """`ReluMLPPass`es of an ensemble of `ActionValueNetwork`s on low-dim observations that cover all of its
    parameters, else None."""
    if not all(type(c) is ActionValueNetwork and low_dim_only(c.encoder) and c.output.value_bounds is None
               for c in critics):
        return None
    passes = [ReluMLPPass.of(c.mlp) for c in critics]
    if None in passes or not all(ReluMLPPass.covers([p], c) for p, c in zip(passes, critics)):
        return None
    return passes


def low_dim_only(encoder: ObsGoalEncoder) -> bool:
    """Whether `encoder` just flattens low-dim observations: no parameters, randomisers or goals."""
    return encoder.goal is None and all(type(e) is FlattenEncoder for e in encoder.obs.encoders.values())


def compute_dtype(device: torch.device) -> torch.dtype:
    """The dtype of hidden-layer products in the current gradient step: autocast's when it is on, else float32."""
    return torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else torch.float32


def ensemble_td_loss(q: torch.Tensor, target: torch.Tensor, use_huber: bool = False) -> torch.Tensor:
    """Sum over K critics of each one's mean TD loss (squared or Huber): q (K, B), target (B,) -> scalar."""
    return td_loss(q, target.expand_as(q), use_huber) * q.shape[0]


def ensemble_td_loss_grad(q: torch.Tensor, target: torch.Tensor, use_huber: bool = False) -> torch.Tensor:
    """The gradient of `ensemble_td_loss` with respect to q: (K, B)."""
    diff = q - target
    return (diff.clamp(-1.0, 1.0) if use_huber else 2.0 * diff) / q.shape[1]


class OnPolicyAlgo(OnlineAlgo, ValueAlgo):
    """Learns from the rollout it just collected; see the module docstring."""

    ON_POLICY = True

    @property
    def n_steps(self) -> int:
        return int(self.algo_config.n_steps)

    def train_on_rollout(self, rollout: dict, epoch: int) -> dict:
        """Update on one rollout (tensors with a leading (T, N)); returns the info to log."""
        raise NotImplementedError


@contextlib.contextmanager
def frozen_parameters(params: list):
    """Gradients flow through the module owning `params` (a cached parameter list) to its inputs but are not
    computed for the parameters themselves: saves a critic's weight-gradient matmuls in an actor update."""
    params = [p for p in params if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
