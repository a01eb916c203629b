"""Floating-point settings of training: `train.mixed_precision` and `train.flush_denormals`.

"bf16" runs each gradient step under `torch.autocast` with bfloat16 ("fp16": float16, with a gradient scaler,
`make_grad_scaler`, for GPUs without fast bfloat16): matrix products (linear layers,
convolutions) compute in bfloat16, while output layers (`robokit.models.mlp.Float32Linear`), parameters,
optimiser state, losses and reductions stay in float32. On a CPU with AVX512-BF16 the products ran about
twice as fast (AMX CPUs and recent GPUs have bfloat16 units too; not measured here). Acting (exploration,
evaluation) always runs in float32.

`train.flush_denormals` (default on) makes the CPU treat float32 values below 1.2e-38 as zero. Adam's
second-moment estimates of weights that rarely get a gradient decay into that range, and x86 cores handle such
denormal numbers many times slower than normal ones: in a 3,000-step SAC run on Pendulum the fused Adam update
took 355 us per call with denormals and 78 us without, and training losses printed the same.
"""

import contextlib

import torch

MODES = ("off", "bf16", "fp16")


def gradient_step_precision(mode: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context to run one gradient step in: autocast to bfloat16 for "bf16", nothing for "off"."""
    if mode == "off":
        return contextlib.nullcontext()
    if mode in ("bf16", "fp16"):
        # no weight-cast cache: it would keep serving the low-precision copy of a weight from before an optimiser
        # step later in the same context (PPO's minibatch epochs, a critic reused after its update)
        dtype = torch.bfloat16 if mode == "bf16" else torch.float16
        return torch.autocast(device.type, dtype=dtype, cache_enabled=False)
    raise ValueError(f"unknown mixed_precision {mode!r}; expected one of {MODES}")


def make_grad_scaler(mode: str, device: torch.device):
    """A torch.amp.GradScaler for "fp16" (float16's range is narrow: losses are scaled up so small gradients do
    not underflow, and a step whose gradients overflowed is skipped and the scale lowered); None otherwise."""
    return torch.amp.GradScaler(device.type) if mode == "fp16" else None


def set_flush_denormals(flush: bool) -> None:
    """Whether float operations on the CPU treat denormal numbers as zero (process-wide, like the thread count)."""
    torch.set_flush_denormal(flush)
