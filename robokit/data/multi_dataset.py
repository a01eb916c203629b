"""Several datasets in one run: a weighted union of `SequenceDataset`s (robomimic v0.5's `train.data` list).

Sampling. Dataset d (n_d samples, weight w_d) gets the share p_d = w_d n_d / sum_j(w_j n_j) of the samples, or
p_d = w_d / sum_j(w_j) with `normalize_weights_by_ds_size`: robomimic v0.5's rule, where a weight multiplies the
draw probability of each sample of the dataset. robomimic draws every sample independently; here a pass of the
sampler (N = sum_d n_d draws, one epoch) holds exactly round(p_d N) samples of dataset d (largest remainder),
drawn without replacement inside a dataset (a fresh permutation each time the dataset runs out, so a dataset
drawn more often than it has samples repeats each sample evenly), in a random order. The expected frequencies are
robomimic's, with less variance; equal weights without normalisation give an ordinary shuffle of all samples.

Normalisation statistics are computed over the union: every step of every dataset counts once (after its filter
key and demo_limit), whatever the sampling weights, with the single-dataset formulas (gaussian: mean and
std + 1e-3; min_max: [min, max] to [-1, 1]); padded slots of robot data specs count only where real. Each
dataset is then normalised with the same statistics, which the checkpoint stores.

Batches are those of SequenceDataset plus DATASET_INDEX (B,) int64: which dataset each sample came from, an
index into `names` and `langs` (the datasets' language instructions, for a language encoder).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from robokit.data import hdf5_format as fmt
from robokit.data.embodiment import masked_gaussian_stats, masked_min_max_stats
from robokit.data.sequence_dataset import IndexBatchSampler, SequenceDataset
from robokit.errors import ConfigError, DatasetError
from robokit.utils import batch_keys as K
from robokit.utils.normalization import gaussian_stats, min_max_stats


def sample_shares(sizes, weights, normalize_weights_by_ds_size: bool = False) -> np.ndarray:
    """(D,) probability that a drawn sample comes from each dataset (see the module docstring)."""
    sizes, weights = np.asarray(sizes, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    mass = weights if normalize_weights_by_ds_size else weights * sizes
    return mass / mass.sum()


def pass_counts(shares, total: int) -> np.ndarray:
    """(D,) int64 samples of each dataset in a pass of `total` draws: round(share x total) by largest remainder,
    so that they sum to `total` exactly."""
    exact = np.asarray(shares, dtype=np.float64) * total
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    if short > 0:
        counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return counts


class WeightedBatchSampler(IndexBatchSampler):
    """IndexBatchSampler whose passes follow the datasets' shares (module docstring); same batching, sharding
    and `skip` (a resumed run replays whole passes from the seeded generator)."""

    def __init__(self, sizes, shares, batch_size: int, shuffle: bool = True, generator=None, drop_last: bool = True,
                 shard: tuple[int, int] = (0, 1)):
        self.sizes = [int(n) for n in sizes]
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        self.counts = pass_counts(shares, sum(self.sizes))  # (D,)
        super().__init__(sum(self.sizes), batch_size, shuffle, generator, drop_last, shard)

    def _order(self) -> torch.Tensor:
        if not self.shuffle:  # in order: every sample of every dataset once
            return torch.arange(self.n)
        parts = []
        for start, n, k in zip(self.starts.tolist(), self.sizes, self.counts.tolist()):
            if k == 0:
                continue
            rounds = -(-k // n)
            local = torch.cat([torch.randperm(n, generator=self.generator) for _ in range(rounds)])[:k]
            parts.append(local + start)
        order = torch.cat(parts)  # (n,) grouped by dataset
        return order[torch.randperm(len(order), generator=self.generator)]


class MultiDataset(Dataset):
    """The union of several SequenceDatasets sampled by weight; indexes and batches like one SequenceDataset.

    datasets: loaded with the same keys, windows and (when padded) slot layouts; `names` (unique), `weights` (> 0)
    and `langs` (str or None) per dataset. Global sample i is sample i - starts[d] of dataset d.
    """

    def __init__(self, datasets: list[SequenceDataset], names: list[str], weights: list[float],
                 langs: list[str | None] | None = None, normalize_weights_by_ds_size: bool = False):
        super().__init__()
        if not datasets:
            raise DatasetError("MultiDataset needs at least one dataset")
        if not len(names) == len(weights) == len(datasets) or (langs is not None and len(langs) != len(datasets)):
            raise DatasetError("MultiDataset: one name, weight (and lang) per dataset")
        if len(set(names)) != len(names):
            raise DatasetError(f"MultiDataset: dataset names must be unique, got {names}")
        if any(not w > 0 for w in weights):
            raise DatasetError(f"MultiDataset: weights must be > 0, got {weights}")
        self.datasets = list(datasets)
        self.names = list(names)
        self.weights = [float(w) for w in weights]
        self.langs = list(langs) if langs is not None else [getattr(ds, "lang", None) for ds in datasets]
        self.normalize_weights_by_ds_size = bool(normalize_weights_by_ds_size)
        self.sizes = [len(ds) for ds in self.datasets]
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)  # (D,)
        self.shares = sample_shares(self.sizes, self.weights, self.normalize_weights_by_ds_size)  # (D,)
        first = self.datasets[0]
        self.obs_keys = list(first.obs_keys)
        self.obs_key_shapes = dict(first.obs_key_shapes)
        self.env_args = first.env_args

    # ---------------------------------------------------------------- what one dataset would say
    def __len__(self) -> int:
        return int(sum(self.sizes))

    @property
    def action_dim(self) -> int:
        return self.datasets[0].action_dim

    @property
    def n_demos(self) -> int:
        return sum(ds.n_demos for ds in self.datasets)

    @property
    def total_num_steps(self) -> int:
        return sum(ds.total_num_steps for ds in self.datasets)

    @property
    def cached_nbytes(self) -> int:
        return sum(ds.cached_nbytes for ds in self.datasets)

    @property
    def obs_layout(self):
        return self.datasets[0].obs_layout  # robot data specs: one layout over every dataset

    @property
    def action_layout(self):
        return self.datasets[0].action_layout

    @property
    def robots(self) -> list[str]:
        return list(dict.fromkeys(r for ds in self.datasets for r in getattr(ds, "robots", [])))

    @property
    def robot(self) -> str | None:
        return self.robots[0] if len(self.robots) == 1 else None

    @property
    def has_padded_actions(self) -> bool:
        return any(getattr(ds, "has_padded_actions", False) for ds in self.datasets)

    def get_obs_normalization_stats(self) -> dict | None:
        return self.datasets[0].get_obs_normalization_stats()  # the union's, shared by every dataset

    def get_action_normalization_stats(self) -> dict | None:
        return self.datasets[0].get_action_normalization_stats()

    def locate(self, index) -> tuple[np.ndarray, np.ndarray]:
        """Global sample indices (B,) -> (dataset (B,), index within it (B,)), both int64."""
        idx = np.asarray(index, dtype=np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"sample index out of range for a union of {n} samples")
        idx = np.where(idx < 0, idx + n, idx)
        ds = np.searchsorted(self.starts, idx, side="right") - 1
        return ds, idx - self.starts[ds]

    def sample_location(self, index: int) -> tuple[str, str, int]:
        """(dataset name, demo name, step t) of global sample `index`."""
        ds, local = self.locate([index])
        return (self.names[int(ds[0])], *self.datasets[int(ds[0])].sample_location(int(local[0])))

    # ---------------------------------------------------------------- batches
    @property
    def demo_langs(self) -> list[str | None]:
        """Every selected demo's instruction, dataset after dataset (see SequenceDataset.demo_langs)."""
        return [lang for ds in self.datasets for lang in ds.demo_langs]

    def set_language(self, vocabulary) -> None:
        """obs[LANG] in every dataset's batches (SequenceDataset.set_language), one vocabulary for all."""
        for ds in self.datasets:
            ds.set_language(vocabulary)
        self.obs_key_shapes[K.LANG] = (vocabulary.size,)

    def get_batch(self, indices) -> dict:
        """Samples `indices` (B,) as one batch in that order (each dataset gathers its own), plus DATASET_INDEX."""
        if isinstance(indices, torch.Tensor):
            indices = indices.numpy()
        ds, local = self.locate(indices)
        order = np.argsort(ds, kind="stable")  # (B,) grouped by dataset
        parts, present = [], []
        for d in np.unique(ds).tolist():
            sel = order[ds[order] == d]
            parts.append(self.datasets[d].get_batch(local[sel]))
            present.append(d)
        batch = _concat(parts, self.names, present) if len(parts) > 1 else parts[0]
        inverse = torch.from_numpy(np.argsort(order, kind="stable"))  # (B,) back to the order asked
        if len(parts) > 1:
            batch = _take(batch, inverse)
        batch[K.DATASET_INDEX] = torch.from_numpy(ds.copy())  # (B,)
        return batch

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)) or (isinstance(index, torch.Tensor) and index.ndim == 0):
            batch = self.get_batch(np.array([int(index)]))
            return _drop_batch_dim(batch)
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        return self.get_batch(index)

    def make_batch_sampler(self, batch_size: int, shuffle: bool = True, generator=None, drop_last: bool = True,
                           shard: tuple[int, int] = (0, 1)) -> WeightedBatchSampler:
        """Weighted sampler of (B,) index tensors (see the module docstring), for `make_dataloader`."""
        if drop_last and len(self) < batch_size * shard[1]:
            raise DatasetError(f"{', '.join(self.names)}: {len(self)} samples together is fewer than batch_size="
                               f"{batch_size}{f' x {shard[1]} ranks' if shard[1] > 1 else ''}; fix: lower the batch "
                               "size or use more demos")
        return WeightedBatchSampler(self.sizes, self.shares, batch_size, shuffle, generator, drop_last, shard)

    def close(self) -> None:
        for ds in self.datasets:
            ds.close()

    def describe(self) -> list[dict]:
        """Per dataset: name, path, samples, weight, share of the samples, lang (for logs and checkpoints)."""
        return [{"name": name, "path": ds.hdf5_path, "samples": len(ds), "demos": ds.n_demos, "weight": w,
                 "share": float(p), "lang": lang}
                for name, ds, w, p, lang in zip(self.names, self.datasets, self.weights, self.shares, self.langs)]

    def __repr__(self) -> str:
        parts = [f"{d['name']}: {d['demos']} demos, {d['samples']} samples, weight {d['weight']:g}, share "
                 f"{d['share']:.3f}" + (f", lang {d['lang']!r}" if d["lang"] is not None else "")
                 for d in self.describe()]
        return f"MultiDataset({len(self)} samples; " + "; ".join(parts) + f"; first: {self.datasets[0]!r})"


