"""train.batch_size="auto": the search on simulated probes (fits, close to the true maximum, few probes), the
CPU fallback through train.py, and the config type."""

import json

import pytest

from script_runner import REPO, run_script
from robokit.config import apply_overrides, config_factory
from robokit.errors import ConfigError
from robokit.train.auto_batch import CPU_FALLBACK, SAFETY, search_batch_size

GIB = 2**30


def simulated_gpu(fixed: float, per_sample: float, capacity: float, wobble: float = 0.0):
    """A probe whose peak is fixed + per_sample x B (+ a batch-dependent wobble), OOM above the capacity."""
    calls = []

    def probe(b: int):
        calls.append(b)
        peak = fixed + per_sample * b + wobble * per_sample * (b % 7)
        return None if peak > capacity else peak

    return probe, calls


@pytest.mark.parametrize("fixed, per_sample, max_batch", [
    (1.5 * GIB, 2e6, 100_000),  # a small model: thousands fit
    (6 * GIB, 40e6, 100_000),  # images: a few hundred
    (0.5 * GIB, 1e5, 5_000),  # the dataset is the limit
])
def test_search_finds_a_batch_that_fits_close_to_the_largest_in_few_probes(fixed, per_sample, max_batch):
    capacity = 24 * GIB
    probe, calls = simulated_gpu(fixed, per_sample, capacity, wobble=0.5)
    batch, probes = search_batch_size(probe, capacity, max_batch=max_batch)
    true_max = min(max_batch, int((SAFETY * capacity - fixed) / per_sample))  # largest under the budget, no wobble
    peak = fixed + per_sample * batch + 0.5 * per_sample * (batch % 7)
    assert peak <= SAFETY * capacity  # it fits, margin included
    assert batch >= 0.97 * true_max - 4  # and is close to the most that does
    assert len(calls) == len(probes) <= 6


def test_search_backs_off_when_the_first_probe_runs_out_of_memory():
    probe, calls = simulated_gpu(2 * GIB, 1e9, 16 * GIB)  # ~11 samples fit the 85% budget
    batch, probes = search_batch_size(probe, 16 * GIB, max_batch=10_000, start=64)
    assert batch == int((SAFETY * 16 * GIB - 2 * GIB) / 1e9) and probes[0] == (64, None) and len(probes) <= 8


def test_nothing_fits_is_one_clear_error():
    probe, _ = simulated_gpu(30 * GIB, 1e6, 24 * GIB)
    with pytest.raises(ConfigError, match="even a batch of 1 does not fit"):
        search_batch_size(probe, 24 * GIB, max_batch=1000)


def test_config_takes_a_number_or_auto_only():
    config = config_factory("bc")
    apply_overrides(config, ["train.batch_size=auto"])
    assert config.train.batch_size == "auto"
    with pytest.raises(ConfigError, match="expects int or \"auto\""):
        apply_overrides(config, ["train.batch_size=biggest"])
    with pytest.raises(ConfigError, match=">= 1"):
        apply_overrides(config, ["train.batch_size=0"])


def test_auto_on_cpu_uses_the_documented_fallback(fetch_push_dataset, tmp_path):
    result = run_script("train.py", "--config", "configs/bc.json", "--dataset", fetch_push_dataset, "--output", tmp_path,
                        "--no-progress", "--set", "train.batch_size=auto", "train.num_epochs=1",
                        "experiment.epoch_every_n_steps=2", "experiment.validate=false",
                        "experiment.rollout.enabled=false", "algo.actor_layer_dims=[16]", cwd=REPO, check=True)
    assert f"no CUDA device to measure, so the batch size is {CPU_FALLBACK}" in result.stdout
    saved = json.loads(next(tmp_path.glob("*/*/config.json")).read_text())
    assert saved["train"]["batch_size"] == CPU_FALLBACK  # the run's config holds the number it trained with


def _two_arm_config(paths):
    """configs/bc_planar_arms.json on train.data = the given files, with an empty output spec: every action the
    files name, padded to the widest robot's."""
    from robokit.config import load_config

    config = load_config(REPO / "configs" / "bc_planar_arms.json")
    config.train.output_robot_data_spec = {}
    apply_overrides(config, [f"train.data={json.dumps([str(p) for p in paths])}", "experiment.validate=false",
                             "algo.actor_layer_dims=[16]"])
    return config


def test_probes_train_on_every_dataset_at_the_largest_layout(planar_arm_files):
    """A probe of a multi-dataset run trains on batches of the union (both robots, padded to the 4-link arm's
    4 action slots), not on its first dataset (the 3-link arm alone: 3 actions, fewer samples)."""
    import torch

    from robokit.train.auto_batch import probe_training
    from robokit.utils import batch_keys as K

    cpu = torch.device("cpu")
    arms = [planar_arm_files[3], planar_arm_files[4]]
    first_ds, first_algo, _ = probe_training(_two_arm_config(arms[:1]), 8, cpu)
    train_ds, algo, batches = probe_training(_two_arm_config(arms), 8, cpu)
    assert (first_algo.ac_dim, algo.ac_dim) == (3, 4)
    assert len(train_ds) == len(first_ds) + len(train_ds.datasets[1]) and len(train_ds.datasets) == 2
    seen = set()
    for _ in range(8):
        batch = next(batches)
        assert batch[K.ACTIONS].shape == (8, 1, 4) and batch[K.ACTION_MASK].shape == (8, 4)
        seen |= set(batch[K.DATASET_INDEX].tolist())
        info = algo.train_on_batch(algo.process_batch_for_training(batch), epoch=1)  # a probe's step runs
        assert torch.isfinite(info["losses"]["action_loss"])
    assert seen == {0, 1}  # the combined sampler: both robots' samples


def test_the_cached_answer_depends_on_every_dataset(planar_arm_files, tmp_path):
    import os
    import shutil

    import torch

    from robokit.train.auto_batch import cache_key

    second = tmp_path / "planar_arm_4.hdf5"
    shutil.copy(planar_arm_files[4], second)
    config = _two_arm_config([planar_arm_files[3], second])
    key = cache_key(config, torch.device("cpu"))
    assert cache_key(_two_arm_config([planar_arm_files[3]]), torch.device("cpu")) != key
    stat = os.stat(second)
    os.utime(second, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the second file changed
    assert cache_key(config, torch.device("cpu")) != key


def test_a_probe_process_trains_on_the_configs_datasets(planar_arm_files):
    """The probe's own process (`python -m robokit.train.auto_batch CONFIG BATCH DEVICE`, as resolve_batch_size runs
    it) reads the datasets from the config's train.data and reports a peak; on the CPU its peak RSS."""
    import torch

    from robokit.train.auto_batch import probe_in_subprocess

    peak = probe_in_subprocess(_two_arm_config([planar_arm_files[3], planar_arm_files[4]]), 8, torch.device("cpu"))
    assert isinstance(peak, int) and peak > 2**20
