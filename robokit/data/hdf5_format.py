"""The robomimic HDF5 dataset layout: the only module that knows where things live in the file.

    data                      attrs: total (sum of T), env_args (JSON: {"env_name", "type", "env_kwargs"}),
                              robokit_embodiment (optional JSON, robokit's own: the robot and the named items
                              of actions and obs keys, see robokit.data.embodiment.Embodiment; robomimic
                              ignores it; a list of them in a file of several robots),
                              robokit_env_args (a file of several robots: JSON {robot: env_args})
      demo_<i>                attrs: num_samples = T, robot (a file of several robots: which one recorded it)
        obs/<key>             (T, ...)   observation before each step
        next_obs/<key>        (T, ...)   observation after each step (optional)
        actions               (T, A)
        rewards               (T,)
        dones                 (T,)
        states                (T, S)     simulator states (optional)
    mask/<filter_key>         (N,) bytes strings, names of demos (np.array(names, dtype="S"))

Demos are ordered by the integer after `demo_`, as robomimic orders them. Everything here opens inputs
read-only except `DatasetWriter` (which writes a new file) and `split_train_val` (which rewrites two masks).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
from collections.abc import Iterator
from typing import NamedTuple

import h5py
import numpy as np

from robokit.data.embodiment import Embodiment
from robokit.errors import ConfigError, DatasetError
from robokit.utils.partial_files import (NEARLY_FULL, free_bytes, is_write_failure, partial_path, remove_stale_partials,
                                         write_error)

_DEMO_RE = re.compile(r"^demo_(\d+)$")
_NUMERIC_KINDS = "biuf"  # bool, signed int, unsigned int, float
_FIX_GENERIC = "run `python scripts/get_dataset_info.py --dataset {path}` to list every problem"
EMBODIMENT_ATTR = "robokit_embodiment"  # attribute of `data`: Embodiment.to_json(), or a JSON list of them
ROBOT_ATTR = "robot"  # attribute of a demo of a file of several robots: the robot that recorded it
ROBOT_ENV_ARGS_ATTR = "robokit_env_args"  # attribute of `data` of a file of several robots: {robot: env_args}
LANG_ATTR = "lang"  # attribute of a demo: its language instruction, e.g. "reach the red target" (robomimic ignores it)


# --------------------------------------------------------------------------------------------------
# opening and listing


def open_file(path, swmr: bool = False, chunk_cache_bytes: int | None = None) -> h5py.File:
    """Open a dataset read-only; a missing or non-HDF5 file is a `DatasetError`, never an h5py traceback.

    chunk_cache_bytes: HDF5's chunk cache of each open dataset (h5py's rdcc_nbytes; default 1 MiB). Readers
    that keep many datasets open (one per episode) pass 0: an image chunk is one frame, read once per request,
    and 1 MiB per open episode would otherwise hold a second copy of the images.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DatasetError(f"{path}: no such file; fix: check the --dataset path")
    if os.path.isdir(path):
        raise DatasetError(f"{path}: is a folder, not an HDF5 file; fix: pass the .hdf5 file itself")
    try:
        cache = {} if chunk_cache_bytes is None else {"rdcc_nbytes": chunk_cache_bytes}
        if swmr:
            return h5py.File(path, "r", swmr=True, libver="latest", **cache)
        return h5py.File(path, "r", **cache)
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file ({_short(exc)}); fix: check that the file is "
                           "a complete HDF5 dataset (not truncated or still being written)") from None


@contextlib.contextmanager
def _opened(path_or_file) -> Iterator[h5py.File]:
    """Yield an open file: the given `h5py.File`, or the path opened read-only (and closed afterwards)."""
    if isinstance(path_or_file, (h5py.File, h5py.Group)):
        yield path_or_file
        return
    f = open_file(path_or_file)
    try:
        yield f
    finally:
        f.close()


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


def _demo_sort_key(name: str):
    m = _DEMO_RE.match(name)
    return (0, int(m.group(1)), "") if m else (1, 0, name)


def sort_demos(names) -> list[str]:
    """Sort demo names by the integer after `demo_` (robomimic's order); other names go last, by name."""
    return sorted((_as_str(n) for n in names), key=_demo_sort_key)


def _as_str(name) -> str:
    return name.decode("utf-8") if isinstance(name, (bytes, np.bytes_)) else str(name)


def _data_group(f: h5py.File) -> h5py.Group:
    grp = f.get("data")
    if not isinstance(grp, h5py.Group):
        raise DatasetError(f"{f.filename}: has no 'data' group, so it is not a robomimic-layout dataset; "
                           "fix: write datasets with robokit.data.hdf5_format.DatasetWriter")
    return grp


def _all_demos(f: h5py.File) -> list[str]:
    grp = _data_group(f)
    return sort_demos(k for k in grp if isinstance(grp[k], h5py.Group))


