"""Fixtures that write tiny synthetic robomimic-layout datasets into tmp_path.

Values are chosen so windows can be checked by hand: in episode e at step t,
    obs/step = t, obs/ep = e, next_obs/step = t + 1, actions[:, 0] = 10 * e + t, rewards = t, dones = (t == T-1).
"""

import numpy as np
import pytest

from robokit.data.hdf5_format import DatasetWriter

ENV_ARGS = {"env_name": "PointReach-v0", "type": 4, "env_kwargs": {"horizon": 50}}
IMAGE_KEY = "agentview_image"


def write_dataset(path, lengths=(5, 4), *, action_dim=2, pos_dim=3, image_shape=None, masks=None,
                  seed=0, compression=None):
    """Write a dataset with one episode per entry of `lengths`; returns the path.

    obs keys: "step" (T, 1), "ep" (T, 1), "pos" (T, pos_dim) gaussian, and IMAGE_KEY (T, *image_shape) uint8
    (value (7 * e + t) % 256 everywhere) when image_shape is given.
    """
    rng = np.random.default_rng(seed)
    with DatasetWriter(path, env_args=ENV_ARGS, compression=compression) as writer:
        for e, T in enumerate(lengths):
            t = np.arange(T, dtype=np.float32)
            obs = {"step": t[:, None], "ep": np.full((T, 1), e, np.float32),
                   "pos": rng.normal(2.0, 3.0, size=(T, pos_dim)).astype(np.float32)}
            next_obs = {"step": t[:, None] + 1, "ep": obs["ep"].copy(), "pos": obs["pos"] + 0.5}
            if image_shape is not None:
                frames = ((7 * e + np.arange(T)) % 256).astype(np.uint8)
                obs[IMAGE_KEY] = np.broadcast_to(frames.reshape((T,) + (1,) * len(image_shape)),
                                                 (T,) + tuple(image_shape)).copy()
                next_obs[IMAGE_KEY] = obs[IMAGE_KEY].copy()
            actions = rng.uniform(-2.0, 3.0, size=(T, action_dim)).astype(np.float32)
            actions[:, 0] = 10 * e + t
            writer.add_episode(obs=obs, actions=actions, rewards=t.copy(), dones=(t == T - 1).astype(np.float32),
                               next_obs=next_obs, states=rng.normal(size=(T, 4)))
        for key, names in (masks or {}).items():
            writer.set_mask(key, names)
    return path


@pytest.fixture
def env_args():
    """The env_args every synthetic dataset carries."""
    return dict(ENV_ARGS)


@pytest.fixture
def make_dataset(tmp_path):
    """Factory: make_dataset(name="d.hdf5", **write_dataset kwargs) -> path of a fresh dataset."""

    def _make(name="d.hdf5", **kwargs):
        return write_dataset(tmp_path / name, **kwargs)

    return _make


@pytest.fixture
def dataset_path(make_dataset):
    """Two episodes (lengths 5 and 4), masks "odd" = [demo_1] and "all" = both demos."""
    return make_dataset(masks={"all": ["demo_0", "demo_1"], "odd": ["demo_1"]})
