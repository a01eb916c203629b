"""Torch device selection."""

import torch

from robokit.errors import ConfigError


def get_torch_device(try_cuda: bool = True) -> torch.device:
    """CUDA when asked for and available, else Apple MPS when available, else the CPU."""
    if try_cuda and torch.cuda.is_available():
        return torch.device("cuda")
    if try_cuda and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device=None, try_cuda: bool = True) -> torch.device:
    """`device` (a torch.device or a string such as "cpu", "cuda:1", "mps") checked to exist here, or
    `get_torch_device(try_cuda)` when None; a bad name or an absent device is a ConfigError."""
    if device is None:
        return get_torch_device(try_cuda)
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"--device {device!r} is not a torch device; use cpu, cuda, cuda:<index> or mps") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(f"--device {device} is not available here ({torch.cuda.device_count()} CUDA device(s)); "
                          "use cpu or an existing cuda:<index>")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("--device mps is not available here; use cpu")
    return device