def list_filter_keys(path_or_file) -> list[str]:
    """Names of the masks under `mask/`, sorted; [] when the file has none."""
    with _opened(path_or_file) as f:
        grp = f.get("mask")
        return sorted(grp.keys()) if isinstance(grp, h5py.Group) else []


def _read_mask(f: h5py.File, filter_key: str) -> list[str]:
    keys = list_filter_keys(f)
    if filter_key not in keys:
        have = ", ".join(keys) if keys else "none"
        raise DatasetError(f"{f.filename}: unknown filter key '{filter_key}' (available: {have}); "
                           "fix: pick one of those or create masks with scripts/split_train_val.py")
    return [_as_str(n) for n in np.asarray(f["mask"][filter_key][()]).reshape(-1)]


def list_demos(path_or_file, filter_key: str | None = None) -> list[str]:
    """Demo names (sorted by index), all of them or those of mask `filter_key`."""
    with _opened(path_or_file) as f:
        if filter_key is None:
            return _all_demos(f)
        return sort_demos(_read_mask(f, filter_key))


def read_env_args(path_or_file) -> dict:
    """The `env_args` attribute of `data`, parsed: {"env_name", "type", "env_kwargs"}."""
    with _opened(path_or_file) as f:
        raw = _data_group(f).attrs.get("env_args")
        if raw is None:
            raise DatasetError(f"{f.filename}: 'data' has no env_args attribute; fix: rewrite the dataset with "
                               "DatasetWriter(path, env_args={...})")
        try:
            env_args = json.loads(_as_str(raw))
        except (json.JSONDecodeError, TypeError) as exc:
            raise DatasetError(f"{f.filename}: env_args is not valid JSON ({exc})") from None
        if not isinstance(env_args, dict):
            raise DatasetError(f"{f.filename}: env_args is JSON but not an object: {_as_str(raw)[:80]!r}")
        return env_args


def demo_length(f: h5py.File, demo: str) -> int:
    """Number of steps T of a demo: its `num_samples` attribute, else the length of its actions."""
    grp = _demo_group(f, demo)
    if "num_samples" in grp.attrs:
        return int(grp.attrs["num_samples"])
    return int(_get(grp, "", "actions", demo, f.filename).shape[0])


# --------------------------------------------------------------------------------------------------
# reading episodes


def _demo_group(f: h5py.File, demo: str) -> h5py.Group:
    grp = _data_group(f).get(demo)
    if not isinstance(grp, h5py.Group):
        raise DatasetError(f"{f.filename}: no demo '{demo}' in 'data'")
    return grp


def _get(grp: h5py.Group, sub: str, key: str, demo: str, filename: str) -> h5py.Dataset:
    """Dataset `sub/key` (or `key` when sub is "") of a demo, with a message listing what it has."""
    parent = grp.get(sub) if sub else grp
    if not isinstance(parent, h5py.Group):
        raise DatasetError(f"{filename}: {demo} has no '{sub}' group (has: {', '.join(grp.keys())})")
    ds = parent.get(key)
    if not isinstance(ds, h5py.Dataset):
        what = f"{sub} key '{key}'" if sub else f"'{key}'"
        raise DatasetError(f"{filename}: {demo} has no {what} (has: {', '.join(parent.keys()) or 'nothing'})")
    return ds


def episode_datasets(h5file: h5py.File, demo: str, obs_keys, dataset_keys=("actions",),
                     load_next_obs: bool = False) -> dict:
    """Lazy h5py datasets of one demo: {"obs": {k: ds}, ["next_obs": {k: ds}], <dataset_key>: ds, ...}."""
    grp = _demo_group(h5file, demo)
    out = {"obs": {k: _get(grp, "obs", k, demo, h5file.filename) for k in obs_keys}}
    if load_next_obs:
        out["next_obs"] = {k: _get(grp, "next_obs", k, demo, h5file.filename) for k in obs_keys}
    for k in dataset_keys:
        out[k] = _get(grp, "", k, demo, h5file.filename)
    return out


def read_episode(h5file: h5py.File, demo: str, obs_keys, dataset_keys=("actions",),
                 load_next_obs: bool = False) -> dict:
    """One demo as numpy arrays: {"obs": {k: (T, ...)}, ["next_obs": {...}], "actions": (T, A), ...}."""
    lazy = episode_datasets(h5file, demo, obs_keys, dataset_keys, load_next_obs)
    return {k: ({kk: d[()] for kk, d in v.items()} if isinstance(v, dict) else v[()]) for k, v in lazy.items()}


def obs_specs(path_or_file, obs_keys=None, demo: str | None = None) -> dict[str, tuple[tuple, np.dtype]]:
    """{key: (per-step shape, dtype)} of the obs of `demo` (default: the first demo); all keys when `obs_keys`
    is None."""
    with _opened(path_or_file) as f:
        demos = _all_demos(f)
        if not demos:
            raise DatasetError(f"{f.filename}: 'data' holds no demos")
        demo = demos[0] if demo is None else demo
        grp = _demo_group(f, demo)
        if obs_keys is None:
            obs = grp.get("obs")
            obs_keys = sorted(obs.keys()) if isinstance(obs, h5py.Group) else []
        specs = {}
        for k in obs_keys:
            ds = _get(grp, "obs", k, demo, f.filename)
            specs[k] = (tuple(ds.shape[1:]), ds.dtype)
        return specs


