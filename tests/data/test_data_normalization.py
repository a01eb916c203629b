"""robokit.utils.normalization: stats, round trips, numpy and torch."""

import io

import numpy as np
import pytest
import torch

from robokit.utils.normalization import (
    gaussian_stats,
    min_max_stats,
    normalize,
    stats_to_numpy,
    stats_to_tensors,
    unnormalize,
)


@pytest.fixture
def x():
    return np.random.default_rng(0).normal([1.0, -5.0, 20.0], [0.5, 2.0, 10.0], size=(500, 3)).astype(np.float32)


def test_gaussian_stats(x):
    stats = gaussian_stats(x)
    assert stats["offset"].shape == (3,) and stats["offset"].dtype == np.float32
    np.testing.assert_allclose(stats["offset"], x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats["scale"], x.std(0) + 1e-3, rtol=1e-5)
    nx = normalize(x, stats)
    np.testing.assert_allclose(nx.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(nx.std(0), 1, atol=3e-3)
    np.testing.assert_allclose(unnormalize(nx, stats), x, rtol=1e-5, atol=1e-4)


def test_min_max_stats_and_constant_dims():
    x = np.array([[0.0, 3.0, 7.0], [2.0, 3.0, -1.0], [1.0, 3.0, 0.0]])
    stats = min_max_stats(x)
    nx = normalize(x, stats)
    np.testing.assert_allclose(nx.min(0), [-1, 0, -1])
    np.testing.assert_allclose(nx.max(0), [1, 0, 1])
    assert stats["scale"][1] == 1.0
    np.testing.assert_allclose(unnormalize(nx, stats), x, atol=1e-6)


def test_torch_and_numpy_agree_and_broadcast(x):
    tx = torch.from_numpy(x).reshape(50, 10, 3)  # (B, T, D)
    tstats = gaussian_stats(tx, per_step_ndim=1)  # reduces all leading dims (B, T)
    assert isinstance(tstats["offset"], torch.Tensor) and tstats["offset"].shape == (3,)
    np.testing.assert_allclose(tstats["offset"].numpy(), gaussian_stats(x)["offset"], rtol=1e-6)
    nstats = gaussian_stats(x)  # numpy stats applied to a tensor give a tensor
    ntx = normalize(tx, nstats)
    assert isinstance(ntx, torch.Tensor) and ntx.shape == (50, 10, 3) and ntx.dtype == torch.float32
    torch.testing.assert_close(unnormalize(ntx, nstats), tx, rtol=1e-5, atol=1e-4)
    assert normalize(tx, None) is tx


def test_image_like_stats_keep_per_step_shape():
    imgs = np.random.default_rng(1).random((8, 2, 4, 4))  # (N, C, H, W)
    assert gaussian_stats(imgs)["offset"].shape == (2, 4, 4)
    assert gaussian_stats(imgs, per_step_ndim=1)["offset"].shape == (4,)


def test_checkpoint_round_trip(x):
    stats = {"pos": gaussian_stats(x), "actions": min_max_stats(x[:, :2])}
    tensors = stats_to_tensors(stats)
    buf = io.BytesIO()
    torch.save(tensors, buf)
    buf.seek(0)
    loaded = stats_to_numpy(torch.load(buf, weights_only=True))
    for key in stats:
        for part in ("offset", "scale"):
            np.testing.assert_array_equal(loaded[key][part], stats[key][part])
    assert stats_to_tensors(None) is None and stats_to_numpy(None) is None
