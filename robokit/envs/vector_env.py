"""N gymnasium environments stepped together (gymnasium's sync or async vector envs), robokit-style.

Observations are `{key: (N, *shape)}` float32 arrays (a Box observation is `{"flat": ...}`, as in `GymEnv`).
Finished episodes reset automatically in the same step; `step` returns, besides the usual arrays, the
*final* observation of each env (equal to the new observation except where an episode just ended), which
is what a learner must bootstrap from. Returns and lengths of finished episodes are collected in `episodes`.
"""

from __future__ import annotations

import functools

import gymnasium
import numpy as np
import torch
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from robokit.envs.base import GYM_TYPE
from robokit.envs.factory import _unknown_env_message
from robokit.envs.gym_env import FLAT_OBS_KEY, _obs_dtype, is_registered
from robokit.envs.snapshot import env_snapshot, restore_env
from robokit.errors import UserError


def _make_gym_env(env_name: str, env_kwargs: dict) -> gymnasium.Env:
    is_registered(env_name)  # registers gymnasium-robotics ids, also inside async worker processes
    return gymnasium.make(env_name, **env_kwargs)


def action_scaling_stats(space: gymnasium.spaces.Box) -> dict:
    """{"offset", "scale"} mapping policy actions in [-1, 1] to the Box bounds: a_env = a * scale + offset.

    This is the `action_normalization_stats["actions"]` that RolloutPolicy un-normalises with. Unbounded
    dimensions are passed through unchanged (scale 1, offset 0).
    """
    low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
    finite = np.isfinite(low) & np.isfinite(high)
    low, high = np.where(finite, low, -1.0), np.where(finite, high, 1.0)  # unbounded: identity
    scale, offset = (high - low) / 2.0, (high + low) / 2.0
    return {"offset": offset.astype(np.float32), "scale": scale.astype(np.float32)}


class VectorEnv:
    """`num_envs` copies of `env_name`; `mode` "sync" (one process) or "async" (a subprocess per env)."""

    def __init__(self, env_name: str, num_envs: int = 1, mode: str = "sync", env_kwargs: dict | None = None):
        if not is_registered(env_name):
            raise UserError(_unknown_env_message(env_name))
        if mode not in ("sync", "async"):
            raise UserError(f"unknown vector env mode {mode!r}; use 'sync' or 'async'")
        self.name = env_name
        self.env_kwargs = dict(env_kwargs or {})
        self.num_envs = int(num_envs)
        fns = [functools.partial(_make_gym_env, env_name, self.env_kwargs) for _ in range(self.num_envs)]
        cls = SyncVectorEnv if mode == "sync" else AsyncVectorEnv
        try:
            self._env = cls(fns, autoreset_mode=AutoresetMode.SAME_STEP)
        except gymnasium.error.DependencyNotInstalled as exc:
            raise UserError(f"{env_name} cannot start: {exc}") from exc
        except TypeError as exc:
            raise UserError(f"bad env_kwargs for {env_name}: {exc}") from exc
        space = self._env.single_observation_space
        self._is_dict_obs = isinstance(space, gymnasium.spaces.Dict)
        subspaces = dict(space.spaces) if self._is_dict_obs else {FLAT_OBS_KEY: space}
        self.obs_shapes = {k: tuple(s.shape) for k, s in subspaces.items()}
        self.obs_dtypes = {k: _obs_dtype(s.dtype) for k, s in subspaces.items()}
        self.action_space = self._env.single_action_space
        if not isinstance(self.action_space, gymnasium.spaces.Box):
            self.close()
            raise UserError(f"{env_name} has a {type(self.action_space).__name__} action space; robokit's online "
                            "algorithms need continuous (Box) actions")
        self.action_dim = int(np.prod(self.action_space.shape))
        spec = self._env.envs[0].spec if mode == "sync" else gymnasium.spec(env_name)
        self.max_episode_steps = None if spec is None else spec.max_episode_steps
        self._returns = np.zeros(self.num_envs, np.float64)
        self._lengths = np.zeros(self.num_envs, np.int64)
        self.episodes: list[tuple[float, int]] = []  # (return, length) of finished episodes; drained by the user

    def serialize(self) -> dict:
        """The `env_args` of one of the environments (as a dataset or checkpoint stores them)."""
        return {"env_name": self.name, "type": GYM_TYPE, "env_kwargs": dict(self.env_kwargs)}

    def _convert(self, obs) -> dict[str, np.ndarray]:
        named = obs if self._is_dict_obs else {FLAT_OBS_KEY: obs}
        return {k: np.asarray(named[k], dtype=self.obs_dtypes[k]) for k in self.obs_shapes}

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Reset all envs (env i seeded with seed + i) and return obs {k: (N, *shape)}."""
        obs, _ = self._env.reset(seed=seed)
        self._returns[:], self._lengths[:] = 0.0, 0
        return self._convert(obs)

    def step(self, actions: np.ndarray):
        """actions (N, A) in the env's units -> (obs, rewards, terminated, truncated, final_obs, infos).

        obs {k: (N, *shape)} starts the next episode where one ended; final_obs is obs with the ended
        envs' final observations put back. rewards (N,) float32; terminated / truncated (N,) bool.
        """
        actions = np.asarray(actions, dtype=self.action_space.dtype).reshape(self.num_envs, *self.action_space.shape)
        obs, rewards, terminated, truncated, infos = self._env.step(actions)
        obs = self._convert(obs)
        rewards = np.asarray(rewards, dtype=np.float32)
        terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
        done = terminated | truncated
        final_obs = obs
        if done.any():
            final_obs = {k: v.copy() for k, v in obs.items()}
            for i in np.flatnonzero(done):
                last = infos["final_obs"][i]
                last = last if self._is_dict_obs else {FLAT_OBS_KEY: last}
                for k in self.obs_shapes:
                    final_obs[k][i] = last[k]
        self._returns += rewards
        self._lengths += 1
        for i in np.flatnonzero(done):
            self.episodes.append((float(self._returns[i]), int(self._lengths[i])))
            self._returns[i], self._lengths[i] = 0.0, 0
        return obs, rewards, terminated, truncated, final_obs, infos

    def snapshot(self) -> dict:
        """Every env's state (robokit.envs.snapshot) and the running episode statistics, for an exact resume;
        sync vector envs only (async envs live in other processes)."""
        if not isinstance(self._env, SyncVectorEnv):
            raise UserError("an online run with train.vector_env=async cannot be resumed exactly (its envs live in "
                            "other processes); fix: train with train.vector_env=sync to resume, or start a new run")
        return {"envs": [env_snapshot(env) for env in self._env.envs], "returns": torch.from_numpy(self._returns.copy()),
                "lengths": torch.from_numpy(self._lengths.copy())}

    def restore(self, snap: dict) -> None:
        """Put back what `snapshot` returned (after a `reset`, which the envs need once)."""
        if len(snap["envs"]) != self.num_envs:
            raise UserError(f"the snapshot holds {len(snap['envs'])} envs, this vector env has {self.num_envs}")
        for env, env_snap in zip(self._env.envs, snap["envs"]):
            restore_env(env, env_snap)
        self._returns[:], self._lengths[:] = snap["returns"].numpy(), snap["lengths"].numpy()

    def close(self) -> None:
        self._env.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VectorEnv({self.name!r}, num_envs={self.num_envs})"
