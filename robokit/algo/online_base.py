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
from dataclasses import dataclass
from typing import ClassVar

import torch

from robokit.algo.base import PolicyAlgo, ValueAlgo, scalars
from robokit.algo.value_utils import td_loss


@dataclass
class Exploration:
    """What the behaviour policy did for a batch of N observations."""

    actions: torch.Tensor  # (N, A) in policy units (on-policy: unclipped samples)


class OnlineAlgo(PolicyAlgo):
    """Base of the online algorithms."""

    ON_POLICY: ClassVar[bool] = False

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


def ensemble_td_loss(q: torch.Tensor, target: torch.Tensor, use_huber: bool = False) -> torch.Tensor:
    """Sum over K critics of each one's mean TD loss (squared or Huber): q (K, B), target (B,) -> scalar."""
    return td_loss(q, target.expand_as(q), use_huber) * q.shape[0]


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
