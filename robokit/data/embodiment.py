"""Robot data specs: named items per robot and data type, and the padded slot layout that lets one model
train on robots with different numbers of joints and cameras.

Vocabulary (after Neuracore's model-construction document):

    DataType        what a value means: joint positions, an RGB camera, a gripper opening, ...
    DataSpec        {DataType: (item names, ...)} of one robot, e.g. {JOINT_POSITIONS: ("shoulder", "elbow")}
    RobotDataSpec   {robot name: DataSpec}, parsed from a config dict {robot: {"joint_positions": [names]}}
    Embodiment      which named items each array of a dataset file holds (stored in the file, see hdf5_format)
    SlotLayout      per data type a width (the largest robot's item count) and, per (robot, data type), the slot
                    of each item; `pad` / `unpad` / masks / statistics over real entries only

An item is one column of a vector data type (a joint, one coordinate of an end-effector pose) or one whole
array of an image / language data type (a camera). Slots are placed by the order the spec lists the names, never
by hand-numbered indices: with align="order" (Neuracore's rule) the i-th item a robot lists goes to slot i, so the
width is the largest robot's count; with align="names" every distinct name gets its own slot (first appearance
order), so a joint shared by two robots ("head") is the same input feature for both, at the price of a wider
layout. Padded slots hold 0, are False in the mask, are left out of the statistics and stay exactly 0 after
normalisation.
"""

from __future__ import annotations

import difflib
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from robokit.errors import ConfigError, DatasetError
from robokit.utils import batch_keys as K

STD_EPS = 1e-3  # robokit.utils.normalization.STD_EPS, repeated so that this module does not import torch
#: a padded obs key's mask as an input of its own: "<key>_mask" (W,) float, 1 at the robot's slots, 0 elsewhere
MASK_SUFFIX = "_mask"


def mask_key(padded_key: str) -> str:
    """The obs key of a padded key's mask ("joint_positions" -> "joint_positions_mask")."""
    return padded_key + MASK_SUFFIX


def padded_key_of(key: str) -> str:
    """The padded key a key is or is the mask of ("joint_positions_mask" -> "joint_positions")."""
    return key[: -len(MASK_SUFFIX)] if key.endswith(MASK_SUFFIX) and key[: -len(MASK_SUFFIX)] in _VALUES else key


class DataType(str, enum.Enum):
    """Kinds of robot data (Neuracore's log types); the value is the spelling in configs and files."""

    JOINT_POSITIONS = "joint_positions"
    JOINT_VELOCITIES = "joint_velocities"
    JOINT_TORQUES = "joint_torques"
    JOINT_TARGET_POSITIONS = "joint_target_positions"
    END_EFFECTOR_POSES = "end_effector_poses"
    GRIPPER_OPEN_AMOUNTS = "gripper_open_amounts"
    RGB_IMAGES = "rgb_images"
    DEPTH_IMAGES = "depth_images"
    LANGUAGE = "language"
    CUSTOM = "custom"


_VALUES = frozenset(dt.value for dt in DataType)

#: data types whose item is a whole array (a camera image, an instruction), not one column of a vector
ARRAY_ITEM_TYPES = frozenset({DataType.RGB_IMAGES, DataType.DEPTH_IMAGES, DataType.LANGUAGE})
ALIGN_MODES = ("order", "names")
_ORDER = {dt: i for i, dt in enumerate(DataType)}


def parse_data_type(value, where: str = "data type") -> DataType:
    """A DataType from itself, its value ("joint_positions") or its name ("JOINT_POSITIONS"); else ConfigError
    with a did-you-mean."""
    if isinstance(value, DataType):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        for dt in DataType:
            if text == dt.value:
                return dt
    known = [dt.value for dt in DataType]
    message = f"{where}: unknown data type {value!r}"
    close = difflib.get_close_matches(str(value).lower(), known, n=1)
    if close:
        message += f"; did you mean '{close[0]}'?"
    raise ConfigError(message + f" (known: {', '.join(known)})")


def _parse_names(value, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where} must be a list of item names, got {type(value).__name__} {value!r:.60}")
    if not value:
        raise ConfigError(f"{where} lists no names; list at least one or leave the data type out")
    seen = set()
    for name in value:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: names must be non-empty strings, got {name!r}")
        if name in seen:
            raise ConfigError(f"{where} lists {name!r} twice; every item of a robot's data type needs its own name")
        seen.add(name)
    return tuple(value)


def parse_data_spec(raw, where: str = "data spec") -> dict[DataType, tuple[str, ...]]:
    """{data type: [names]} (strings or DataType keys) -> {DataType: (names, ...)} in DataType order."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be {{data type: [names]}}, got {type(raw).__name__} {raw!r:.60}")
    if not raw:
        raise ConfigError(f"{where} is empty; give it at least one data type with names, or leave it out")
    spec: dict[DataType, tuple[str, ...]] = {}
    for key, names in raw.items():
        dt = parse_data_type(key, where)
        if dt in spec:
            raise ConfigError(f"{where} lists data type '{dt.value}' twice (as {key!r})")
        spec[dt] = _parse_names(names, f"{where}['{dt.value}']")
    return dict(sorted(spec.items(), key=lambda kv: _ORDER[kv[0]]))


class RobotDataSpec:
    """{robot name: {DataType: (item names, ...)}}: which named items of which robots a model reads or writes.

    Parse config dicts with `RobotDataSpec.from_config({"snake": {"joint_positions": ["spine_1", "head"]}})`;
    an empty spec ({} or None) means "everything the data has" (`is_empty`). Read-only; robots keep the order
    they were given in, data types follow DataType's order.
    """

    def __init__(self, robots: Mapping | None = None):
        self._robots: dict[str, dict[DataType, tuple[str, ...]]] = {}
        for robot, spec in (robots or {}).items():
            self._robots[robot] = dict(spec)

    @classmethod
    def from_config(cls, raw, where: str = "robot data spec") -> RobotDataSpec:
        """Parse {robot: {data type: [names]}}; every mistake is one ConfigError line naming where it is."""
        if raw is None:
            return cls()
        if isinstance(raw, RobotDataSpec):
            return raw
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where} must be {{robot: {{data type: [names]}}}}, got {type(raw).__name__} "
                              f"{raw!r:.60}")
        robots = {}
        for robot, spec in raw.items():
            if not isinstance(robot, str) or not robot:
                raise ConfigError(f"{where}: robot names must be non-empty strings, got {robot!r}")
            if not spec:
                raise ConfigError(f"{where}['{robot}'] is empty; give the robot at least one data type with "
                                  "names, or leave it out")
            robots[robot] = parse_data_spec(spec, f"{where}['{robot}']")
        return cls(robots)

    def to_config(self) -> dict:
        """Plain JSON-able {robot: {data type value: [names]}} (what `from_config` reads back)."""
        return {robot: {dt.value: list(names) for dt, names in spec.items()} for robot, spec in self._robots.items()}

    @property
    def is_empty(self) -> bool:
        return not self._robots

    @property
    def robots(self) -> list[str]:
        return list(self._robots)

    @property
    def data_types(self) -> list[DataType]:
        """Every data type any robot lists, in DataType order."""
        present = {dt for spec in self._robots.values() for dt in spec}
        return [dt for dt in DataType if dt in present]

    def __getitem__(self, robot: str) -> dict[DataType, tuple[str, ...]]:
        return dict(self._spec(robot))

    def __contains__(self, robot) -> bool:
        return robot in self._robots

    def __eq__(self, other) -> bool:
        return isinstance(other, RobotDataSpec) and self.to_config() == other.to_config()

    def __repr__(self) -> str:
        return f"RobotDataSpec({self.to_config()})"

    def names(self, robot: str, data_type) -> tuple[str, ...]:
        """Item names of one robot's data type; () when the robot has none of that type."""
        return self._spec(robot).get(parse_data_type(data_type), ())

    def _spec(self, robot: str) -> dict[DataType, tuple[str, ...]]:
        if robot not in self._robots:
            raise ConfigError(_unknown("robot", robot, self.robots))
        return self._robots[robot]