def obs_shapes(path_or_file, obs_keys=None) -> dict[str, tuple]:
    """{key: per-step shape} of each obs key (from the first demo)."""
    return {k: shape for k, (shape, _) in obs_specs(path_or_file, obs_keys).items()}


def read_embodiment(path_or_file, check: bool = True):
    """The file's `Embodiment` (robot name, named items of actions and obs keys), or None when it has none.

    check: also compare the names with the first demo's shapes; a contradiction is one DatasetError line.
    A file of several robots is a DatasetError here: read it with `read_embodiments`.
    """
    with _opened(path_or_file) as f:
        embodiments = read_embodiments(f, check)
        if len(embodiments) > 1:
            raise DatasetError(f"{f.filename}: the file holds demos of several robots ({', '.join(embodiments)}); "
                               "fix: read its names with read_embodiments, or train with a robot data spec")
        return next(iter(embodiments.values()), None)


def read_embodiments(path_or_file, check: bool = True) -> dict[str, Embodiment]:
    """{robot: Embodiment} of the file's names ({} when it has none): one robot, or several in a file whose
    demos each name their robot (demo attribute `robot`).

    check: also compare each robot's names with the shapes of its first demo (one DatasetError line).
    """
    with _opened(path_or_file) as f:
        raw = _data_group(f).attrs.get(EMBODIMENT_ATTR)
        if raw is None:
            return {}
        where = f"data.attrs['{EMBODIMENT_ATTR}']"
        try:
            parsed = json.loads(_as_str(raw))
            items = parsed if isinstance(parsed, list) else [parsed]
            embodiments = [Embodiment.from_dict(item, where) for item in items]
        except (json.JSONDecodeError, TypeError) as exc:
            raise DatasetError(f"{f.filename}: {where} is not valid JSON ({exc})") from None
        except ConfigError as exc:
            raise DatasetError(f"{f.filename}: {exc}") from None
        by_robot = {e.robot: e for e in embodiments}
        if len(by_robot) != len(embodiments) or not embodiments:
            raise DatasetError(f"{f.filename}: {where} must list each robot once, got "
                               f"{[e.robot for e in embodiments]}")
        if check:
            first: dict[str, str] = {}
            for demo, robot in zip(_all_demos(f), _demo_robots(f, _all_demos(f), by_robot)):
                first.setdefault(robot, demo)
            for robot, demo in first.items():
                actions = _demo_group(f, demo).get("actions")
                action_shape = tuple(actions.shape[1:]) if isinstance(actions, h5py.Dataset) else None
                by_robot[robot].check_shapes(action_shape, _demo_obs_shapes(f, demo), where=f"{f.filename}: {demo}")
        return by_robot


def demo_robots(path_or_file, demos=None) -> list[str | None]:
    """The robot of each demo (all demos when `demos` is None): its `robot` attribute in a file of several
    robots, the one robot of a single-robot file, None in a file without names."""
    with _opened(path_or_file) as f:
        demos = _all_demos(f) if demos is None else list(demos)
        return _demo_robots(f, demos, read_embodiments(f, check=False))


def demo_langs(path_or_file, demos=None) -> list[str | None]:
    """The language instruction of each demo (all demos when `demos` is None): its `lang` attribute, or None."""
    with _opened(path_or_file) as f:
        demos = _all_demos(f) if demos is None else list(demos)
        langs = []
        for demo in demos:
            value = _demo_group(f, demo).attrs.get(LANG_ATTR)
            langs.append(None if value is None else _as_str(value))
        return langs


def _demo_robots(f: h5py.File, demos: list[str], embodiments: dict) -> list[str | None]:
    if len(embodiments) <= 1:
        return [next(iter(embodiments), None)] * len(demos)
    robots = []
    for demo in demos:
        robot = _demo_group(f, demo).attrs.get(ROBOT_ATTR)
        if robot is None or _as_str(robot) not in embodiments:
            said = "no robot attribute" if robot is None else f"robot {_as_str(robot)!r}"
            raise DatasetError(f"{f.filename}: {demo} has {said}, but the file holds demos of several robots "
                               f"({', '.join(embodiments)}); fix: set data/{demo}.attrs['{ROBOT_ATTR}'] to one of them")
        robots.append(_as_str(robot))
    return robots