def _concat(parts: list[dict], names: list[str], present: list[int]) -> dict:
    """Batches of several datasets -> one, leaf by leaf along dim 0; the same keys are required everywhere."""
    keys = set(parts[0])
    for part, d in zip(parts[1:], present[1:]):
        if set(part) != keys:
            raise DatasetError(f"dataset '{names[d]}' gives batch keys {sorted(part)}, '{names[present[0]]}' "
                               f"gives {sorted(keys)}: the datasets do not share one layout")
    out = {}
    for key in parts[0]:
        if isinstance(parts[0][key], dict):
            out[key] = _concat([p[key] for p in parts], names, present)
        else:
            out[key] = torch.cat([p[key] for p in parts])
    return out


def _take(batch: dict, rows: torch.Tensor) -> dict:
    return {k: _take(v, rows) if isinstance(v, dict) else v[rows] for k, v in batch.items()}


def _drop_batch_dim(batch: dict) -> dict:
    return {k: (_drop_batch_dim(v) if isinstance(v, dict) else v[0]) for k, v in batch.items()}


# ------------------------------------------------------------------------------------------ statistics
def union_normalization_stats(datasets: list[SequenceDataset], normalize_obs: bool,
                              action_normalization: str | None) -> tuple[dict | None, dict | None]:
    """(obs stats {key: {"offset", "scale"}} of every low-dim obs key, or None; action stats {"actions": ...} or
    None) over every step of `datasets` (loaded without normalisation); masks of padded slots are respected."""
    obs_stats = None
    if normalize_obs:
        obs_stats = {k: _union_stats(datasets, k, "gaussian") for k in datasets[0].normalized_obs_keys}
    action_stats = None
    if action_normalization is not None:
        action_stats = {K.ACTIONS: _union_stats(datasets, K.ACTIONS, action_normalization)}
    return obs_stats, action_stats


