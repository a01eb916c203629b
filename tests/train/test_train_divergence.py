"""A run whose loss, gradient or weights stop being finite stops at once: one line naming the epoch, the step and
the likely cause, exit code 3, the last finite checkpoint kept and no non-finite weights ever written."""

from pathlib import Path

import pytest
import torch

from script_runner import assert_one_line_error, run_script
from robokit.algo import algo_factory
from robokit.config import apply_overrides, config_factory
from robokit.errors import TrainingDivergedError
from robokit.train.checkpoint import build_checkpoint, load_checkpoint
from robokit.train.divergence import nonfinite_weights

REPO = Path(__file__).parents[2]
# SGD at 1e-3 for epoch 1, then x1e23 from epoch 2 on: the weights overflow during epoch 2's first steps
DIVERGE_IN_EPOCH_2 = ("algo.optim_params.policy.optimizer_type=\"sgd\"",
                      "algo.optim_params.policy.learning_rate.initial=1e-3",
                      "algo.optim_params.policy.learning_rate.epoch_schedule=[1]",
                      "algo.optim_params.policy.learning_rate.decay_factor=1e23")


def small_bc(*overrides):
    config = config_factory("bc")
    apply_overrides(config, ["algo.actor_layer_dims=[8]", "train.num_epochs=2", *overrides])
    return config, algo_factory("bc", config, obs_key_shapes={"x": (3,)}, ac_dim=2, device="cpu")


def bc_batch(scale: float = 1.0) -> dict:
    return {"obs": {"x": torch.randn(4, 1, 3) * scale}, "actions": torch.rand(4, 1, 2) * 2 - 1}


def test_nonfinite_loss_raises_before_the_optimiser_steps():
    config, algo = small_bc("observation.modalities.obs.low_dim=[\"x\"]")
    before = {k: v.clone() for k, v in algo.serialize().items()}
    batch = bc_batch()
    batch["obs"]["x"][0, 0, 0] = float("nan")
    with pytest.raises(TrainingDivergedError, match="policy loss is nan"):
        algo.train_on_batch(algo.process_batch_for_training(batch), epoch=1)
    assert all(torch.equal(before[k], v) for k, v in algo.serialize().items())  # not one weight moved
    algo.train_on_batch(algo.process_batch_for_training(bc_batch()), epoch=1)  # a finite batch still trains
    assert any(not torch.equal(before[k], v) for k, v in algo.serialize().items())


def test_nonfinite_gradient_is_not_excused_by_clipping():
    """With train.max_grad_norm the norm is measured every step; an infinite one stops before the step (clipping
    would multiply the infinite gradient by 0 and step the weights to NaN)."""
    config, algo = small_bc("observation.modalities.obs.low_dim=[\"x\"]", "train.max_grad_norm=1.0")
    algo.set_log_diagnostics(False)
    before = {k: v.clone() for k, v in algo.serialize().items()}
    for p in algo.nets.parameters():
        p.register_hook(lambda g: torch.full_like(g, float("inf")))
    with pytest.raises(TrainingDivergedError, match="gradient of policy has norm inf"):
        algo.train_on_batch(algo.process_batch_for_training(bc_batch()), epoch=1)
    assert all(torch.equal(before[k], v) for k, v in algo.serialize().items())


def test_build_checkpoint_refuses_nonfinite_weights():
    config, algo = small_bc("observation.modalities.obs.low_dim=[\"x\"]")
    name, weight = next(iter(algo.nets.named_parameters()))
    with torch.no_grad():
        weight[0, 0] = float("inf")
    assert nonfinite_weights(algo.serialize()) == [name]
    with pytest.raises(TrainingDivergedError, match=f"non-finite weights in {name}"):
        build_checkpoint(algo, config, {"all_shapes": {"x": [3]}, "ac_dim": 2}, None)


def test_offline_run_stops_in_epoch_2_and_keeps_epoch_1(fetch_push_dataset, tmp_path):
    out = tmp_path / "runs"
    result = run_script("train.py", "--config", "configs/bc.json", "--dataset", fetch_push_dataset, "--output", out,
                        "--no-progress", "--set", "train.num_epochs=4", "experiment.epoch_every_n_steps=4",
                        "experiment.validate=false", "experiment.rollout.enabled=false",
                        "experiment.save.every_n_epochs=1", "algo.actor_layer_dims=[64,64]", "train.batch_size=16",
                        *DIVERGE_IN_EPOCH_2, cwd=REPO)
    line = assert_one_line_error(result, "training diverged at epoch 2, step", "policy loss is nan",
                                 "learning rate too high", "last.pth", code=3)
    assert "weights_only" not in line and "Traceback" not in result.stderr
    models = next(out.glob("*/*/models"))
    assert sorted(p.name for p in models.iterdir()) == ["last.pth", "model_epoch_1.pth"]  # nothing after epoch 1
    last = load_checkpoint(models / "last.pth")
    assert last["train_state"]["epoch"] == 1 and nonfinite_weights(last["model"]) == []
    assert "training diverged at epoch 2" in (models.parent / "logs" / "log.txt").read_text()


def test_online_run_stops_at_the_first_nonfinite_loss(tmp_path):
    out = tmp_path / "runs"
    result = run_script("train.py", "--config", "configs/ppo.json", "--output", out, "--no-progress", "--debug",
                        "--set", "experiment.env=\"Pendulum-v1\"", "algo.optim_params.policy.optimizer_type=\"sgd\"",
                        "algo.optim_params.policy.learning_rate.initial=1e25", cwd=REPO)
    assert_one_line_error(result, "training diverged at epoch 1, env step", "gradient update 1", "policy loss is",
                          "no checkpoint had been saved yet", code=3)
    assert list(next(out.glob("*/*/models")).iterdir()) == []
