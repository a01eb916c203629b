"""Action losses with optional padding masks."""

import torch
import torch.nn.functional as F


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of `values` (B, T) over the steps where `mask` (B, T) is True (all steps when mask is None)."""
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def action_losses(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                  weights: dict | None = None) -> dict:
    """L2 (mean squared), L1 (smooth) and cosine losses between (..., A) actions, averaged over real steps, and
    "action_loss", their sum weighted by `weights` ({"l2_loss": w, ...}; default: L2 only).

    A term of weight 0 is computed on `pred.detach()`: it is logged but builds no autograd graph.
    """
    weights = {"l2_loss": 1.0} if weights is None else weights
    terms = {
        "l2_loss": lambda p: F.mse_loss(p, target, reduction="none").mean(-1),  # (...)
        "l1_loss": lambda p: F.smooth_l1_loss(p, target, reduction="none").mean(-1),
        "cos_loss": lambda p: 1.0 - F.cosine_similarity(p, target, dim=-1, eps=1e-6),
    }
    losses, total = {}, None
    for name, term in terms.items():
        weight = float(weights.get(name, 0.0))
        losses[name] = masked_mean(term(pred if weight else pred.detach()), mask)
        if weight:
            total = weight * losses[name] if total is None else total + weight * losses[name]
    if total is None:
        raise ValueError("every action loss weight is 0: nothing to train")
    losses["action_loss"] = total
    return losses
