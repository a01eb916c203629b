"""User errors that used to escape as tracebacks or pass silently: each is one line, exit code 2, nothing written."""

from pathlib import Path

import pytest

from script_runner import assert_one_line_error, run_script

REPO = Path(__file__).parents[2]


def train(dataset, out, *args, config="configs/bc.json"):
    return run_script("train.py", "--config", config, "--dataset", dataset, "--output", out, "--no-progress", *args,
                      cwd=REPO)


def test_config_that_is_not_utf8(fetch_push_dataset, tmp_path):
    config = tmp_path / "latin1.json"
    config.write_bytes('{"algo_name": "bc", "experiment": {"name": "café"}}'.encode("latin-1"))
    assert_one_line_error(train(fetch_push_dataset, tmp_path / "out", config=config), "latin1.json",
                          "is not UTF-8 text (byte 0xe9", "save the config as UTF-8")
    assert not (tmp_path / "out").exists()


def test_duplicate_key_in_a_config_is_refused(fetch_push_dataset, tmp_path):
    config = tmp_path / "dup.json"
    config.write_text('{"algo_name": "bc", "train": {"num_epochs": 3, "batch_size": 8, "batch_size": 16}}')
    assert_one_line_error(train(fetch_push_dataset, tmp_path / "out", config=config), "dup.json",
                          'key "batch_size" appears twice', "num_epochs")
    assert not (tmp_path / "out").exists()


def test_learning_rate_of_zero_is_refused(fetch_push_dataset, tmp_path):
    result = train(fetch_push_dataset, tmp_path / "out", "--set", "algo.optim_params.policy.learning_rate.initial=0")
    assert_one_line_error(result, "algo.optim_params.policy.learning_rate.initial is 0", "positive learning rate")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("device, fragment", [("gpu0", "is not a torch device"), ("cuda:7", "is not available")])
def test_bad_device(fetch_push_dataset, tmp_path, device, fragment):
    assert_one_line_error(train(fetch_push_dataset, tmp_path / "out", "--device", device), "--device", fragment)
    assert not (tmp_path / "out").exists()


def test_output_that_is_an_existing_file(fetch_push_dataset, tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("keep me")
    assert_one_line_error(train(fetch_push_dataset, out), "--output", "is a file, not a folder")
    assert out.read_text() == "keep me"


def test_config_without_observation_keys_lists_the_datasets(fetch_push_dataset, tmp_path):
    result = train(fetch_push_dataset, tmp_path / "out", "--set", "observation.modalities.obs.low_dim=[]")
    assert_one_line_error(result, "lists no observation keys", 'low_dim=["achieved_goal", "desired_goal", "observation"]')
    assert not (tmp_path / "out").exists()
