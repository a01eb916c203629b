"""FlatParameters (one buffer for a network's parameters and gradients) and FlatAdam against torch.optim.Adam."""

import copy

import pytest
import torch
from torch import nn

from robokit.algo.base import clip_grad_norm_
from robokit.algo.flat_parameters import FlatAdam, FlatParameters


def small_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))


def loss_of(net: nn.Module, step: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(step)
    x, y = torch.randn(16, 3, generator=g), torch.randn(16, 2, generator=g)
    return ((net(x) - y) ** 2).mean()


def test_parameters_and_gradients_live_in_the_flat_buffers():
    net = small_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flat = FlatParameters(net)
    assert flat.param.numel() == sum(p.numel() for p in net.parameters())
    for k, v in net.state_dict().items():  # same values and names as before
        torch.testing.assert_close(v, before[k])
    flat.zero_grad()
    loss_of(net, 0).backward()
    reference = small_net()
    loss_of(reference, 0).backward()
    torch.testing.assert_close(flat.grad, torch.cat([p.grad.reshape(-1) for p in reference.parameters()]))
    with torch.no_grad():
        flat.param.mul_(2.0)  # an optimiser's in-place update reaches the module
    torch.testing.assert_close(net[0].weight, 2.0 * before["0.weight"])
    net.load_state_dict(before)  # loading copies into the views: still attached
    flat.check_attached()
    torch.testing.assert_close(flat.param[: net[0].weight.numel()], before["0.weight"].reshape(-1))


def test_detached_parameters_are_reported():
    net = small_net()
    flat = FlatParameters(net)
    net[2].bias.data = net[2].bias.data.clone()  # what moving the module to another device does
    with pytest.raises(RuntimeError, match="left their flat buffer"):
        flat.check_attached()


@pytest.mark.parametrize("method", ["step", "update"])
@pytest.mark.parametrize("weight_decay, adamw", [(0.0, False), (0.1, False), (0.1, True)])
def test_flat_adam_takes_the_same_steps_as_torch_adam(weight_decay, adamw, method):
    net, reference = small_net(), small_net()
    flat = FlatParameters(net)
    optimizer = FlatAdam(flat.param, lr=1e-2, weight_decay=weight_decay, decoupled_weight_decay=adamw)
    torch_cls = torch.optim.AdamW if adamw else torch.optim.Adam
    torch_optimizer = torch_cls(reference.parameters(), lr=1e-2, weight_decay=weight_decay, fused=True)
    for step in range(5):
        flat.zero_grad()
        loss_of(net, step).backward()
        clip_grad_norm_([flat.grad], 0.5)
        getattr(optimizer, method)()
        torch_optimizer.zero_grad()
        loss_of(reference, step).backward()
        torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
        torch_optimizer.step()
    for p, q in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)
    # the state dict is Adam's: it resumes a plain fused Adam over the flat parameter
    resumed = torch_cls([copy.deepcopy(flat.param)], lr=1e-2, weight_decay=weight_decay, fused=True)
    resumed.load_state_dict(optimizer.state_dict())
    assert resumed.state_dict()["state"][0]["step"].item() == 5


def test_flat_adam_update_keeps_schedulers_and_hooks_working():
    import warnings

    net = small_net()
    flat = FlatParameters(net)
    optimizer = FlatAdam(flat.param, lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 0.5 ** epoch)
    calls = []
    for step in range(3):
        flat.zero_grad()
        loss_of(net, step).backward()
        before = flat.param.detach().clone()
        optimizer.update()
        assert not torch.equal(flat.param, before)  # the update happened
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "lr_scheduler.step() before optimizer.step()" warning
            scheduler.step()
        if step == 1:
            optimizer.register_step_post_hook(lambda opt, args, kwargs: calls.append(step))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5 ** 3)
    assert optimizer.state[flat.param]["step"].item() == 3
    assert calls == [2]  # with a hook registered, update goes through step() and the hook runs


def test_clip_grad_norm_matches_torch():
    grads = [torch.randn(4, 3), torch.randn(7)]
    expected = [g.clone().requires_grad_() for g in grads]
    for g in expected:
        g.grad = g.detach().clone()
    norm = clip_grad_norm_(grads, 1.0)
    torch_norm = torch.nn.utils.clip_grad_norm_(expected, 1.0)
    torch.testing.assert_close(norm, torch_norm)
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e.grad)
    assert torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads])).item() == pytest.approx(1.0, rel=1e-5)
