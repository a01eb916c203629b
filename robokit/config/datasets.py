"""`train.data`: one dataset path, or robomimic v0.5's list of dataset entries (several datasets in one run).

An entry is a JSON object with these keys (robomimic v0.5's, all but `path` optional):

    path        the HDF5 file
    weight      sampling weight (> 0, default 1.0): a sample of dataset i is drawn with probability
                w_i / sum_j(w_j n_j) (n: samples), so a dataset's share of the batches is w_i n_i / sum_j(w_j n_j);
                with `train.normalize_weights_by_ds_size` the share is w_i / sum_j(w_j), whatever the sizes
    filter_key  train on the demos of mask/<filter_key> of this file (default: train.hdf5_filter_key)
    lang        a language instruction for the dataset (kept in batches by index and in checkpoints)
    demo_limit  keep only the first N demos (in demo order, after the filter key)
    eval        evaluate the policy in this dataset's environment during training (default true)
    key         the dataset's name in logs and checkpoints (default: the file name without its extension)

This module only parses and checks the entries (no file is opened, no torch import); robokit.data.multi_dataset
loads them.
"""

import difflib
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from robokit.config.typecheck import show
from robokit.errors import ConfigError

ENTRY_KEYS = ("path", "weight", "filter_key", "lang", "demo_limit", "eval", "key")
ENTRY_FORM = '{"path": "a.hdf5", "weight": 1.0, "filter_key": null, "lang": null, "demo_limit": null, "eval": true}'

TRAIN_DATA_HELP = (
    "the HDF5 dataset to train on: a path, or robomimic v0.5's list of entries " + ENTRY_FORM + " (only path is "
    "required; also 'key': the dataset's name, default the file name) trained on together with weighted sampling; "
    "see robokit.config.datasets"
)
NORMALIZE_WEIGHTS_HELP = (
    "with several datasets in train.data: divide each weight by the dataset's number of samples, so that each "
    "dataset's share of the samples is its weight over the sum of weights, whatever its size (robomimic v0.5)"
)


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset of `train.data`, with robomimic's defaults filled in (`name`: `key` or the file's stem)."""

    path: str
    name: str
    weight: float = 1.0
    filter_key: str | None = None
    lang: str | None = None
    demo_limit: int | None = None
    eval: bool = True
    key: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def dataset_entries(data: Any, where: str = "train.data") -> list[DatasetEntry]:
    """`train.data` as entries: a path gives one entry, a list one per item; one ConfigError line for a bad one.

    Raises for: a value that is neither, an empty list, an entry that is not an object (or a path), an unknown
    key in an entry, a missing path, a weight <= 0, a demo_limit < 1, a wrong type, two entries of one name.
    """
    if data is None:
        return []
    if isinstance(data, str):
        return [_entry({"path": data}, where)]
    if not isinstance(data, list):
        raise ConfigError(f"{where} expects a dataset path or a list of entries like {ENTRY_FORM}, got {show(data)}")
    if not data:
        raise ConfigError(f"{where} is an empty list; give at least one entry like {ENTRY_FORM}")
    entries = [_entry(item if isinstance(item, dict) else {"path": item} if isinstance(item, str) else item,
                      f"{where}[{i}]") for i, item in enumerate(data)]
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if entry.name in seen:
            raise ConfigError(f"{where}[{seen[entry.name]}] and {where}[{i}] are both named '{entry.name}' (their "
                              "file name); fix: give them different \"key\" names")
        seen[entry.name] = i
    return entries


def _entry(item: Any, where: str) -> DatasetEntry:
    if not isinstance(item, dict):
        raise ConfigError(f"{where} expects an entry like {ENTRY_FORM} (or a path), got {show(item)}")
    unknown = [k for k in item if k not in ENTRY_KEYS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], ENTRY_KEYS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"{where}: unknown key '{unknown[0]}'{hint} (an entry has {', '.join(ENTRY_KEYS)})")
    if "path" not in item:
        raise ConfigError(f"{where} has no \"path\"; every entry names its HDF5 file, e.g. {ENTRY_FORM}")
    path = _typed(item, "path", str, where)
    if not path:
        raise ConfigError(f"{where}.path is empty; name the HDF5 file")
    weight = item.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
        raise ConfigError(f"{where}.weight must be a number > 0, got {show(weight)}; fix: a positive weight, or "
                          "remove the entry to leave the dataset out")
    demo_limit = _typed(item, "demo_limit", int, where, optional=True)
    if demo_limit is not None and demo_limit < 1:
        raise ConfigError(f"{where}.demo_limit must be >= 1 (or null for every demo), got {demo_limit}")
    key = _typed(item, "key", str, where, optional=True)
    if key is not None and not key:
        raise ConfigError(f"{where}.key is empty; give the dataset a name or remove \"key\"")
    return DatasetEntry(
        path=path, name=key or Path(path).stem, weight=float(weight),
        filter_key=_typed(item, "filter_key", str, where, optional=True),
        lang=_typed(item, "lang", str, where, optional=True), demo_limit=demo_limit,
        eval=_typed(item, "eval", bool, where, default=True), key=key,
    )


def _typed(item: dict, name: str, kind: type, where: str, optional: bool = False, default: Any = None) -> Any:
    value = item.get(name, default)
    if value is None and (optional or name not in item):
        return value
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        expected = {str: "a string", int: "an integer", bool: "true or false"}[kind]
        raise ConfigError(f"{where}.{name} must be {expected}{' or null' if optional else ''}, got {show(value)}")
    return value
