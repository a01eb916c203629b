"""Action chunks: the contract between an algorithm that predicts several future actions at once and the
`RolloutPolicy` that executes them.

An algorithm whose `get_action` returns a chunk (B, H, A) -- index 0 being the action for the current step,
index h the action h steps later -- declares how to execute it with `PolicyAlgo.chunk_spec`:

    ChunkSpec(action_horizon=8)                                # queue: run 8 actions, then re-plan
    ChunkSpec(action_horizon=1, temporal_ensemble_coeff=0.01)  # re-plan every step, average overlapping chunks

The algorithm keeps no step counter and no queue: `RolloutPolicy` owns both, one per environment of a batch,
through the two executors below (plain numpy, so they can be tested and reused without a network).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChunkSpec:
    action_horizon: int                 # actions executed from each chunk before re-planning (queue mode)
    temporal_ensemble_coeff: float | None = None   # m in exp(-m*i); None = queue mode; when set, re-plan every step

    def __post_init__(self) -> None:
        if not isinstance(self.action_horizon, numbers.Integral) or self.action_horizon < 1:
            raise ValueError(f"ChunkSpec.action_horizon must be an int >= 1, got {self.action_horizon!r}")
        if self.temporal_ensemble_coeff is not None and not np.isfinite(self.temporal_ensemble_coeff):
            raise ValueError(f"ChunkSpec.temporal_ensemble_coeff must be finite or None, got "
                             f"{self.temporal_ensemble_coeff!r}")

    @property
    def ensembling(self) -> bool:
        return self.temporal_ensemble_coeff is not None


def env_mask_array(env_mask, n: int) -> np.ndarray:
    """A (n,) bool mask from None (all), a bool mask or a list of indices."""
    if env_mask is None:
        return np.ones(n, dtype=bool)
    mask = np.asarray(env_mask)
    if mask.dtype == bool:
        if mask.shape != (n,):
            raise ValueError(f"env_mask has shape {mask.shape}; expected ({n},)")
        return mask
    out = np.zeros(n, dtype=bool)
    out[mask.astype(np.int64)] = True
    return out


class ActionQueue:
    """Per-env queues of actions: each env executes `action_horizon` actions of its chunk, then re-plans.

    Queues are (N, action_horizon, A) with a read position per env; envs empty their queues at different times
    once they have been reset at different times, so only the envs that need it re-plan (`needs_plan`).
    """

    def __init__(self, action_horizon: int):
        self.action_horizon = int(action_horizon)
        self._actions: np.ndarray | None = None  # (N, Ta, A)
        self._pos: np.ndarray | None = None  # (N,) next index to execute; Ta = empty

    def needs_plan(self, n: int) -> np.ndarray:
        """(n,) bool: the envs whose queue is empty (all of them before the first chunk or after a change of n)."""
        if self._pos is None or len(self._pos) != n:
            return np.ones(n, dtype=bool)
        return self._pos >= self.action_horizon

    def push(self, chunks: np.ndarray, env_mask: np.ndarray) -> None:
        """Fill the queues of the envs in `env_mask` (n,) with the first `action_horizon` actions of `chunks`
        (m, H, A), m = env_mask.sum()."""
        n = len(env_mask)
        if chunks.ndim != 3 or chunks.shape[1] < self.action_horizon:
            raise ValueError(f"a chunk of shape {chunks.shape} cannot fill an action horizon of {self.action_horizon}"
                             "; expected (B, H, A) with H >= action_horizon")
        if self._actions is None or len(self._pos) != n or self._actions.shape[2:] != chunks.shape[2:]:
            self._actions = np.zeros((n, self.action_horizon) + chunks.shape[2:], dtype=chunks.dtype)
            self._pos = np.full(n, self.action_horizon, dtype=np.int64)
        self._actions[env_mask] = chunks[:, : self.action_horizon]
        self._pos[env_mask] = 0

    def pop(self, env_mask: np.ndarray | None = None) -> np.ndarray:
        """The next action of every env in `env_mask` (None: all), (N, A); their queues must be non-empty. An env
        outside the mask gets zeros and its queue does not move."""
        n = 0 if self._pos is None else len(self._pos)
        mask = env_mask_array(env_mask, n) if self._pos is not None else None
        if self._pos is None or (self._pos[mask] >= self.action_horizon).any():
            raise RuntimeError("ActionQueue.pop: a queue is empty; push a chunk for the envs of needs_plan() first")
        rows = np.flatnonzero(mask)
        action = np.zeros((n,) + self._actions.shape[2:], dtype=self._actions.dtype)
        action[rows] = self._actions[rows, self._pos[rows]]
        self._pos[rows] += 1
        return action

    def reset(self, env_mask=None) -> None:
        """Empty the queues of the envs in `env_mask` (None: all)."""
        if self._pos is None:
            return
        self._pos[env_mask_array(env_mask, len(self._pos))] = self.action_horizon


class TemporalEnsembler:
    """Temporal ensembling of the ACT paper: re-plan every step and execute the weighted mean of the actions
    that every chunk still covering this step predicts for it.

    With k chunks covering the step, ordered oldest first (i = 0 for the oldest), chunk i has weight
    exp(-m * i), normalised over the k. Every predicted action counts, including one that is exactly 0
    (the original ACT code drops those as "not populated").
    """

    def __init__(self, coeff: float):
        self.coeff = float(coeff)
        self._chunks: np.ndarray | None = None  # (N, H, H, A): [:, j] = the chunk made j steps ago
        self._count: np.ndarray | None = None  # (N,) number of chunks made since the env's reset (<= H)

    def weights(self, count: int) -> np.ndarray:
        """(count,) normalised weights of `count` covering chunks, oldest first."""
        w = np.exp(-self.coeff * np.arange(count, dtype=np.float64))
        return w / w.sum()

    def step(self, chunks: np.ndarray) -> np.ndarray:
        """Add this step's chunks (N, H, A) and return the ensembled actions (N, A)."""
        n, horizon = chunks.shape[:2]
        if self._chunks is None or self._chunks.shape[:2] != (n, horizon) or self._chunks.shape[3:] != chunks.shape[2:]:
            self._chunks = np.zeros((n, horizon, horizon) + chunks.shape[2:], dtype=np.float64)
            self._count = np.zeros(n, dtype=np.int64)
        self._chunks = np.roll(self._chunks, 1, axis=1)  # every chunk gets one step older
        self._chunks[:, 0] = chunks
        self._count = np.minimum(self._count + 1, horizon)
        ages = np.arange(horizon)  # (H,) the chunk made j steps ago predicts this step at its index j
        current = self._chunks[:, ages, ages]  # (N, H, A): prediction for this step by age
        covering = ages[None, :] < self._count[:, None]  # (N, H)
        rank = self._count[:, None] - 1 - ages[None, :]  # (N, H): 0 for the oldest covering chunk
        w = np.where(covering, np.exp(-self.coeff * np.clip(rank, 0, None)), 0.0)  # (N, H)
        w = w / w.sum(axis=1, keepdims=True)
        return np.einsum("nh,nh...->n...", w, current).astype(chunks.dtype)

    def reset(self, env_mask=None) -> None:
        """Forget the chunks of the envs in `env_mask` (None: all)."""
        if self._count is None:
            return
        mask = env_mask_array(env_mask, len(self._count))
        self._count[mask] = 0
        self._chunks[mask] = 0.0


def make_executor(spec: ChunkSpec) -> ActionQueue | TemporalEnsembler:
    """The executor for `spec`: a TemporalEnsembler when it sets a coefficient, else an ActionQueue."""
    return TemporalEnsembler(spec.temporal_ensemble_coeff) if spec.ensembling else ActionQueue(spec.action_horizon)


__all__ = ["ChunkSpec", "ActionQueue", "TemporalEnsembler", "make_executor", "env_mask_array"]
