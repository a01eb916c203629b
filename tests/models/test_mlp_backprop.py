"""ReluMLPPass: hand-written forward and backward passes give autograd's outputs and gradients."""

import pytest
import torch
from torch import nn

from robokit.models.mlp import MLP, Float32Linear
from robokit.models.mlp_backprop import ReluMLPPass, relu_backward_


def autograd_reference(module: nn.Module, x: torch.Tensor, grad_out: torch.Tensor):
    """Outputs, dL/dx and each parameter's gradient of L = sum(module(x) * grad_out), by autograd."""
    x = x.clone().requires_grad_(True)
    for p in module.parameters():
        p.grad = None
    y = module(x)
    (y * grad_out).sum().backward()
    return y.detach(), x.grad, [p.grad.clone() for p in module.parameters()]


def zeroed_grads(module: nn.Module) -> None:
    for p in module.parameters():
        p.grad = torch.zeros_like(p)


@pytest.mark.parametrize("layer_dims", [[16], [32, 24, 8]])
def test_float32_pass_gives_autograds_outputs_and_gradients(layer_dims):
    torch.manual_seed(0)
    mlp = MLP(5, 3, layer_dims)
    x, grad_out = torch.randn(64, 5), torch.randn(64, 3)
    y_ref, gx_ref, grads_ref = autograd_reference(mlp, x, grad_out)

    mlp_pass = ReluMLPPass.of(mlp)
    zeroed_grads(mlp)
    y, cache = mlp_pass.forward(x)
    gx = mlp_pass.backward(cache, grad_out, param_grads=True, input_grad=True)
    assert y.shape == (64, 3) and gx.shape == (64, 5)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-6)
    for p, ref in zip(mlp.parameters(), grads_ref, strict=True):
        torch.testing.assert_close(p.grad, ref, rtol=1e-5, atol=1e-6)

    for dtype in (torch.float32, torch.bfloat16):  # the gradients are written over, never added to
        for p in mlp.parameters():
            p.grad.fill_(123.0)
        mlp_pass.backward(mlp_pass.forward(x, dtype)[1], grad_out)
        for p, ref in zip(mlp.parameters(), grads_ref, strict=True):
            if dtype == torch.float32:
                torch.testing.assert_close(p.grad, ref, rtol=1e-5, atol=1e-6)
            else:  # rounding and the odd ReLU flip move a bfloat16 gradient a little, never by 123
                assert float((p.grad - ref).abs().max()) < 1.0
    assert ReluMLPPass.covers([mlp_pass], mlp)


def test_trunk_with_a_separate_head_and_frozen_parameters():
    torch.manual_seed(1)
    trunk, head = MLP(6, None, [20, 20]), Float32Linear(20, 4)  # SAC's actor: the head follows the trunk
    both = nn.Sequential(trunk, head)
    x, grad_out = torch.randn(32, 6), torch.randn(32, 4)
    y_ref, gx_ref, _ = autograd_reference(both, x, grad_out)

    mlp_pass = ReluMLPPass.of(trunk, head)
    assert ReluMLPPass.of(trunk).output is None
    trunk_grad = torch.randn(32, 20)
    trunk_out, trunk_cache = ReluMLPPass.of(trunk).forward(x)
    zeroed_grads(both)
    kept = trunk_grad.clone()
    ReluMLPPass.of(trunk).backward(trunk_cache, trunk_grad)
    assert torch.equal(trunk_grad, kept)  # the caller's gradient is not overwritten
    zeroed_grads(both)
    y, cache = mlp_pass.forward(x)
    gx = mlp_pass.backward(cache, grad_out, param_grads=False, input_grad=True)  # a critic in an actor update
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-6)
    assert all(torch.count_nonzero(p.grad) == 0 for p in both.parameters())
    assert mlp_pass.forward(x, keep=False)[1] is None
    assert ReluMLPPass.covers([mlp_pass], both) and not ReluMLPPass.covers([ReluMLPPass.of(trunk)], both)
    head.requires_grad_(False)  # frozen parameters need no gradient
    assert ReluMLPPass.covers([ReluMLPPass.of(trunk)], both)


