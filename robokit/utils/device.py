"""Torch device selection."""

import torch


def get_torch_device(try_cuda: bool = True) -> torch.device:
    """CUDA when asked for and available, else Apple MPS when available, else the CPU."""
    if try_cuda and torch.cuda.is_available():
        return torch.device("cuda")
    if try_cuda and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
