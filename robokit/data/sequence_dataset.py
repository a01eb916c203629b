"""Windowed samples from a robomimic-layout dataset, gathered a whole batch at a time.

Each sample is a step t of an episode. Its window covers steps [t - frame_stack + 1, t + seq_length), so
T = frame_stack - 1 + seq_length; steps outside the episode repeat its first/last step and are False in
`pad_mask`. Every step is held once in flat per-key arrays (all episodes concatenated), so memory does not
grow with seq_length or frame_stack; a batch is one index computation plus one gather per key.
"""

from __future__ import annotations

import contextlib
import os
import sys

import h5py
import numpy as np
import torch
from termcolor import colored
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from robokit.data import hdf5_format as fmt
from robokit.data.embodiment import (CAMERA_TYPES, DataType, mask_key, masked_gaussian_stats, masked_min_max_stats,
                                     padded_key_of)
from robokit.errors import DatasetError
from robokit.utils import batch_keys as K
from robokit.utils.normalization import gaussian_stats, min_max_stats, normalize, stats_to_numpy

CACHE_MODES = ("all", "low_dim", None)
ACTION_NORMALIZATIONS = (None, "min_max", "gaussian")
GOAL_MODES = (None, "last")


#: fractions of padded action steps (seq_length past an episode's end) that warn, and that are refused
PADDED_WARN, PADDED_MAX = 0.5, 0.9


