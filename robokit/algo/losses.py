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
                  weights: dict | None = None, untrained_terms: bool = True) -> dict:
    """L2 (mean squared), L1 (smooth) and cosine losses between (..., A) actions, averaged over real steps, and
    "action_loss", their sum weighted by `weights` ({"l2_loss": w, ...}; default: L2 only).

    A term of weight 0 is for logging: it is computed without autograd on `pred.detach()`, and left out
    when `untrained_terms` is False.
    """
    weights = {"l2_loss": 1.0} if weights is None else weights
    losses, total = {}, None
    for name in ("l2_loss", "l1_loss", "cos_loss"):
        weight = float(weights.get(name, 0.0))
        if not (weight or untrained_terms):
            continue
        with torch.set_grad_enabled(bool(weight) and torch.is_grad_enabled()):
            losses[name] = _action_term(name, pred if weight else pred.detach(), target, mask)
        if weight:
            total = weight * losses[name] if total is None else total + weight * losses[name]
    if total is None:
        raise ValueError("every action loss weight is 0: nothing to train")
    losses["action_loss"] = total
    return losses


def _action_term(name: str, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """One of `action_losses`' terms: its per-step value (...) averaged over the steps `mask` keeps."""
    if name == "cos_loss":
        return masked_mean(1.0 - F.cosine_similarity(pred, target, dim=-1, eps=1e-6), mask)
    elementwise = F.mse_loss if name == "l2_loss" else F.smooth_l1_loss
    if mask is None:  # every step has A elements: the mean of the per-step means is the overall mean, one kernel
        return elementwise(pred, target)
    return masked_mean(elementwise(pred, target, reduction="none").mean(-1), mask)
