"""Exponential moving average (EMA) of a network's weights, for any algorithm (`algo.ema`).

At the n-th update (after the n-th optimiser step, n = 1, 2, ...) every trainable floating-point parameter is
averaged as

    ema = decay * ema + (1 - decay) * param,    decay = clip(1 - (1 + k / inv_gamma) ** -power, min, max)

with k = max(0, (n - 1) - update_after_step - 1), the count of earlier updates past the warm-up, and decay = 0
while k = 0 (the weights are copied); buffers (BatchNorm statistics, ...) and frozen parameters are copied.
This is the `EMAModel` of diffusers 0.11 that robomimic v0.5's Diffusion Policy uses (`EMAModel(model=nets,
power=algo.ema.power)`, inv_gamma 1, min 0, max 0.9999), as in the diffusion_policy code: the average
forgets its random start quickly and approaches `max_value` slowly. (diffusers >= 0.14 counts the current
update too, one step ahead of this.)

`Algo` owns one `EMA` per optimised network and updates it after that network's optimiser steps; the averaged
weights are saved in checkpoints, and evaluation and `policy_from_checkpoint` act with them.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn


class EMA:
    """EMA of the parameters and buffers of `module` (a copy of its state dict, on the module's devices).

    Args:
        module: the network whose weights are averaged.
        power: p of the warm-up formula (2/3 for long runs, 3/4 in Diffusion Policy).
        inv_gamma: inverse multiplicative factor of the step in the warm-up formula.
        min_value / max_value: bounds of the decay.
        update_after_step: optimiser steps before averaging starts (the weights are copied until then).
    """

    def __init__(self, module: nn.Module, power: float = 0.75, inv_gamma: float = 1.0, min_value: float = 0.0,
                 max_value: float = 0.9999, update_after_step: int = 0):
        self.power = float(power)
        self.inv_gamma = float(inv_gamma)
        self.min_value = float(min_value)
        self.max_value = float(max_value)
        self.update_after_step = int(update_after_step)
        self.step = 0  # updates done
        self.averaged = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self._trainable = {name for name, p in module.named_parameters() if p.requires_grad}

    def decay(self, updates_done: int) -> float:
        """The decay of the next update when `updates_done` updates came before it."""
        k = max(0, updates_done - self.update_after_step - 1)
        if k <= 0:
            return 0.0
        value = 1.0 - (1.0 + k / self.inv_gamma) ** -self.power
        return max(self.min_value, min(value, self.max_value))

    @torch.no_grad()
    def update(self, module: nn.Module) -> float:
        """Average in `module`'s current weights (call after each optimiser step); returns the decay used."""
        decay = self.decay(self.step)
        self.step += 1
        for name, value in module.state_dict().items():
            target = self.averaged[name]
            if name in self._trainable and value.is_floating_point():
                target.lerp_(value, 1.0 - decay)  # = decay * ema + (1 - decay) * param
            else:
                target.copy_(value)
        return decay

    @contextlib.contextmanager
    def applied(self, module: nn.Module):
        """Within the block `module` holds the averaged weights; its own are restored afterwards."""
        saved = {k: v.detach().clone() for k, v in module.state_dict().items()}
        module.load_state_dict(self.averaged)
        try:
            yield module
        finally:
            module.load_state_dict(saved)

    def copy_to(self, module: nn.Module) -> None:
        """Load the averaged weights into `module` (for deployment)."""
        module.load_state_dict(self.averaged)

    def state_dict(self) -> dict:
        """{"step": int, "weights": {name: tensor}}: plain data, loadable with weights_only=True."""
        return {"step": self.step, "weights": dict(self.averaged)}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        for name, value in state["weights"].items():
            if name not in self.averaged:
                raise KeyError(f"EMA state has weights {name!r} that the network lacks")
            self.averaged[name].copy_(value)
