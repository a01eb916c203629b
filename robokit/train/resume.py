"""Exact resume of a run: the random-number generators' states, and which config changes a resume accepts.

A checkpoint's `resume_state["rng_per_rank"]` holds every rank's RNG states (torch CPU and CUDA, numpy's global,
python's `random`; one entry without torchrun) as tensors and plain numbers, so it loads with `weights_only=True`;
a run resumes with as many processes as it had. The data sampler needs no state of its own: its
position is the number of batches the run has consumed (`train_state["step"]`), from which the sampler replays its
permutations (`IndexBatchSampler.skip`).
"""

import random

import numpy as np
import torch

from robokit.errors import ConfigError

#: dotted config keys (or prefixes ending in ".") a resume may change; anything else must match the run's config
RESUMABLE_KEYS = ("train.num_epochs", "train.num_data_workers", "train.data", "train.output_dir", "train.cuda",
                  "experiment.logging.", "experiment.save.", "experiment.render_video", "experiment.keep_all_videos",
                  "experiment.video_skip")


def capture_rng_state() -> dict:
    """The states of every global random-number generator training draws from."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Put back what `capture_rng_state` returned."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(x) for x in p["state"].tolist()), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _flat(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flat(value, name + "."))
        else:
            flat[name] = value
    return flat


def config_differences(run_config: dict, new_config: dict) -> list[str]:
    """Dotted keys whose values differ between two config dicts, except those in RESUMABLE_KEYS."""
    old, new = _flat(run_config), _flat(new_config)
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k, "<absent>") != new.get(k, "<absent>"))
    return [k for k in changed if not any(k == r or (r.endswith(".") and k.startswith(r)) for r in RESUMABLE_KEYS)]


def check_resumable(run_config: dict, new_config: dict, run_dir) -> None:
    """Refuse a resume whose config changes more than RESUMABLE_KEYS, listing the differing keys."""
    differing = config_differences(run_config, new_config)
    if differing:
        shown = ", ".join(differing[:6]) + (f" and {len(differing) - 6} more" if len(differing) > 6 else "")
        raise ConfigError(f"--resume {run_dir}: the config differs from the run's in {shown}; a resume may change "
                          f"only {', '.join(RESUMABLE_KEYS)}; fix: drop those changes, or start a new run")
