"""Action losses with optional padding masks."""

import torch
import torch.nn.functional as F


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of `values` (B, T) over the steps where `mask` (B, T) is True (all steps when mask is None)."""
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def action_losses(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> dict:
    """L2 (mean squared), L1 (smooth) and cosine losses between (..., A) actions, averaged over real steps."""
    l2 = F.mse_loss(pred, target, reduction="none").mean(-1)  # (...)
    l1 = F.smooth_l1_loss(pred, target, reduction="none").mean(-1)
    cos = 1.0 - F.cosine_similarity(pred, target, dim=-1, eps=1e-6)
    return {name: masked_mean(v, mask) for name, v in (("l2_loss", l2), ("l1_loss", l1), ("cos_loss", cos))}
