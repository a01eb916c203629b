"""The settings of one optimiser (`algo.optim_params.<network>`), shared by every algorithm config."""

from typing import Literal

from robokit.config.section import Section, param
from robokit.errors import ConfigError


class LearningRateConfig(Section):
    """Learning rate and its schedule (in epochs)."""

    initial: float = param(1e-4, "learning rate at the start of training (after warm-up)", minimum=0.0)
    decay_factor: float = param(0.1, "factor the learning rate is multiplied by when it decays", minimum=0.0)
    epoch_schedule: list[int] = param(
        [], "multistep: epochs at which to decay; linear/cosine: [end epoch] (empty: the whole run)"
    )
    scheduler_type: Literal["multistep", "linear", "cosine", "constant"] = param(
        "multistep",
        "multistep: multiply by decay_factor at each scheduled epoch; linear/cosine: anneal to "
        "initial*decay_factor by epoch_schedule[0] (or the end of training); constant: no decay",
    )
    warmup_epochs: int = param(
        0, "epochs of linear warm-up up to the initial rate, before the schedule (robokit addition)", minimum=0
    )
    step_every_batch: bool = param(
        False,
        "step the schedule after every gradient step instead of every epoch (robomimic v0.5); cosine then "
        "follows diffusers' get_cosine_schedule_with_warmup over the whole run (to 0), linear anneals to "
        "initial*decay_factor over the run, multistep decays at the scheduled epochs' first steps",
    )
    warmup_steps: int = param(
        0, "with step_every_batch: gradient steps of linear warm-up from 0 to the initial rate", minimum=0
    )
    num_cycles: float = param(
        0.5, "with step_every_batch and cosine: cosine cycles over the run after warm-up (0.5: one decay to 0)",
        minimum=0.0,
    )

    def check(self) -> None:
        if self.initial == 0:
            raise ConfigError(f"{self.key_path('initial')} is 0: that network would never learn; "
                              "fix: set a positive learning rate, e.g. 1e-4")
        schedule = self.epoch_schedule
        if any(e < 0 for e in schedule) or schedule != sorted(set(schedule)):
            raise ConfigError(
                f"{self.key_path('epoch_schedule')} must be increasing epoch numbers >= 0, got {schedule}"
            )
        if self.warmup_steps and not self.step_every_batch:
            raise ConfigError(
                f"{self.key_path('warmup_steps')}={self.warmup_steps} needs {self.key_path('step_every_batch')}=true "
                f"(the schedule steps per gradient step); or warm up by epochs with {self.key_path('warmup_epochs')}"
            )
        if self.warmup_epochs and self.step_every_batch:
            raise ConfigError(
                f"{self.key_path('warmup_epochs')} counts epochs but {self.key_path('step_every_batch')} is true; "
                f"use {self.key_path('warmup_steps')} instead"
            )
        if self.step_every_batch and self.scheduler_type in ("linear", "cosine") and schedule:
            raise ConfigError(
                f"{self.key_path('scheduler_type')}={self.scheduler_type} with {self.key_path('step_every_batch')}"
                f"=true spans the whole run; empty {self.key_path('epoch_schedule')} (got {schedule})"
            )
        if self.scheduler_type in ("linear", "cosine") and len(schedule) > 1:
            raise ConfigError(
                f"{self.key_path('scheduler_type')}={self.scheduler_type} anneals until a single end epoch; "
                f"set {self.key_path('epoch_schedule')} to one epoch, e.g. [{schedule[-1]}]"
            )


class RegularizationConfig(Section):
    """Weight regularisation."""

    L2: float = param(0.0, "L2 weight decay strength", minimum=0.0)


class OptimizerConfig(Section):
    """One optimiser: `algo.optim_params.policy`, `.critic`, `.actor`, `.value`, ..."""

    optimizer_type: Literal["adam", "adamw", "sgd"] = param("adam", "optimiser class")
    learning_rate: LearningRateConfig = param(LearningRateConfig(), "learning rate and schedule")
    regularization: RegularizationConfig = param(RegularizationConfig(), "weight regularisation")
