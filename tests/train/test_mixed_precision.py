"""train.mixed_precision: bf16 autocast inside a training step, float32 everywhere else;
train.flush_denormals: denormal float32 numbers count as zero on the CPU."""

import pytest
import torch
from torch import nn

from robokit.config import config_factory
from robokit.errors import ConfigError
from robokit.models.mlp import MLP, Float32Linear
from robokit.train.precision import gradient_step_precision, set_flush_denormals


def test_bf16_step_computes_products_in_bf16_and_keeps_float32_state():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))  # plain layers: bf16 all through
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, y = torch.randn(64, 8), torch.randn(64, 2)
    before = [p.detach().clone() for p in net.parameters()]
    with gradient_step_precision("bf16", torch.device("cpu")):
        out = net(x)
        loss = nn.functional.mse_loss(out, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert out.dtype == torch.bfloat16 and loss.dtype == torch.float32  # products low, the loss full precision
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in net.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    with gradient_step_precision("off", torch.device("cpu")):
        assert net(x).dtype == torch.float32
    assert net(x).dtype == torch.float32  # nothing leaks out of the step


def test_a_weight_updated_inside_the_context_is_used_at_its_new_value():
    torch.manual_seed(0)
    net = nn.Linear(8, 4)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    x = torch.randn(16, 8)
    with gradient_step_precision("bf16", torch.device("cpu")):  # as PPO's minibatch epochs run
        first = net(x)
        first.square().mean().backward()
        optimizer.step()
        second = net(x)
    expected = nn.functional.linear(x.bfloat16(), net.weight.bfloat16(), net.bias.bfloat16())
    torch.testing.assert_close(second.detach(), expected)
    assert not torch.equal(first.detach(), second.detach())


def test_unknown_precision_is_named():
    with pytest.raises(ValueError, match="unknown mixed_precision 'fp8'"):
        gradient_step_precision("fp8", torch.device("cpu"))
    with pytest.raises(ConfigError, match="train.mixed_precision"):
        config_factory("bc", {"train": {"mixed_precision": "fp8"}}).validate()
    with pytest.raises(ConfigError, match="train.mixed_precision"):  # fp16 (a GradScaler) is offline-only
        config_factory("sac", {"train": {"mixed_precision": "fp16"}}).validate()


def test_output_layers_stay_float32_under_bf16():
    torch.manual_seed(0)
    mlp = MLP(8, 1, [32, 32])
    assert isinstance(mlp.net[-1], Float32Linear)
    x = torch.randn(16, 8) * 100
    with gradient_step_precision("bf16", torch.device("cpu")):
        hidden = mlp.net[:-1](x)
        out = mlp(x)
    assert hidden.dtype == torch.bfloat16 and out.dtype == torch.float32
    # the output is the float32 product of the bf16 features: not rounded to bf16's 8-bit mantissa
    torch.testing.assert_close(out, nn.functional.linear(hidden.float(), mlp.net[-1].weight, mlp.net[-1].bias))
    assert mlp.state_dict().keys() == MLP(8, 1, [32, 32]).state_dict().keys()


def denormal_product() -> float:
    """2 x 1e-39: a denormal float32 number, or zero when denormals are flushed."""
    return (torch.tensor([1e-39]) * 2).item()


def test_flushing_denormals_turns_them_into_zero():
    try:
        set_flush_denormals(True)
        assert denormal_product() == 0.0
        assert (torch.tensor([1e-30]) * 2).item() == pytest.approx(2e-30)  # normal numbers are untouched
    finally:
        set_flush_denormals(False)
    assert denormal_product() == pytest.approx(2e-39, rel=1e-3)


@pytest.mark.parametrize("flush", [True, False])
def test_offline_training_applies_flush_denormals(flush, fetch_push_dataset, tmp_path):
    from robokit.config import apply_overrides
    from robokit.train.offline import train

    config = config_factory("bc")
    apply_overrides(config, ["train.num_epochs=1", "experiment.epoch_every_n_steps=2", "train.batch_size=8",
                             "experiment.validate=false", "experiment.rollout.enabled=false",
                             "experiment.logging.log_tb=false", f"train.flush_denormals={str(flush).lower()}"])
    set_flush_denormals(not flush)
    try:
        train(config, dataset_path=fetch_push_dataset, output_dir=tmp_path, progress=False)
        assert (denormal_product() == 0.0) is flush
    finally:
        set_flush_denormals(False)
