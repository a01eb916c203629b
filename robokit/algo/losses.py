"""Action losses with optional padding masks: steps (PAD_MASK, (B, T)) and action dims (ACTION_MASK, (B, A)),
for regression losses (`action_losses`, `masked_entry_mean`) and likelihoods (`masked_log_prob`); the log names
of policy loss terms.

A masked-out action dim (the zero slot of a robot with fewer joints, robokit.data.embodiment) takes no part
in a loss: its gradient is exactly zero and adding such a slot leaves the loss unchanged.
"""

import torch
import torch.nn.functional as F


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of `values` (B, T) over the steps where `mask` (B, T) is True (all steps when mask is None)."""
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def action_dim_mask(pred: torch.Tensor, mask: torch.Tensor | None, action_mask: torch.Tensor | None):
    """(..., A) bool of the entries of `pred` that count, or None when every entry does.

    mask: (B, T) (or pred's leading dims) steps; action_mask: (B, A) per sample (broadcast over the steps) or
    already pred's shape.
    """
    if action_mask is None:
        return None
    dims = action_mask.to(device=pred.device, dtype=torch.bool)
    if dims.ndim == 2 and pred.ndim > 2:
        dims = dims.reshape(dims.shape[0], *([1] * (pred.ndim - 2)), dims.shape[-1])
    if dims.shape != pred.shape:  # (B, A) masks of (B, A) predictions, the common case, need no view
        dims = dims.expand(pred.shape)
    if mask is not None:
        dims = dims & mask.to(device=pred.device, dtype=torch.bool).unsqueeze(-1)
    return dims


def zero_padded_dims(actions: torch.Tensor, action_mask: torch.Tensor | None) -> torch.Tensor:
    """(B, [T,] A) actions with the dims `action_mask` (B, A) marks padded set to 0 (what a network that reads
    actions, a VAE's encoder or a denoiser, should see there); unchanged without a mask."""
    real = action_dim_mask(actions, None, action_mask)
    return actions if real is None else torch.where(real, actions, actions.new_zeros(()))


def masked_entry_mean(values: torch.Tensor, mask: torch.Tensor | None, action_mask: torch.Tensor | None):
    """Mean of elementwise `values` (B, T, A) or (B, A) over the real entries: steps `mask` keeps and dims
    `action_mask` (B, A) keeps. Padded entries get exactly zero gradient; with every dim real it is the mean
    over real steps of the per-step means (so adding an empty slot leaves it unchanged)."""
    entries = action_dim_mask(values, mask, action_mask)
    if entries is None:
        return masked_mean(values.mean(-1), mask)
    count = entries.sum(dtype=values.dtype).clamp_min(1)  # counted in float: no int64 copy of the mask
    return torch.where(entries, values, values.new_zeros(())).sum() / count


def action_losses(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                  weights: dict | None = None, untrained_terms: bool = True,
                  action_mask: torch.Tensor | None = None) -> dict:
    """L2 (mean squared), L1 (smooth) and cosine losses between (..., A) actions, averaged over real steps, and
    "action_loss", their sum weighted by `weights` ({"l2_loss": w, ...}; default: L2 only).

    action_mask: (B, A) bool, False at padded action dims: L2 / L1 are then means over the real (step, dim)
    entries only and the cosine is taken over the real dims; padded entries get exactly zero gradient.
    A term of weight 0 is for logging: it is computed without autograd on `pred.detach()`, and left out
    when `untrained_terms` is False.
    """
    entries = action_dim_mask(pred, mask, action_mask)
    count = None
    if entries is not None:  # once for all terms: a padded entry of pred takes its target's value, so it adds 0
        target = target.to(pred.dtype)  # to L2 / L1 and passes no gradient back (one where, not one per
        pred = torch.where(entries, pred, target)  # tensor: the masked path costs 5% of a step at most)
        count = entries.sum(dtype=pred.dtype).clamp_min(1)  # counted in float: no int64 copy of the mask
    weights = {"l2_loss": 1.0} if weights is None else weights
    losses, total = {}, None
    for name in ("l2_loss", "l1_loss", "cos_loss"):
        weight = float(weights.get(name, 0.0))
        if not (weight or untrained_terms):
            continue
        with torch.set_grad_enabled(bool(weight) and torch.is_grad_enabled()):
            losses[name] = _action_term(name, pred if weight else pred.detach(), target, mask, entries, count)
        if weight:
            total = weight * losses[name] if total is None else total + weight * losses[name]
    if total is None:
        raise ValueError("every action loss weight is 0: nothing to train")
    losses["action_loss"] = total
    return losses


def _action_term(name: str, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None,
                 entries: torch.Tensor | None = None, count: torch.Tensor | None = None) -> torch.Tensor:
    """One of `action_losses`' terms: its per-step value (...) averaged over the steps `mask` keeps; with an
    action mask (`entries` (..., A) bool, `count` of them), `pred` equals `target` at the padded entries and
    L2 / L1 are sums over the `count` real entries; the cosine is that of the vectors zeroed at the padded
    entries, i.e. of their real dims."""
    if entries is not None and name != "cos_loss":
        elementwise = F.mse_loss if name == "l2_loss" else F.smooth_l1_loss
        return elementwise(pred, target, reduction="sum") / count
    if entries is not None:
        zero = pred.new_zeros(())
        pred, target = torch.where(entries, pred, zero), torch.where(entries, target, zero)
    if name == "cos_loss":
        return masked_mean(1.0 - F.cosine_similarity(pred, target, dim=-1, eps=1e-6), mask)
    elementwise = F.mse_loss if name == "l2_loss" else F.smooth_l1_loss
    if mask is None:  # every step has A elements: the mean of the per-step means is the overall mean, one kernel
        return elementwise(pred, target)
    return masked_mean(elementwise(pred, target, reduction="none").mean(-1), mask)


def masked_log_prob(dist, target: torch.Tensor, action_mask: torch.Tensor | None) -> torch.Tensor:
    """log p(target) of a diagonal Gaussian (Independent(Normal)) or a mixture of them over the real action dims
    only: the marginal over the padded ones, whose entries then get exactly zero gradient. target (..., A),
    action_mask (B, A) bool or None (every dim real: `dist.log_prob(target)`) -> (...)."""
    if action_mask is None:
        return dist.log_prob(target)
    real = action_dim_mask(target, None, action_mask)  # (..., A)
    zero = target.new_zeros(())
    if isinstance(dist, torch.distributions.MixtureSameFamily):
        components = dist.component_distribution.base_dist  # Normal over (..., M, A)
        per_dim = components.log_prob(target.unsqueeze(-2))  # (..., M, A)
        per_mode = torch.where(real.unsqueeze(-2), per_dim, zero).sum(-1)  # (..., M)
        weights = torch.log_softmax(dist.mixture_distribution.logits, dim=-1)  # (..., M)
        return torch.logsumexp(per_mode + weights, dim=-1)
    if isinstance(dist, torch.distributions.Independent) and isinstance(dist.base_dist, torch.distributions.Normal):
        return torch.where(real, dist.base_dist.log_prob(target), zero).sum(-1)
    raise TypeError(f"masked_log_prob: no per-dim log-likelihood for {type(dist).__name__}")


#: log names of policy loss terms (robomimic's)
LOG_NAMES = {
    "action_loss": "Loss",
    "l2_loss": "L2_Loss",
    "l1_loss": "L1_Loss",
    "cos_loss": "Cosine_Loss",
    "log_likelihood": "Log_Likelihood",
    "kl_loss": "KL_Loss",
    "reconstruction_loss": "Reconstruction_Loss",
}


def policy_loss_log(info: dict) -> dict:
    """{log name: float} of a policy's `train_on_batch` info: each loss term under its LOG_NAMES name, and the
    policy's gradient norm when it was measured."""
    log = {LOG_NAMES.get(name, name): value.item() for name, value in info["losses"].items()}
    if info.get("policy_grad_norm") is not None:
        log["Policy_Grad_Norms"] = float(info["policy_grad_norm"])
    return log