def _union_stats(datasets: list[SequenceDataset], key: str, method: str) -> dict:
    arrays, masks = zip(*(ds.stats_input(key) for ds in datasets))
    x = np.concatenate([np.asarray(a, dtype=np.float64).reshape(len(a), -1) for a in arrays])  # (N, W)
    shape = np.shape(arrays[0])[1:]
    if all(m is None for m in masks):
        stats = (gaussian_stats if method == "gaussian" else min_max_stats)(x)
    else:
        mask = np.concatenate([np.ones((len(a), x.shape[1]), bool) if m is None else np.asarray(m, bool).reshape(
            len(a), -1) for a, m in zip(arrays, masks)])  # (N, W)
        stats = (masked_gaussian_stats if method == "gaussian" else masked_min_max_stats)(x, mask)
    return {k: np.asarray(v, dtype=np.float32).reshape(shape) for k, v in stats.items()}


# ------------------------------------------------------------------------------------------ loading
def check_same_layout(entries, obs_keys, where: str = "train.data") -> None:
    """Datasets without robot data specs must share observation keys and shapes and the action size: one
    ConfigError line naming the differences otherwise (keys no dataset has are left to check_dataset)."""
    specs = {e.name: fmt.obs_specs(e.path) for e in entries}
    actions = {e.name: _action_shape(e.path) for e in entries}
    problems = []
    for key in obs_keys:
        have = {name: s[key][0] for name, s in specs.items() if key in s}
        if not have:
            continue
        lacking = [name for name in specs if name not in have]
        if lacking:
            problems.append(f"{', '.join(lacking)} lack{'s' if len(lacking) == 1 else ''} obs key '{key}'")
        if len(set(have.values())) > 1:
            problems.append(f"obs '{key}' has shapes " + ", ".join(f"{tuple(v)} in {n}" for n, v in have.items()))
    if len(set(actions.values())) > 1:
        problems.append("actions have sizes " + ", ".join(f"{v[0] if len(v) == 1 else v} in {n}"
                                                         for n, v in actions.items()))
    if problems:
        raise ConfigError(f"{where}: the datasets do not share one observation and action layout ({'; '.join(problems)}"
                          "); fix: give train.input_robot_data_spec / train.output_robot_data_spec (padded per robot), "
                          "or train on datasets of one layout")