def read_robot_env_args(path_or_file) -> dict[str, dict]:
    """{robot: env_args} of the environment each robot of the file was recorded in: data.attrs
    ['robokit_env_args'] in a file of several robots, else {its robot: env_args}; {} without names."""
    with _opened(path_or_file) as f:
        embodiments = read_embodiments(f, check=False)
        raw = _data_group(f).attrs.get(ROBOT_ENV_ARGS_ATTR)
        if raw is None:
            return {robot: read_env_args(f) for robot in embodiments} if len(embodiments) == 1 else {}
        try:
            by_robot = json.loads(_as_str(raw))
        except (json.JSONDecodeError, TypeError) as exc:
            raise DatasetError(f"{f.filename}: data.attrs['{ROBOT_ENV_ARGS_ATTR}'] is not valid JSON ({exc})") from None
        if not isinstance(by_robot, dict) or not all(isinstance(v, dict) for v in by_robot.values()):
            raise DatasetError(f"{f.filename}: data.attrs['{ROBOT_ENV_ARGS_ATTR}'] must be {{robot: env_args}}")
        return by_robot


def _demo_obs_shapes(f: h5py.File, demo: str) -> dict[str, tuple]:
    obs = _demo_group(f, demo).get("obs")
    return {k: tuple(obs[k].shape[1:]) for k in obs} if isinstance(obs, h5py.Group) else {}


# --------------------------------------------------------------------------------------------------
# writing


DATASET_ELSEWHERE = "another output path"


