"""Rollout storage for on-policy RL: the last `n_steps` steps of `num_envs` environments, as (T, N) arrays.

Per step it keeps what the policy saw and did (obs, actions, log-probs, value estimates) and what came back
(rewards, `terminated`, `dones` = terminated or truncated). For a step that ended an episode it also keeps the
value of the final observation, so that a time-limit truncation bootstraps from it while a termination does not.
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
        self.log_probs = np.zeros((T, N), dtype=np.float32)
        self.values = np.zeros((T, N), dtype=np.float32)
        self.rewards = np.zeros((T, N), dtype=np.float32)
        self.terminated = np.zeros((T, N), dtype=np.float32)
        self.dones = np.zeros((T, N), dtype=np.float32)  # terminated or truncated: the episode ended here
        self.final_values = np.zeros((T, N), dtype=np.float32)  # V(final obs) where dones, else 0
        self.step = 0

    @property
    def full(self) -> bool:
        return self.step == self.n_steps

    def add(self, obs: Mapping[str, np.ndarray], actions, log_probs, values, rewards, terminated, truncated,
            final_values=None) -> None:
        """One step of N envs: obs {k: (N, *shape)}, actions (N, A), the rest (N,).

        `final_values` (N,): value of each env's final observation where the episode ended (else ignored).
        """
        if self.full:
            raise RuntimeError("rollout storage is full: call reset() after the update")
        t = self.step
        for k, v in obs.items():
            self.obs[k][t] = v
        self.actions[t] = actions
        self.log_probs[t] = log_probs
        self.values[t] = values
        self.rewards[t] = rewards
        self.terminated[t] = terminated
        done = np.logical_or(terminated, truncated)
        self.dones[t] = done
        self.final_values[t] = np.where(done, final_values, 0.0) if final_values is not None else 0.0
        self.step += 1

    def next_values(self, last_values: np.ndarray) -> np.ndarray:
        """(T, N) value of the observation after each step: V(s_{t+1}), or V(final obs) where an episode ended.

        `last_values` (N,) is the value of the observation after the last step.
        """
        following = np.concatenate([self.values[1:], np.asarray(last_values, np.float32)[None]], axis=0)
        return np.where(self.dones > 0, self.final_values, following).astype(np.float32)

    def reset(self) -> None:
        self.step = 0
