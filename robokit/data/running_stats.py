"""Running normalisation for online RL, exported as the plain stats dicts that checkpoints and RolloutPolicy use.

`ObsNormalizer.stats()` is `{key: {"offset": mean, "scale": sqrt(var + eps)}}`, exactly the
`obs_normalization_stats` that `RolloutPolicy` applies, so a policy loaded with `policy_from_checkpoint`
acts on raw observations the same way it did in training. `RewardScaler` divides rewards by the running
standard deviation of the discounted return (as Stable-Baselines3's VecNormalize does); it is only needed
while training. Both have `state_dict()` / `load_state_dict()` for checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from robokit.utils.normalization import normalize

EPS = 1e-8


class RunningMeanStd:
    """Mean and variance of a stream of (N, *shape) batches (parallel / Chan et al. update), in float64."""

    def __init__(self, shape: tuple = ()):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = 0.0

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64)
        n = x.shape[0]
        if n == 0:
            return
        batch_mean, batch_var = x.mean(axis=0), x.var(axis=0)
        if self.count == 0:
            self.mean, self.var, self.count = batch_mean, batch_var, float(n)
            return
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var = m2 / total
        self.count = total

    def state_dict(self) -> dict:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": float(self.count)}

    def load_state_dict(self, state: Mapping) -> None:
        self.mean = np.asarray(state["mean"], np.float64).copy()
        self.var = np.asarray(state["var"], np.float64).copy()
        self.count = float(state["count"])


class ObsNormalizer:
    """Running statistics of each float observation key (uint8 images are left alone)."""

    def __init__(self, obs_shapes: Mapping[str, tuple], obs_dtypes: Mapping[str, np.dtype] | None = None):
        dtypes = obs_dtypes or {}
        self.rms = {k: RunningMeanStd(tuple(s)) for k, s in obs_shapes.items()
                    if np.dtype(dtypes.get(k, np.float32)) != np.uint8}

    def update(self, obs: Mapping[str, np.ndarray]) -> None:
        """Add a batch {k: (N, *shape)}."""
        for k, rms in self.rms.items():
            rms.update(obs[k])

    def stats(self) -> dict:
        """{key: {"offset": (*shape), "scale": (*shape)}} float32, as RolloutPolicy applies them."""
        return {k: {"offset": rms.mean.astype(np.float32), "scale": np.sqrt(rms.var + EPS).astype(np.float32)}
                for k, rms in self.rms.items()}

    def normalize(self, obs: Mapping[str, np.ndarray], stats: dict | None = None) -> dict:
        """(x - offset) / scale per key, with `stats` (default: the current ones); float32."""
        stats = self.stats() if stats is None else stats
        return {k: normalize(v, stats[k]).astype(np.float32, copy=False) if k in stats else v
                for k, v in obs.items()}

    def state_dict(self) -> dict:
        return {k: rms.state_dict() for k, rms in self.rms.items()}

    def load_state_dict(self, state: Mapping) -> None:
        for k, rms in self.rms.items():
            rms.load_state_dict(state[k])


class RewardScaler:
    """Scales rewards by 1 / std of the running discounted return of each of N envs."""

    def __init__(self, num_envs: int, discount: float):
        self.discount = float(discount)
        self.returns = np.zeros(num_envs, np.float64)  # (N,) discounted return so far in each env
        self.rms = RunningMeanStd(())

    def update(self, rewards: np.ndarray, dones: np.ndarray) -> None:
        """Add one step of rewards (N,); `dones` (N,) restarts the return of envs whose episode ended."""
        self.returns = self.returns * self.discount + rewards
        self.rms.update(self.returns)
        self.returns[np.asarray(dones, bool)] = 0.0

    @property
    def scale(self) -> float:
        return float(np.sqrt(self.rms.var + EPS))

    def __call__(self, rewards: np.ndarray) -> np.ndarray:
        return (np.asarray(rewards) / self.scale).astype(np.float32)

    def state_dict(self) -> dict:
        return {"rms": self.rms.state_dict(), "returns": self.returns.copy()}

    def load_state_dict(self, state: Mapping) -> None:
        self.rms.load_state_dict(state["rms"])
        returns = np.asarray(state["returns"], np.float64)
        if returns.shape == self.returns.shape:
            self.returns = returns.copy()
