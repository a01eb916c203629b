"""What the training loops do when the loss, a gradient or the weights stop being finite.

`Algo.backprop` raises `TrainingDivergedError` on a non-finite loss or gradient norm before the optimiser steps,
and `nonfinite_weights` keeps non-finite weights out of checkpoints; the loops then stop with one line that
names the epoch, the step, the likely cause and the last (finite) checkpoint kept, and scripts exit with code 3.
"""

from pathlib import Path

import torch

from robokit.errors import TrainingDivergedError


def nonfinite_weights(state_dict: dict) -> list[str]:
    """Names of the floating-point tensors of a state dict that hold a NaN or an infinity."""
    return [name for name, t in state_dict.items()
            if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all()]


def check_finite_weights(state_dict: dict) -> None:
    """Raise `TrainingDivergedError` when a weight is not finite (such a checkpoint is never written)."""
    bad = nonfinite_weights(state_dict)
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise TrainingDivergedError(f"non-finite weights in {', '.join(bad[:3])}{more}")


def largest_learning_rate(algo) -> tuple[str, float] | None:
    """(network name, learning rate now) of the algorithm's optimiser with the largest rate, if any."""
    rates = [(name, opt.param_groups[0]["lr"]) for name, opt in getattr(algo, "optimizers", {}).items()]
    return max(rates, key=lambda kv: kv[1]) if rates else None


def likely_cause(config, algo) -> str:
    """The usual reasons a run diverges, with this run's values."""
    causes = []
    lr = largest_learning_rate(algo)
    if lr is not None:
        causes.append(f"a learning rate too high ({lr[0]}'s is {lr[1]:g} now: algo.optim_params.{lr[0]}.learning_rate)")
    train = config.train
    for key in ("hdf5_normalize_obs", "normalize_obs"):
        if getattr(train, key, None) is False:
            causes.append(f"observations too large to learn from unnormalised (train.{key}=false)")
            break
    if getattr(train, "mixed_precision", "off") != "off":
        causes.append(f"reduced precision (train.mixed_precision={train.mixed_precision})")
    causes.append("NaN or huge values in the data")
    return "likely cause: " + ", or ".join(causes)


def diverged_error(exc: TrainingDivergedError, config, algo, where: str, kept: Path | None) -> TrainingDivergedError:
    """The one-line report of a diverged run: where (e.g. "epoch 2, step 7"), what, why, and what was kept."""
    if kept is not None:
        outcome = f"the last finite checkpoint is kept as {kept}"
    else:
        outcome = "no checkpoint had been saved yet"
    return TrainingDivergedError(f"training diverged at {where}: {exc}; {likely_cause(config, algo)}; {outcome}; "
                                 "no non-finite weights were saved")