def bf16_errors(seed: int) -> tuple[list[float], list[float]]:
    """Relative errors against float32 of the outputs, dL/dx and each gradient: by hand, under autocast."""
    torch.manual_seed(seed)
    mlp = MLP(8, 1, [64, 64])
    x, grad_out = torch.randn(128, 8), torch.randn(128, 1)
    exact = autograd_reference(mlp, x, grad_out)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = autograd_reference(mlp, x, grad_out)
    mlp_pass = ReluMLPPass.of(mlp)
    zeroed_grads(mlp)
    y, cache = mlp_pass.forward(x, torch.bfloat16)
    gx = mlp_pass.backward(cache, grad_out, input_grad=True)
    assert y.dtype == torch.float32 and gx.dtype == torch.float32
    assert cache.inputs[1].dtype == torch.bfloat16  # hidden activations in bfloat16
    by_hand = (y, gx, [p.grad for p in mlp.parameters()])

    def errors(result):
        flat = [result[0].float(), result[1], *result[2]]
        return [float((a - b).norm() / b.norm()) for a, b in zip(flat, [exact[0], exact[1], *exact[2]], strict=True)]

    return errors(by_hand), errors(autocast)


def test_bfloat16_pass_is_about_as_accurate_as_autocast():
    runs = [bf16_errors(seed) for seed in range(5)]  # a ReLU flipping near zero moves whole gradient rows
    ours, theirs = (torch.tensor([run[i] for run in runs]).mean(0) for i in (0, 1))
    assert bool((ours < 0.1).all()) and bool((ours < 1.5 * theirs + 1e-3).all()), (ours, theirs)  # wrong: ~1


def test_bfloat16_weights_are_cast_again_on_refresh():
    torch.manual_seed(3)
    mlp = MLP(8, 1, [64, 64])
    x = torch.randn(16, 8)
    mlp_pass = ReluMLPPass.of(mlp)
    y, _ = mlp_pass.forward(x, torch.bfloat16)
    with torch.no_grad():
        mlp.net[0].weight.mul_(2.0)
    assert torch.equal(mlp_pass.forward(x, torch.bfloat16)[0], y)  # the cached bfloat16 weights
    ReluMLPPass.refresh([mlp_pass], torch.bfloat16)
    assert not torch.allclose(mlp_pass.forward(x, torch.bfloat16)[0], y)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_relu_backward_keeps_the_gradient_where_the_output_is_positive(dtype):
    torch.manual_seed(4)
    out = torch.relu(torch.randn(64, 48)).to(dtype)
    out[0, :4] = torch.tensor([0.0, -0.0, 1e-30, 3e38])  # signed zeros, a tiny and a huge value
    grad = torch.randn(64, 48).to(dtype)
    expected = torch.where(out > 0, grad, torch.zeros_like(grad))
    relu_backward_(grad, out)
    assert grad.dtype == dtype and torch.equal(grad, expected)
    assert 0 < int((grad == 0).sum()) < grad.numel()


def test_backward_of_the_first_rows_of_a_batched_forward():
    torch.manual_seed(5)
    trunk, head = MLP(6, None, [32, 32]), Float32Linear(32, 4)
    mlp_pass = ReluMLPPass.of(trunk, head)
    x, more, grad_out = torch.randn(16, 6), torch.randn(24, 6), torch.randn(16, 4)
    for dtype in (torch.float32, torch.bfloat16):
        zeroed_grads(trunk), zeroed_grads(head)
        y, cache = mlp_pass.forward(x, dtype)
        gx = mlp_pass.backward(cache, grad_out, input_grad=True)
        grads = [p.grad.clone() for p in [*trunk.parameters(), *head.parameters()]]

        zeroed_grads(trunk), zeroed_grads(head)
        y_both, cache_both = mlp_pass.forward(torch.cat([x, more]), dtype)
        torch.testing.assert_close(y_both[:16], y)
        gx_first = mlp_pass.backward(cache_both.first_rows(16), grad_out, input_grad=True)
        torch.testing.assert_close(gx_first, gx)
        for p, ref in zip([*trunk.parameters(), *head.parameters()], grads, strict=True):
            torch.testing.assert_close(p.grad, ref)


@pytest.mark.parametrize("kwargs", [dict(activation="tanh"), dict(dropout=0.1), dict(output_activation="tanh")])
def test_other_layers_have_no_pass(kwargs):
    assert ReluMLPPass.of(MLP(4, 2, [8, 8], **kwargs)) is None
    assert ReluMLPPass.of(MLP(4, 2, [])) is None  # no hidden layer
    assert ReluMLPPass.of(MLP(4, 2, [8])) is not None
