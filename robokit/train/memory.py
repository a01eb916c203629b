"""Memory monitor: the process's RAM (and the CUDA device's memory) as logged values, and a stop before the
machine runs out: past `experiment.memory.max_fraction` the loop writes an emergency checkpoint and ends with
one line (exit code 4) instead of being killed by the kernel's out-of-memory killer with nothing saved."""

import os
from typing import Callable

import torch

from robokit.errors import MemoryLimitError

GB = 2**30
#: what to try when a run hits the limit
MEMORY_FIX = ("lower train.batch_size, keep fewer keys in memory (train.hdf5_cache_mode=low_dim or null), use fewer "
              "train.num_data_workers, or raise experiment.memory.max_fraction")


def read_process_memory(device: torch.device | None = None) -> dict[str, float]:
    """{"RAM_GB", "RAM_Fraction"} of this process (resident set over the machine's total, from /proc on Linux),
    plus {"CUDA_GB", "CUDA_Fraction"} (memory reserved by torch over the device's total) on a CUDA device."""
    values: dict[str, float] = {}
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        values.update(RAM_GB=rss / GB, RAM_Fraction=rss / total)
    except (OSError, ValueError):  # not Linux: RAM is not measured
        pass
    if device is not None and device.type == "cuda":
        reserved = torch.cuda.memory_reserved(device)
        values.update(CUDA_GB=reserved / GB,
                      CUDA_Fraction=reserved / torch.cuda.get_device_properties(device).total_memory)
    return values


class MemoryMonitor:
    """Reads memory every `every_n_steps` calls of `step()`; keeps the epoch's peaks for logging.

    Args:
        max_fraction: stop (MemoryLimitError) when RAM_Fraction or CUDA_Fraction passes it; None: never.
        every_n_steps: steps between two readings.
        reader: returns the values `read_process_memory` does (tests inject one).
    """

    def __init__(self, max_fraction: float | None, every_n_steps: int = 50,
                 reader: Callable[[], dict[str, float]] | None = None, device: torch.device | None = None):
        self.max_fraction = max_fraction
        self.every_n_steps = int(every_n_steps)
        self.reader = reader or (lambda: read_process_memory(device))
        self._calls = 0
        self.peaks: dict[str, float] = {}

    def step(self) -> None:
        """Count one training step; on every `every_n_steps`-th, read and check."""
        self._calls += 1
        if self._calls % self.every_n_steps == 0:
            self.check()

    def check(self) -> dict[str, float]:
        values = self.reader()
        for name, value in values.items():
            self.peaks[name] = max(value, self.peaks.get(name, value))
        if self.max_fraction is not None:
            for name in ("RAM_Fraction", "CUDA_Fraction"):
                if values.get(name, 0.0) > self.max_fraction:
                    what = "RAM" if name == "RAM_Fraction" else "CUDA memory"
                    raise MemoryLimitError(
                        f"{what} use reached {values[name]:.0%} of the machine's "
                        f"({values[name.replace('Fraction', 'GB')]:.1f} GiB), above experiment.memory.max_fraction="
                        f"{self.max_fraction:g}")
        return values

    def epoch_peaks(self) -> dict[str, float]:
        """The peaks since the last call (a reading is taken now if none was), then reset."""
        if not self.peaks:
            self.check()
        peaks, self.peaks = self.peaks, {}
        return peaks