class SequenceDataset(Dataset):
    """Samples windows of obs/actions from an HDF5 dataset; `get_batch` returns the layout of `batch_keys`.

    hdf5_cache_mode: "all" holds everything in memory; "low_dim" holds all but uint8 (image) obs, which are
    read from the file per batch; None reads everything per batch. Normalisation is applied once, to the
    cached arrays, at load time (uncached keys are normalised as they are read).

    action_layout: a `robokit.data.embodiment.SlotLayout` (multi-robot training): the file's named actions
    (data.attrs["robokit_embodiment"]) are reordered by name into the layout's flat vector of its robot, so
    actions are (B, T, layout.flat_width) with zeros at the padded slots, and batches carry ACTION_MASK (B, W)
    (True at the robot's slots). Action statistics are then over real entries only, and padded slots stay
    exactly 0 after normalisation.
    obs_layout: the same for low-dim inputs: each data type of the layout (e.g. "joint_positions") becomes an
    obs key of width layout.width(dt), gathered by name from the file's named obs keys, with OBS_MASK
    {key: (B, W)} in every batch; name those keys in `obs_keys` (None: all of them) next to plain file keys.
    camera_slots: a `robokit.data.embodiment.CameraSlots` (robots with different cameras): a camera obs key that
    the episode's robot has no camera for is a zero image, and batches carry OBS_MASK[camera data type]
    (B, n_slots) (obs key "<data type>_mask", e.g. "rgb_images_mask", as an input when `obs_keys` names it).
    """

    def __init__(self, hdf5_path, obs_keys, dataset_keys=("actions",), frame_stack=1, seq_length=1,
                 pad_frame_stack=True, pad_seq_length=True, get_pad_mask=True, goal_mode=None,
                 hdf5_cache_mode="all", hdf5_use_swmr=True, hdf5_normalize_obs=False, filter_by_attribute=None,
                 load_next_obs=False, action_normalization=None, obs_normalization_stats=None,
                 action_normalization_stats=None, action_layout=None, obs_layout=None, demo_limit=None, lang=None,
                 camera_slots=None):
        super().__init__()
        self.hdf5_path = os.fspath(hdf5_path)
        self.dataset_keys = tuple(dict.fromkeys(dataset_keys))
        self.frame_stack = int(frame_stack)
        self.seq_length = int(seq_length)
        self.pad_frame_stack = bool(pad_frame_stack)
        self.pad_seq_length = bool(pad_seq_length)
        self.get_pad_mask = bool(get_pad_mask)
        self.goal_mode = goal_mode
        self.hdf5_cache_mode = hdf5_cache_mode
        self.hdf5_use_swmr = bool(hdf5_use_swmr)
        self.hdf5_normalize_obs = bool(hdf5_normalize_obs)
        self.filter_by_attribute = filter_by_attribute
        self.load_next_obs = bool(load_next_obs)
        self.action_normalization = action_normalization
        self.action_layout = action_layout
        self.obs_layout = obs_layout
        self.camera_slots = camera_slots
        self.demo_limit = demo_limit  # keep the first N demos (after the filter key), robomimic v0.5's demo_limit
        self.lang = lang  # the dataset's language instruction (robomimic v0.5's per-dataset lang), kept as given
        self._check_arguments(obs_keys)

        specs = fmt.obs_specs(self.hdf5_path)  # opens the file: missing / not HDF5 -> DatasetError
        self._embodiments = fmt.read_embodiments(self.hdf5_path)  # {robot: names}; several in a multi-robot file
        self._obs_plans = self._plan_padded_obs(obs_keys)  # {robot: {padded key: [(file key, column, slot)]}}
        #: {robot: camera slot keys it has no camera for (zero images)}
        self._lacking = {r: set(camera_slots.lacking(self._embodiments.get(r))) if camera_slots else set()
                         for r in (list(self._embodiments) or [None])}
        if camera_slots is not None:
            specs = {**camera_slots.specs, **specs}
            self._padded.update({mask_key(dt.value): (len(keys),) for dt, keys in camera_slots.keys.items()
                                 if obs_keys is not None and mask_key(dt.value) in obs_keys})
        self._action_plans = self._plan_padded_actions()  # {robot: (file columns, slots)}
        self.obs_keys = self._resolve_obs_keys(obs_keys, specs)
        #: file obs keys read as they are; the sources of padded keys are read per episode at load time
        self._file_obs_keys = [k for k in self.obs_keys if k not in self._padded]
        self._source_obs_keys = {robot: list(dict.fromkeys(src for entries in plan.values() for src, _, _ in entries))
                                 for robot, plan in self._obs_plans.items()}
        checked = list(dict.fromkeys(self._file_obs_keys + [k for ks in self._source_obs_keys.values() for k in ks]))
        checked = [k for k in checked if not any(k in lacking for lacking in self._lacking.values())]
        fmt.check_dataset(self.hdf5_path, obs_keys=checked, dataset_keys=self.dataset_keys, check_values=False)
        self._file: h5py.File | None = None
        self._file_pid: int | None = None
        self._handles: dict[int, dict] = {}  # episode -> {flat key: h5py.Dataset}, for uncached keys

        f = self._h5()
        self.env_args = fmt.read_env_args(f)
        self.demo_names = fmt.list_demos(f, filter_by_attribute)
        if self.demo_limit is not None:
            self.demo_names = self.demo_names[:self.demo_limit]
        if not self.demo_names:
            raise DatasetError(f"{self.hdf5_path}: filter key '{filter_by_attribute}' selects no demos; "
                               "fix: use another filter key or rewrite the mask")
        self.demo_lengths = [fmt.demo_length(f, d) for d in self.demo_names]
        self.demo_robots = self._selected_robots()  # the robot of each demo (None without names)
        #: the instruction of each demo: its `lang` attribute, else the dataset's `lang`, else None
        self.demo_langs = [own if own is not None else self.lang for own in fmt.demo_langs(f, self.demo_names)]
        self._lang_table: np.ndarray | None = None  # (E, V) bag of words per episode, once set_language is called
        #: the robots of the selected demos, in order of appearance; `robot` when there is one
        self.robots = [r for r in dict.fromkeys(self.demo_robots) if r is not None]
        self.robot = self.robots[0] if len(self.robots) == 1 else None
        first_actions = fmt.episode_datasets(f, self.demo_names[0], [], ["actions"])["actions"]
        self._action_shape = ((self.action_layout.flat_width,) if self.action_layout is not None
                              else tuple(first_actions.shape[1:]))  # (A,)
        self.obs_key_shapes = {k: self._padded[k] if k in self._padded else specs[k][0] for k in self.obs_keys}
        self._build_index()
        self._describe_keys(specs)
        self._load_cache()
        self._setup_normalization(obs_normalization_stats, action_normalization_stats)
        if self.hdf5_cache_mode == "all":
            self.close()

    # ------------------------------------------------------------------------------------------
    # construction

    def _check_arguments(self, obs_keys) -> None:
        if isinstance(obs_keys, str):
            raise DatasetError(f"obs_keys must be a list of keys, got the string {obs_keys!r}")
        if self.frame_stack < 1 or self.seq_length < 1:
            raise DatasetError(f"frame_stack and seq_length must be >= 1, got frame_stack={self.frame_stack}, "
                               f"seq_length={self.seq_length}")
        if self.goal_mode not in GOAL_MODES:
            raise DatasetError(f"goal_mode must be one of {GOAL_MODES}, got {self.goal_mode!r}")
        if self.hdf5_cache_mode not in CACHE_MODES:
            raise DatasetError(f"hdf5_cache_mode must be one of {CACHE_MODES}, got {self.hdf5_cache_mode!r}")
        if self.action_normalization not in ACTION_NORMALIZATIONS:
            raise DatasetError(f"action_normalization must be one of {ACTION_NORMALIZATIONS}, "
                               f"got {self.action_normalization!r}")
        if self.obs_layout is not None and self.hdf5_cache_mode is None:
            raise DatasetError("obs_layout pads the cached observations: it needs hdf5_cache_mode 'all' or 'low_dim'")
        if self.demo_limit is not None and (isinstance(self.demo_limit, bool) or not isinstance(self.demo_limit, int)
                                            or self.demo_limit < 1):
            raise DatasetError(f"demo_limit must be a positive integer or None, got {self.demo_limit!r}")
        if self.action_layout is not None and (self.hdf5_cache_mode is None or K.ACTIONS not in self.dataset_keys):
            raise DatasetError("action_layout pads the cached actions: it needs 'actions' in dataset_keys and "
                               f"hdf5_cache_mode 'all' or 'low_dim' (got {self.hdf5_cache_mode!r})")

    def _resolve_obs_keys(self, obs_keys, specs) -> list[str]:
        if obs_keys is None:
            return list(self._padded_obs_keys) if self.obs_layout is not None else sorted(specs)
        keys = list(dict.fromkeys(obs_keys))
        missing = [k for k in keys if k not in specs and k not in self._padded]
        if missing:
            offered = list(self._padded_obs_keys) + [mask_key(k) for k in self._padded_obs_keys]
            padded = f"; padded keys: {', '.join(offered)}" if offered else ""
            raise DatasetError(f"{self.hdf5_path}: obs key(s) {missing} not in the dataset (it has: "
                               f"{', '.join(sorted(specs)) or 'none'}{padded}); fix: use keys the dataset has")
        return keys

    def _layout_robots(self, layout, what: str, which: str) -> list[str]:
        """The file's robots (checked to name `what` and to be in `layout`'s spec, `which`: "input" or "output")."""
        if not self._embodiments:
            raise DatasetError(f"{self.hdf5_path}: the file does not name its {what} (no data.attrs"
                               f"['{fmt.EMBODIMENT_ATTR}']), which an {which} robot data spec needs; fix: write the "
                               "names (datasets/README.md) or train without a data spec")
        if len(self._embodiments) == 1:
            robot = next(iter(self._embodiments))
            if robot not in layout.spec:
                raise DatasetError(f"{self.hdf5_path}: the file's robot '{robot}' is not in the {which} robot data "
                                   f"spec (robots: {', '.join(layout.spec.robots)})")
        # in a file of several robots, a robot outside the spec is refused only if its demos are selected
        return [r for r in self._embodiments if r in layout.spec]

    def _plan_padded_obs(self, obs_keys) -> dict[str, dict[str, list[tuple[str, int, int]]]]:
        """With an obs_layout: per robot of the file, {padded key (a data type's value): [(file obs key, column,
        slot), ...]} for the layout's data types that obs_keys asks for (all when None); {} without a layout.
        Sets `_padded` {padded key or its mask key: (W,)}, the keys a batch gets from the layout."""
        self._padded: dict[str, tuple[int]] = {}
        self._padded_obs_keys: list[str] = []  # every padded key the layout offers
        if self.obs_layout is None:
            return {}
        robots = self._layout_robots(self.obs_layout, "observations", "input")
        cameras = [dt.value for dt in self.obs_layout.data_types if dt in CAMERA_TYPES]
        if cameras:
            raise DatasetError(f"the input robot data spec lists {', '.join(cameras)}: cameras are not chosen there; "
                               "fix: name the camera obs keys in observation.modalities.obs.rgb / depth (a robot "
                               "without one of them gets a zero image there and a camera mask)")
        language = DataType.LANGUAGE in self.obs_layout.data_types
        if language and self.obs_layout.width(DataType.LANGUAGE) != 1:
            raise DatasetError("the input robot data spec lists several language items for a robot; a demo has one "
                               "instruction: list one name, e.g. \"language\": [\"instruction\"]")
        self._padded_obs_keys = [dt.value for dt in self.obs_layout.flat_data_types]
        offered = self._padded_obs_keys + [mask_key(k) for k in self._padded_obs_keys]
        offered += [mask_key(DataType.LANGUAGE.value)] if language else []
        wanted = offered if obs_keys is None else [k for k in obs_keys if k in offered]
        self._padded = {k: (self.obs_layout.width(padded_key_of(k)),) for k in wanted}
        offsets = self.obs_layout.flat_offsets()
        plans = {}
        for robot in robots:
            index = self.obs_layout.flat_index(robot, self._embodiments[robot], where=self.hdf5_path)
            plan: dict[str, list] = {k: [] for k in self._padded_obs_keys if k in wanted}
            for key, col, flat_slot in index:
                dt = max((d for d in offsets if offsets[d] <= flat_slot), key=lambda d: offsets[d])
                if dt.value in plan:
                    plan[dt.value].append((key, col, flat_slot - offsets[dt]))
            plans[robot] = plan
        return plans

    def _plan_padded_actions(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """With an action_layout: per robot of the file, (file action columns, flat slots); {} without one."""
        if self.action_layout is None:
            return {}
        plans = {}
        for robot in self._layout_robots(self.action_layout, "actions", "output"):
            index = self.action_layout.flat_index(robot, self._embodiments[robot], actions=True, where=self.hdf5_path)
            plans[robot] = (np.array([col for _, col, _ in index], dtype=np.int64),
                            np.array([slot for _, _, slot in index], dtype=np.int64))
        return plans

    def _selected_robots(self) -> list[str | None]:
        """The robot of each selected demo; with a layout, each must be one the layouts plan for."""
        robots = fmt.demo_robots(self._h5(), self.demo_names)
        layouts = [(lay, plans) for lay, plans in ((self.obs_layout, self._obs_plans),
                                                   (self.action_layout, self._action_plans)) if lay is not None]
        for layout, plans in layouts:
            outside = [r for r in dict.fromkeys(robots) if r not in plans]
            if outside:
                which = "input" if layout is self.obs_layout else "output"
                raise DatasetError(f"{self.hdf5_path}: demos of robot(s) {', '.join(outside)} are selected but not "
                                   f"in the {which} robot data spec (robots: {', '.join(layout.spec.robots)}); fix: "
                                   "add them to the spec or select other demos (train.hdf5_filter_key)")
        if len(set(robots)) > 1 and self.action_layout is None:
            raise DatasetError(f"{self.hdf5_path}: the demos are of several robots ({', '.join(dict.fromkeys(robots))}), "
                               "whose actions differ; fix: set train.output_robot_data_spec (or select one robot's "
                               "demos, e.g. train.hdf5_filter_key=robot_<name>)")
        return robots

    def _build_index(self) -> None:
        """Per-episode flat offsets and the (episode, t) of every sample."""
        lengths = np.asarray(self.demo_lengths, dtype=np.int64)
        # index arrays are numpy: a batch's index arithmetic is a few microseconds of numpy, not torch dispatches
        self._ep_len = lengths  # (E,)
        self._ep_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)  # (E,)
        self.total_num_steps = int(lengths.sum())
        first = 0 if self.pad_frame_stack else self.frame_stack - 1
        last = lengths - 1 if self.pad_seq_length else lengths - self.seq_length  # (E,) last valid t
        counts = np.maximum(last - first + 1, 0)  # (E,) robomimic: L - (fs-1)[no fs pad] - (sl-1)[no seq pad]
        self._sample_ep = np.repeat(np.arange(len(lengths)), counts)  # (N,)
        starts_in_samples = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._sample_t = np.arange(int(counts.sum())) - np.repeat(starts_in_samples, counts) + first  # (N,)
        self._offsets = np.arange(-self.frame_stack + 1, self.seq_length)  # (T,)
        n_short = int((counts == 0).sum())
        if len(self._sample_ep) == 0:
            raise DatasetError(f"{self.hdf5_path}: no samples: every demo is shorter than a window "
                               f"(frame_stack={self.frame_stack}, seq_length={self.seq_length}, pad_frame_stack="
                               f"{self.pad_frame_stack}, pad_seq_length={self.pad_seq_length}); fix: enable padding")
        if n_short:
            print(colored(f"warning: {n_short} demo(s) of {self.hdf5_path} are shorter than one unpadded window "
                          "and give no samples", "yellow"), file=sys.stderr)
        self._check_padding(lengths)

    def _check_padding(self, lengths: np.ndarray) -> None:
        """Warn when more than PADDED_WARN of the sampled action steps are padding past an episode's end, and
        refuse above PADDED_MAX: such windows train on copies of the last step."""
        if self.seq_length == 1 or not self.pad_seq_length:
            return
        padded = np.maximum(self._sample_t + self.seq_length - lengths[self._sample_ep], 0)  # (N,) steps past the end
        fraction = float(padded.sum()) / (len(padded) * self.seq_length)
        what = (f"{fraction:.0%} of the sampled action steps of {self.hdf5_path} are padding past an episode's end "
                f"(seq_length={self.seq_length}, demos of {int(lengths.min())}-{int(lengths.max())} steps)")
        if fraction > PADDED_MAX:
            raise DatasetError(f"{what}; fix: lower train.seq_length (or the algorithm's prediction horizon) to "
                               f"about the demo length, at most {PADDED_MAX:.0%} padding is accepted")
        if fraction > PADDED_WARN:
            print(colored(f"warning: {what}", "yellow"), file=sys.stderr)

    def _describe_keys(self, specs) -> None:
        """Flat key -> (per-step shape, stored dtype, cached?) for every array a batch needs."""
        f = self._h5()
        first = fmt.episode_datasets(f, self.demo_names[0], [], self.dataset_keys)
        self._keys: dict[str, tuple[tuple, np.dtype, bool]] = {}
        subs = ("obs", "next_obs") if self.load_next_obs else ("obs",)
        for sub in subs:
            for k in self.obs_keys:
                if k in self._padded:  # filled by _load_padded, always cached
                    self._keys[f"{sub}/{k}"] = (self._padded[k], np.dtype(np.float32), True)
                    continue
                shape, dtype = specs[k]
                is_image = dtype == np.uint8
                cached = self.hdf5_cache_mode == "all" or (self.hdf5_cache_mode == "low_dim" and not is_image)
                self._keys[f"{sub}/{k}"] = (shape, np.dtype(np.uint8 if is_image else np.float32), cached)
        for k in self.dataset_keys:
            shape = self._action_shape if k == K.ACTIONS else (tuple(first[k].shape[1:]) if k in first else ())
            self._keys[k] = (shape, np.dtype(np.float32), self.hdf5_cache_mode is not None)

    def _load_cache(self) -> None:
        """Read every cached key of every episode once into flat (total_steps, ...) arrays; padded keys (and
        actions, with an action layout) are gathered by name from each episode's own arrays (`_load_padded`)."""
        cached = [k for k, (_, _, c) in self._keys.items() if c]
        padded = {k for k in cached if k.partition("/")[2] in self._padded or
                  (k == K.ACTIONS and self.action_layout is not None)}
        zeros = padded | {k for k in cached if self._is_lacking(k)}  # zero images where a robot has no camera
        arrays = {k: (np.zeros if k in zeros else np.empty)((self.total_num_steps,) + self._keys[k][0],
                                                            dtype=self._keys[k][1]) for k in cached}
        self._init_masks()
        if cached:
            bar = tqdm(range(len(self.demo_names)), desc=f"loading {os.path.basename(self.hdf5_path)}",
                       leave=False, disable=None)
            for ep in bar:
                s, e = int(self._ep_start[ep]), int(self._ep_start[ep] + self._ep_len[ep])
                handles = self._episode_handles(ep)
                for k in cached:
                    if k not in padded and k in handles:
                        self._checked_read(handles, ep, k, out=arrays[k][s:e])
                if padded:
                    self._load_padded(ep, {k: arrays[k][s:e] for k in padded})
        self._cache = arrays

    def _is_lacking(self, flat_key: str) -> bool:
        """Whether some selected demo's robot has no camera for this obs key ("obs/<key>"): zeros there."""
        key = flat_key.partition("/")[2]
        return any(key in self._lacking.get(r, ()) for r in set(self.demo_robots))

    def _init_masks(self) -> None:
        """Per-episode masks of the padded keys: ACTION_MASK rows (E, W) and OBS_MASK {key: (E, W)}."""
        robots = self.demo_robots
        self._ep_action_mask = None
        if self.action_layout is not None:
            self._ep_action_mask = np.stack([self.action_layout.flat_mask(r) for r in robots])  # (E, W)
        cameras = self.camera_slots.keys if self.camera_slots is not None else {}
        language = DataType.LANGUAGE.value
        self._ep_obs_masks = {k: np.stack([self.obs_layout.mask(r, k) for r in robots])  # {key: (E, W)}
                              for k in dict.fromkeys(padded_key_of(k) for k in self._padded)
                              if k not in cameras and k != language}
        if self.obs_layout is not None and DataType.LANGUAGE in self.obs_layout.data_types:
            declared = np.stack([self.obs_layout.mask(r, language) for r in robots])  # (E, 1) the robot reads one
            self._ep_obs_masks[language] = declared & np.array([x is not None for x in self.demo_langs])[:, None]
        for dt in cameras:  # {camera data type: (E, n_slots)}
            self._ep_obs_masks[dt.value] = np.stack([self.camera_slots.mask(self._embodiments.get(r), dt)
                                                     for r in robots])

    def _load_padded(self, ep: int, out: dict[str, np.ndarray]) -> None:
        """Fill episode `ep`'s rows of the padded arrays `out` {flat key: (T, W)} (zeros on entry): each named
        item of the episode's robot at its slot; a mask key gets the robot's mask."""
        robot, demo = self.demo_robots[ep], self.demo_names[ep]
        lazy = fmt.episode_datasets(self._h5(), demo, self._source_obs_keys.get(robot, []),
                                    [K.ACTIONS] if K.ACTIONS in out else [], self.load_next_obs)
        read: dict[str, np.ndarray] = {}  # flat file key -> (T, D), each read once

        def source(flat_key: str) -> np.ndarray:
            if flat_key not in read:
                sub, _, key = flat_key.partition("/")
                ds = lazy[K.ACTIONS] if flat_key == K.ACTIONS else lazy[sub][key]
                read[flat_key] = self._finite(ds[()], demo, flat_key)
            return read[flat_key]

        for flat_key, rows in out.items():
            if flat_key == K.ACTIONS:
                src, dest = self._action_plans[robot]
                rows[:, dest] = source(K.ACTIONS)[:, src]
                continue
            sub, _, key = flat_key.partition("/")
            if key not in self._padded_obs_keys:  # a mask key: the robot's mask at every step
                rows[:] = self._ep_obs_masks[padded_key_of(key)][ep]
                continue
            for src, col, slot in self._obs_plans[robot][key]:
                rows[:, slot] = source(f"{sub}/{src}")[:, col]

    def _finite(self, data: np.ndarray, demo: str, key: str) -> np.ndarray:
        if data.dtype.kind == "f" and not np.isfinite(data).all():
            raise DatasetError(f"{self.hdf5_path}: {demo}: {key} has NaN/inf values; fix: drop or repair "
                               "that demo (e.g. leave it out of the filter key you train on)")
        return data

    def _checked_read(self, handles: dict, ep: int, key: str, rows=None, out=None) -> np.ndarray:
        """Rows of one episode's key (all rows when `rows` is None), with shape and NaN checks.

        out: optional contiguous (T, ...) array that receives the whole episode (no intermediate copy).
        """
        ds = handles[key]
        demo = self.demo_names[ep]
        if tuple(ds.shape[1:]) != self._keys[key][0]:
            raise DatasetError(f"{self.hdf5_path}: {demo}: {key} has per-step shape {tuple(ds.shape[1:])} but "
                               f"{self.demo_names[0]} has {self._keys[key][0]}")
        if out is not None:
            if ds.dtype == out.dtype:
                ds.read_direct(out)
            else:
                out[...] = ds[()]
            data = out
        else:
            data = ds[()] if rows is None else _read_rows(ds, rows)
        scanned = key.startswith(("obs/", "next_obs/")) or key == K.ACTIONS
        if scanned and data.dtype.kind == "f" and not np.isfinite(data).all():
            raise DatasetError(f"{self.hdf5_path}: {demo}: {key} has NaN/inf values; fix: drop or repair "
                               "that demo (e.g. leave it out of the filter key you train on)")
        return data

    def _setup_normalization(self, obs_stats, action_stats) -> None:
        """Compute (or take) stats and normalise the cached arrays in place."""
        self._norm: dict[str, dict] = {}  # flat key -> {"offset", "scale"} numpy float32
        low_dim = self.normalized_obs_keys
        self._obs_stats = None
        if self.hdf5_normalize_obs or obs_stats is not None:
            given = stats_to_numpy(obs_stats) or {}
            if self.hdf5_normalize_obs:
                missing = [k for k in low_dim if k not in given] if obs_stats is not None else []
                if missing:
                    raise DatasetError(f"obs_normalization_stats lack key(s) {missing} (have: {sorted(given)})")
            self._obs_stats = {k: given[k] if k in given else self._computed_obs_stats(k)
                               for k in (low_dim if self.hdf5_normalize_obs else [k for k in low_dim if k in given])}
            for k, stats in self._obs_stats.items():
                self._check_stats_shape(k, stats, self.obs_key_shapes[k])
                for sub in ("obs", "next_obs"):
                    if f"{sub}/{k}" in self._keys:
                        self._norm[f"{sub}/{k}"] = stats
        self._action_stats = None
        if action_stats is not None:
            action_stats = stats_to_numpy(action_stats)
            self._action_stats = action_stats.get(K.ACTIONS, action_stats)
        elif self.action_normalization is not None and self._ep_action_mask is not None:  # real entries only
            fn = masked_min_max_stats if self.action_normalization == "min_max" else masked_gaussian_stats
            self._action_stats = fn(self._full_array(K.ACTIONS), self._step_mask(self._ep_action_mask))
        elif self.action_normalization is not None:
            fn = min_max_stats if self.action_normalization == "min_max" else gaussian_stats
            self._action_stats = fn(self._full_array(K.ACTIONS))
        if self._action_stats is not None:
            self._check_stats_shape(K.ACTIONS, self._action_stats, self._action_shape)
            if K.ACTIONS in self._keys:
                self._norm[K.ACTIONS] = self._action_stats
        for key, stats in self._norm.items():
            if key in self._cache:
                arr = self._cache[key]  # normalised in place
                arr -= stats["offset"]
                arr /= stats["scale"]
                if key == K.ACTIONS and self._ep_action_mask is not None:
                    arr[~self._step_mask(self._ep_action_mask)] = 0.0  # padded slots stay exactly 0
                elif key.partition("/")[2] in self._ep_obs_masks:
                    arr[~self._step_mask(self._ep_obs_masks[key.partition("/")[2]])] = 0.0

    @property
    def normalized_obs_keys(self) -> list[str]:
        """The obs keys that obs normalisation applies to: low-dim keys, not images (uint8) or masks (0 / 1)."""
        return [k for k in self.obs_keys if self._keys[f"obs/{k}"][1] != np.uint8 and
                (k not in self._padded or k in self._padded_obs_keys)]

    def _step_mask(self, ep_mask: np.ndarray) -> np.ndarray:
        """(E, W) per-episode mask -> (total_steps, W), the rows of the flat arrays."""
        return np.repeat(ep_mask, self._ep_len, axis=0)

    def _computed_obs_stats(self, key: str) -> dict:
        """Gaussian stats of an obs key; of a padded key, over its real slots only."""
        if key in self._ep_obs_masks:
            return masked_gaussian_stats(self._full_array(f"obs/{key}"), self._step_mask(self._ep_obs_masks[key]))
        return gaussian_stats(self._full_array(f"obs/{key}"))

    def _check_stats_shape(self, key, stats, shape) -> None:
        if set(stats) != {"offset", "scale"}:
            raise DatasetError(f"normalisation stats for '{key}' need exactly 'offset' and 'scale', "
                               f"got {sorted(stats)}")
        for name, v in stats.items():
            try:
                np.broadcast_to(v, shape)
            except ValueError:
                raise DatasetError(f"normalisation stats for '{key}': {name} has shape {np.shape(v)}, "
                                   f"which does not fit the per-step shape {shape}") from None

    def _full_array(self, key: str) -> np.ndarray:
        """All steps of one key (unnormalised), (total_steps, ...), from the cache or read from the file."""
        if key in self._cache:
            return self._cache[key]
        if key in self._keys:
            parts = [self._checked_read(self._episode_handles(ep), ep, key) for ep in range(self.n_demos)]
        else:  # e.g. action stats while actions are not a dataset key
            parts = [fmt.read_episode(self._h5(), d, [], [key])[key] for d in self.demo_names]
        return np.concatenate(parts).astype(np.float32, copy=False)

    # ------------------------------------------------------------------------------------------
    # several datasets in one run (robokit.data.multi_dataset): statistics over the union

    def stats_input(self, key: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(every step of `key` unnormalised (N, ...), its slot mask (N, W) or None when unpadded): what statistics
        over several datasets are computed from. `key`: "actions" or an obs key. Only before `normalize_with`."""
        if key == K.ACTIONS:
            mask = self._ep_action_mask
            return self._full_array(K.ACTIONS), None if mask is None else self._step_mask(mask)
        mask = self._ep_obs_masks.get(key)
        return self._full_array(f"obs/{key}"), None if mask is None else self._step_mask(mask)

    def set_language(self, vocabulary) -> None:
        """Give every batch obs[LANG] (B, T, V): each demo's instruction as `vocabulary.bag_of_words` (a
        robokit.data.language.Vocabulary). Every selected demo needs an instruction: this is the one check of that
        (training and validation sets, MultiDataset's children, direct use), a DatasetError (one line) otherwise.
        With an obs_layout whose spec lists language (robots with and without instructions), a demo without one, or
        of a robot whose spec does not list language, gets a zero obs[LANG] and False in OBS_MASK["language"]."""
        real = self._ep_obs_masks.get(DataType.LANGUAGE.value)  # (E, 1), only when the spec lists language
        if real is not None:
            langs = [lang if ok else "" for lang, ok in zip(self.demo_langs, real[:, 0])]
            self._lang_table = vocabulary.bag_of_words(langs)  # (E, V), rows of masked demos 0
            self.obs_key_shapes[K.LANG] = (vocabulary.size,)
            return
        missing = [d for d, lang in zip(self.demo_names, self.demo_langs) if lang is None]
        if missing:
            split = f" (filter key '{self.filter_by_attribute}')" if self.filter_by_attribute else ""
            raise DatasetError(f"{self.hdf5_path}{split}: observation.language.enabled needs an instruction for every "
                               f"demo, but {len(missing)} of {self.n_demos} demos have none (e.g. {missing[0]}); fix: "
                               f"write each demo's '{fmt.LANG_ATTR}' attribute (datasets/README.md), give the dataset "
                               "one (train.data entry 'lang'), or set observation.language.enabled=false")
        self._lang_table = vocabulary.bag_of_words(self.demo_langs)  # (E, V)
        self.obs_key_shapes[K.LANG] = (vocabulary.size,)

    def normalize_with(self, obs_stats: dict | None, action_stats: dict | None) -> None:
        """Normalise this dataset, loaded without normalisation, with statistics computed elsewhere (over the
        union of several datasets): {obs key: {"offset", "scale"}} for every low-dim key, or None; and
        {"actions": {...}} or None. Afterwards it behaves as if it had been built with those statistics."""
        if self._norm:
            raise DatasetError(f"{self.hdf5_path}: normalize_with needs a dataset loaded without normalisation")
        self.hdf5_normalize_obs = obs_stats is not None
        self._setup_normalization(obs_stats, action_stats)

    # ------------------------------------------------------------------------------------------
    # file access (lazy, re-opened in each DataLoader worker process)

    def _h5(self) -> h5py.File:
        if self._file is None or self._file_pid != os.getpid():
            self._file = fmt.open_file(self.hdf5_path, swmr=self.hdf5_use_swmr, chunk_cache_bytes=0)
            self._file_pid = os.getpid()
            self._handles = {}
        return self._file

    def _episode_handles(self, ep: int) -> dict:
        """{flat key: h5py.Dataset} of episode `ep`, e.g. "obs/pos", "next_obs/pos", "actions"."""
        f = self._h5()
        if ep not in self._handles:
            lacking = self._lacking.get(self.demo_robots[ep], ())
            nested = fmt.episode_datasets(f, self.demo_names[ep], [k for k in self._file_obs_keys if k not in lacking],
                                          [k for k in self._keys if "/" not in k], self.load_next_obs)
            flat = {}
            for k, v in nested.items():
                if isinstance(v, dict):
                    flat.update({f"{k}/{kk}": ds for kk, ds in v.items()})
                else:
                    flat[k] = v
            self._handles[ep] = flat
        return self._handles[ep]

    def close(self) -> None:
        """Close the HDF5 file (it is re-opened on demand when a key is not cached)."""
        if self._file is not None:
            with contextlib.suppress(Exception):  # closing during interpreter shutdown may fail harmlessly
                self._file.close()
        self._file, self._file_pid, self._handles = None, None, {}

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_file=None, _file_pid=None, _handles={})  # h5py handles do not cross processes
        return state

    def __del__(self):
        if getattr(self, "_file", None) is not None:
            self.close()

    # ------------------------------------------------------------------------------------------
    # sampling

    def __len__(self) -> int:
        return len(self._sample_ep)

    @property
    def total_num_sequences(self) -> int:
        return len(self)

    @property
    def n_demos(self) -> int:
        return len(self.demo_names)

    @property
    def action_dim(self) -> int:
        return int(np.prod(self._action_shape))

    @property
    def has_padded_actions(self) -> bool:
        """Whether some sample's actions have padded (masked-out) dims: robots with fewer action items."""
        return self._ep_action_mask is not None and not bool(self._ep_action_mask.all())

    @property
    def cached_nbytes(self) -> int:
        """Bytes held by the in-memory data tensors (the index arrays are not counted)."""
        return sum(a.nbytes for a in self._cache.values())

    def get_obs_normalization_stats(self) -> dict | None:
        """{obs key: {"offset", "scale"}} numpy float32, or None when obs are not normalised."""
        return None if self._obs_stats is None else {k: dict(v) for k, v in self._obs_stats.items()}

    def get_action_normalization_stats(self) -> dict | None:
        """{"actions": {"offset", "scale"}} numpy float32, or None when actions are not normalised."""
        return None if self._action_stats is None else {K.ACTIONS: dict(self._action_stats)}

    def sample_location(self, index: int) -> tuple[str, int]:
        """(demo name, step t) of sample `index`."""
        return self.demo_names[int(self._sample_ep[index])], int(self._sample_t[index])

    def get_batch(self, indices) -> dict:
        """Samples `indices` (B,) as a batch: obs {k: (B, T, ...)}, actions (B, T, A), pad_mask (B, T), ..."""
        if isinstance(indices, torch.Tensor):
            indices = indices.numpy()
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)  # (B,)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"sample index out of range for a dataset of {n} samples")
        idx = np.where(idx < 0, idx + n, idx)
        ep = self._sample_ep[idx]  # (B,)
        start, length = self._ep_start[ep], self._ep_len[ep]  # (B,), (B,)
        local = self._sample_t[idx][:, None] + self._offsets[None, :]  # (B, T) step in episode, unclamped
        real = (local >= 0) & (local < length[:, None])  # (B, T)
        flat = start[:, None] + np.minimum(np.maximum(local, 0), length[:, None] - 1)  # (B, T) edge padding

        batch = {K.OBS: {k: self._gather(f"obs/{k}", flat) for k in self.obs_keys}}
        if self.load_next_obs:
            batch[K.NEXT_OBS] = {k: self._gather(f"next_obs/{k}", flat) for k in self.obs_keys}
        if self._lang_table is not None:  # the episode's instruction at every step, (B, T, V)
            lang = torch.from_numpy(self._lang_table[ep]).unsqueeze(1).expand(-1, flat.shape[1], -1).contiguous()
            batch[K.OBS][K.LANG] = lang
            if self.load_next_obs:
                batch[K.NEXT_OBS][K.LANG] = lang
        if self.goal_mode == "last":
            last = start + length - 1  # (B,)
            batch[K.GOAL_OBS] = {k: self._gather(f"obs/{k}", last) for k in self.obs_keys}  # (B, ...)
        for k in self.dataset_keys:
            batch[k] = self._gather(k, flat)
        if self.get_pad_mask:
            batch[K.PAD_MASK] = torch.from_numpy(real)
        if self._ep_action_mask is not None:
            batch[K.ACTION_MASK] = torch.from_numpy(self._ep_action_mask[ep])  # (B, W)
        masked = [k for k in self.obs_keys + [dt.value for dt in (*CAMERA_TYPES, DataType.LANGUAGE)]
                  if k in self._ep_obs_masks]
        if masked:
            batch[K.OBS_MASK] = {k: torch.from_numpy(self._ep_obs_masks[k][ep]) for k in masked}  # {key: (B, W)}
        return batch

    def _gather(self, key: str, flat: np.ndarray) -> torch.Tensor:
        """Steps `flat` (any shape) of one key -> (*flat.shape, *per-step shape)."""
        if key in self._cache:
            data = self._cache[key]  # (total_steps, ...)
            return torch.from_numpy(data.take(flat.reshape(-1), axis=0).reshape(flat.shape + data.shape[1:]))
        shape, dtype, _ = self._keys[key]
        uniq, inverse = np.unique(flat.reshape(-1), return_inverse=True)  # (U,) sorted, (numel,)
        ep_of = np.searchsorted(self._ep_start, uniq, side="right") - 1  # (U,)
        out = np.empty((len(uniq),) + shape, dtype=dtype)  # (U, ...)
        for ep in np.unique(ep_of).tolist():
            sel = np.flatnonzero(ep_of == ep)
            rows = uniq[sel] - self._ep_start[ep]  # sorted, unique
            handles = self._episode_handles(ep)
            out[sel] = self._checked_read(handles, ep, key, rows) if key in handles else 0  # 0: no such camera
        if key in self._norm:
            out = normalize(out, self._norm[key]).astype(np.float32, copy=False)
        return torch.from_numpy(out.take(inverse.reshape(-1), axis=0).reshape(flat.shape + shape))

    def __getitem__(self, index):
        """One sample (a batch without the batch dim) for an int; a batch for an index array, list or slice."""
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        if isinstance(index, (int, np.integer)) or (isinstance(index, torch.Tensor) and index.ndim == 0):
            return _drop_batch_dim(self.get_batch(torch.tensor([int(index)])))
        return self.get_batch(index)

    def make_batch_sampler(self, batch_size: int, shuffle: bool = True, generator=None,
                           drop_last: bool = True, shard: tuple[int, int] = (0, 1)) -> "IndexBatchSampler":
        """Sampler of (B,) index tensors, for `DataLoader(ds, sampler=..., batch_size=None)` (vectorised batches);
        `shard` (rank, world_size): this rank's slice of global batches of B x world_size."""
        if drop_last and len(self) < batch_size * shard[1]:
            raise DatasetError(f"{self.hdf5_path}: {len(self)} samples is fewer than batch_size={batch_size}"
                               f"{f' x {shard[1]} ranks' if shard[1] > 1 else ''}; "
                               "fix: lower the batch size or use more demos")
        return IndexBatchSampler(len(self), batch_size, shuffle, generator, drop_last, shard)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(path={self.hdf5_path!r}, filter_key={self.filter_by_attribute!r}, "
                f"demos={self.n_demos}, samples={len(self)}, steps={self.total_num_steps}, "
                f"seq_length={self.seq_length}, frame_stack={self.frame_stack}, "
                f"pad_seq_length={self.pad_seq_length}, pad_frame_stack={self.pad_frame_stack}, "
                f"goal_mode={self.goal_mode!r}, cache_mode={self.hdf5_cache_mode!r}, "
                + (f"demo_limit={self.demo_limit}, " if self.demo_limit is not None else "")
                + (f"lang={self.lang!r}, " if self.lang is not None else "")
                + f"obs_keys={self.obs_keys}, dataset_keys={list(self.dataset_keys)})")


