"""`train.batch_size="auto"`: the largest batch that fits the GPU with a safety margin.

Each probe trains a few steps at one batch size in a fresh process (so an out-of-memory error or a fragmented
allocator cannot spoil the next probe) and reports torch's peak reserved CUDA memory (on the CPU, which is never
searched, the process's peak RSS, so that a probe runs in the tests). Memory grows about
linearly with the batch, so after two probes a line through them predicts the largest batch under
`SAFETY x capacity`; that prediction is probed too, and shrunk until it fits. A probe trains on the run's own
datasets (every `train.data` entry: batches of the weighted union, padded to the largest robot's layout), so a
multi-dataset run is measured at its largest shapes, not at its first dataset's. The answer is cached per config,
datasets and device in `~/.cache/robokit/auto_batch_size.json`. Without CUDA there is nothing to measure: the
run uses CPU_FALLBACK with a note.

    python -m robokit.train.auto_batch CONFIG.json BATCH DEVICE   # one probe on the config's train.data; prints
                                                                  # {"peak_bytes": ...}
"""

import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import torch

from robokit.errors import ConfigError

CPU_FALLBACK = 100  # robomimic's default batch size
SAFETY = 0.85  # fraction of the device's memory a chosen batch may use at its peak
PROBE_STEPS = 3
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "robokit" / "auto_batch_size.json"


