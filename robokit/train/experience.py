"""Write the experience an online run collects as an HDF5 dataset in the robomimic layout (DatasetWriter).

Each finished episode of each parallel environment becomes one demo: obs / next_obs (raw observations; the
final observation where the episode ended), actions in the environment's units, rewards, and `dones` = 1
only where the episode really terminated (a time-limit truncation is not a terminal state, so offline
value-based algorithms bootstrap through it). Each demo records `terminated` / `truncated` attributes.
On `close()` unfinished episodes are written too and `train` / `valid` masks are made (10% validation).
"""

from __future__ import annotations

import numpy as np

from robokit.data.hdf5_format import DatasetWriter, split_train_val


class ExperienceWriter:
    """Accumulates each env's current episode and writes it as a demo when it ends."""

    def __init__(self, path, env_args: dict, num_envs: int, val_ratio: float = 0.1):
        self.path = path
        self.val_ratio = val_ratio
        self._writer = DatasetWriter(path, env_args=env_args)
        self._episodes: list[list[tuple]] = [[] for _ in range(num_envs)]
        self.num_transitions = 0

    def add(self, obs: dict, actions: np.ndarray, rewards: np.ndarray, terminated: np.ndarray,
            truncated: np.ndarray, next_obs: dict) -> None:
        """One vector step: obs / next_obs {k: (N, *shape)}, actions (N, A) in env units, the rest (N,)."""
        for i, episode in enumerate(self._episodes):
            episode.append(({k: v[i] for k, v in obs.items()}, actions[i], rewards[i], bool(terminated[i]),
                            {k: v[i] for k, v in next_obs.items()}))
            if terminated[i] or truncated[i]:
                self._flush(i, truncated=bool(truncated[i]) and not terminated[i])
        self.num_transitions += len(rewards)

    def _flush(self, i: int, truncated: bool) -> None:
        steps = self._episodes[i]
        if not steps:
            return
        obs, actions, rewards, terminated, next_obs = zip(*steps)
        self._writer.add_episode(
            obs={k: np.stack([o[k] for o in obs]) for k in obs[0]},
            actions=np.stack(actions).astype(np.float32),
            rewards=np.asarray(rewards, np.float32),
            dones=np.asarray(terminated, np.int64),
            next_obs={k: np.stack([o[k] for o in next_obs]) for k in next_obs[0]},
            attrs={"terminated": bool(terminated[-1]), "truncated": truncated},
        )
        self._episodes[i] = []

    def close(self) -> list[str]:
        """Write the unfinished episodes, close the file and make train / valid masks; returns demo names."""
        for i in range(len(self._episodes)):
            self._flush(i, truncated=True)
        names = self._writer.demo_names
        self._writer.close()
        if names:
            split_train_val(self.path, val_ratio=self.val_ratio)
        return names

    def abort(self) -> None:
        self._writer.abort()
