"""scripts/generate_dataset.py end to end, in subprocesses."""

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "generate_dataset.py"


def run_script(*args):
    env = dict(os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], check=False,
                          capture_output=True, text=True, env=env, timeout=120)


def test_writes_successful_demos_with_masks(tmp_path):
    out = tmp_path / "push.hdf5"
    result = run_script("--env", "FetchPush-v4", "--n-demos", 5, "--out", out, "--seed", 3, "--valid-ratio", 0.2)
    assert result.returncode == 0, result.stderr
    assert "attempts:" in result.stdout and "expert success rate" in result.stdout
    assert sorted(os.listdir(tmp_path)) == ["push.hdf5"]  # no temporary file left behind

    with h5py.File(out, "r") as f:
        data = f["data"]
        assert json.loads(data.attrs["env_args"]) == {"env_name": "FetchPush-v4", "type": 2, "env_kwargs": {}}
        demos = sorted(data.keys(), key=lambda name: int(name.split("_")[1]))
        assert demos == [f"demo_{i}" for i in range(5)]
        total = 0
        for name in demos:
            demo = data[name]
            T = int(demo.attrs["num_samples"])
            total += T
            assert 1 <= T <= 50
            assert demo["actions"].shape == (T, 4)
            assert demo["obs/observation"].shape == (T, 25) and demo["obs/observation"].dtype == np.float32
            assert demo["next_obs/desired_goal"].shape == (T, 3)
            assert demo["states"].shape[0] == T
            dones, rewards = demo["dones"][()], demo["rewards"][()]
            assert dones.tolist() == [0] * (T - 1) + [1]
            assert rewards[-1] == 0.0 and np.all(rewards[:-1] == -1.0)  # success only on the last step
            goal, block = demo["next_obs/desired_goal"][-1], demo["next_obs/achieved_goal"][-1]
            assert np.linalg.norm(goal - block) < 0.05
        assert int(data.attrs["total"]) == total
        train = sorted(n.decode() for n in f["mask/train"][()])
        valid = sorted(n.decode() for n in f["mask/valid"][()])
        assert len(valid) == 1 and sorted(train + valid) == sorted(demos)


def test_same_seed_gives_the_same_dataset(tmp_path):
    for name in ("a.hdf5", "b.hdf5"):
        assert run_script("--env", "FetchReach-v4", "--n-demos", 3, "--out", tmp_path / name).returncode == 0
    with h5py.File(tmp_path / "a.hdf5", "r") as a, h5py.File(tmp_path / "b.hdf5", "r") as b:
        for demo in ("demo_0", "demo_1", "demo_2"):
            np.testing.assert_array_equal(a[f"data/{demo}/actions"][()], b[f"data/{demo}/actions"][()])
            assert a[f"data/{demo}"].attrs["seed"] == b[f"data/{demo}"].attrs["seed"]


@pytest.mark.parametrize("case, args, message", [
    ("unknown env", ["--env", "NoSuchEnv-v0", "--n-demos", 2], "unknown environment"),
    ("no expert", ["--env", "Pendulum-v1", "--n-demos", 2], "no scripted expert"),
    ("zero demos", ["--env", "FetchReach-v4", "--n-demos", 0], "--n-demos"),
    ("bad ratio", ["--env", "FetchReach-v4", "--n-demos", 2, "--valid-ratio", 1.5], "--valid-ratio"),
])
def test_bad_arguments_exit_2_and_write_nothing(tmp_path, case, args, message):
    out = tmp_path / "out.hdf5"
    result = run_script(*args, "--out", out)
    assert result.returncode == 2, (case, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert os.listdir(tmp_path) == []


def test_missing_output_folder_exits_2(tmp_path):
    result = run_script("--env", "FetchReach-v4", "--n-demos", 2, "--out", tmp_path / "missing" / "d.hdf5")
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert os.listdir(tmp_path) == []


def test_existing_output_is_kept_without_overwrite(tmp_path):
    out = tmp_path / "d.hdf5"
    out.write_bytes(b"precious")
    result = run_script("--env", "FetchReach-v4", "--n-demos", 2, "--out", out)
    assert result.returncode == 2 and "--overwrite" in result.stderr
    assert out.read_bytes() == b"precious" and os.listdir(tmp_path) == ["d.hdf5"]
    assert run_script("--env", "FetchReach-v4", "--n-demos", 2, "--out", out, "--overwrite").returncode == 0
    with h5py.File(out, "r") as f:
        assert len(f["data"]) == 2


def test_expert_short_of_demos_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "d.hdf5"
    # Actions that are pure noise almost never push the block to its goal.
    result = run_script("--env", "FetchPush-v4", "--n-demos", 3, "--out", out, "--noise-std", 50,
                        "--max-attempts-factor", 1)
    assert result.returncode == 2 and "succeeded in only" in result.stderr
    assert os.listdir(tmp_path) == []