def _unknown(what: str, name, known) -> str:
    known = list(known)
    message = f"unknown {what} {name!r}"
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return message + f" (known: {', '.join(map(str, known)) or 'none'})"


# --------------------------------------------------------------------------------------------------
# what a dataset file's arrays hold


@dataclass(frozen=True)
class Segment:
    """A run of items of one data type inside an array: `names` are its columns (vector types) or the one
    array it is (image / language types)."""

    data_type: DataType
    names: tuple[str, ...]


class Embodiment:
    """The robot a dataset file was recorded with and the named items of its arrays.

    robot:   the robot's name
    actions: [Segment, ...] whose names, concatenated, are the A columns of `actions` (T, A)
    obs:     {obs key: [Segment, ...]}: a (T, D) key's D columns, or a single image / language item per key
    Obs keys without names are allowed (they simply have none). `hdf5_format` stores it as JSON in the attribute
    `robokit_embodiment` of the `data` group (`to_json` / `from_json`), which robomimic ignores.
    """

    def __init__(self, robot: str, actions=(), obs: Mapping | None = None):
        if not isinstance(robot, str) or not robot:
            raise ConfigError(f"embodiment: the robot name must be a non-empty string, got {robot!r}")
        self.robot = robot
        self.actions = _segments(actions, "embodiment actions")
        self.obs = {key: _segments(segs, f"embodiment obs['{key}']") for key, segs in (obs or {}).items()}
        for key, segs in self.obs.items():
            if not segs:
                raise ConfigError(f"embodiment obs['{key}'] has no segments; leave the key out instead")

    def to_dict(self) -> dict:
        return {"robot": self.robot, "actions": _segments_to_list(self.actions),
                "obs": {k: _segments_to_list(v) for k, v in self.obs.items()}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, raw, where: str = "embodiment") -> Embodiment:
        if not isinstance(raw, Mapping) or "robot" not in raw:
            raise ConfigError(f"{where} must be {{\"robot\": name, \"actions\": [...], \"obs\": {{...}}}}, "
                              f"got {raw!r:.80}")
        unknown = sorted(set(raw) - {"robot", "actions", "obs"})
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {unknown} (fields: robot, actions, obs)")
        return cls(raw["robot"], raw.get("actions", ()), raw.get("obs") or {})

    @classmethod
    def from_json(cls, text: str, where: str = "embodiment") -> Embodiment:
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ConfigError(f"{where} is not valid JSON ({exc})") from None
        return cls.from_dict(raw, where)

    def __eq__(self, other) -> bool:
        return isinstance(other, Embodiment) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Embodiment({self.to_dict()})"

    def check_shapes(self, action_shape: tuple | None, obs_shapes: Mapping[str, tuple], where: str = "") -> None:
        """Raise DatasetError when the names contradict per-step shapes: action_shape (A,), obs_shapes
        {key: per-step shape}; a named obs key missing from `obs_shapes` is an error too."""
        prefix = f"{where}: " if where else ""
        if action_shape is not None and self.actions:
            _check_width(self.actions, tuple(action_shape), f"{prefix}actions")
        for key, segs in self.obs.items():
            if key not in obs_shapes:
                raise DatasetError(f"{prefix}embodiment names obs key '{key}', which the data does not have "
                                   f"(obs keys: {', '.join(sorted(obs_shapes)) or 'none'})")
            _check_width(segs, tuple(obs_shapes[key]), f"{prefix}obs/{key}")

    def items(self, obs_keys=None, actions: bool = False) -> list[tuple[DataType, str, str, int | None]]:
        """Every named item of the obs keys (all named ones when None, in stored order; else in `obs_keys` order)
        or, with actions=True, of the actions: [(data type, name, array key, column or None), ...]; the key is
        "actions" or an obs key, the column None for image / language items (the whole array). An item named by
        two keys (an obs slice of another key) is listed once, where it comes first."""
        if actions:
            groups = [("actions", self.actions)]
        else:
            keys = list(self.obs) if obs_keys is None else [k for k in obs_keys if k in self.obs]
            groups = [(k, self.obs[k]) for k in keys]
        out, seen = [], set()
        for key, segs in groups:
            col = 0
            for seg in segs:
                for i, name in enumerate(seg.names):
                    if (seg.data_type, name) not in seen:
                        seen.add((seg.data_type, name))
                        out.append((seg.data_type, name, key, None if seg.data_type in ARRAY_ITEM_TYPES else col + i))
                col += len(seg.names)
        return out

    def data_spec(self, obs_keys=None, actions: bool = False) -> RobotDataSpec:
        """{robot: {DataType: names}} of `items(obs_keys, actions)`; empty when they name nothing."""
        spec: dict[DataType, list[str]] = {}
        for dt, name, _, _ in self.items(obs_keys, actions):
            spec.setdefault(dt, []).append(name)
        if not spec:
            return RobotDataSpec()
        return RobotDataSpec({self.robot: {dt: tuple(spec[dt]) for dt in DataType if dt in spec}})

    def locate(self, data_type, obs_keys=None, actions: bool = False) -> list[tuple[str, int | None]]:
        """Where each item of `data_spec(...)[robot][data_type]` lives: [(array key, column or None), ...]."""
        dt = parse_data_type(data_type)
        return [(key, col) for d, _, key, col in self.items(obs_keys, actions) if d == dt]

def _segments(raw, where: str) -> tuple[Segment, ...]:
    if isinstance(raw, (str, Mapping)) or not isinstance(raw, (list, tuple)):
        raise ConfigError(f"{where} must be a list of {{\"data_type\", \"names\"}} segments, got {raw!r:.60}")
    segs = []
    for i, seg in enumerate(raw):
        if isinstance(seg, Segment):
            segs.append(seg)
            continue
        if not isinstance(seg, Mapping) or set(seg) != {"data_type", "names"}:
            raise ConfigError(f"{where}[{i}] must be {{\"data_type\": ..., \"names\": [...]}}, got {seg!r:.60}")
        dt = parse_data_type(seg["data_type"], f"{where}[{i}]")
        segs.append(Segment(dt, _parse_names(seg["names"], f"{where}[{i}] names")))
    items = [(s.data_type, n) for s in segs for n in s.names]  # a joint's position and velocity may share a name
    dup = next((item for i, item in enumerate(items) if item in items[:i]), None)
    if dup is not None:
        raise ConfigError(f"{where} names {dup[0].value} item {dup[1]!r} twice")
    return tuple(segs)


