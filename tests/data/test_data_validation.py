"""The validator: one test per malformed case, each asserting the message names the demo and key."""

import h5py
import numpy as np
import pytest

from robokit.data import SequenceDataset
from robokit.data.hdf5_format import check_dataset, read_env_args, validate_dataset
from robokit.errors import DatasetError


def _edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


def _replace(f, name, data):
    del f[name]
    f[name] = data


def test_valid_dataset_has_no_problems(dataset_path):
    assert validate_dataset(dataset_path) == []
    check_dataset(dataset_path, obs_keys=["pos"], dataset_keys=("actions", "rewards", "dones"))


def test_missing_file(tmp_path):
    (problem,) = validate_dataset(tmp_path / "nope.hdf5")
    assert "no such file" in problem
    with pytest.raises(DatasetError, match=r"nope\.hdf5: no such file; fix: check"):
        check_dataset(tmp_path / "nope.hdf5")


def test_not_hdf5(tmp_path):
    path = tmp_path / "notes.hdf5"
    path.write_text("these are not demonstrations")
    with pytest.raises(DatasetError, match="not a readable HDF5 file") as info:
        check_dataset(path)
    assert "\n" not in str(info.value)


def test_missing_data_group(tmp_path):
    with h5py.File(tmp_path / "d.hdf5", "w") as f:
        f["other"] = np.zeros(3)
    assert validate_dataset(tmp_path / "d.hdf5") == ["missing 'data' group (not a robomimic-layout dataset)"]


def test_no_demos(tmp_path):
    with h5py.File(tmp_path / "d.hdf5", "w") as f:
        f.create_group("data").attrs["env_args"] = "{}"
    assert "holds no demos" in validate_dataset(tmp_path / "d.hdf5")[0]


def test_demo_missing_actions(dataset_path):
    _edit(dataset_path, lambda f: f.__delitem__("data/demo_1/actions"))
    (problem,) = validate_dataset(dataset_path)
    assert problem.startswith("demo_1 has no 'actions' (has: ") and "rewards" in problem


def test_demo_missing_obs_group(dataset_path):
    _edit(dataset_path, lambda f: f.__delitem__("data/demo_0/obs"))
    assert validate_dataset(dataset_path)[0].startswith("demo_0 has no 'obs' group")


def test_demo_missing_requested_obs_key(dataset_path):
    _edit(dataset_path, lambda f: f.__delitem__("data/demo_1/obs/pos"))
    (problem,) = validate_dataset(dataset_path, obs_keys=["pos", "step"])
    assert problem == "demo_1 has no obs key 'pos' (has: ep, step)"
    # obs_keys=None requires the keys of the first demo everywhere
    assert validate_dataset(dataset_path) == [problem]


@pytest.mark.parametrize("key", ["obs/pos", "next_obs/step", "rewards", "dones"])
def test_length_mismatch(dataset_path, key):
    _edit(dataset_path, lambda f: _replace(f, f"data/demo_0/{key}", f[f"data/demo_0/{key}"][:3]))
    (problem,) = validate_dataset(dataset_path)
    assert problem == f"demo_0: length mismatch: actions has 5 steps but {key} has 3"


def test_num_samples_disagrees(dataset_path):
    _edit(dataset_path, lambda f: f["data/demo_1"].attrs.__setitem__("num_samples", 7))
    assert validate_dataset(dataset_path) == ["demo_1: num_samples=7 but actions has 4 steps"]


def test_non_numeric_dtype(dataset_path):
    _edit(dataset_path, lambda f: _replace(f, "data/demo_0/obs/ep", np.array(["a"] * 5, dtype="S1")))
    assert validate_dataset(dataset_path) == ["demo_0: obs/ep has non-numeric dtype |S1"]


def test_nan_in_actions(dataset_path):
    def poison(f):
        f["data/demo_1/actions"][2, 1] = np.nan
    _edit(dataset_path, poison)
    assert validate_dataset(dataset_path) == ["demo_1: actions has 1 NaN/inf value(s)"]
    assert validate_dataset(dataset_path, check_values=False) == []
    with pytest.raises(DatasetError, match=r"demo_1: actions has NaN/inf"):
        SequenceDataset(dataset_path, ["pos"])


def test_inf_in_obs(dataset_path):
    def poison(f):
        f["data/demo_0/obs/pos"][0, 0] = np.inf
    _edit(dataset_path, poison)
    assert validate_dataset(dataset_path) == ["demo_0: obs/pos has 1 NaN/inf value(s)"]
    with pytest.raises(DatasetError, match=r"demo_0: obs/pos has NaN/inf"):
        SequenceDataset(dataset_path, ["pos"], hdf5_cache_mode="low_dim")


def test_env_args_missing(dataset_path):
    _edit(dataset_path, lambda f: f["data"].attrs.__delitem__("env_args"))
    assert validate_dataset(dataset_path) == ["'data' has no env_args attribute"]
    with pytest.raises(DatasetError, match="fix: set data.attrs"):
        check_dataset(dataset_path)
    with pytest.raises(DatasetError, match="no env_args"):
        read_env_args(dataset_path)


def test_env_args_not_json(dataset_path):
    _edit(dataset_path, lambda f: f["data"].attrs.__setitem__("env_args", "{'env_name': 'Lift'"))
    (problem,) = validate_dataset(dataset_path)
    assert problem.startswith("env_args is not valid JSON")


def test_mask_names_missing_demo(dataset_path):
    _edit(dataset_path, lambda f: _replace(f, "mask/odd", np.array(["demo_1", "demo_9"], dtype="S")))
    assert validate_dataset(dataset_path) == ["mask/odd names 1 missing demo(s): demo_9"]


def test_check_dataset_message_counts_problems(dataset_path):
    def break_two(f):
        del f["data/demo_0/actions"]
        f["data"].attrs["env_args"] = "not json"
    _edit(dataset_path, break_two)
    with pytest.raises(DatasetError) as info:
        check_dataset(dataset_path)
    msg = str(info.value)
    assert msg.startswith(f"{dataset_path}: env_args is not valid JSON") and "(+1 more); fix: " in msg


def test_sequence_dataset_argument_errors(dataset_path):
    with pytest.raises(DatasetError, match=r"obs key\(s\) \['wrist'\] not in the dataset \(it has: ep, pos, step\)"):
        SequenceDataset(dataset_path, ["pos", "wrist"])
    with pytest.raises(DatasetError, match=r"unknown filter key 'train' \(available: all, odd\)"):
        SequenceDataset(dataset_path, ["pos"], filter_by_attribute="train")
    _edit(dataset_path, lambda f: _replace(f, "mask/odd", np.array([], dtype="S")))
    with pytest.raises(DatasetError, match="filter key 'odd' selects no demos"):
        SequenceDataset(dataset_path, ["pos"], filter_by_attribute="odd")
    with pytest.raises(DatasetError, match="seq_length must be >= 1"):
        SequenceDataset(dataset_path, ["pos"], seq_length=0)
    with pytest.raises(DatasetError, match="frame_stack and seq_length"):
        SequenceDataset(dataset_path, ["pos"], frame_stack=0)
    with pytest.raises(DatasetError, match="goal_mode"):
        SequenceDataset(dataset_path, ["pos"], goal_mode="first")
    with pytest.raises(DatasetError, match="no such file"):
        SequenceDataset(dataset_path.parent / "missing.hdf5", ["pos"])
    with pytest.raises(DatasetError, match="next_obs"):
        _edit(dataset_path, lambda f: f.__delitem__("data/demo_1/next_obs"))
        SequenceDataset(dataset_path, ["pos"], load_next_obs=True)