class IndexBatchSampler(Sampler):
    """Batches of sample indices as (B,) long tensors: one pass is a permutation of range(n) (or range(n) in
    order without shuffle) cut into batches, made with one `torch.randperm` rather than index by index."""

    def __init__(self, n: int, batch_size: int, shuffle: bool = True, generator=None, drop_last: bool = True,
                 shard: tuple[int, int] = (0, 1)):
        self.n, self.shuffle, self.drop_last = n, shuffle, drop_last
        self.generator = generator
        self._skip = 0
        #: (rank, world_size): every rank draws the same global batches of batch_size * world_size indices (the
        #: same seeded permutation) and keeps its own slice of batch_size, so all ranks take the same steps
        self.rank, self.world_size = shard
        self.batch_size = batch_size * self.world_size  # of the global batch
        self.shard_size = batch_size

    def skip(self, n_batches: int) -> None:
        """Start the next pass `n_batches` batches in, as if they had been drawn (passes before included): with a
        seeded generator this puts a resumed run's sampler where the interrupted one was."""
        self._skip = int(n_batches)

    def __iter__(self):
        passes, skip = divmod(self._skip, max(len(self), 1))
        self._skip = 0
        for _ in range(passes):  # replay whole passes: one permutation each
            self._order()
        order = self._order()
        stop = self.n - self.n % self.batch_size if self.drop_last else self.n
        for first in range(skip * self.batch_size, stop, self.batch_size):
            batch = order[first:first + self.batch_size]
            yield batch if self.world_size == 1 else batch[self.rank * self.shard_size:(self.rank + 1) * self.shard_size]

    def _order(self) -> torch.Tensor:
        return torch.randperm(self.n, generator=self.generator) if self.shuffle else torch.arange(self.n)

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)


