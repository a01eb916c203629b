"""Normalisation statistics as plain data, for numpy arrays and torch tensors alike.

A stats dict is {"offset": (*shape), "scale": (*shape)} where `shape` is the per-step shape (e.g. (D,)):

    normalised   = (x - offset) / scale
    unnormalised = n * scale + offset

offset and scale broadcast over any leading dims of x, e.g. (B, T, D). Collections of stats are nested
dicts {key: {"offset", "scale"}}; `stats_to_tensors` / `stats_to_numpy` convert them for checkpoints.
"""

from __future__ import annotations

import numpy as np
import torch

STD_EPS = 1e-3  # added to the standard deviation, as robomimic does, so constant dims do not blow up


def _reduce_leading(x, per_step_ndim: int | None):
    """x as (N, *shape) float64 numpy, flattening all leading dims (N, ...) -> per-step shape."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    arr = arr.astype(np.float64, copy=False)
    if per_step_ndim is None:
        per_step_ndim = max(arr.ndim - 1, 0)
    shape = arr.shape[arr.ndim - per_step_ndim:] if per_step_ndim else ()
    return arr.reshape((-1,) + shape)  # (N, *shape)


def _like(x, stats: dict) -> dict:
    """Return stats as float32 in the same array type as `x` (numpy in -> numpy out, tensor -> tensor)."""
    if isinstance(x, torch.Tensor):
        return {k: torch.as_tensor(v, dtype=torch.float32, device=x.device) for k, v in stats.items()}
    return {k: np.asarray(v, dtype=np.float32) for k, v in stats.items()}


def gaussian_stats(x, per_step_ndim: int | None = None) -> dict:
    """offset = mean, scale = std + 1e-3, over all leading dims of x (N, *shape) -> (*shape).

    per_step_ndim: number of trailing dims that form a step (default: all but the first).
    """
    arr = _reduce_leading(x, per_step_ndim)  # (N, *shape)
    if arr.shape[0] == 0:
        raise ValueError("gaussian_stats: no data")
    return _like(x, {"offset": arr.mean(axis=0), "scale": arr.std(axis=0) + STD_EPS})


def min_max_stats(x, per_step_ndim: int | None = None, eps: float = 1e-6) -> dict:
    """Stats mapping [min, max] of each dim to [-1, 1]; a constant dim gets scale 1 (and maps to 0)."""
    arr = _reduce_leading(x, per_step_ndim)  # (N, *shape)
    if arr.shape[0] == 0:
        raise ValueError("min_max_stats: no data")
    lo, hi = arr.min(axis=0), arr.max(axis=0)
    half_range = (hi - lo) / 2.0
    constant = half_range < eps
    scale = np.where(constant, 1.0, half_range)
    offset = np.where(constant, lo, (hi + lo) / 2.0)
    return _like(x, {"offset": offset, "scale": scale})


def normalize(x, stats: dict | None):
    """(x - offset) / scale; returns x unchanged when stats is None. Same type as x."""
    if stats is None:
        return x
    s = _like(x, stats)
    if isinstance(x, torch.Tensor):
        s = {k: v.to(x.dtype) if x.is_floating_point() else v for k, v in s.items()}
    return (x - s["offset"]) / s["scale"]


def unnormalize(x, stats: dict | None):
    """x * scale + offset; returns x unchanged when stats is None. Same type as x."""
    if stats is None:
        return x
    s = _like(x, stats)
    if isinstance(x, torch.Tensor):
        s = {k: v.to(x.dtype) if x.is_floating_point() else v for k, v in s.items()}
    return x * s["scale"] + s["offset"]


def stats_to_tensors(stats):
    """Nested dict of arrays -> same nesting of float32 torch tensors (None passes through)."""
    if stats is None:
        return None
    if isinstance(stats, dict):
        return {k: stats_to_tensors(v) for k, v in stats.items()}
    return torch.as_tensor(np.asarray(stats) if not isinstance(stats, torch.Tensor) else stats,
                           dtype=torch.float32).clone()


def stats_to_numpy(stats):
    """Nested dict of tensors or lists -> same nesting of float32 numpy arrays (None passes through)."""
    if stats is None:
        return None
    if isinstance(stats, dict):
        return {k: stats_to_numpy(v) for k, v in stats.items()}
    if isinstance(stats, torch.Tensor):
        return stats.detach().cpu().numpy().astype(np.float32)
    return np.asarray(stats, dtype=np.float32)
