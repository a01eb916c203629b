"""BC's action losses: values against hand computation; zero-weight terms are logged but not trained on."""

import pytest
import torch

from robokit.algo.losses import action_losses
from robokit.config import config_factory
from robokit.errors import ConfigError


def test_terms_and_weighted_total_match_hand_computation():
    pred = torch.tensor([[0.5, 0.0], [0.0, 2.0]], requires_grad=True)
    target = torch.eye(2)
    losses = action_losses(pred, target, weights={"l2_loss": 1.0, "l1_loss": 0.5, "cos_loss": 2.0})
    # rows: errors (-0.5, 0) and (0, 1); squared 0.25 and 1 -> mean over A then B: (0.125 + 0.5) / 2
    assert losses["l2_loss"].item() == pytest.approx(0.3125)
    # smooth L1 (beta 1): 0.5 e^2 for |e| < 1, |e| - 0.5 otherwise: (0.125 / 2 + 0.5 / 2) / 2
    assert losses["l1_loss"].item() == pytest.approx(0.15625)
    assert losses["cos_loss"].item() == pytest.approx(0.0)  # both rows point along their targets
    assert losses["action_loss"].item() == pytest.approx(0.3125 + 0.5 * 0.15625)


def test_zero_weight_terms_do_not_reach_the_gradient():
    pred = torch.randn(8, 3, requires_grad=True)
    target = torch.randn(8, 3)
    l2_only = action_losses(pred, target, weights={"l2_loss": 1.0})
    (grad_l2,) = torch.autograd.grad(l2_only["action_loss"], pred)
    assert not l2_only["l1_loss"].requires_grad and not l2_only["cos_loss"].requires_grad
    assert torch.allclose(grad_l2, 2 * (pred - target).detach() / pred.numel())
    with_l1 = action_losses(pred, target, weights={"l2_loss": 1.0, "l1_loss": 1.0})
    (grad_both,) = torch.autograd.grad(with_l1["action_loss"], pred)
    assert not torch.allclose(grad_both, grad_l2)


def test_all_zero_weights_are_a_config_error():
    with pytest.raises(ConfigError, match="all 0: nothing to train; set algo.loss.l2_weight=1.0"):
        config_factory("bc", {"algo": {"loss": {"l2_weight": 0.0}}}).validate()
