"""Exact resume of a run: the random-number generators' states, and which config changes a resume accepts.

A checkpoint's `resume_state["rng_per_rank"]` holds every rank's RNG states (torch CPU and CUDA, numpy's global,
python's `random`; one entry without torchrun) as tensors and plain numbers, so it loads with `weights_only=True`;
a run resumes with as many processes as it had. The data sampler needs no state of its own: its
position is the number of batches the run has consumed (`train_state["step"]`), from which the sampler replays its
permutations (`IndexBatchSampler.skip`).
"""

import random
import warnings
from pathlib import Path

import numpy as np
import torch

from robokit.errors import CheckpointError, ConfigError
from robokit.train.checkpoint import load_checkpoint, load_weights

#: dotted config keys (or prefixes ending in ".") a resume may change; anything else must match the run's config
RESUMABLE_KEYS = ("train.num_epochs", "train.num_env_steps", "train.num_data_workers", "train.data",
                  "train.output_dir", "train.cuda", "experiment.logging.", "experiment.save.",
                  "experiment.render_video", "experiment.keep_all_videos", "experiment.video_skip")


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


def load_resume_checkpoint(run_dir, config) -> dict:
    """`<run_dir>/models/last.pth`, checked to be resumable with `config`; a run that cannot be resumed is an
    error, never a fresh start."""
    path = Path(run_dir) / "models" / "last.pth"
    if not path.is_file():
        raise CheckpointError(f"--resume {run_dir}: no {path.relative_to(run_dir)} (the run saved no checkpoint, or "
                              "this is not a run folder); fix: pass a run folder <output>/<name>/<timestamp>")
    ckpt = load_checkpoint(path)
    if ckpt.get("algo_name") != config.algo_name:
        raise ConfigError(f"--resume {run_dir} is a {ckpt.get('algo_name')} run, not {config.algo_name}")
    if "resume_state" not in ckpt:
        reason = ckpt.get("not_resumable", "it was written by an older robokit")
        raise CheckpointError(f"{path} cannot be resumed exactly: {reason}; fix: start a new run (initialise it from "
                              "these weights with experiment.ckpt_path)")
    check_resumable(ckpt["config"], config.to_dict(), run_dir)
    return ckpt


def restore_algo(algo, ckpt: dict, source) -> None:
    """The weights, optimisers, LR schedules and EMA of a resumed run."""
    load_weights(algo, ckpt["model"], str(source))
    algo.load_optimizer_state(ckpt.get("optimizer_state", {}))
    algo.load_ema_state(ckpt.get("ema"))


def finish_resume(algo, ckpt: dict, epoch: int, source, dist=None) -> None:
    """The last steps of a resume, once everything else is built: the epoch-end step the interrupted run took
    right after saving (per-epoch schedules), then this rank's RNG states. A run resumes with as many processes
    as it had (each rank continues its own random streams)."""
    rng_states = ckpt["resume_state"]["rng_per_rank"]
    world, rank = (dist.world_size, dist.rank) if dist is not None else (1, 0)
    if len(rng_states) != world:
        how = f"torchrun --nproc_per_node {len(rng_states)}" if len(rng_states) > 1 else "without torchrun"
        raise ConfigError(f"--resume {Path(source).parents[1]}: the run trained in {len(rng_states)} process(es), this "
                          f"resume has {world}; fix: resume it with the same number ({how})")
    with warnings.catch_warnings():  # no optimiser step in this process yet: torch's order check would warn
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
        algo.on_epoch_end(epoch)
    restore_rng_state(rng_states[rank])
