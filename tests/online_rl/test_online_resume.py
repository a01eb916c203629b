"""`train.py --resume` for online algorithms: a killed SAC run (replay buffer saved with its checkpoints) resumed
mid-episode ends with the weights, optimiser state and buffer of the straight run, bit for bit; Pendulum is a
classic-control env, InvertedPendulum a MuJoCo one (its full integration state is restored)."""

import signal
import subprocess
import sys
import time

import pytest
import torch

from script_runner import REPO, assert_one_line_error, run_script


def sac_command(out, env: str, *extra) -> list[str]:
    return [sys.executable, str(REPO / "scripts/train.py"), "--config", str(REPO / "configs/sac.json"), "--output",
            str(out), "--no-progress", "--set", f"experiment.env=\"{env}\"", "train.num_env_steps=900",
            "train.epoch_env_steps=150", "algo.learning_starts=100", "experiment.rollout.enabled=false",
            "experiment.save.every_n_epochs=1", "algo.replay_buffer.save_with_checkpoint=true",
            "algo.replay_buffer.capacity=500", "train.batch_size=32", "algo.actor.layer_dims=[32,32]",
            "algo.critic.layer_dims=[32,32]", *extra]


def tensors(tree):
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, dict):
        return [t for k in sorted(tree, key=str) for t in tensors(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [t for item in tree for t in tensors(item)]
    return []


@pytest.mark.parametrize("env", ["Pendulum-v1", "InvertedPendulum-v5"])
def test_killed_and_resumed_online_run_equals_the_straight_run(tmp_path, env):
    subprocess.run(sac_command(tmp_path / "straight", env), check=True, capture_output=True)
    proc = subprocess.Popen(sac_command(tmp_path / "killed", env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((tmp_path / "killed").glob("*/*/models/model_epoch_3.pth")) and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = next((tmp_path / "killed").glob("*/*"))
    assert 1 <= torch.load(run / "models" / "last.pth", weights_only=True)["train_state"]["epoch"] < 6
    result = run_script("train.py", "--resume", run, "--no-progress", check=True)
    assert "resumed after epoch" in result.stdout
    a = torch.load(next((tmp_path / "straight").glob("*/*/models/last.pth")), weights_only=True)
    b = torch.load(run / "models" / "last.pth", weights_only=True)
    assert a["train_state"] == b["train_state"]  # epochs, gradient updates, env steps, best return
    for part in ("model", "optimizer_state", "online_state"):  # weights; Adam moments; the replay buffer
        ta, tb = tensors(a[part]), tensors(b[part])
        assert len(ta) == len(tb) > 0 and all(torch.equal(x, y) for x, y in zip(ta, tb)), part


def test_an_unresumable_online_run_says_why(tmp_path):
    run_script(*sac_command(tmp_path, "Pendulum-v1", "algo.replay_buffer.save_with_checkpoint=false",
                            "train.num_env_steps=300")[1:], check=True)
    run = next(tmp_path.glob("*/*"))
    assert_one_line_error(run_script("train.py", "--resume", run), "cannot be resumed exactly",
                          "algo.replay_buffer.save_with_checkpoint=true")