def search_batch_size(probe: Callable[[int], float | None], capacity: float, max_batch: int, start: int = 16,
                      safety: float = SAFETY, max_probes: int = 8) -> tuple[int, list[tuple[int, float | None]]]:
    """The largest batch in [1, max_batch] whose probed peak memory stays under `safety x capacity` (to 2%).

    `probe(B)` returns the peak bytes of a few training steps at batch B, or None when B ran out of memory.
    Returns (batch size, [(B, peak or None), ...] in probing order).
    """
    budget = safety * capacity
    probes: list[tuple[int, float | None]] = []

    def run(b: int) -> float | None:
        peak = probe(b)
        probes.append((b, peak))
        return peak if peak is not None and peak <= budget else None

    fits: dict[int, float] = {}
    too_big = max_batch + 1
    b = min(start, max_batch)
    while len(fits) < 2 and len(probes) < max_probes:  # two points to fit a line through
        peak = run(b)
        if peak is None:
            too_big = min(too_big, b)
            if fits or b == 1:
                break
            b = max(1, b // 2)
            continue
        fits[b] = peak
        if b >= max_batch:
            return b, probes
        b = min(2 * b, max_batch, too_big - 1)
        if b in fits:
            break
    if not fits:
        raise ConfigError(f"train.batch_size=auto: even a batch of {probes[-1][0]} does not fit in "
                          f"{safety:.0%} of the device's {capacity / 2**30:.1f} GiB; fix: a smaller model or a "
                          "fixed train.batch_size")
    lo, hi = max(fits), min(too_big - 1, max_batch)
    failed = False
    while len(probes) < max_probes and hi - lo > max(1, lo // 50):  # within 2%: close enough
        if failed or len(fits) < 2:  # shrink towards the largest batch known to fit
            guess = lo + int(0.9 * (hi + 1 - lo))
        else:  # a line through the two largest batches that fit, extended to the budget
            (b1, m1), (b2, m2) = sorted(fits.items())[-2:]
            guess = int(math.floor(b2 + (budget - m2) / max((m2 - m1) / (b2 - b1), 1e-9)))
        guess = max(lo + 1, min(guess, hi))
        peak = run(guess)
        failed = peak is None
        if failed:
            hi = guess - 1
        else:
            fits[guess], lo = peak, guess
    return lo, probes


def cache_key(config, device: torch.device) -> str:
    """What the answer depends on: the config but its batch size and bookkeeping, every dataset file of
    `train.data` (its entries' weights, filter keys and limits are part of the config), the device."""
    from robokit.data.multi_dataset import run_entries

    plain = config.to_dict()
    plain["train"] = {k: v for k, v in plain["train"].items() if k not in ("batch_size", "output_dir")}
    plain.pop("experiment", None)
    plain.pop("meta", None)
    files = []
    for entry in run_entries(config):
        stat = os.stat(entry.path)
        files.append([os.path.abspath(entry.path), stat.st_size, stat.st_mtime_ns])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    text = json.dumps([plain, files, name, torch.__version__], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def probe_in_subprocess(config, batch_size: int, device: torch.device) -> float | None:
    """Peak reserved CUDA bytes of PROBE_STEPS training steps at `batch_size` on the config's datasets, in a fresh
    process; None on OOM."""
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "config.json"
        config.dump(config_path)
        result = subprocess.run([sys.executable, "-m", "robokit.train.auto_batch", str(config_path),
                                 str(batch_size), str(device)], capture_output=True, text=True)
    lines = result.stdout.strip().splitlines()
    if result.returncode == 0 and lines:
        return json.loads(lines[-1])["peak_bytes"]
    if "out of memory" in (result.stdout + result.stderr).lower():
        return None
    raise RuntimeError(f"auto batch-size probe at {batch_size} failed:\n{result.stderr[-2000:]}")


def resolve_batch_size(config, dataset_len: int, device: torch.device, log=print) -> int:
    """Turn train.batch_size="auto" into a number (cached), and write it into the config, which the run saves.
    The datasets are the config's `train.data` (all of them); `dataset_len`: the samples of their union."""
    if config.train.batch_size != "auto":
        return config.train.batch_size
    if device.type != "cuda":
        log(f"train.batch_size=auto: no CUDA device to measure, so the batch size is {CPU_FALLBACK} (the default); "
            "set train.batch_size to choose another")
        config.train.batch_size = min(CPU_FALLBACK, dataset_len)
        return config.train.batch_size
    key = cache_key(config, device)
    cache = json.loads(CACHE.read_text()) if CACHE.is_file() else {}
    if key in cache:
        batch = int(cache[key])
        log(f"train.batch_size=auto: {batch} (cached for this config, dataset and GPU in {CACHE})")
    else:
        capacity = torch.cuda.get_device_properties(device).total_memory
        batch, probes = search_batch_size(lambda b: probe_in_subprocess(config, b, device), capacity,
                                          max_batch=dataset_len)
        shown = ", ".join(f"{b}: {'OOM' if m is None else f'{m / 2**30:.2f} GiB'}" for b, m in probes)
        log(f"train.batch_size=auto: {batch} ({len(probes)} probes: {shown}; {SAFETY:.0%} of "
            f"{capacity / 2**30:.1f} GiB)")
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_text(json.dumps({**cache, key: batch}, indent=1))
    config.train.batch_size = batch
    return batch


def probe_training(config, batch_size: int, device: torch.device) -> tuple:
    """(training dataset, algo in train mode, batch iterator) of a probe at `batch_size`: the run's datasets
    (every train.data entry: one SequenceDataset, or the weighted union of several, whose batches mix them and are
    padded to the layout of all their robots), loaded, given their instructions and batched as train.py does."""
    from robokit.algo import algo_factory
    from robokit.data.multi_dataset import run_entries
    from robokit.train.offline import attach_language, batch_stream, load_datasets

    config.train.batch_size = int(batch_size)
    config.experiment.validate = False
    entries = run_entries(config)
    train_ds, _ = load_datasets(config, entries[0].path, entries)
    attach_language(config, train_ds)
    algo = algo_factory(config.algo_name, config, obs_key_shapes=train_ds.obs_key_shapes, ac_dim=train_ds.action_dim,
                        device=device)
    algo.set_steps_per_epoch(PROBE_STEPS)
    algo.set_train()
    return train_ds, algo, batch_stream(train_ds, config.train.batch_size, 0, config.train.seed)


def _probe_main(config_path: str, batch_size: str, device: str) -> None:
    """One probe (run as `python -m robokit.train.auto_batch ...`): a few steps, then the peak as JSON."""
    from robokit.config import load_config

    device = torch.device(device)
    _, algo, batches = probe_training(load_config(config_path), int(batch_size), device)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(PROBE_STEPS):
        algo.train_on_batch(algo.process_batch_for_training(next(batches)), epoch=1)
    if cuda:
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_reserved(device)
    else:  # never searched on the CPU; the process's peak RSS (KiB on Linux) lets the probe run anywhere (tests)
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak_bytes": peak}))


if __name__ == "__main__":
    _probe_main(*sys.argv[1:4])
