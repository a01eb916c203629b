"""Learning-rate schedules as epoch -> factor functions, from robomimic's `learning_rate` config section.

scheduler_type: "multistep" (x decay_factor at each epoch in epoch_schedule), "linear" (1 -> decay_factor over
epoch_schedule[0] epochs, or the whole run), "cosine" (1 -> decay_factor along a half cosine, same span),
"constant"; `warmup_epochs` ramps linearly from 1/(warmup+1) to 1 first.
"""

import math
from typing import Callable

import torch


def lr_factor_fn(lr_config, num_epochs: int) -> Callable[[int], float]:
    """The factor multiplying the initial learning rate after `epoch` completed epochs."""
    kind = getattr(lr_config, "scheduler_type", "multistep") or "multistep"
    decay = lr_config.decay_factor
    milestones = sorted(lr_config.epoch_schedule or [])
    warmup = getattr(lr_config, "warmup_epochs", 0) or 0
    span = milestones[0] if kind in ("linear", "cosine") and milestones else max(num_epochs - warmup, 1)

    def decay_factor(epoch: int) -> float:
        if kind == "multistep":
            return decay ** sum(epoch >= m for m in milestones)
        if kind == "constant":
            return 1.0
        progress = min(max(epoch, 0) / span, 1.0)
        if kind == "linear":
            return 1.0 + (decay - 1.0) * progress
        if kind == "cosine":
            return decay + (1.0 - decay) * 0.5 * (1.0 + math.cos(math.pi * progress))
        raise ValueError(f"unknown scheduler_type {kind!r}")

    def factor(epoch: int) -> float:
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        return decay_factor(epoch - warmup)

    return factor


def make_lr_scheduler(optimizer: torch.optim.Optimizer, lr_config, num_epochs: int):
    """A LambdaLR stepped once per epoch (by `Algo.on_epoch_end`)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor_fn(lr_config, num_epochs))
