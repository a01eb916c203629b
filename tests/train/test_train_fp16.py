"""train.mixed_precision="fp16": float16 autocast with a gradient scaler (on the CPU here; meant for CUDA): an
overflowing step is skipped and the scale halved instead of stopping the run, and the scaler's state is saved."""

from pathlib import Path

import torch

from script_runner import REPO, run_script
from robokit.algo import algo_factory
from robokit.config import apply_overrides, config_factory
from robokit.train.precision import gradient_step_precision, make_grad_scaler


def fp16_bc():
    config = config_factory("bc")
    apply_overrides(config, ["algo.actor_layer_dims=[8]", "observation.modalities.obs.low_dim=[\"x\"]",
                             "train.mixed_precision=\"fp16\""])
    algo = algo_factory("bc", config, obs_key_shapes={"x": (3,)}, ac_dim=2, device="cpu")
    algo.grad_scaler = make_grad_scaler("fp16", algo.device)
    return config, algo


def batch():
    return {"obs": {"x": torch.randn(4, 1, 3)}, "actions": torch.rand(4, 1, 2) * 2 - 1}


def test_an_overflowing_step_is_skipped_and_the_scale_lowered():
    config, algo = fp16_bc()
    before = {k: v.clone() for k, v in algo.serialize().items()}
    hooks = [p.register_hook(lambda g: torch.full_like(g, float("inf"))) for p in algo.nets.parameters()]
    scale = algo.grad_scaler.get_scale()
    with gradient_step_precision("fp16", algo.device):
        algo.train_on_batch(algo.process_batch_for_training(batch()), epoch=1)  # no TrainingDivergedError
    algo.grad_scaler.update()
    assert algo.grad_scaler.get_scale() == scale / 2
    assert all(torch.equal(before[k], v) for k, v in algo.serialize().items())  # the step was skipped
    for hook in hooks:
        hook.remove()
    with gradient_step_precision("fp16", algo.device):
        algo.train_on_batch(algo.process_batch_for_training(batch()), epoch=1)
    algo.grad_scaler.update()
    assert any(not torch.equal(before[k], v) for k, v in algo.serialize().items())
    state = algo.optimizer_state()["grad_scaler"]
    _, fresh = fp16_bc()
    fresh.load_optimizer_state({"grad_scaler": state})
    assert fresh.grad_scaler.get_scale() == scale / 2


def test_fp16_run_through_train_py_saves_the_scaler(fetch_push_dataset, tmp_path):
    run_script("train.py", "--config", "configs/bc.json", "--dataset", fetch_push_dataset, "--output", tmp_path,
               "--no-progress", "--set", "train.mixed_precision=\"fp16\"", "train.num_epochs=2",
               "experiment.epoch_every_n_steps=3", "experiment.validate=false", "experiment.rollout.enabled=false",
               "algo.actor_layer_dims=[16]", "experiment.save.every_n_epochs=1", cwd=REPO, check=True)
    ckpt = torch.load(next(Path(tmp_path).glob("*/*/models/last.pth")), weights_only=True)
    assert ckpt["optimizer_state"]["grad_scaler"]["scale"] > 0
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
