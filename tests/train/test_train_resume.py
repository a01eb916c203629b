"""`train.py --resume RUN_DIR` continues a killed run bit for bit: every parameter, optimiser tensor and logged
loss equals the uninterrupted run's (BC-VAE: its training draws noise, so the RNG state matters too)."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from script_runner import REPO, assert_one_line_error, run_script
from robokit.train.tb_events import read_scalars


def train_command(dataset, out, workers: int, *extra) -> list[str]:
    return [sys.executable, str(REPO / "scripts/train.py"), "--config", str(REPO / "configs/bc.json"), "--dataset",
            str(dataset), "--output", str(out), "--no-progress", "--set", "train.num_epochs=5",
            "experiment.epoch_every_n_steps=25", "experiment.validation_epoch_every_n_steps=3",
            "experiment.rollout.enabled=false", "experiment.save.every_n_epochs=1", "algo.actor_layer_dims=[32]",
            "algo.vae.enabled=true", "algo.vae.latent_dim=4", "algo.vae.encoder_layer_dims=[32]",
            "algo.vae.decoder_layer_dims=[32]", "train.batch_size=8", f"train.num_data_workers={workers}",
            "algo.optim_params.policy.learning_rate.scheduler_type=\"linear\"", *extra]


def tensors(tree) -> list[torch.Tensor]:
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, dict):
        return [t for key in sorted(tree, key=str) for t in tensors(tree[key])]
    if isinstance(tree, (list, tuple)):
        return [t for item in tree for t in tensors(item)]
    return [torch.tensor(float(tree))] if isinstance(tree, (int, float)) and not isinstance(tree, bool) else []


def losses(run_dir: Path) -> dict[int, float]:
    """{epoch: training loss} over every event file of the run (a resumed run has one per process)."""
    return dict(read_scalars(run_dir / "logs" / "tb")["Train/Loss"])


@pytest.mark.parametrize("workers", [0, 2])
def test_killed_and_resumed_run_equals_the_straight_run(fetch_push_dataset, tmp_path, workers):
    subprocess.run(train_command(fetch_push_dataset, tmp_path / "straight", workers), check=True, capture_output=True)
    straight = next((tmp_path / "straight").glob("*/*"))

    proc = subprocess.Popen(train_command(fetch_push_dataset, tmp_path / "killed", workers),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((tmp_path / "killed").glob("*/*/models/model_epoch_2.pth")) and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    killed = next((tmp_path / "killed").glob("*/*"))
    stopped_at = torch.load(killed / "models" / "last.pth", weights_only=True)["train_state"]["epoch"]
    assert 1 <= stopped_at < 5

    result = run_script("train.py", "--resume", killed, "--no-progress", check=True)
    assert f"resumed after epoch {stopped_at}" in result.stdout
    a = torch.load(straight / "models" / "last.pth", weights_only=True)
    b = torch.load(killed / "models" / "last.pth", weights_only=True)
    assert a["train_state"] == b["train_state"] and b["train_state"]["epoch"] == 5
    assert a["model"].keys() == b["model"].keys() and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    opt_a, opt_b = tensors(a["optimizer_state"]), tensors(b["optimizer_state"])
    assert len(opt_a) == len(opt_b) > 0 and all(torch.equal(x, y) for x, y in zip(opt_a, opt_b))
    assert losses(straight) == losses(killed) and sorted(losses(killed)) == [1, 2, 3, 4, 5]


def test_resume_refuses_a_changed_config_and_a_missing_checkpoint(fetch_push_dataset, tmp_path):
    subprocess.run(train_command(fetch_push_dataset, tmp_path / "run", 0, "train.num_epochs=1"), check=True,
                   capture_output=True)
    run = next((tmp_path / "run").glob("*/*"))
    result = run_script("train.py", "--resume", run, "--set", "train.batch_size=16", "algo.vae.latent_dim=8")
    assert_one_line_error(result, "differs from the run's in algo.vae.latent_dim, train.batch_size")
    (run / "models" / "last.pth").unlink()
    assert_one_line_error(run_script("train.py", "--resume", run), "no models/last.pth")


def test_keep_last_n_prunes_old_epoch_checkpoints_but_never_best_or_last(fetch_push_dataset, tmp_path):
    out = tmp_path / "runs"
    run_script("train.py", "--config", "configs/bc.json", "--dataset", fetch_push_dataset, "--output", out,
               "--no-progress", "--set", "train.num_epochs=5", "experiment.epoch_every_n_steps=2",
               "experiment.validate=false", "experiment.save.every_n_epochs=1", "experiment.save.keep_last_n=2",
               "experiment.rollout.n=1", "experiment.rollout.horizon=3", "experiment.rollout.rate=1",
               "algo.actor_layer_dims=[16]", cwd=REPO, check=True)
    models = sorted(p.name for p in next(out.glob("*/*/models")).iterdir())
    epochs = [m for m in models if m.startswith("model_epoch_")]
    assert epochs == ["model_epoch_4.pth", "model_epoch_5.pth"]
    assert "last.pth" in models and "model_best_success_rate.pth" in models  # saved at epoch 1, never pruned
