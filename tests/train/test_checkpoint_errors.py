"""Every unreadable, incomplete or mismatched checkpoint is one CheckpointError line naming the file, what is wrong
and the fix, through `policy_from_checkpoint` and through the scripts (exit code 2)."""

import pickle
from pathlib import Path

import pytest
import torch

from script_runner import assert_one_line_error, run_script
from robokit.errors import CheckpointError
from robokit.train.checkpoint import load_checkpoint, policy_from_checkpoint


@pytest.fixture(scope="module")
def good_checkpoint(fetch_push_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    run_script("train.py", "--config", "configs/bc.json", "--dataset", fetch_push_dataset, "--output", out,
               "--no-progress", "--set", "train.num_epochs=1", "experiment.epoch_every_n_steps=2",
               "experiment.validate=false", "experiment.rollout.enabled=false", "algo.actor_layer_dims=[16]",
               cwd=Path(__file__).parents[2], check=True)
    return next(out.glob("*/*/models/last.pth"))


def damaged(good: Path, tmp_path: Path, edit) -> Path:
    ckpt = load_checkpoint(good)
    edit(ckpt)
    path = tmp_path / "damaged.pth"
    torch.save(ckpt, path)
    return path


def first_weight(ckpt) -> str:
    return next(name for name in ckpt["model"] if name.endswith("weight"))


CASES = {
    "no weights": (lambda c: c.pop("model"), "is incomplete: no 'model'"),
    "empty weights": (lambda c: c.update(model={}), "no weights (an empty 'model')"),
    "no config": (lambda c: c.pop("config"), "is incomplete: no 'config'"),
    "no shapes": (lambda c: c["shape_metadata"].pop("ac_dim"), "no shape_metadata['ac_dim']"),
    "wrong shape": (lambda c: c["model"].update({first_weight(c): torch.zeros(3, 5)}), "has shape (3, 5), expected"),
    "missing tensor": (lambda c: c["model"].pop(first_weight(c)), "missing 1 tensor(s)"),
    "extra tensor": (lambda c: c["model"].update({"policy.extra": torch.zeros(2)}), "1 unexpected tensor(s) (policy.extra)"),
    "bad config": (lambda c: c["config"]["train"].update(batch_size="many"), "its config does not load"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_checkpoint_through_the_api(good_checkpoint, tmp_path, case):
    edit, fragment = CASES[case]
    path = damaged(good_checkpoint, tmp_path, edit)
    with pytest.raises(CheckpointError) as info:
        policy_from_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and fragment in message and "fix:" in message and "\n" not in message


@pytest.mark.parametrize("case", ["no weights", "wrong shape"])
def test_damaged_checkpoint_through_run_trained_agent(good_checkpoint, tmp_path, case):
    edit, fragment = CASES[case]
    path = damaged(good_checkpoint, tmp_path, edit)
    assert_one_line_error(run_script("run_trained_agent.py", "--agent", path, "--n_rollouts", 1), str(path), fragment)


class Payload:
    def __reduce__(self):
        return (print, ("the payload ran",))


@pytest.mark.parametrize("content", [b"not a checkpoint at all\n", b"", pickle.dumps({"model": Payload()})])
def test_a_file_that_is_no_checkpoint_is_one_line_without_weights_only_advice(tmp_path, content):
    path = tmp_path / "foreign.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message and "weights_only" not in message and "fix:" in message
    result = run_script("run_trained_agent.py", "--agent", path)
    line = assert_one_line_error(result, str(path))
    assert "weights_only" not in line and "the payload ran" not in result.stdout


def test_the_good_checkpoint_still_loads(good_checkpoint):
    policy, ckpt = policy_from_checkpoint(good_checkpoint)
    assert ckpt["algo_name"] == "bc" and policy.policy.ac_dim == 4
