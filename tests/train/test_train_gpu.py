"""The CUDA paths of training at scale; skipped without a GPU (the development and CI machines have none), run
once where the workplace lends one: auto batch size probes, fp16 with its scaler, nccl data parallelism."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from script_runner import REPO

GPUS = torch.cuda.device_count()
needs_gpu = pytest.mark.skipif(GPUS < 1, reason="needs a CUDA GPU")
QUICK = ["train.num_epochs=2", "experiment.epoch_every_n_steps=5", "experiment.validate=false",
         "experiment.rollout.enabled=false", "experiment.save.every_n_epochs=1", "algo.actor_layer_dims=[64]"]


def train(dataset, out, *extra, launcher=(sys.executable,)):
    return subprocess.run([*launcher, str(REPO / "scripts/train.py"), "--config", str(REPO / "configs/bc.json"),
                           "--dataset", str(dataset), "--output", str(out), "--no-progress", "--device", "cuda",
                           "--set", *QUICK, *extra], capture_output=True, text=True, timeout=600)


@needs_gpu
def test_auto_batch_size_probes_the_gpu_and_caches_the_answer(fetch_push_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = train(fetch_push_dataset, tmp_path / "a", "train.batch_size=\"auto\"")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "probes:" in result.stdout
    batch = json.loads(next((tmp_path / "a").glob("*/*/config.json")).read_text())["train"]["batch_size"]
    assert isinstance(batch, int) and batch >= 1
    again = train(fetch_push_dataset, tmp_path / "b", "train.batch_size=\"auto\"")
    assert again.returncode == 0 and "cached" in again.stdout


@needs_gpu
def test_fp16_trains_on_the_gpu_with_its_scaler(fetch_push_dataset, tmp_path):
    result = train(fetch_push_dataset, tmp_path, "train.mixed_precision=\"fp16\"")
    assert result.returncode == 0, result.stderr[-2000:]
    ckpt = torch.load(next(Path(tmp_path).glob("*/*/models/last.pth")), weights_only=True)
    assert ckpt["optimizer_state"]["grad_scaler"]["scale"] > 0


@pytest.mark.skipif(GPUS < 2, reason="needs two CUDA GPUs")
def test_two_gpu_ranks_step_as_one_gpu_with_twice_the_batch(fetch_push_dataset, tmp_path):
    single = train(fetch_push_dataset, tmp_path / "one", "train.batch_size=16")
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    ddp = train(fetch_push_dataset, tmp_path / "two", "train.batch_size=8", launcher=(torchrun, "--standalone",
                                                                                    "--nproc_per_node", "2"))
    assert single.returncode == 0 and ddp.returncode == 0, ddp.stderr[-2000:]
    a, b = (torch.load(next((tmp_path / n).glob("*/*/models/last.pth")), weights_only=True)["model"]
            for n in ("one", "two"))
    assert all(torch.allclose(a[k], b[k], atol=1e-5, rtol=1e-4) for k in a)
