"""scripts/get_dataset_info.py and scripts/split_train_val.py, run as subprocesses."""

import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from robokit.data.hdf5_format import list_demos, list_filter_keys

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def run(script, *args):
    return subprocess.run([sys.executable, str(SCRIPTS / script), *map(str, args)], capture_output=True, text=True,
                          timeout=120, check=False)


def _fingerprint(path):
    return Path(path).read_bytes(), os.stat(path).st_mtime_ns


def test_info_prints_counts(dataset_path):
    res = run("get_dataset_info.py", "--dataset", dataset_path, "--verbose")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for line in ("total demos: 2", "total samples: 9", "min 4, max 5", "odd: 1 demos", "action dim: 2",
                 "pos: shape (3,), dtype float32", '"env_name": "PointReach-v0"', "demo_0: 5 steps", "problems: none"):
        assert line in out, line
    res = run("get_dataset_info.py", "--dataset", dataset_path, "--filter_key", "odd")
    assert "total demos: 1" in res.stdout and "total samples: 4" in res.stdout


def test_info_reports_problems(dataset_path):
    with h5py.File(dataset_path, "r+") as f:
        f["data/demo_1"].attrs["num_samples"] = 6
    res = run("get_dataset_info.py", "--dataset", dataset_path)
    assert res.returncode == 2
    assert "demo_1: num_samples=6 but actions has 4 steps" in res.stdout
    assert len(res.stderr.strip().splitlines()) == 1


def test_split_writes_masks(make_dataset):
    path = make_dataset(lengths=(2,) * 10)
    res = run("split_train_val.py", "--dataset", path, "--ratio", "0.3", "--seed", "1")
    assert res.returncode == 0, res.stderr
    assert "mask/train: 7 demos, created" in res.stdout and "mask/valid: 3 demos, created" in res.stdout
    assert len(list_demos(path, "train")) == 7 and len(list_demos(path, "valid")) == 3
    res = run("split_train_val.py", "--dataset", path, "--filter_key", "train", "--ratio", "0.5")
    assert "mask/train_train: 4 demos" in res.stdout and "mask/train_valid: 3 demos" in res.stdout
    assert list_filter_keys(path) == ["train", "train_train", "train_valid", "valid"]
    res = run("split_train_val.py", "--dataset", path, "--ratio", "0.2")
    assert "mask/train: 8 demos, replaced (had 7 demos)" in res.stdout


@pytest.mark.parametrize("script", ["get_dataset_info.py", "split_train_val.py"])
def test_missing_file_is_one_line_exit_2(tmp_path, script):
    res = run(script, "--dataset", tmp_path / "missing.hdf5")
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert f"{tmp_path / 'missing.hdf5'}: no such file; fix: check the --dataset path" in line


def test_split_leaves_malformed_file_untouched(dataset_path):
    with h5py.File(dataset_path, "r+") as f:
        del f["data/demo_0/actions"]
    before = _fingerprint(dataset_path)
    res = run("split_train_val.py", "--dataset", dataset_path)
    assert res.returncode == 2 and "demo_0 has no 'actions'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert _fingerprint(dataset_path) == before


def test_split_unknown_filter_key_and_bad_file(dataset_path, tmp_path):
    before = _fingerprint(dataset_path)
    res = run("split_train_val.py", "--dataset", dataset_path, "--filter_key", "nope")
    assert res.returncode == 2 and "available: all, odd" in res.stderr
    assert _fingerprint(dataset_path) == before
    junk = tmp_path / "junk.hdf5"
    junk.write_text("junk")
    res = run("split_train_val.py", "--dataset", junk)
    assert res.returncode == 2 and "not a readable HDF5 file" in res.stderr and junk.read_text() == "junk"


def test_merge_refuses_an_existing_output_and_an_output_that_is_an_input(tmp_path):
    """Before anything is read or written: one line, exit 2, the existing file's bytes unchanged."""
    existing = tmp_path / "merged.hdf5"
    existing.write_bytes(b"keep me")
    refused = run("merge_datasets.py", "--inputs", tmp_path / "a.hdf5", "--out", existing)
    assert refused.returncode == 2 and "already exists" in refused.stderr and "--overwrite" in refused.stderr
    same = run("merge_datasets.py", "--inputs", existing, "--out", existing, "--overwrite")
    assert same.returncode == 2 and "is one of the inputs" in same.stderr
    assert existing.read_bytes() == b"keep me"
