"""Learning-rate schedules as step -> factor functions, from robomimic's `learning_rate` config section.

Per epoch (default): scheduler_type "multistep" (x decay_factor at each epoch in epoch_schedule), "linear"
(1 -> decay_factor over epoch_schedule[0] epochs, or the whole run), "cosine" (1 -> decay_factor along a half
cosine, same span), "constant"; `warmup_epochs` ramps linearly from 1/(warmup+1) to 1 first.

Per gradient step (`step_every_batch`, robomimic v0.5): `warmup_steps` of linear warm-up from 0, then "cosine"
is diffusers' `get_cosine_schedule_with_warmup` over the run's steps (`num_cycles` cycles, 0.5: down to 0),
"linear" goes to decay_factor at the last step, "multistep" multiplies by decay_factor from the first step of
each scheduled epoch, "constant" stays at 1. The run's length (steps per epoch x train.num_epochs) is read
when the factor is computed, so the training loop can set it after the algorithm is built.
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


def step_lr_factor_fn(lr_config, run_length: Callable[[], tuple[int, int]]) -> Callable[[int], float]:
    """The factor multiplying the initial learning rate after `step` completed gradient steps.

    run_length() -> (steps_per_epoch, total_steps) of the run.
    """
    kind = getattr(lr_config, "scheduler_type", "multistep") or "multistep"
    decay = lr_config.decay_factor
    warmup = int(getattr(lr_config, "warmup_steps", 0) or 0)
    num_cycles = float(getattr(lr_config, "num_cycles", 0.5))
    milestones = sorted(lr_config.epoch_schedule or [])
    if kind not in ("multistep", "linear", "cosine", "constant"):
        raise ValueError(f"unknown scheduler_type {kind!r}")

    def factor(step: int) -> float:
        if step < warmup:
            return float(step) / float(max(1, warmup))
        # step 0 (LambdaLR's construction, before the loop knows the run's length) is at progress 0 for any length
        steps_per_epoch, total = run_length() if step > 0 else (1, 1)
        progress = float(step - warmup) / float(max(1, total - warmup))
        if kind == "cosine":
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress)))
        if kind == "linear":
            return 1.0 + (decay - 1.0) * min(progress, 1.0)
        if kind == "multistep":
            return decay ** sum(step >= m * steps_per_epoch for m in milestones)
        return 1.0

    return factor


def make_step_lr_scheduler(optimizer: torch.optim.Optimizer, lr_config, run_length: Callable[[], tuple[int, int]]):
    """A LambdaLR stepped after every optimiser step (by `Algo.apply_gradients`)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, step_lr_factor_fn(lr_config, run_length))