class DatasetWriter:
    """Write a dataset in the robomimic layout, atomically.

    Data goes to a hidden partial file in the same folder (`robokit.utils.partial_files`) and is renamed to `path`
    on a successful `close()`; leaving a `with` block by an exception deletes it, so `path` never holds half a
    file. Partial files of killed writers in the folder are removed; a full disk is one OutputWriteError line.

        with DatasetWriter("d.hdf5", env_args={"env_name": "Reach", "type": 4, "env_kwargs": {}}) as w:
            w.add_episode(obs={"pos": pos}, actions=act, rewards=rew, dones=done, next_obs={"pos": npos})
            w.set_mask("train", ["demo_0"])
    """

    def __init__(self, path, env_args: dict, compression: str | None = None, embodiment=None,
                 robot_env_args: dict | None = None):
        self.path = os.fspath(path)
        try:
            self._env_args_json = json.dumps(env_args)
            self._robot_env_args_json = None if robot_env_args is None else json.dumps(robot_env_args)
        except TypeError as exc:
            raise DatasetError(f"env_args must be JSON-serialisable: {exc}") from None
        #: optional robokit.data.embodiment.Embodiment (or its to_dict()): names of the action / obs columns; a
        #: list of them for a file of several robots, whose episodes then each name their robot (add_episode)
        self.embodiments = _as_embodiments(embodiment)
        self.embodiment = next(iter(self.embodiments.values())) if len(self.embodiments) == 1 else None
        #: {robot: env_args} of a file of several robots (data.attrs['robokit_env_args'])
        self.robot_env_args = robot_env_args
        self.compression = compression
        self.tmp_path = os.fspath(partial_path(self.path))
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise DatasetError(f"{self.path}: folder {folder} does not exist; fix: create it first")
        remove_stale_partials(folder)  # what a killed writer left
        try:
            self._file = h5py.File(self.tmp_path, "w")
        except OSError as exc:
            if is_write_failure(exc, folder):
                raise write_error(self.path, exc, DATASET_ELSEWHERE) from None
            raise
        self._data = self._file.create_group("data")
        self._demos: list[str] = []
        self._total = 0

    # -- context manager
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        self.abort()
        if isinstance(exc, OSError) and is_write_failure(exc, os.path.dirname(os.path.abspath(self.path))):
            raise write_error(self.path, exc, DATASET_ELSEWHERE) from None

    @property
    def demo_names(self) -> list[str]:
        return list(self._demos)

    @property
    def total(self) -> int:
        return self._total

    def add_episode(self, obs: dict, actions, rewards, dones, next_obs: dict | None = None, states=None,
                    attrs: dict | None = None, robot: str | None = None, lang: str | None = None) -> str:
        """Append one episode of T steps and return its name "demo_<i>".

        obs / next_obs: {key: (T, ...)}; actions (T, A); rewards (T,); dones (T,); states (T, S) or None.
        uint8 arrays (images) are stored chunked per frame. `attrs` are extra attributes of the demo group.
        robot: which robot of a writer of several robots recorded the episode (stored as its `robot` attribute).
        lang: the episode's language instruction (stored as its `lang` attribute).
        """
        self._check_open()
        if lang is not None and (not isinstance(lang, str) or not lang.strip()):
            raise DatasetError(f"add_episode: lang must be a non-empty string, got {lang!r}")
        embodiment = self._episode_embodiment(robot)
        if not isinstance(obs, dict) or not obs:
            raise DatasetError("add_episode: obs must be a non-empty dict {key: (T, ...) array}")
        actions = np.asarray(actions)
        if actions.ndim != 2:
            raise DatasetError(f"add_episode: actions must have shape (T, A), got {actions.shape}")
        T = actions.shape[0]
        if T < 1:
            raise DatasetError("add_episode: an episode needs at least one step")
        arrays = {"actions": actions,
                  "rewards": _steps_vector(rewards, T, "rewards"),
                  "dones": _steps_vector(dones, T, "dones")}
        if states is not None:
            arrays["states"] = np.asarray(states)
        for k, v in obs.items():
            arrays[f"obs/{_check_key(k)}"] = np.asarray(v)
        if next_obs is not None:
            if set(next_obs) != set(obs):
                raise DatasetError(f"add_episode: next_obs keys {sorted(next_obs)} differ from obs keys {sorted(obs)}")
            for k, v in next_obs.items():
                arrays[f"next_obs/{k}"] = np.asarray(v)
        for name, arr in arrays.items():
            if arr.ndim == 0 or arr.shape[0] != T:
                raise DatasetError(f"add_episode: {name} has shape {arr.shape} but actions have T={T} steps")
            if arr.dtype.kind not in _NUMERIC_KINDS:
                raise DatasetError(f"add_episode: {name} has non-numeric dtype {arr.dtype}")
        if embodiment is not None:
            embodiment.check_shapes(actions.shape[1:], {k: np.shape(v)[1:] for k, v in obs.items()},
                                    where="add_episode")

        self._check_room(sum(arr.nbytes for arr in arrays.values()))
        name = f"demo_{len(self._demos)}"
        grp = self._data.create_group(name)
        grp.attrs["num_samples"] = T
        for k, v in (attrs or {}).items():
            grp.attrs[k] = v
        if lang is not None:
            grp.attrs[LANG_ATTR] = lang
        if len(self.embodiments) > 1:
            grp.attrs[ROBOT_ATTR] = robot
        for key, arr in arrays.items():
            self._write_array(grp, key, arr)
        self._demos.append(name)
        self._total += T
        return name

    def _episode_embodiment(self, robot: str | None):
        """The Embodiment an episode of `robot` is checked against (None without names)."""
        if len(self.embodiments) <= 1:
            if robot is not None and robot not in self.embodiments:
                raise DatasetError(f"add_episode: robot {robot!r}, but the writer's names are of "
                                   f"{list(self.embodiments) or 'no robot'}")
            return self.embodiment
        if robot not in self.embodiments:
            raise DatasetError(f"add_episode: a writer of several robots needs robot= one of "
                               f"{', '.join(self.embodiments)}, got {robot!r}")
        return self.embodiments[robot]

    def _check_room(self, nbytes: int) -> None:
        """Refuse an episode the disk has no room for (with a margin), before HDF5 buffers it: HDF5 reports a
        full disk only when it flushes, too late to recover the file."""
        folder = os.path.dirname(os.path.abspath(self.tmp_path))
        if 0 <= free_bytes(folder) < 2 * nbytes + NEARLY_FULL:
            full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.path)
            raise write_error(self.path, full, DATASET_ELSEWHERE)

    def _write_array(self, grp: h5py.Group, key: str, arr: np.ndarray) -> None:
        kwargs = {}
        if arr.dtype == np.uint8 and arr.ndim >= 2:
            kwargs["chunks"] = (1,) + arr.shape[1:]  # one frame per chunk: reading frame t touches one chunk
        if self.compression is not None:
            kwargs["compression"] = self.compression
        grp.create_dataset(key, data=arr, **kwargs)

    def set_mask(self, filter_key: str, demo_names: list[str]) -> None:
        """Write `mask/<filter_key>` listing `demo_names` (each must be a demo already added)."""
        self._check_open()
        names = [_as_str(n) for n in demo_names]
        missing = sorted(set(names) - set(self._demos))
        if missing:
            raise DatasetError(f"set_mask('{filter_key}'): unknown demos {missing[:5]}; add the episodes first")
        _write_mask(self._file, _check_key(filter_key), names)

    def set_data_attrs(self, attrs: dict) -> None:
        """Extra attributes of the `data` group (e.g. a converter's record of the source, JSON strings); the
        layout's own (total, env_args, robokit_embodiment, robokit_env_args) are refused."""
        self._check_open()
        own = sorted(set(attrs) & {"total", "env_args", EMBODIMENT_ATTR, ROBOT_ENV_ARGS_ATTR})
        if own:
            raise DatasetError(f"set_data_attrs: {own} are written by the writer itself; pass them to DatasetWriter")
        for k, v in attrs.items():
            self._data.attrs[_check_key(k)] = v

    def close(self) -> None:
        """Write the `data` attributes, close the file and rename it to `path`."""
        if self._file is None:
            return
        try:
            self._data.attrs["total"] = self._total
            self._data.attrs["env_args"] = self._env_args_json
            if len(self.embodiments) == 1:
                self._data.attrs[EMBODIMENT_ATTR] = self.embodiment.to_json()
            elif self.embodiments:
                self._data.attrs[EMBODIMENT_ATTR] = json.dumps([e.to_dict() for e in self.embodiments.values()])
            if self._robot_env_args_json is not None:
                self._data.attrs[ROBOT_ENV_ARGS_ATTR] = self._robot_env_args_json
            self._file.close()
            self._file = None
            os.replace(self.tmp_path, self.path)
        except OSError as exc:
            self.abort()
            if is_write_failure(exc, os.path.dirname(os.path.abspath(self.path))):
                raise write_error(self.path, exc, DATASET_ELSEWHERE) from None
            raise

    def abort(self) -> None:
        """Close and delete the temporary file; `path` is left as it was."""
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.tmp_path)

    def _check_open(self) -> None:
        if self._file is None:
            raise DatasetError(f"{self.path}: writer is already closed")


