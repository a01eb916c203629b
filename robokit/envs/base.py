"""The environment interface the rest of robokit codes against."""

from __future__ import annotations

import abc

import numpy as np

GYM_TYPE = 2  # robomimic's EnvType.GYM_TYPE, stored in a dataset's env_args["type"]
ROBOSUITE_TYPE = 1  # robomimic's EnvType.ROBOSUITE_TYPE (robokit.envs.robosuite_env, the robosuite extra)


class EnvBase(abc.ABC):
    """An environment as robokit sees it: dict observations of numpy arrays, gymnasium 5-tuple steps.

    Observations are `{key: np.ndarray}`; `step` returns `(obs, reward, terminated, truncated, info)`.
    `serialize()` gives the JSON-safe `env_args` stored in a dataset, from which
    `robokit.envs.create_env` rebuilds the same environment.
    """

    name: str

    @abc.abstractmethod
    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Start a new episode (seeded when `seed` is given) and return its first observation."""

    @abc.abstractmethod
    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        """Apply one action; return `(obs, reward, terminated, truncated, info)`."""

    @abc.abstractmethod
    def is_success(self) -> bool:
        """Whether the task is solved, from the last step's `info["is_success"]` (False before any step)."""

    @abc.abstractmethod
    def render(self, height: int = 256, width: int = 256) -> np.ndarray:
        """An offscreen RGB frame, `(height, width, 3)` uint8."""

    @abc.abstractmethod
    def get_state(self) -> np.ndarray:
        """The flat simulator state (MuJoCo: `[time, *qpos, *qvel]`), stored as a dataset's "states"."""

    def get_lang(self) -> str | None:
        """The current episode's language instruction (a task that poses one, e.g. "reach the red target"),
        or None: most tasks have none."""
        return None

    def set_state(self, state: np.ndarray) -> dict[str, np.ndarray]:
        """Restore a state from `get_state()` and return the observation there (not every env can)."""
        raise NotImplementedError(f"{type(self).__name__} cannot restore simulator states")

    @abc.abstractmethod
    def serialize(self) -> dict:
        """`{"env_name": str, "type": int, "env_kwargs": dict}`, JSON-safe."""

    @property
    @abc.abstractmethod
    def action_space(self):
        """The gymnasium action space."""

    @property
    @abc.abstractmethod
    def observation_space(self):
        """A gymnasium `Dict` space with the same keys, shapes and dtypes as the observations."""

    @property
    def action_dim(self) -> int:
        """Number of action dimensions."""
        return int(np.prod(self.action_space.shape))

    @property
    @abc.abstractmethod
    def max_episode_steps(self) -> int | None:
        """The environment's time limit, or None when it has none."""

    def close(self) -> None:
        """Release simulator and rendering resources."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def to_json_safe(value):
    """numpy scalars/arrays and tuples -> plain Python, recursively (for `EnvBase.serialize`)."""
    if isinstance(value, dict):
        return {str(k): to_json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