def _action_shape(path) -> tuple:
    with fmt.open_file(path) as f:
        demos = fmt.list_demos(f)
        if not demos:
            raise DatasetError(f"{path}: the file has no demos")
        return tuple(fmt.episode_datasets(f, demos[0], [], ["actions"])["actions"].shape[1:])


def run_entries(config, dataset_path=None) -> list:
    """The datasets of a run (robokit.config.datasets.DatasetEntry): `dataset_path` (--dataset) when given, else
    train.data's path or entries; paths are expanded (~) and written back into config.train.data. Several
    datasets without robot data specs must share one layout (check_same_layout)."""
    from robokit.config.datasets import dataset_entries

    if dataset_path:
        config.train.data = str(Path(dataset_path).expanduser())
    data = config.train.data
    if isinstance(data, list):
        config.train.data = [dict(item, path=str(Path(item["path"]).expanduser())) if isinstance(item, dict)
                             else str(Path(item).expanduser()) for item in data]
    elif isinstance(data, str):
        config.train.data = str(Path(data).expanduser())
    entries = dataset_entries(config.train.data, config.train.key_path("data"))
    if not entries:
        raise ConfigError("no dataset given: pass --dataset PATH or set train.data")
    specs_given = config.train.input_robot_data_spec or config.train.output_robot_data_spec
    if len(entries) > 1 and not specs_given:
        for entry in entries:
            if not Path(entry.path).is_file():
                raise DatasetError(f"{entry.path}: no such file (train.data entry '{entry.name}'); fix: check the path")
        check_same_layout(entries, config.all_obs_keys, config.train.key_path("data"))
    return entries


def dataset_records(entries, dataset, env_args_of) -> list[dict]:
    """What a checkpoint keeps of each dataset (its `datasets` entry): the entry's keys, its number of samples and
    share, and its environment (`env_args_of(name)` -> the env_args the run evaluates it in, with
    experiment.env_meta_update_dict applied)."""
    members = dataset.datasets if isinstance(dataset, MultiDataset) else [dataset]
    shares = dataset.shares if isinstance(dataset, MultiDataset) else [1.0]
    return [dict(entry.as_dict(), samples=len(ds), share=float(share), env_metadata=env_args_of(entry.name, ds))
            for entry, ds, share in zip(entries, members, shares)]


def load_multi_datasets(entries, kwargs: dict, train_filter_keys: list, valid_filter_key: str | None,
                        normalize_weights_by_ds_size: bool = False) -> tuple[MultiDataset, MultiDataset | None]:
    """Training (and, with `valid_filter_key`, validation) union of `entries` (robokit.config.datasets).

    kwargs: SequenceDataset arguments shared by all (robokit.train.offline.dataset_kwargs); `train_filter_keys`:
    each entry's training mask (its filter_key, else train.hdf5_filter_key); validation reads `valid_filter_key`
    of every file and is normalised with the training union's statistics. demo_limit applies to training demos.
    """
    normalize_obs = bool(kwargs.get("hdf5_normalize_obs"))
    action_normalization = kwargs.get("action_normalization")
    raw = dict(kwargs, hdf5_normalize_obs=False, action_normalization=None)
    children = [SequenceDataset(e.path, filter_by_attribute=key, demo_limit=e.demo_limit, lang=e.lang, **raw)
                for e, key in zip(entries, train_filter_keys)]
    obs_stats, action_stats = union_normalization_stats(children, normalize_obs, action_normalization)
    for ds in children:
        ds.action_normalization = action_normalization
        ds.normalize_with(obs_stats, action_stats)
        if ds.hdf5_cache_mode == "all":
            ds.close()
    names, weights, langs = [e.name for e in entries], [e.weight for e in entries], [e.lang for e in entries]
    train = MultiDataset(children, names, weights, langs, normalize_weights_by_ds_size)
    valid = None
    if valid_filter_key is not None:
        given = dict(kwargs, obs_normalization_stats=obs_stats, action_normalization_stats=action_stats)
        valid = MultiDataset([SequenceDataset(e.path, filter_by_attribute=valid_filter_key, lang=e.lang, **given)
                              for e in entries], names, weights, langs, normalize_weights_by_ds_size)
    return train, valid
