"""Nested-structure helpers for dicts of tensors / arrays."""

from typing import Any, Callable

import numpy as np
import torch


def map_structure(fn: Callable[[Any], Any], x: Any) -> Any:
    """Apply `fn` to every leaf of nested dicts / lists / tuples."""
    if isinstance(x, dict):
        return {k: map_structure(fn, v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(map_structure(fn, v) for v in x)
    return fn(x)


def to_device(x: Any, device: torch.device | str) -> Any:
    """Move every tensor leaf to `device` (numpy arrays become tensors)."""

    def move(leaf):
        if isinstance(leaf, np.ndarray):
            leaf = torch.from_numpy(leaf)
        return leaf.to(device, non_blocking=True) if isinstance(leaf, torch.Tensor) else leaf

    return map_structure(move, x)


def to_numpy(x: Any) -> Any:
    """Every tensor leaf as a numpy array on the CPU."""
    return map_structure(lambda t: t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t, x)
