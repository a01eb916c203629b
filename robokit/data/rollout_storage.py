"""Rollout storage for on-policy RL: the last `n_steps` steps of `num_envs` environments, as (T, N) arrays.

Per step it keeps what the policy saw and did (obs, actions) and what came back (rewards, `terminated`,
`dones` = terminated or truncated). For a step that ended an episode it also keeps the final observation, so
that a time-limit truncation can bootstrap from its value while a termination does not. Values and
log-probabilities are not stored: the policy does not change during a rollout, so the algorithm computes them
for all T * N steps in one batched pass (`OnPolicyAlgo.train_on_rollout`), far cheaper than N at a time.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


class RolloutStorage:
    """Preallocated arrays for one rollout of T = `n_steps` steps in N = `num_envs` environments."""

    def __init__(self, n_steps: int, num_envs: int, obs_shapes: Mapping[str, tuple], action_dim: int):
        T, N = int(n_steps), int(num_envs)
        self.n_steps, self.num_envs = T, N
        self.obs = {k: np.zeros((T, N, *s), dtype=np.float32) for k, s in obs_shapes.items()}  # (T, N, *shape)
        self.actions = np.zeros((T, N, action_dim), dtype=np.float32)  # (T, N, A) as sampled (unclipped)
        self.rewards = np.zeros((T, N), dtype=np.float32)
        self.terminated = np.zeros((T, N), dtype=np.float32)
        self.dones = np.zeros((T, N), dtype=np.float32)  # terminated or truncated: the episode ended here
        self._final_obs: dict[str, list[np.ndarray]] = {k: [] for k in obs_shapes}  # rows where an episode ended
        self._final_index: list[np.ndarray] = []  # their flat indices t * N + env
        self.step = 0

    @property
    def full(self) -> bool:
        return self.step == self.n_steps

    def add(self, obs: Mapping[str, np.ndarray], actions, rewards, terminated, truncated,
            final_obs: Mapping[str, np.ndarray] | None = None) -> None:
        """One step of N envs: obs {k: (N, *shape)}, actions (N, A), the rest (N,).

        `final_obs` {k: (N, *shape)}: each env's final observation; kept where the episode ended (needed then).
        """
        if self.full:
            raise RuntimeError("rollout storage is full: call reset() after the update")
        t = self.step
        for k, v in obs.items():
            self.obs[k][t] = v
        self.actions[t] = actions
        self.rewards[t] = rewards
        self.terminated[t] = terminated
        done = np.logical_or(terminated, truncated)
        self.dones[t] = done
        if done.any():
            if final_obs is None:
                raise ValueError("an episode ended: pass its final observation (final_obs)")
            for k in self._final_obs:
                self._final_obs[k].append(np.asarray(final_obs[k], np.float32)[done])
            self._final_index.append(t * self.num_envs + np.flatnonzero(done))
        self.step += 1

    @property
    def final_obs(self) -> dict[str, np.ndarray]:
        """{k: (M, *shape)} final observations of the M episodes that ended in this rollout, in step order."""
        return {k: np.concatenate(rows) if rows else np.zeros((0, *self.obs[k].shape[2:]), np.float32)
                for k, rows in self._final_obs.items()}

    @property
    def final_index(self) -> np.ndarray:
        """(M,) flat index t * N + env of the step at which each of `final_obs` ended its episode."""
        return np.concatenate(self._final_index) if self._final_index else np.zeros(0, np.int64)

    def reset(self) -> None:
        self.step = 0
        self._final_obs = {k: [] for k in self._final_obs}
        self._final_index = []


def next_state_values(values: np.ndarray, last_values: np.ndarray, final_index: np.ndarray,
                      final_values: np.ndarray) -> np.ndarray:
    """(T, N) value of the observation after each step: V(s_{t+1}), or V(final obs) where an episode ended.

    values (T, N): V(s_t); last_values (N,): V of the observation after the last step; final_values (M,): V of
    the final observations at flat indices final_index (M,) (see `RolloutStorage.final_obs`).
    """
    following = np.concatenate([values[1:], np.asarray(last_values, np.float32)[None]], axis=0)  # (T, N)
    flat = following.reshape(-1).astype(np.float32)
    flat[final_index] = final_values
    return flat.reshape(values.shape)
