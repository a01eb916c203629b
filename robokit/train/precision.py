"""Mixed precision for gradient steps: `train.mixed_precision`.

"bf16" runs each gradient step under `torch.autocast` with bfloat16: matrix products (linear layers,
convolutions) compute in bfloat16, while output layers (`robokit.models.mlp.Float32Linear`), parameters,
optimiser state, losses and reductions stay in float32. On a CPU with AVX512-BF16 the products ran about
twice as fast (AMX CPUs and recent GPUs have bfloat16 units too; not measured here). Acting (exploration,
evaluation) always runs in float32.
"""

import contextlib

import torch

MODES = ("off", "bf16")


def gradient_step_precision(mode: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context to run one gradient step in: autocast to bfloat16 for "bf16", nothing for "off"."""
    if mode == "off":
        return contextlib.nullcontext()
    if mode == "bf16":
        # no weight-cast cache: it would keep serving the bfloat16 copy of a weight from before an optimiser
        # step later in the same context (PPO's minibatch epochs, a critic reused after its update)
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
    raise ValueError(f"unknown mixed_precision {mode!r}; expected one of {MODES}")
