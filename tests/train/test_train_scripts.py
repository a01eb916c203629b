"""scripts/train.py and scripts/run_trained_agent.py end to end, and their answers to bad input."""

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import imageio.v3 as iio
import numpy as np
import pytest
import torch

from script_runner import assert_one_line_error, run_script
from robokit.config import load_config
from robokit.data import validate_dataset


@pytest.fixture(scope="module")
def debug_run(fetch_push_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    result = run_script("train.py", "--config", "configs/bc_rnn.json", "--dataset", fetch_push_dataset,
                        "--output", out, "--name", "dbg", "--debug", "--no-progress",
                        "--set", "algo.rnn.hidden_dim=32", "--set", "algo.actor_layer_dims=[32]",  # --set may repeat
                        cwd=Path(__file__).parents[2],
                        check=True)
    return Path(result.stdout.strip().splitlines()[-1].split("finished: ")[1])


def test_debug_run_writes_config_logs_checkpoints_and_videos(debug_run):
    config = load_config(debug_run / "config.json")
    assert config.algo.rnn.enabled and config.train.num_epochs == 2 and config.train.data.endswith(".hdf5")
    assert config.algo.rnn.hidden_dim == 32 and list(config.algo.actor_layer_dims) == [32]  # both --set flags
    log = (debug_run / "logs" / "log.txt").read_text()
    assert "epoch 2/2" in log and "success" in log
    assert list((debug_run / "logs" / "tb").glob("events.out.tfevents.*"))
    models = {p.name for p in (debug_run / "models").iterdir()}
    assert {"last.pth", "model_epoch_1.pth", "model_epoch_2.pth", "model_best_success_rate.pth"} <= models
    assert not any(name.endswith(".tmp") or ".partial-" in name for name in models)
    frames = iio.imread(debug_run / "videos" / "epoch_1.mp4")  # 10 steps, every 5th frame
    assert frames.ndim == 4 and frames.shape[0] >= 2 and frames.shape[-1] == 3 and frames.std() > 0


def test_run_trained_agent_reports_success_and_records_video_and_dataset(debug_run, tmp_path):
    video, data = tmp_path / "eval.mp4", tmp_path / "rollouts.hdf5"
    result = run_script("run_trained_agent.py", "--agent", debug_run / "models" / "last.pth", "--n_rollouts", 2,
                        "--horizon", 8, "--video_path", video, "--dataset_path", data, "--seed", 5, check=True)
    assert "FetchPush-v4: success rate" in result.stdout and "mean return" in result.stdout
    assert iio.imread(video).shape[0] >= 2
    assert validate_dataset(data) == []
    with h5py.File(data, "r") as f:
        assert sorted(f["data"]) == ["demo_0", "demo_1"]
        assert f["data/demo_0/actions"].shape[1] == 4 and f["data/demo_0/obs/observation"].shape[1] == 25


def test_json_summary(debug_run):
    result = run_script("run_trained_agent.py", "--agent", debug_run / "models" / "last.pth", "--n_rollouts", 1,
                        "--horizon", 5, "--json", check=True)
    summary = json.loads(result.stdout)
    assert summary["Num_Episodes"] == 1 and 0.0 <= summary["Success_Rate"] <= 1.0 and summary["Horizon"] <= 5


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_user_error(result, *fragments):
    assert_one_line_error(result, *fragments)


def train_args(dataset, out, *extra):
    return ("train.py", "--config", "configs/bc.json", "--dataset", dataset, "--output", out, "--no-progress", *extra)


def test_missing_dataset(tmp_path):
    result = run_script(*train_args(tmp_path / "nope.hdf5", tmp_path / "out"), cwd=Path(__file__).parents[2])
    assert_user_error(result, "nope.hdf5")
    assert not (tmp_path / "out").exists()


def test_unknown_config_key_suggests_the_nearest(fetch_push_dataset, tmp_path):
    result = run_script(*train_args(fetch_push_dataset, tmp_path / "out", "--set", "train.batch_sise=8"),
                        cwd=Path(__file__).parents[2])
    assert_user_error(result, "train.batch_sise", "train.batch_size")
    assert not (tmp_path / "out").exists()


def test_wrong_type_and_impossible_combination(fetch_push_dataset, tmp_path):
    root = Path(__file__).parents[2]
    result = run_script(*train_args(fetch_push_dataset, tmp_path / "out", "--set", "train.batch_size=\"big\""), cwd=root)
    assert_user_error(result, "train.batch_size")
    result = run_script(*train_args(fetch_push_dataset, tmp_path / "out", "--set", "algo.gmm.enabled=true",
                                    "algo.vae.enabled=true"), cwd=root)
    assert_user_error(result, "algo.gmm.enabled and algo.vae.enabled")
    assert not (tmp_path / "out").exists()


def test_malformed_file_is_reported_and_left_untouched(tmp_path):
    bad = tmp_path / "bad.hdf5"
    bad.write_text("not an hdf5 file")
    before = digest(bad)
    result = run_script(*train_args(bad, tmp_path / "out"), cwd=Path(__file__).parents[2])
    assert_user_error(result, "bad.hdf5")
    assert digest(bad) == before and not (tmp_path / "out").exists()


def test_nan_in_actions_names_the_demo_and_key(fetch_push_dataset, tmp_path):
    data = tmp_path / "nan.hdf5"
    shutil.copy(fetch_push_dataset, data)
    with h5py.File(data, "r+") as f:
        f["data/demo_1/actions"][0, 2] = np.nan
    before = digest(data)
    result = run_script(*train_args(data, tmp_path / "out"), cwd=Path(__file__).parents[2])
    assert_user_error(result, "demo_1", "actions")
    assert digest(data) == before and not (tmp_path / "out").exists()


def test_missing_validation_masks_say_how_to_fix(fetch_push_dataset, tmp_path):
    data = tmp_path / "nomask.hdf5"
    shutil.copy(fetch_push_dataset, data)
    with h5py.File(data, "r+") as f:
        del f["mask"]
    result = run_script(*train_args(data, tmp_path / "out"), cwd=Path(__file__).parents[2])
    assert_user_error(result, "split_train_val.py", "experiment.validate=false")
    assert not (tmp_path / "out").exists()


def test_bad_json_config_and_missing_checkpoint(tmp_path):
    config = tmp_path / "broken.json"
    config.write_text('{"algo_name": "bc", "train": {')
    assert_user_error(run_script("train.py", "--config", config, "--dataset", "x.hdf5"), "broken.json")
    assert_user_error(run_script("run_trained_agent.py", "--agent", tmp_path / "none.pth"), "none.pth")


def test_checkpoint_holds_no_pickled_objects(debug_run):
    ckpt = torch.load(debug_run / "models" / "last.pth", weights_only=True)
    assert ckpt["format_version"] == 2 and ckpt["shape_metadata"]["ac_dim"] == 4
    assert ckpt["env_metadata"]["env_name"] == "FetchPush-v4"
    assert ckpt["config"]["algo"]["rnn"]["enabled"] is True
