"""`algo.ema`: an exponential moving average of the weights, for any algorithm (robokit.algo.ema)."""

from robokit.config.section import Section, param
from robokit.errors import ConfigError


class EMAConfig(Section):
    """EMA of the trained networks' weights; evaluation, best checkpoints and deployment use the average."""

    enabled: bool = param(False, "keep an EMA of the weights and act with it (robomimic v0.5's diffusion_policy)")
    power: float = param(0.75, "warm-up power p: decay = 1 - (1 + step / inv_gamma) ** -p", minimum=0.0)
    inv_gamma: float = param(1.0, "inverse multiplicative factor of the step in the warm-up (robokit addition)",
                             minimum=1e-12)
    min_value: float = param(0.0, "lower bound of the decay (robokit addition)", minimum=0.0, maximum=1.0)
    max_value: float = param(0.9999, "upper bound of the decay (robokit addition)", minimum=0.0, maximum=1.0)
    update_after_step: int = param(0, "optimiser steps during which the weights are copied, not averaged "
                                      "(robokit addition)", minimum=0)

    def check(self) -> None:
        if self.min_value > self.max_value:
            raise ConfigError(f"{self.key_path('min_value')}={self.min_value} is above "
                              f"{self.key_path('max_value')}={self.max_value}; the decay would have no valid value")
