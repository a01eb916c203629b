"""The robomimic layout: writer, readers, masks, splits."""

import json
import os

import h5py
import numpy as np
import pytest

from robokit.data import hdf5_format as fmt
from robokit.errors import ConfigError, DatasetError


def test_round_trip_all_keys(dataset_path, env_args):
    assert fmt.read_env_args(dataset_path) == env_args
    assert fmt.list_demos(dataset_path) == ["demo_0", "demo_1"]
    assert fmt.list_demos(dataset_path, "odd") == ["demo_1"]
    assert fmt.list_filter_keys(dataset_path) == ["all", "odd"]
    assert fmt.obs_shapes(dataset_path) == {"ep": (1,), "pos": (3,), "step": (1,)}
    with h5py.File(dataset_path, "r") as f:
        ep = fmt.read_episode(f, "demo_0", ["step", "pos"], ["actions", "rewards", "dones", "states"],
                              load_next_obs=True)
    np.testing.assert_array_equal(ep["obs"]["step"][:, 0], np.arange(5))
    np.testing.assert_array_equal(ep["next_obs"]["step"][:, 0], np.arange(1, 6))
    np.testing.assert_allclose(ep["next_obs"]["pos"], ep["obs"]["pos"] + 0.5, rtol=1e-6)
    np.testing.assert_array_equal(ep["actions"][:, 0], np.arange(5))
    np.testing.assert_array_equal(ep["rewards"], np.arange(5))
    np.testing.assert_array_equal(ep["dones"], [0, 0, 0, 0, 1])
    assert ep["actions"].shape == (5, 2) and ep["states"].shape == (5, 4)


def test_file_has_exactly_robomimics_structure(dataset_path, env_args):
    with h5py.File(dataset_path, "r") as f:
        assert set(f.keys()) == {"data", "mask"}
        assert set(f["data"].keys()) == {"demo_0", "demo_1"}
        assert int(f["data"].attrs["total"]) == 9
        assert json.loads(f["data"].attrs["env_args"]) == env_args
        demo = f["data/demo_0"]
        assert set(demo.keys()) == {"obs", "next_obs", "actions", "rewards", "dones", "states"}
        assert set(demo["obs"].keys()) == {"step", "ep", "pos"}
        assert int(demo.attrs["num_samples"]) == 5
        assert f["mask/odd"].dtype.kind == "S"
        assert [n.decode() for n in f["mask/all"][()]] == ["demo_0", "demo_1"]


def test_images_are_chunked_per_frame(make_dataset):
    path = make_dataset(lengths=(3,), image_shape=(6, 5, 3), compression="gzip")
    with h5py.File(path, "r") as f:
        img = f["data/demo_0/obs/agentview_image"]
        assert img.dtype == np.uint8 and img.chunks == (1, 6, 5, 3) and img.compression == "gzip"
    assert fmt.obs_shapes(path, ["agentview_image"]) == {"agentview_image": (6, 5, 3)}


def test_demos_sorted_by_index(tmp_path):
    path = tmp_path / "many.hdf5"
    with fmt.DatasetWriter(path, {}) as w:
        for _ in range(12):
            w.add_episode({"x": np.zeros((2, 1))}, np.zeros((2, 1)), np.zeros(2), np.zeros(2))
        w.set_mask("some", ["demo_11", "demo_2", "demo_10"])
    assert fmt.list_demos(path) == [f"demo_{i}" for i in range(12)]
    assert fmt.list_demos(path, "some") == ["demo_2", "demo_10", "demo_11"]


def test_writer_is_atomic(tmp_path):
    path = tmp_path / "d.hdf5"
    with pytest.raises(RuntimeError), fmt.DatasetWriter(path, {}) as w:
        w.add_episode({"x": np.zeros((2, 1))}, np.zeros((2, 1)), np.zeros(2), np.zeros(2))
        assert os.path.exists(w.tmp_path) and not path.exists()
        raise RuntimeError("simulator crashed")
    assert os.listdir(tmp_path) == []


def test_writer_rejects_bad_episodes(tmp_path):
    with fmt.DatasetWriter(tmp_path / "d.hdf5", {}) as w:
        with pytest.raises(DatasetError, match="obs/x has shape"):
            w.add_episode({"x": np.zeros((3, 1))}, np.zeros((2, 1)), np.zeros(2), np.zeros(2))
        with pytest.raises(DatasetError, match="rewards must have shape"):
            w.add_episode({"x": np.zeros((2, 1))}, np.zeros((2, 1)), np.zeros(3), np.zeros(2))
        with pytest.raises(DatasetError, match=r"actions must have shape \(T, A\)"):
            w.add_episode({"x": np.zeros((2, 1))}, np.zeros(2), np.zeros(2), np.zeros(2))
        with pytest.raises(DatasetError, match="unknown demos"):
            w.set_mask("train", ["demo_0"])
        assert w.add_episode({"x": np.zeros((2, 1))}, np.zeros((2, 1)), np.zeros(2), np.zeros(2)) == "demo_0"


def test_unknown_filter_key_lists_available(dataset_path):
    with pytest.raises(DatasetError, match=r"unknown filter key 'train' \(available: all, odd\)"):
        fmt.list_demos(dataset_path, "train")


def test_split_train_val(make_dataset):
    path = make_dataset(lengths=(2,) * 20, masks={"keep": [f"demo_{i}" for i in range(10)]})
    train, valid = fmt.split_train_val(path, val_ratio=0.2, seed=3)
    assert len(valid) == 4 and len(train) == 16
    assert sorted(train + valid, key=fmt._demo_sort_key) == fmt.list_demos(path)
    assert fmt.list_demos(path, "train") == train and fmt.list_demos(path, "valid") == valid
    assert fmt.split_train_val(path, val_ratio=0.2, seed=3) == (train, valid)  # deterministic
    assert fmt.split_train_val(path, val_ratio=0.2, seed=4) != (train, valid)
    fmt.split_train_val(path, val_ratio=0.2, seed=3)

    ktrain, kvalid = fmt.split_train_val(path, val_ratio=0.3, filter_key="keep")
    assert (len(ktrain), len(kvalid)) == (7, 3)
    assert set(ktrain + kvalid) == set(fmt.list_demos(path, "keep"))
    assert fmt.list_filter_keys(path) == ["keep", "keep_train", "keep_valid", "train", "valid"]
    assert fmt.list_demos(path, "train") == train  # other masks untouched


def test_split_keeps_one_validation_demo(make_dataset):
    path = make_dataset(lengths=(2, 2, 2))
    assert tuple(map(len, fmt.split_train_val(path, val_ratio=0.1))) == (2, 1)
    with pytest.raises(ConfigError):
        fmt.split_train_val(path, val_ratio=1.0)