def make_dataloader(dataset: SequenceDataset, batch_size: int, num_workers: int = 0, shuffle: bool = True,
                    seed: int | None = None, drop_last: bool = True, shard: tuple[int, int] = (0, 1),
                    **loader_kwargs) -> DataLoader:
    """DataLoader yielding vectorised batches: each worker gathers a whole batch with one `get_batch`; `shard`
    (rank, world_size) for data-parallel training."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    sampler = dataset.make_batch_sampler(batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last,
                                         shard=shard)
    loader_kwargs.setdefault("persistent_workers", num_workers > 0)
    if seed is not None:  # workers' base seed from its own generator: the global torch RNG is left to training
        loader_kwargs.setdefault("generator", torch.Generator().manual_seed(seed + 1))
    return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=num_workers, **loader_kwargs)


def _read_rows(ds: h5py.Dataset, rows: np.ndarray, max_gap: int = 16) -> np.ndarray:
    """ds[rows] for sorted unique rows, read as a few contiguous slices.

    h5py point selections of scattered rows are orders of magnitude slower than slices, so rows closer than
    `max_gap` are read as one slice (a window is a contiguous run) and the wanted rows picked from it.
    """
    breaks = np.flatnonzero(np.diff(rows) > max_gap) + 1
    parts = []
    for run in np.split(rows, breaks):
        lo, hi = int(run[0]), int(run[-1]) + 1
        parts.append(ds[lo:hi][run - lo])
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _drop_batch_dim(batch: dict) -> dict:
    return {k: (_drop_batch_dim(v) if isinstance(v, dict) else v[0]) for k, v in batch.items()}