def _segments_to_list(segs: tuple[Segment, ...]) -> list[dict]:
    return [{"data_type": s.data_type.value, "names": list(s.names)} for s in segs]


def _check_width(segs: tuple[Segment, ...], shape: tuple, where: str) -> None:
    if any(s.data_type in ARRAY_ITEM_TYPES for s in segs):
        if len(segs) != 1 or len(segs[0].names) != 1:
            raise DatasetError(f"{where}: an image or language array is one item: give it one segment with "
                               f"one name, got {[list(s.names) for s in segs]}")
        return
    width = sum(len(s.names) for s in segs)
    if len(shape) != 1 or shape[0] != width:
        raise DatasetError(f"{where} has per-step shape {shape} but its embodiment names {width} item(s); "
                           "fix: one name per column")


# --------------------------------------------------------------------------------------------------
# the padded slot layout


class SlotLayout:
    """Fixed-width slots per data type for all robots of a RobotDataSpec, and the masks of the real ones.

    width(dt):              the largest robot's item count (align="order") or the number of distinct names
                            (align="names")
    indices(robot, dt):     (n_items,) int64, the slot of each item the robot lists, in its spec's order
    mask(robot, dt):        (width,) bool, True at the robot's slots
    pad(robot, dt, x):      (..., n_items) -> (..., width), zeros at the other slots
    unpad(robot, dt, x):    (..., width) -> (..., n_items); `unpad_named` -> {item name: (...)}
    Both numpy arrays and torch tensors go through pad / unpad (autograd flows through them).
    """

    def __init__(self, spec: RobotDataSpec, align: str = "order"):
        if align not in ALIGN_MODES:
            raise ConfigError(f"slot layout align must be one of {ALIGN_MODES}, got {align!r}")
        if spec.is_empty:
            raise ConfigError("a slot layout needs a robot data spec with at least one robot")
        self.spec, self.align = spec, align
        self._slot_names: dict[DataType, list[str]] = {}  # align="names": the name of each slot
        self._indices: dict[tuple[str, DataType], np.ndarray] = {}
        self._width: dict[DataType, int] = {}
        for dt in spec.data_types:
            if align == "names":
                names = list(dict.fromkeys(n for r in spec.robots for n in spec.names(r, dt)))
                self._slot_names[dt] = names
                slot = {n: i for i, n in enumerate(names)}
                self._width[dt] = len(names)
            else:
                self._width[dt] = max(len(spec.names(r, dt)) for r in spec.robots)
            for robot in spec.robots:
                items = spec.names(robot, dt)
                idx = [slot[n] for n in items] if align == "names" else list(range(len(items)))
                self._indices[robot, dt] = np.asarray(idx, dtype=np.int64)

    # -- lookup
    @property
    def data_types(self) -> list[DataType]:
        return list(self._width)

    def width(self, data_type) -> int:
        return self._width[self._dt(data_type)]

    def indices(self, robot: str, data_type) -> np.ndarray:
        """(n_items,) int64 slot of each item `robot` lists for `data_type` (empty when it has none)."""
        return self._indices[self._robot(robot), self._dt(data_type)].copy()

    def mask(self, robot: str, data_type) -> np.ndarray:
        """(width,) bool: True at the slots `robot` fills."""
        m = np.zeros(self.width(data_type), dtype=bool)
        m[self.indices(robot, data_type)] = True
        return m

    def slot_labels(self, data_type) -> list[str]:
        """A readable name per slot: the name (align="names"), else "name_a|name_b" of the robots' items there."""
        dt = self._dt(data_type)
        if self.align == "names":
            return list(self._slot_names[dt])
        labels = [[] for _ in range(self._width[dt])]
        for robot in self.spec.robots:
            for name, i in zip(self.spec.names(robot, dt), self._indices[robot, dt], strict=True):
                if name not in labels[i]:
                    labels[i].append(name)
        return ["|".join(parts) for parts in labels]

    # -- moving data in and out of slots
    def pad(self, robot: str, data_type, x, axis: int = -1):
        """(..., n_items, ...) -> (..., width, ...) along `axis`; the robot's items at their slots, 0 elsewhere."""
        dt, idx = self._dt(data_type), self.indices(robot, data_type)
        n = _dim(x, axis)
        if n != len(idx):
            raise ConfigError(f"pad: robot '{robot}' lists {len(idx)} {dt.value} item(s) "
                              f"{list(self.spec.names(robot, dt))} but the array has {n} along axis {axis}")
        x_last = _moveaxis(x, axis, -1)
        out = _zeros_like(x_last, x_last.shape[:-1] + (self._width[dt],))
        out[..., _index(idx, x)] = x_last
        return _moveaxis(out, -1, axis)

    def unpad(self, robot: str, data_type, x, axis: int = -1):
        """(..., width, ...) -> (..., n_items, ...) along `axis`: the robot's items, in its spec's order."""
        dt, idx = self._dt(data_type), self.indices(robot, data_type)
        if _dim(x, axis) != self._width[dt]:
            raise ConfigError(f"unpad: {dt.value} slots are {self._width[dt]} wide but the array has "
                              f"{_dim(x, axis)} along axis {axis}")
        return _moveaxis(_moveaxis(x, axis, -1)[..., _index(idx, x)], -1, axis)

    def unpad_named(self, robot: str, data_type, x, axis: int = -1) -> dict:
        """(..., width, ...) -> {item name: (..., ...)} for the items `robot` lists."""
        items = self.unpad(robot, data_type, x, axis)
        names = self.spec.names(robot, data_type)
        return {name: _take(items, i, axis) for i, name in enumerate(names)}

    def pad_named(self, robot: str, data_type, values: Mapping):
        """{item name: (...)} -> (..., width): reorders named values into the robot's slots. Every item the
        robot lists must be given, and nothing else (one ConfigError line naming the odd ones out)."""
        dt = self._dt(data_type)
        names = self.spec.names(robot, dt)
        extra = [n for n in values if n not in names]
        if extra:
            raise ConfigError(f"robot '{robot}' has no {dt.value} slot for {extra} (its items: {list(names)})")
        missing = [n for n in names if n not in values]
        if missing:
            raise ConfigError(f"robot '{robot}': {dt.value} item(s) {missing} missing (it lists {list(names)})")
        first = values[names[0]]
        if _is_torch(first):
            import torch

            stacked = torch.stack([torch.as_tensor(values[n]) for n in names], dim=-1)
        else:
            stacked = np.stack([np.asarray(values[n]) for n in names], axis=-1)
        return self.pad(robot, dt, stacked)

    # -- statistics
    def gaussian_stats(self, data_type, arrays: Mapping[str, np.ndarray]) -> dict:
        """{"offset": (width,), "scale": (width,)} float32 from {robot: (N_r, n_items)} unpadded data: per slot
        the mean and std (+STD_EPS) over the robots that fill it; empty slots get offset 0 and scale 1."""
        x, mask = self._stack(data_type, arrays)
        return masked_gaussian_stats(x, mask)

    def min_max_stats(self, data_type, arrays: Mapping[str, np.ndarray]) -> dict:
        """As `gaussian_stats`, mapping each slot's [min, max] over real entries to [-1, 1]."""
        x, mask = self._stack(data_type, arrays)
        return masked_min_max_stats(x, mask)

    def _stack(self, data_type, arrays) -> tuple[np.ndarray, np.ndarray]:
        """Pad and concatenate {robot: (N_r, n_items)} -> x (N, width) float64, mask (N, width) bool."""
        if not arrays:
            raise ConfigError("statistics need data of at least one robot")
        xs, masks = [], []
        for robot, arr in arrays.items():
            arr = np.asarray(arr, dtype=np.float64)
            arr = arr.reshape(-1, arr.shape[-1]) if arr.ndim else arr
            xs.append(self.pad(robot, data_type, arr))
            masks.append(np.broadcast_to(self.mask(robot, data_type), xs[-1].shape))
        return np.concatenate(xs), np.concatenate(masks)

    # -- one flat vector of all vector data types (e.g. the action): [slots of dt_0 | slots of dt_1 | ...]
    @property
    def flat_data_types(self) -> list[DataType]:
        """The layout's vector data types (not images / language), in DataType order: the flat vector's parts."""
        return [dt for dt in self._width if dt not in ARRAY_ITEM_TYPES]

    def flat_offsets(self) -> dict[DataType, int]:
        """Start of each flat data type's slots in the flat vector."""
        out, start = {}, 0
        for dt in self.flat_data_types:
            out[dt], start = start, start + self._width[dt]
        return out

    @property
    def flat_width(self) -> int:
        return sum(self._width[dt] for dt in self.flat_data_types)

    def flat_mask(self, robot: str) -> np.ndarray:
        """(flat_width,) bool: True at the slots `robot` fills."""
        return np.concatenate([self.mask(robot, dt) for dt in self.flat_data_types]) if self.flat_data_types \
            else np.zeros(0, dtype=bool)

    def flat_index(self, robot: str, embodiment: Embodiment, obs_keys=None, actions: bool = False,
                   where: str = "") -> list[tuple[str, int, int]]:
        """How a file's arrays fill the flat vector of `robot`: [(array key, source column, flat slot), ...].

        Items are found by name in `embodiment.items(obs_keys, actions)`; one the spec lists but the file does
        not name is a DatasetError (the spec contradicts the file). Items of the file the spec leaves out are
        not used.
        """
        have = {(dt, name): (key, col) for dt, name, key, col in embodiment.items(obs_keys, actions)}
        offsets = self.flat_offsets()
        out = []
        for dt in self.flat_data_types:
            for name, slot in zip(self.spec.names(robot, dt), self.indices(robot, dt), strict=True):
                if (dt, name) not in have:
                    what = "actions" if actions else "obs keys " + ", ".join(obs_keys or embodiment.obs)
                    named = [n for d, n in have if d == dt]
                    close = difflib.get_close_matches(name, named, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    raise DatasetError(f"{where + ': ' if where else ''}the spec lists {dt.value} item {name!r} for "
                                       f"robot '{robot}' but the file's {what} name no such item{hint} "
                                       f"(its {dt.value}: {', '.join(named) or 'none'})")
                key, col = have[dt, name]
                out.append((key, col, offsets[dt] + int(slot)))
        return out

    def flat_unpad_named(self, robot: str, x) -> dict[DataType, dict]:
        """(..., flat_width) -> {data type: {item name: (...)}} for the items `robot` lists (e.g. an action
        mapped back to named joints)."""
        if _dim(x, -1) != self.flat_width:
            raise ConfigError(f"flat_unpad_named: the flat vector is {self.flat_width} wide, got {_dim(x, -1)}")
        out = {}
        for dt, start in self.flat_offsets().items():
            part = x[..., start:start + self._width[dt]]
            if self.spec.names(robot, dt):
                out[dt] = self.unpad_named(robot, dt, part)
        return out

    # -- persistence (checkpoints)
    def to_config(self) -> dict:
        return {"spec": self.spec.to_config(), "align": self.align}

    @classmethod
    def from_config(cls, raw: Mapping) -> SlotLayout:
        return cls(RobotDataSpec.from_config(raw["spec"]), raw.get("align", "order"))

    def __eq__(self, other) -> bool:
        return isinstance(other, SlotLayout) and self.to_config() == other.to_config()

    def __repr__(self) -> str:
        widths = ", ".join(f"{dt.value}={w}" for dt, w in self._width.items())
        return f"SlotLayout(robots={self.spec.robots}, align={self.align!r}, widths: {widths})"

    def _dt(self, data_type) -> DataType:
        dt = parse_data_type(data_type)
        if dt not in self._width:
            raise ConfigError(f"no robot of the spec has {dt.value}: "
                              + _unknown("data type", dt.value, [d.value for d in self._width]))
        return dt

    def _robot(self, robot: str) -> str:
        if robot not in self.spec:
            raise ConfigError(_unknown("robot", robot, self.spec.robots))
        return robot


def layout_for_data(spec, embodiments, obs_keys=None, actions: bool = False, align: str = "order",
                    where: str = "robot data spec") -> SlotLayout:
    """The SlotLayout of a model's inputs (obs_keys) or outputs (actions=True) for data from `embodiments`.

    spec: a RobotDataSpec or its config dict; empty means everything the data names (the union of the files'
    data specs, robots in file order). Otherwise every file's robot must be in the spec and name every item the
    spec lists for it (one DatasetError line when not). Robots of the spec without data are kept (a model can
    be built for a robot it will meet only at inference).
    """
    spec = RobotDataSpec.from_config(spec, where)
    embodiments = [e for e in embodiments if e is not None]
    if spec.is_empty:
        merged: dict[str, dict] = {}
        for emb in embodiments:
            part = emb.data_spec(obs_keys, actions)
            if part.is_empty:
                continue
            if emb.robot in merged and merged[emb.robot] != part[emb.robot]:
                raise DatasetError(f"two files of robot '{emb.robot}' name different items; give {where} "
                                   "explicitly to say which to use")
            merged[emb.robot] = part[emb.robot]
        if not merged:
            what = "actions" if actions else "observations"
            raise DatasetError(f"{where} is empty (everything the data has) but no file names its {what}; fix: "
                               "write names into the datasets (datasets/README.md) or give the spec explicitly")
        spec = RobotDataSpec(merged)
    layout = SlotLayout(spec, align)
    for emb in embodiments:
        if emb.robot not in spec:
            raise DatasetError(f"{where}: a dataset's robot is not in the spec: "
                               + _unknown("robot", emb.robot, spec.robots))
        layout.flat_index(emb.robot, emb, obs_keys, actions, where=where)  # every listed item exists
    return layout


def pooled_stats(paths, layout: SlotLayout, actions: bool = False, kind: str = "gaussian",
                 filter_key: str | None = None) -> dict:
    """Normalisation statistics over the real entries of several datasets (robots) padded to `layout`.

    actions=True: {"offset", "scale"} of the flat action vector (flat_width,), as
    `SequenceDataset(action_layout=layout, action_normalization_stats=...)` takes them; else {padded obs key
    (a data type's value): {"offset", "scale"} (width,)} for `obs_normalization_stats`. kind: "gaussian" or
    "min_max". Each slot's statistics come from the robots that fill it; an empty slot gets offset 0, scale 1.
    """
    from robokit.data import hdf5_format as fmt  # hdf5_format imports this module

    if kind not in ("gaussian", "min_max"):
        raise ConfigError(f"pooled_stats: kind must be 'gaussian' or 'min_max', got {kind!r}")
    xs, masks = [], []
    for path in paths:
        embodiments = fmt.read_embodiments(path)
        if not embodiments:
            raise DatasetError(f"{path}: the file does not name its items (no data.attrs['{fmt.EMBODIMENT_ATTR}'])")
        with fmt.open_file(path) as f:
            demos = fmt.list_demos(f, filter_key)
            plans = {}
            for demo, robot in zip(demos, fmt.demo_robots(f, demos)):
                if robot not in plans:
                    if robot not in layout.spec:
                        raise DatasetError(f"{path}: " + _unknown("robot", robot, layout.spec.robots))
                    index = layout.flat_index(robot, embodiments[robot], actions=actions, where=str(path))
                    plans[robot] = (index, sorted({key for key, _, _ in index}), layout.flat_mask(robot))
                index, keys, mask = plans[robot]
                episode = fmt.read_episode(f, demo, [] if actions else keys, ["actions"] if actions else [])
                arrays = {"actions": episode["actions"]} if actions else episode["obs"]
                steps = fmt.demo_length(f, demo)
                out = np.zeros((steps, layout.flat_width))  # (T, W)
                for key, col, slot in index:
                    out[:, slot] = arrays[key][:, col]
                xs.append(out)
                masks.append(np.broadcast_to(mask, out.shape))
    if not xs:
        raise DatasetError("pooled_stats: the datasets hold no steps")
    fn = masked_gaussian_stats if kind == "gaussian" else masked_min_max_stats
    stats = fn(np.concatenate(xs), np.concatenate(masks))
    if actions:
        return stats
    return {dt.value: {k: v[start:start + layout.width(dt)].copy() for k, v in stats.items()}
            for dt, start in layout.flat_offsets().items()}


# --------------------------------------------------------------------------------------------------
# a training run's layouts, and feeding one robot to a trained model by names


def training_layouts(input_spec, output_spec, paths, where: str = "train") -> tuple:
    """(input layout | None, output layout | None) of a run's robot data specs over the datasets `paths`.

    Both specs empty: (None, None), robomimic's observation keys and actions as they are. Otherwise an empty
    input spec means the plain observation keys (no input layout), and an empty output spec the whole action:
    a layout of every named action item when the files name them (needed for several robots), else None.
    A spec that lists a robot or item the files lack, or files of a robot the spec lacks: one DatasetError line.
    """
    from robokit.data import hdf5_format as fmt  # hdf5_format imports this module

    input_spec = RobotDataSpec.from_config(input_spec, f"{where}.input_robot_data_spec")
    output_spec = RobotDataSpec.from_config(output_spec, f"{where}.output_robot_data_spec")
    embodiments = [e for path in paths for e in fmt.read_embodiments(path).values()]
    several = len({e.robot for e in embodiments}) > 1
    if input_spec.is_empty and output_spec.is_empty and not several:
        return None, None
    input_layout = None
    if not input_spec.is_empty:
        input_layout = layout_for_data(input_spec, embodiments, where=f"{where}.input_robot_data_spec")
    output_layout = None
    if not output_spec.is_empty or several or all(e.actions for e in embodiments) and embodiments:
        output_layout = layout_for_data(output_spec, embodiments, actions=True, where=f"{where}.output_robot_data_spec")
    return input_layout, output_layout


CAMERA_TYPES = (DataType.RGB_IMAGES, DataType.DEPTH_IMAGES)


def camera_keys(embodiments, obs_keys) -> dict[DataType, list[str]]:
    """{camera data type: [obs key, ...]}: the keys of `obs_keys` (in that order) that some embodiment names as one
    camera of that type: the model's camera slots."""
    out: dict[DataType, list[str]] = {}
    for key in obs_keys:
        kinds = {seg.data_type for emb in embodiments if emb is not None for seg in emb.obs.get(key, ())
                 if seg.data_type in CAMERA_TYPES}
        if len(kinds) == 1:
            out.setdefault(kinds.pop(), []).append(key)
    return out


def names_camera(embodiment, key: str, data_type) -> bool:
    """Whether `embodiment` (None: a file without names) names obs `key` as a camera of `data_type`."""
    segs = embodiment.obs.get(key, ()) if embodiment is not None else ()
    return any(seg.data_type == data_type for seg in segs)


class CameraSlots:
    """The camera inputs of a run on several robots: one named slot per camera obs key of the model.

    keys:    {camera data type: (obs key, ...)}, the slots in the config's order (`camera_keys`)
    specs:   {obs key: (per-step shape (H, W, C), dtype)}, the same for every robot that has the camera
    A robot has a slot's camera when its embodiment names the key as a camera of that type; a robot without it
    gets a zero image there, False in OBS_MASK[data type] (B, n_slots) and 0 in the obs key "<data type>_mask"
    (n_slots,) float, which a model can read as an input. Images are not normalised, so no statistic sees them.
    """

    def __init__(self, keys: Mapping, specs: Mapping):
        self.keys = {parse_data_type(dt): tuple(ks) for dt, ks in keys.items() if ks}
        self.specs = {k: (tuple(shape), np.dtype(dtype)) for k, (shape, dtype) in specs.items()}

    @classmethod
    def for_data(cls, paths, obs_keys) -> CameraSlots | None:
        """The camera slots of `obs_keys` over the datasets `paths` (None when no file names a camera among them);
        a camera key with different shapes in two files is one DatasetError line."""
        from robokit.data import hdf5_format as fmt  # hdf5_format imports this module

        keys: dict[DataType, list[str]] = {}
        specs, seen = {}, {}
        for path in paths:
            embodiments = fmt.read_embodiments(path)
            found = camera_keys(embodiments.values(), obs_keys)
            for dt, ks in found.items():
                keys.setdefault(dt, [])
                keys[dt] += [k for k in ks if k not in keys[dt]]
            demos = fmt.list_demos(path)
            first = dict(zip(reversed(fmt.demo_robots(path, demos)), reversed(demos)))  # robot -> its first demo
            for robot, demo in first.items():
                named = [k for dt, ks in found.items() for k in ks if names_camera(embodiments.get(robot), k, dt)]
                for key, spec in fmt.obs_specs(path, named, demo=demo).items():
                    if key in specs and specs[key][0] != spec[0]:
                        raise DatasetError(f"camera obs '{key}' has shape {specs[key][0]} in {seen[key]} but "
                                           f"{spec[0]} in {path}; fix: record every robot's camera at one size "
                                           "(generate_dataset.py --camera-size)")
                    specs.setdefault(key, spec)
                    seen.setdefault(key, path)
        order = {k: i for i, k in enumerate(obs_keys)}
        keys = {dt: sorted(ks, key=order.__getitem__) for dt, ks in keys.items()}
        return cls(keys, specs) if keys else None

    def data_type(self, key: str) -> DataType | None:
        """The camera data type of slot `key`, or None when it is not a camera slot."""
        return next((dt for dt, ks in self.keys.items() if key in ks), None)

    def mask(self, embodiment, data_type) -> np.ndarray:
        """(n_slots,) bool: True at the slots of `data_type` whose camera `embodiment` has."""
        dt = parse_data_type(data_type)
        return np.array([names_camera(embodiment, k, dt) for k in self.keys[dt]], dtype=bool)

    def lacking(self, embodiment) -> list[str]:
        """The camera slot keys that `embodiment` has no camera for (zero images)."""
        return [k for dt, ks in self.keys.items() for k in ks if not names_camera(embodiment, k, dt)]

    def __repr__(self) -> str:
        return f"CameraSlots({ {dt.value: list(ks) for dt, ks in self.keys.items()} })"


class RobotData:
    """What a checkpoint knows about the robots a model was trained on (`ckpt["robot_data"]`, plain data):

    input_layout / output_layout   the SlotLayouts of the inputs / outputs (None: plain keys / plain actions)
    embodiments                    {robot: Embodiment}: where each robot's named items live in its arrays
    env_args                       {robot: env_args}: the environment each robot was recorded in
    camera_slots                   {data type: [model obs key, ...]}: the model's image inputs, in order, per
                                   camera data type (rgb_images, depth_images): camera slots a new robot fills
                                   by camera name
    Normalisation statistics stay where every checkpoint has them (padded keys' and the flat action's, over
    real entries only).
    """

    def __init__(self, input_layout=None, output_layout=None, embodiments=None, env_args=None, camera_slots=None):
        self.input_layout, self.output_layout = input_layout, output_layout
        self.embodiments: dict[str, Embodiment] = dict(embodiments or {})
        self.env_args: dict[str, dict] = dict(env_args or {})
        self.camera_slots: dict[DataType, list[str]] = {parse_data_type(k): list(v)
                                                        for k, v in (camera_slots or {}).items()}

    @classmethod
    def for_training(cls, input_layout, output_layout, paths, obs_keys) -> RobotData:
        """The record of a run on the datasets `paths` whose model reads `obs_keys`."""
        from robokit.data import hdf5_format as fmt

        embodiments, env_args = {}, {}
        for path in paths:
            for robot, emb in fmt.read_embodiments(path).items():
                embodiments.setdefault(robot, emb)
            for robot, args in fmt.read_robot_env_args(path).items():
                env_args.setdefault(robot, args)
        return cls(input_layout, output_layout, embodiments, env_args, camera_keys(embodiments.values(), obs_keys))

    @property
    def robots(self) -> list[str]:
        """The robots of the training data (and of the specs), in order."""
        spec_robots = [r for lay in (self.input_layout, self.output_layout) if lay is not None for r in lay.spec.robots]
        return list(dict.fromkeys(list(self.embodiments) + spec_robots))

    def robot_for_env(self, env_name: str | None, default: str | None = None) -> str:
        """The robot recorded in the environment `env_name` (the first such); else `default`, else the only
        robot; several robots and none of them recorded there is one ConfigError line."""
        for robot, args in self.env_args.items():
            if env_name is not None and args.get("env_name") == env_name:
                return robot
        if default is not None:
            return default
        if len(self.robots) == 1:
            return self.robots[0]
        recorded = ", ".join(f"{r} in {a.get('env_name')}" for r, a in self.env_args.items()) or "no environments"
        raise ConfigError(f"no robot of the training data was recorded in {env_name!r} ({recorded}); fix: evaluate "
                          "in one of those environments, or name the robot")

    def to_config(self) -> dict:
        return {"input_layout": None if self.input_layout is None else self.input_layout.to_config(),
                "output_layout": None if self.output_layout is None else self.output_layout.to_config(),
                "embodiments": {r: e.to_dict() for r, e in self.embodiments.items()},
                "env_args": dict(self.env_args),
                "camera_slots": {dt.value: list(keys) for dt, keys in self.camera_slots.items()}}

    @classmethod
    def from_config(cls, raw: Mapping) -> RobotData:
        layout = lambda c: None if c is None else SlotLayout.from_config(c)  # noqa: E731
        return cls(layout(raw.get("input_layout")), layout(raw.get("output_layout")),
                   {r: Embodiment.from_dict(e) for r, e in (raw.get("embodiments") or {}).items()},
                   raw.get("env_args") or {}, raw.get("camera_slots") or {})

    def adapter(self, model_obs_shapes: Mapping[str, tuple], robot: str | None = None, spec=None,
                embodiment=None) -> RobotAdapter:
        """The RobotAdapter of a robot of the training data (`robot`), or of a new one (`spec` and/or
        `embodiment`; see RobotAdapter). A robot the data lacks with neither is one ConfigError line."""
        if embodiment is not None and not isinstance(embodiment, Embodiment):
            embodiment = Embodiment.from_dict(embodiment, "embodiment")
        if robot is None:
            robot = embodiment.robot if embodiment is not None else None
        if robot is None and spec is None:
            if len(self.robots) != 1:
                raise ConfigError(f"the model was trained on several robots ({', '.join(self.robots)}): name one "
                                  "(robot=...), or give a new robot's robot_spec=... and embodiment=...")
            robot = self.robots[0]
        known = robot in self.embodiments
        if embodiment is None and not known:
            if spec is None:
                raise ConfigError(_unknown("robot", robot, self.robots) + "; for a robot the model was not trained "
                                  "on, give its robot_spec={data type: [names]} and embodiment=...")
            raise ConfigError(f"robot {robot or 'new robot'!r} is not one the model was trained on "
                              f"({', '.join(self.robots)}): its observations are read by name, so give its embodiment "
                              "too (embodiment=..., e.g. robokit.envs.embodiments.embodiment_for_env)")
        embodiment = embodiment if embodiment is not None else self.embodiments[robot]
        return RobotAdapter(robot or embodiment.robot, embodiment, model_obs_shapes, self, spec)


class RobotAdapter:
    """One robot fed to a trained model by names: its observation (the obs dict of its environment) becomes the
    model's padded inputs and the model's padded output becomes the robot's own action.

    robot, embodiment: the robot and where its named items live (obs keys and columns, action columns).
    spec: which items feed which slots, in slot order: {data type: [names]} for inputs and outputs together
    (each data type goes where the model has slots of it), or {"input": {...}, "output": {...}}; None: a robot
    of the training data uses its training spec, a new robot every item its embodiment names. A data type
    the model has no slot for, more items than slots (e.g. cameras: choose by name) or a name the robot lacks
    is one ConfigError line. Action items of the robot that no output slot feeds are 0 (a joint held still).
    """

    def __init__(self, robot: str, embodiment: Embodiment, model_obs_shapes: Mapping[str, tuple],
                 record: RobotData, spec=None):
        self.robot, self.embodiment, self.record = robot, embodiment, record
        #: the model's inputs this adapter makes (not the instruction, obs key "lang": RolloutPolicy's lang=)
        self.model_obs_shapes = {k: tuple(v) for k, v in model_obs_shapes.items() if k != K.LANG}
        inputs, outputs = self._split_spec(spec)
        lay_in, lay_out = record.input_layout, record.output_layout
        trained = robot in record.embodiments
        # -- inputs
        self._gather: dict[str, list[tuple[str, int, int]]] = {}  # padded key -> [(robot's key, column, slot)]
        self.obs_masks: dict[str, np.ndarray] = {}  # padded key (a camera data type: its slots) -> (W,) bool
        self._constant: dict[str, np.ndarray] = {}  # mask keys -> (W,) float32
        self._cameras: dict[str, str | None] = {}  # model camera key -> the robot's obs key (None: no camera)
        self.input_items: dict[DataType, tuple[str, ...]] = {}
        if lay_in is not None and lay_in.align == "names":
            raise ConfigError("feeding a robot by names to a model with align='names' slots is not supported yet")
        offered = ({dt: lay_in.width(dt) for dt in lay_in.flat_data_types} if lay_in is not None else {})
        offered.update({dt: len(keys) for dt, keys in record.camera_slots.items()})
        if lay_in is not None and DataType.LANGUAGE in lay_in.data_types:
            offered[DataType.LANGUAGE] = 1  # the instruction (RolloutPolicy's lang=), masked for robots without one
        for dt, names in inputs.items():
            if dt not in offered:
                raise ConfigError(f"robot '{robot}': the model has no input slot for {dt.value} "
                                  f"{list(names)} (its input slots: "
                                  f"{', '.join(f'{d.value} x{w}' for d, w in offered.items()) or 'none'})")
        for dt, width in offered.items():
            if dt is DataType.LANGUAGE:  # real when the robot's spec (the training one, else `spec`) lists language
                names = inputs[dt] if dt in inputs else (lay_in.spec.names(robot, dt) if robot in lay_in.spec else ())
                if len(names) > 1:
                    raise ConfigError(f"robot '{robot}' lists {len(names)} language items {list(names)}; a robot "
                                      "reads one instruction: list one name")
                self.input_items[dt] = tuple(names)
                self.obs_masks[dt.value] = np.array([bool(names)])
                continue
            if dt in record.camera_slots and trained and dt not in inputs:  # as in training: each camera slot is
                keys = record.camera_slots[dt]  # the robot's camera of that obs key, or black
                sources = [k if names_camera(embodiment, k, dt) else None for k in keys]
                self.input_items[dt] = tuple(embodiment.obs[k][0].names[0] for k in sources if k is not None)
                self._cameras.update(zip(keys, sources))
                self.obs_masks[dt.value] = np.array([k is not None for k in sources], dtype=bool)
                continue
            if dt in inputs:
                names = inputs[dt]
            elif trained and lay_in is not None and dt in lay_in.spec[robot] and spec is None:
                names = lay_in.spec.names(robot, dt)
            else:  # every item of the robot of this type (a training robot's cameras, a new robot's items)
                names = tuple(n for d, n, _, _ in embodiment.items() if d == dt)
            self._check_count(dt, names, width, "input")
            self.input_items[dt] = names
            where = self._locate(dt, names, embodiment.items())
            if dt in record.camera_slots:
                keys = record.camera_slots[dt]
                self._cameras.update({k: (where[i][0] if i < len(where) else None) for i, k in enumerate(keys)})
                self.obs_masks[dt.value] = np.arange(len(keys)) < len(where)
                continue
            self._gather[dt.value] = [(key, col, i) for i, (key, col) in enumerate(where)]
            mask = np.zeros(width, dtype=bool)
            mask[: len(names)] = True
            self.obs_masks[dt.value] = mask
        self._constant = {mask_key(k): m.astype(np.float32) for k, m in self.obs_masks.items()}
        # -- outputs
        self.output_items: dict[DataType, tuple[str, ...]] = {}
        self._scatter: list[tuple[int, int | None]] = []  # per robot action column: (column, flat slot or None)
        self.action_mask = None
        if lay_out is not None:
            offsets = lay_out.flat_offsets()
            for dt, names in outputs.items():
                if dt not in offsets:
                    raise ConfigError(f"robot '{robot}': the model has no output slot for {dt.value} {list(names)} "
                                      f"(its output slots: {', '.join(f'{d.value} x{lay_out.width(d)}' for d in offsets)})")
            slot_of = {}
            for dt, start in offsets.items():
                if dt in outputs:
                    names = outputs[dt]
                elif trained and dt in lay_out.spec[robot] and spec is None:
                    names = lay_out.spec.names(robot, dt)
                else:
                    names = tuple(n for d, n, _, _ in embodiment.items(actions=True) if d == dt)
                self._check_count(dt, names, lay_out.width(dt), "output")
                self.output_items[dt] = names
                slot_of.update({(dt, n): start + i for i, n in enumerate(names)})
            if embodiment.actions:
                self._locate_actions(slot_of)
                self._scatter = [(col, slot_of.get((dt, name))) for dt, name, _, col in embodiment.items(actions=True)]
            else:  # no names of the robot's action columns: the action is the output items, in spec order
                self._scatter = [(i, slot) for i, slot in enumerate(slot_of.values())]
            self.action_mask = np.zeros(lay_out.flat_width, dtype=bool)
            self.action_mask[list(slot_of.values())] = True
        self.action_dim = len(self._scatter) if lay_out is not None else None

    # -- construction helpers
    def _split_spec(self, spec) -> tuple[dict, dict]:
        """{data type: names} for the inputs and for the outputs."""
        if spec is None:
            return {}, {}
        if isinstance(spec, Mapping) and set(spec) and set(spec) <= {"input", "output"}:
            parts = [parse_data_spec(spec[k], f"robot_spec['{k}']") if k in spec else {} for k in ("input", "output")]
            return parts[0], parts[1]
        if isinstance(spec, Mapping) and len(spec) == 1 and next(iter(spec)) not in _VALUES:
            name, inner = next(iter(spec.items()))  # {robot: {data type: names}}
            if name != self.robot:
                raise ConfigError(f"robot_spec names robot {name!r} but the adapter is for {self.robot!r}")
            spec = inner
        parsed = parse_data_spec(spec, "robot_spec")
        lay_in, lay_out = self.record.input_layout, self.record.output_layout
        in_types = set(self.record.camera_slots) | set(lay_in.flat_data_types if lay_in is not None else ())
        out_types = set(lay_out.flat_data_types if lay_out is not None else ())
        inputs = {dt: n for dt, n in parsed.items() if dt in in_types or dt not in out_types}
        outputs = {dt: n for dt, n in parsed.items() if dt in out_types}
        return inputs, outputs

    def _check_count(self, dt: DataType, names, width: int, which: str) -> None:
        if len(names) > width:
            kind = "cameras" if dt in ARRAY_ITEM_TYPES else "items"
            raise ConfigError(f"robot '{self.robot}' has {len(names)} {dt.value} {kind} ({', '.join(names)}) but the "
                              f"model has {width} {which} slot(s) for them; choose {width} by name: "
                              f"robot_spec={{'{dt.value}': [...]}}")

    def _locate(self, dt: DataType, names, items) -> list[tuple[str, int | None]]:
        have = {(d, n): (key, col) for d, n, key, col in items}
        out = []
        for name in names:
            if (dt, name) not in have:
                named = [n for d, n in have if d == dt]
                close = difflib.get_close_matches(name, named, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"robot '{self.robot}' has no {dt.value} item {name!r}{hint} "
                                  f"(its {dt.value}: {', '.join(named) or 'none'})")
            out.append(have[dt, name])
        return out

    def _locate_actions(self, slot_of: dict) -> None:
        have = {(d, n) for d, n, _, _ in self.embodiment.items(actions=True)}
        for dt, name in slot_of:
            if (dt, name) not in have:
                self._locate(dt, [name], self.embodiment.items(actions=True))

    # -- use
    @property
    def reads_language(self) -> bool:
        """False when the model has a language slot (a spec that lists language) that this robot's spec leaves out:
        its instruction input is then zero, as in training."""
        mask = self.obs_masks.get(DataType.LANGUAGE.value)
        return mask is None or bool(mask[0])

    @property
    def obs_keys(self) -> list[str]:
        """The robot's obs keys that the model reads (directly or by name)."""
        keys = [k for entries in self._gather.values() for k, _, _ in entries]
        keys += [k for k in self._cameras.values() if k is not None]
        keys += [k for k in self.model_obs_shapes if k not in self._gather and k not in self._constant
                 and k not in self._cameras]
        return list(dict.fromkeys(keys))

    def obs(self, ob: Mapping) -> dict:
        """The robot's obs dict {key: (..., D) or (..., H, W, C)} -> the model's {key: (..., *shape)}, single or
        batched: named items reordered into their slots, zeros (and mask False) elsewhere."""
        missing = [k for k in self.obs_keys if k not in ob]
        if missing:
            raise KeyError(f"robot '{self.robot}': the observation lacks key(s) {missing} (it has {sorted(ob)})")
        lead = self._lead_shape(ob)
        out = {}
        for key, shape in self.model_obs_shapes.items():
            if key in self._gather:
                x = np.zeros(lead + shape, dtype=np.float32)
                for src, col, slot in self._gather[key]:
                    x[..., slot] = np.asarray(ob[src])[..., col]
            elif key in self._constant:
                x = np.broadcast_to(self._constant[key], lead + shape).copy()
            elif key in self._cameras:  # a camera slot the robot has no camera for: a black image
                src = self._cameras[key]
                x = np.asarray(ob[src]) if src is not None else np.zeros(lead + shape, dtype=np.uint8)
            else:
                x = ob[key]
            out[key] = x
        return out

    def _lead_shape(self, ob: Mapping) -> tuple:
        """The batch dims of an observation: () for one, (N,) for N."""
        for entries in self._gather.values():
            for src, _, _ in entries:
                return tuple(np.shape(ob[src]))[:-1]
        for key, shape in self.model_obs_shapes.items():
            src = self._cameras.get(key, key) if key not in self._constant else None
            if src is not None and src in ob:
                return tuple(np.shape(ob[src]))[: np.ndim(ob[src]) - len(shape)]
        return ()

    def action(self, flat) -> np.ndarray:
        """The model's (..., flat width) action (unnormalised) -> the robot's (..., action dim)."""
        flat = np.asarray(flat)
        out = np.zeros(flat.shape[:-1] + (len(self._scatter),), dtype=flat.dtype)
        for col, slot in self._scatter:
            if slot is not None:
                out[..., col] = flat[..., slot]
        return out

    def describe(self) -> str:
        """One line per data type: which of the robot's items feed which slots."""
        lines = [f"robot '{self.robot}':"]
        for dt, names in self.input_items.items():
            lines.append(f"  input {dt.value}: {', '.join(names) or '(none)'}")
        for dt, names in self.output_items.items():
            lines.append(f"  output {dt.value}: {', '.join(names) or '(none)'}")
        unused = [name for col, slot in self._scatter if slot is None
                  for d, name, _, c in self.embodiment.items(actions=True) if c == col]
        if unused:
            lines.append(f"  held at 0 (no output slot): {', '.join(unused)}")
        return "\n".join(lines)


def masked_gaussian_stats(x, mask) -> dict:
    """Per-slot mean and population std (+STD_EPS) of x (N, W) over the entries where mask (N, W) or (W,) is
    True -> {"offset": (W,), "scale": (W,)} float32; a slot with no real entry gets offset 0, scale 1."""
    x, mask = _stats_inputs(x, mask)
    count = mask.sum(axis=0)  # (W,)
    safe = np.maximum(count, 1)
    mean = np.where(mask, x, 0.0).sum(axis=0) / safe
    var = np.where(mask, (x - mean) ** 2, 0.0).sum(axis=0) / safe
    empty = count == 0
    return {"offset": np.where(empty, 0.0, mean).astype(np.float32),
            "scale": np.where(empty, 1.0, np.sqrt(var) + STD_EPS).astype(np.float32)}


def masked_min_max_stats(x, mask, eps: float = 1e-6) -> dict:
    """Per-slot stats mapping [min, max] over real entries to [-1, 1]; constant slots get scale 1 (-> 0 at
    their value), empty slots offset 0 and scale 1."""
    x, mask = _stats_inputs(x, mask)
    empty = ~mask.any(axis=0)
    lo = np.where(mask, x, np.inf).min(axis=0)
    hi = np.where(mask, x, -np.inf).max(axis=0)
    lo, hi = np.where(empty, 0.0, lo), np.where(empty, 0.0, hi)
    half = (hi - lo) / 2.0
    constant = half < eps
    return {"offset": np.where(constant, lo, (hi + lo) / 2.0).astype(np.float32),
            "scale": np.where(constant, 1.0, half).astype(np.float32)}


def _stats_inputs(x, mask) -> tuple[np.ndarray, np.ndarray]:
    x = x.detach().cpu().numpy() if _is_torch(x) else np.asarray(x)
    mask = mask.detach().cpu().numpy() if _is_torch(mask) else np.asarray(mask)
    x = x.astype(np.float64).reshape(-1, x.shape[-1])
    mask = np.broadcast_to(mask.astype(bool), x.shape) if mask.ndim == 1 else mask.astype(bool).reshape(x.shape)
    return x, mask


def normalize_padded(x, stats: dict, mask):
    """(x - offset) / scale at real slots, exactly 0 at padded ones. x (..., W), mask broadcastable to x."""
    return _where_mask(mask, (x - _as(x, stats["offset"])) / _as(x, stats["scale"]), x)


def unnormalize_padded(x, stats: dict, mask):
    """x * scale + offset at real slots, exactly 0 at padded ones."""
    return _where_mask(mask, x * _as(x, stats["scale"]) + _as(x, stats["offset"]), x)


# --------------------------------------------------------------------------------------------------
# numpy / torch helpers


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _dim(x, axis: int) -> int:
    return int(x.shape[axis])


def _moveaxis(x, src: int, dst: int):
    if _is_torch(x):
        return x.movedim(src, dst)
    return np.moveaxis(x, src, dst)


def _zeros_like(x, shape):
    if _is_torch(x):
        return x.new_zeros(shape)
    return np.zeros(shape, dtype=x.dtype)


def _index(idx: np.ndarray, like):
    if _is_torch(like):
        import torch

        return torch.as_tensor(idx, device=like.device)
    return idx


def _take(x, i: int, axis: int):
    if _is_torch(x):
        return x.select(axis, i)
    return np.take(x, i, axis=axis)


def _as(x, value):
    if _is_torch(x):
        import torch

        return torch.as_tensor(value, dtype=x.dtype, device=x.device)
    return np.asarray(value, dtype=x.dtype)


def _where_mask(mask, values, like):
    if _is_torch(like):
        import torch

        mask = torch.as_tensor(mask, device=like.device, dtype=torch.bool)
        return torch.where(mask, values, torch.zeros((), dtype=values.dtype, device=values.device))
    return np.where(np.asarray(mask, dtype=bool), values, np.zeros((), dtype=values.dtype))
