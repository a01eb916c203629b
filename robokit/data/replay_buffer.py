"""Replay buffer for off-policy RL: a fixed-capacity numpy ring of transitions, memory allocated once.

    buffer = ReplayBuffer(capacity=100_000, obs_shapes={"flat": (3,)}, action_dim=1)
    buffer.add(obs, actions, rewards, terminated, next_obs)     # a batch of N transitions (N parallel envs)
    batch = buffer.sample(256, rng)                              # robokit batch keys, numpy arrays

A transition stores the observation, the action, the reward, the *true* next observation (for an episode that
ended, the final observation, not the reset one) and `terminated`. Time-limit truncations are stored as not
terminated, so the target bootstraps through them. Once full, the oldest transitions are overwritten.
`state_dict()` / `load_state_dict()` give plain arrays for checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from robokit.errors import ConfigError
from robokit.utils import batch_keys as K

GB = 1024**3


class ReplayBuffer:
    """Ring buffer of `capacity` transitions.

    Args:
        capacity: transitions kept.
        obs_shapes: {obs key: per-step shape}.
        action_dim: A.
        obs_dtypes: {obs key: dtype} (default float32; keep images uint8).
        max_bytes: refuse to allocate more than this many bytes (None: no limit).
    """

    def __init__(self, capacity: int, obs_shapes: Mapping[str, tuple], action_dim: int,
                 obs_dtypes: Mapping[str, np.dtype] | None = None, max_bytes: float | None = None):
        if capacity < 1:
            raise ConfigError(f"replay buffer capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.obs_shapes = {k: tuple(v) for k, v in obs_shapes.items()}
        self.action_dim = int(action_dim)
        dtypes = {k: np.dtype((obs_dtypes or {}).get(k, np.float32)) for k in self.obs_shapes}
        needed = self.bytes_needed(self.capacity, self.obs_shapes, self.action_dim, dtypes)
        if max_bytes is not None and needed > max_bytes:
            raise ConfigError(
                f"a replay buffer of {self.capacity:,} transitions needs {needed / GB:.2f} GB, more than the limit of "
                f"{max_bytes / GB:.2f} GB; lower algo.replay_buffer.capacity or raise algo.replay_buffer.max_memory_gb"
            )
        c = self.capacity
        self.obs = {k: np.zeros((c, *s), dtype=dtypes[k]) for k, s in self.obs_shapes.items()}  # (C, *shape)
        self.next_obs = {k: np.zeros((c, *s), dtype=dtypes[k]) for k, s in self.obs_shapes.items()}
        self.actions = np.zeros((c, self.action_dim), dtype=np.float32)  # (C, A)
        self.rewards = np.zeros(c, dtype=np.float32)  # (C,)
        self.terminated = np.zeros(c, dtype=np.float32)  # (C,) 1.0 where the episode really ended
        self.pos = 0  # next slot to write
        self.size = 0  # filled slots

    @staticmethod
    def bytes_needed(capacity: int, obs_shapes: Mapping[str, tuple], action_dim: int,
                     obs_dtypes: Mapping[str, np.dtype] | None = None) -> int:
        """Bytes the arrays of a buffer with these sizes take."""
        per_step = 0
        for k, shape in obs_shapes.items():
            itemsize = np.dtype((obs_dtypes or {}).get(k, np.float32)).itemsize
            per_step += 2 * itemsize * int(np.prod(shape, dtype=np.int64))  # obs and next_obs
        per_step += 4 * action_dim + 4 + 4
        return int(capacity) * per_step

    @property
    def nbytes(self) -> int:
        arrays = [*self.obs.values(), *self.next_obs.values(), self.actions, self.rewards, self.terminated]
        return sum(a.nbytes for a in arrays)

    def __len__(self) -> int:
        return self.size

    def add(self, obs: Mapping[str, np.ndarray], actions: np.ndarray, rewards: np.ndarray,
            terminated: np.ndarray, next_obs: Mapping[str, np.ndarray]) -> None:
        """Store N transitions: obs/next_obs {k: (N, *shape)}, actions (N, A), rewards (N,), terminated (N,)."""
        n = len(rewards)
        if n > self.capacity:  # keep the newest `capacity`
            keep = slice(n - self.capacity, n)
            obs, next_obs = {k: v[keep] for k, v in obs.items()}, {k: v[keep] for k, v in next_obs.items()}
            actions, rewards, terminated, n = actions[keep], rewards[keep], terminated[keep], self.capacity
        idx = (self.pos + np.arange(n)) % self.capacity  # (N,) slots, wrapping around
        for k in self.obs_shapes:
            self.obs[k][idx] = obs[k]
            self.next_obs[k][idx] = next_obs[k]
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.terminated[idx] = terminated
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict:
        """A uniform batch: {obs: {k: (B, *shape)}, next_obs, actions (B, A), rewards (B,), dones (B,)}.

        `dones` is the termination flag (1.0: no bootstrapping), robokit's batch key for it.
        """
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = rng.integers(0, self.size, size=batch_size)  # (B,)
        return {
            K.OBS: {k: v[idx] for k, v in self.obs.items()},
            K.NEXT_OBS: {k: v[idx] for k, v in self.next_obs.items()},
            K.ACTIONS: self.actions[idx],
            K.REWARDS: self.rewards[idx],
            K.DONES: self.terminated[idx],
        }

    # ----- checkpoints -----
    def state_dict(self) -> dict:
        """The filled part of the buffer in insertion order (oldest first), as plain arrays."""
        order = np.arange(self.pos - self.size, self.pos) % self.capacity  # oldest .. newest
        return {
            "obs": {k: v[order] for k, v in self.obs.items()},
            "next_obs": {k: v[order] for k, v in self.next_obs.items()},
            "actions": self.actions[order],
            "rewards": self.rewards[order],
            "terminated": self.terminated[order],
            "pos": self.pos,  # where the next transition goes: a full buffer reloads in the same slots
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Refill from `state_dict()` output (tensors or arrays); keeps the newest `capacity` transitions."""
        as_np = lambda x: x.numpy() if hasattr(x, "numpy") else np.asarray(x)
        self.pos, self.size = 0, 0
        rewards = as_np(state["rewards"])
        if len(rewards) == 0:
            return
        self.add(
            {k: as_np(v) for k, v in state["obs"].items()}, as_np(state["actions"]), rewards,
            as_np(state["terminated"]), {k: as_np(v) for k, v in state["next_obs"].items()},
        )
        shift = int(state.get("pos", 0)) % self.capacity
        if self.size == self.capacity and shift:  # oldest back at slot `shift`: the same index samples the same
            for store in (self.obs, self.next_obs):
                for k in store:
                    store[k][:] = np.roll(store[k], shift, axis=0)
            for name in ("actions", "rewards", "terminated"):
                setattr(self, name, np.roll(getattr(self, name), shift, axis=0))
            self.pos = shift

    def __repr__(self) -> str:
        return (f"ReplayBuffer(size={self.size:,}/{self.capacity:,}, keys={list(self.obs_shapes)}, "
                f"{self.nbytes / GB:.3f} GB)")