def _as_embodiments(embodiment) -> dict[str, Embodiment]:
    """None, an Embodiment or its dict form, or a list of them -> {robot: Embodiment} (a bad dict is one
    DatasetError line)."""
    if embodiment is None:
        return {}
    items = list(embodiment) if isinstance(embodiment, (list, tuple)) else [embodiment]
    try:
        parsed = [e if isinstance(e, Embodiment) else Embodiment.from_dict(e) for e in items]
    except ConfigError as exc:
        raise DatasetError(f"DatasetWriter: {exc}") from None
    by_robot = {e.robot: e for e in parsed}
    if len(by_robot) != len(parsed) or not parsed:
        raise DatasetError(f"DatasetWriter: give each robot's names once, got robots {[e.robot for e in parsed]}")
    return by_robot


def _steps_vector(x, T: int, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.shape == (T, 1):
        arr = arr[:, 0]
    if arr.shape != (T,):
        raise DatasetError(f"add_episode: {name} must have shape ({T},), got {arr.shape}")
    return arr


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key or "/" in key:
        raise DatasetError(f"invalid key {key!r}: keys are non-empty strings without '/'")
    return key


def _write_mask(f: h5py.File, filter_key: str, names: list[str]) -> None:
    grp = f.require_group("mask")
    if filter_key in grp:
        del grp[filter_key]
    grp.create_dataset(filter_key, data=np.array(names, dtype="S"))


# --------------------------------------------------------------------------------------------------
# train / validation split


def split_train_val(path, val_ratio: float = 0.1, filter_key: str | None = None,
                    seed: int = 0) -> tuple[list[str], list[str]]:
    """Split the demos (of `filter_key`, or all) at random into masks `train`/`valid`.

    With a filter key the masks are `<filter_key>_train` and `<filter_key>_valid`, as robomimic names them.
    The validation set has int(val_ratio * N) demos, at least one when val_ratio > 0 and N >= 2.
    Only those two masks are (over)written; a malformed file is left untouched (DatasetError).
    Returns (train demo names, valid demo names), sorted.
    """
    if not 0.0 <= val_ratio < 1.0:
        raise ConfigError(f"val_ratio must be in [0, 1), got {val_ratio}")
    path = os.fspath(path)
    check_dataset(path, obs_keys=None, dataset_keys=("actions",))
    demos = list_demos(path, filter_key)
    n = len(demos)
    n_val = int(val_ratio * n)
    if val_ratio > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    valid = sort_demos(demos[i] for i in order[:n_val])
    train = sort_demos(demos[i] for i in order[n_val:])
    train_key, valid_key = mask_names(filter_key)
    with h5py.File(path, "r+") as f:
        _write_mask(f, train_key, train)
        _write_mask(f, valid_key, valid)
    return train, valid


def mask_names(filter_key: str | None = None) -> tuple[str, str]:
    """Names of the (train, valid) masks that `split_train_val` writes for `filter_key`."""
    prefix = "" if filter_key is None else f"{filter_key}_"
    return f"{prefix}train", f"{prefix}valid"


# --------------------------------------------------------------------------------------------------
# several robots in one file


def robot_mask_name(robot: str) -> str:
    """The mask of a robot's demos in a file of several robots (`merge_datasets`)."""
    return f"robot_{robot}"


def merge_datasets(paths, out, compression: str | None = None) -> dict[str, int]:
    """Write `out`: the demos of the datasets `paths` (each naming its robot, data.attrs['robokit_embodiment']),
    one file of several robots. Returns {robot: number of demos}.

    Demos are renumbered demo_0.. in input order and each gets its `robot` attribute (its other attributes are
    kept); masks of the same name are merged (mask `train` lists every input's `train` demos) and mask
    `robot_<name>` lists each robot's demos (e.g. train.hdf5_filter_key=robot_planar_arm_3 trains on one
    robot). data.attrs env_args is the first input's, robokit_env_args {robot: env_args} says where each robot's
    demos were recorded. Two inputs of one robot must name its items alike. Inputs are only read.
    """
    paths = [os.fspath(p) for p in paths]
    if len(paths) < 1:
        raise DatasetError("merge_datasets: give at least one input dataset")
    embodiments: dict[str, Embodiment] = {}
    env_args: dict[str, dict] = {}
    for path in paths:
        check_dataset(path, check_values=False)
        named = read_embodiments(path)
        if not named:
            raise DatasetError(f"{path}: the file does not name its robot (no data.attrs['{EMBODIMENT_ATTR}']), "
                               "which merging needs; fix: regenerate it with scripts/generate_dataset.py or write "
                               "the names (datasets/README.md)")
        for robot, embodiment in named.items():
            if robot in embodiments and embodiments[robot] != embodiment:
                raise DatasetError(f"{path}: robot '{robot}' is named differently than in an earlier input; "
                                   "fix: merge files whose names of one robot agree")
            embodiments.setdefault(robot, embodiment)
        for robot, args in read_robot_env_args(path).items():
            env_args.setdefault(robot, args)
    counts = {robot: 0 for robot in embodiments}
    masks: dict[str, list[str]] = {}
    with DatasetWriter(out, env_args=read_env_args(paths[0]), compression=compression,
                       embodiment=list(embodiments.values()), robot_env_args=env_args) as writer:
        for path in paths:
            with open_file(path) as f:
                demos = _all_demos(f)
                renamed = {}
                for demo, robot in zip(demos, _demo_robots(f, demos, read_embodiments(f, check=False))):
                    grp = _demo_group(f, demo)
                    obs_keys = sorted(grp["obs"].keys())
                    keys = ["actions", "rewards", "dones"] + (["states"] if "states" in grp else [])
                    episode = read_episode(f, demo, obs_keys, keys, load_next_obs="next_obs" in grp)
                    attrs = {k: v for k, v in grp.attrs.items() if k not in ("num_samples", ROBOT_ATTR)}
                    name = writer.add_episode(obs=episode["obs"], next_obs=episode.get("next_obs"),
                                              actions=episode["actions"], rewards=episode["rewards"],
                                              dones=episode["dones"], states=episode.get("states"), attrs=attrs,
                                              robot=robot)
                    renamed[demo] = name
                    counts[robot] += 1
                    masks.setdefault(robot_mask_name(robot), []).append(name)
                for key in list_filter_keys(f):
                    if key not in {robot_mask_name(r) for r in embodiments}:
                        masks.setdefault(key, []).extend(renamed[d] for d in _read_mask(f, key) if d in renamed)
        for key, names in masks.items():
            writer.set_mask(key, names)
    return counts


# --------------------------------------------------------------------------------------------------
# validation


class Problem(NamedTuple):
    message: str
    fix: str


def validate_dataset(path, obs_keys=None, dataset_keys=("actions",), check_values: bool = True) -> list[str]:
    """Everything wrong with a dataset, one human-readable line each; [] when it is fine.

    obs_keys: obs keys that every demo must have (None: the keys of the first demo).
    check_values: also scan float actions/obs for NaN and inf (reads them all).
    """
    return [p.message for p in _problems(path, obs_keys, dataset_keys, check_values)]


def check_dataset(path, obs_keys=None, dataset_keys=("actions",), check_values: bool = True) -> None:
    """Raise `DatasetError("<path>: <first problem> (+N more); fix: ...")` when the dataset has problems."""
    problems = _problems(path, obs_keys, dataset_keys, check_values)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        fix = problems[0].fix.replace("{path}", os.fspath(path))
        raise DatasetError(f"{os.fspath(path)}: {problems[0].message}{more}; fix: {fix}")


def _problems(path, obs_keys, dataset_keys, check_values) -> list[Problem]:
    path = os.fspath(path)
    try:
        f = open_file(path)
    except DatasetError as exc:
        msg, _, fix = str(exc).partition("; fix: ")
        return [Problem(msg.removeprefix(f"{path}: "), fix or "check the path")]
    with f:
        return _file_problems(f, obs_keys, tuple(dataset_keys), check_values)


def _file_problems(f: h5py.File, obs_keys, dataset_keys, check_values) -> list[Problem]:
    rewrite = "regenerate the dataset, or repair it with h5py"
    data = f.get("data")
    if not isinstance(data, h5py.Group):
        return [Problem("missing 'data' group (not a robomimic-layout dataset)",
                        "write datasets with robokit.data.hdf5_format.DatasetWriter")]
    problems: list[Problem] = []
    raw = data.attrs.get("env_args")
    if raw is None:
        problems.append(Problem("'data' has no env_args attribute",
                                "set data.attrs['env_args'] to a JSON string {\"env_name\", \"type\", \"env_kwargs\"}"))
    else:
        try:
            if not isinstance(json.loads(_as_str(raw)), dict):
                problems.append(Problem("env_args is valid JSON but not an object", rewrite))
        except (json.JSONDecodeError, TypeError) as exc:
            problems.append(Problem(f"env_args is not valid JSON ({exc})", rewrite))
    demos = _all_demos(f)
    if not demos:
        problems.append(Problem("'data' holds no demos (expected groups data/demo_<i>)",
                                "generate demonstrations into this file first"))
        return problems

    robots: list = [None] * len(demos)  # in a file of several robots, shapes are compared within each robot
    names_problem = None
    if EMBODIMENT_ATTR in data.attrs:
        try:
            read_embodiments(f)
            robots = _demo_robots(f, demos, read_embodiments(f, check=False))
        except DatasetError as exc:
            names_problem = Problem(str(exc).removeprefix(f"{f.filename}: "),
                                    f"rewrite data.attrs['{EMBODIMENT_ATTR}'] (see datasets/README.md) or delete it")
    ref_shapes: dict = {}  # robot -> {key -> (per-step shape, demo it came from)}
    required_obs = obs_keys
    if required_obs is None:
        first_obs = data[demos[0]].get("obs")
        required_obs = sorted(first_obs.keys()) if isinstance(first_obs, h5py.Group) else []
    for demo, robot in zip(demos, robots):
        problems += _demo_problems(data[demo], demo, required_obs, dataset_keys, check_values,
                                   ref_shapes.setdefault(robot, {}))
    if names_problem is not None:
        problems.append(names_problem)

    for fk in list_filter_keys(f):
        ds = f["mask"][fk]
        if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "SUO":
            problems.append(Problem(f"mask/{fk} is not a dataset of demo names", rewrite))
            continue
        missing = sorted({_as_str(n) for n in np.asarray(ds[()]).reshape(-1)} - set(demos), key=_demo_sort_key)
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            problems.append(Problem(f"mask/{fk} names {len(missing)} missing demo(s): {shown}",
                                    "rewrite the masks with scripts/split_train_val.py"))
    return problems


def _demo_problems(grp, demo, obs_keys, dataset_keys, check_values, ref_shapes) -> list[Problem]:
    problems: list[Problem] = []
    generic = _FIX_GENERIC
    has = ", ".join(grp.keys()) or "nothing"
    arrays: dict[str, h5py.Dataset] = {}
    for k in dict.fromkeys(("actions",) + dataset_keys):
        ds = grp.get(k)
        if not isinstance(ds, h5py.Dataset):
            problems.append(Problem(f"{demo} has no '{k}' (has: {has})", generic))
        else:
            arrays[k] = ds
    for k in ("rewards", "dones", "states"):
        if isinstance(grp.get(k), h5py.Dataset):
            arrays[k] = grp[k]
    for sub in ("obs", "next_obs"):
        g = grp.get(sub)
        if g is None:
            if sub == "obs":
                problems.append(Problem(f"{demo} has no 'obs' group (has: {has})", generic))
            continue
        if not isinstance(g, h5py.Group):
            problems.append(Problem(f"{demo}/{sub} is not a group", generic))
            continue
        keys = obs_keys if sub == "obs" else [k for k in obs_keys if k in g]
        for k in keys:
            ds = g.get(k)
            if not isinstance(ds, h5py.Dataset):
                problems.append(Problem(f"{demo} has no {sub} key '{k}' (has: {', '.join(g.keys()) or 'nothing'})",
                                        "pass obs keys the dataset has, or regenerate it with that observation"))
            else:
                arrays[f"{sub}/{k}"] = ds

    lengths = {k: (ds.shape[0] if ds.ndim else None) for k, ds in arrays.items()}
    ref_key = "actions" if "actions" in lengths else next(iter(lengths), None)
    T = lengths.get(ref_key)
    for k, n in lengths.items():
        if n != T:
            problems.append(Problem(f"{demo}: length mismatch: {ref_key} has {T} steps but {k} has {n}", generic))
    if "num_samples" not in grp.attrs:
        problems.append(Problem(f"{demo} has no num_samples attribute", "set it to the number of steps T"))
    elif T is not None and int(grp.attrs["num_samples"]) != T:
        problems.append(Problem(f"{demo}: num_samples={int(grp.attrs['num_samples'])} but {ref_key} has {T} steps",
                                "set num_samples to the number of steps T"))

    for k, ds in arrays.items():
        if ds.dtype.kind not in _NUMERIC_KINDS:
            problems.append(Problem(f"{demo}: {k} has non-numeric dtype {ds.dtype}", generic))
            continue
        if k.startswith("obs/") or k == "actions":
            shape = tuple(ds.shape[1:])
            ref = ref_shapes.setdefault(k, (shape, demo))
            if ref[0] != shape:
                problems.append(Problem(f"{demo}: {k} has per-step shape {shape} but {ref[1]} has {ref[0]}", generic))
        if check_values and ds.dtype.kind == "f" and (k.startswith(("obs/", "next_obs/")) or k == "actions"):
            bad = _count_nonfinite(ds)
            if bad:
                problems.append(Problem(f"{demo}: {k} has {bad} NaN/inf value(s)",
                                        "drop or repair that demo (e.g. remove it from the masks you train on)"))
    return problems


def _count_nonfinite(ds: h5py.Dataset, rows_per_read: int = 65536) -> int:
    """Non-finite values in a float dataset, read in blocks of rows."""
    if ds.ndim == 0:
        return int(not np.isfinite(ds[()]))
    return sum(int((~np.isfinite(ds[i:i + rows_per_read])).sum()) for i in range(0, ds.shape[0], rows_per_read))
