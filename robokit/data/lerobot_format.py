"""LeRobot dataset folders <-> robokit's HDF5 layout (robomimic's, see hdf5_format).

A LeRobot folder of format v3.0 (read and written):

    meta/info.json            codebase_version "v3.0", fps, robot_type, features {key: {dtype, shape, names}},
                              data_path / video_path templates, totals, splits
    meta/tasks.parquet        one row per task: task (str) and task_index
    meta/episodes/chunk-*/file-*.parquet   one row per episode: episode_index, tasks, length,
                              dataset_from_index / dataset_to_index (frame indices), data/chunk_index,
                              data/file_index, videos/<key>/{chunk_index, file_index, from_timestamp, to_timestamp}
    meta/stats.json           {feature: {min, max, mean, std, count}}
    data/chunk-*/file-*.parquet            one row per frame: index, episode_index, frame_index, timestamp,
                              task_index and one column per feature (vectors as lists)
    videos/<key>/chunk-*/file-*.mp4        the frames of consecutive episodes in one video

Format v2.1 / v2.0 (read only): meta/episodes.jsonl and meta/tasks.jsonl, one parquet file and one video per
episode (data/chunk-000/episode_000000.parquet, videos/chunk-000/<key>/episode_000000.mp4).

LeRobot -> robokit, per feature (the map is stored, data.attrs["lerobot"], so the way back restores the keys):

    action                    -> actions (T, A)
    next.reward / next.done   -> rewards (T,) / dones (T,)   (absent: rewards 0, dones 1 on the last step only)
    observation.images.<cam>  -> obs/<cam>_image (T, H, W, 3) uint8 (decoded video, or a PNG "image" feature)
    observation.<x>           -> obs/<x> ("." -> "_"), e.g. observation.state -> obs/state; other numeric
                                 features likewise (next.success -> obs/next_success); string features are skipped
    features' names           -> data.attrs robokit_embodiment (robot = robot_type; data type "custom", cameras
                                 "rgb_images"), the same attribute scripts/generate_dataset.py writes
    an episode's task(s)      -> the demo's attrs["lang"] (several tasks joined by "; "); episode_index ->
                                 attrs["lerobot_episode_index"]
    fps, robot_type, version  -> data.attrs["fps"] and data.attrs["lerobot"] (JSON: also features and key map)

robokit -> LeRobot v3.0 writes the reverse (actions -> action, obs/<k> -> observation.<k>, an image key
obs/<cam>_image -> observation.images.<cam>, next_obs/<k> -> next.observation.<k>, states -> sim_state, dones ->
next.done, rewards -> next.reward, lang -> the episode's task) and keeps what LeRobot has no place for (env_args,
the names' data types, masks, the demos' other attributes, the exact key map) in info.json["robokit"] and an
episodes column "robokit_attrs", so that robokit -> LeRobot -> robokit gives back every array: low-dim arrays
exactly, (H, W, 3) images exactly with images="png" (PNG in the parquet, LeRobot's "image" dtype) or within the
codec's error with images="video" (AV1 by default, as LeRobot encodes). (H, W, 1) images are always PNG.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from robokit.data import hdf5_format
from robokit.data.embodiment import DataType, Embodiment
from robokit.errors import ConfigError, DatasetError
from robokit.utils.partial_files import partial_path

READ_VERSIONS = ("v3.0", "v2.1", "v2.0")
WRITE_VERSION = "v3.0"
#: frame bookkeeping columns of every LeRobot data file
BOOKKEEPING = ("timestamp", "frame_index", "episode_index", "index", "task_index")
LEROBOT_ATTR = "lerobot"  # data.attrs: JSON {codebase_version, fps, robot_type, features, keys {lerobot key: path}}
FPS_ATTR = "fps"
ROBOKIT_INFO = "robokit"  # info.json: {"keys", "env_args", "embodiment", "masks"}
ROBOKIT_ATTRS_COLUMN = "robokit_attrs"  # episodes parquet: JSON of each demo's attributes
DEFAULT_FPS = 20.0  # robomimic's control rate, for robokit files that do not say theirs
_FIX_REEXPORT = "re-export the folder with LeRobot (LeRobotDataset ... finalize()) or repair that file"
_IMAGE_SUFFIX = "_image"


def _need_pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise DatasetError("LeRobot datasets need pyarrow, which is not installed; fix: "
                           "pip install 'robokit[lerobot]' (or pip install 'pyarrow>=14')") from None
    return pyarrow, pyarrow.parquet


# --------------------------------------------------------------------------------------------------
# key names


def lerobot_to_robokit_key(key: str) -> str:
    """The robokit array path of a LeRobot feature without a stored map ("observation.state" -> "obs/state")."""
    if key == "action":
        return "actions"
    if key == "next.reward":
        return "rewards"
    if key == "next.done":
        return "dones"
    if key.startswith("next.observation."):
        return "next_obs/" + lerobot_to_robokit_key(key[len("next."):]).removeprefix("obs/")
    if key.startswith("observation.images."):
        return "obs/" + key[len("observation.images."):].replace(".", "_") + _IMAGE_SUFFIX
    return "obs/" + key.removeprefix("observation.").replace(".", "_")


def robokit_to_lerobot_key(path: str, is_image: bool) -> str:
    """The LeRobot feature of a robokit array path ("obs/state" -> "observation.state")."""
    fixed = {"actions": "action", "rewards": "next.reward", "dones": "next.done", "states": "sim_state"}
    if path in fixed:
        return fixed[path]
    sub, _, key = path.partition("/")
    if is_image and key.endswith(_IMAGE_SUFFIX) and len(key) > len(_IMAGE_SUFFIX):
        name = "observation.images." + key[: -len(_IMAGE_SUFFIX)]
    elif is_image:
        name = "observation.images." + key
    else:
        name = "observation." + key
    return ("next." + name) if sub == "next_obs" else name


# --------------------------------------------------------------------------------------------------
# reading a LeRobot folder


@dataclass
class LeRobotEpisode:
    """One episode of a LeRobot folder: where its frames and video frames are."""

    index: int
    length: int
    tasks: list[str]
    data_file: Path
    videos: dict[str, tuple[Path, float]] = field(default_factory=dict)  # key -> (mp4, from_timestamp)
    attrs: dict | None = None  # robokit's demo attributes (written by robokit_to_lerobot)


@dataclass
class LeRobotFolder:
    """The metadata of a LeRobot dataset folder, checked: `read_lerobot_meta(root)`."""

    root: Path
    info: dict
    version: str
    fps: float
    features: dict
    tasks: dict[int, str]
    episodes: list[LeRobotEpisode]

    @property
    def video_keys(self) -> list[str]:
        return [k for k, ft in self.features.items() if ft.get("dtype") == "video"]

    def array_keys(self) -> list[str]:
        """Features that become robokit arrays: numeric ones, images and videos (not bookkeeping or strings)."""
        return [k for k, ft in self.features.items()
                if k not in BOOKKEEPING and ft.get("dtype") not in ("string", None)]


def _problem(where, message: str, fix: str) -> DatasetError:
    return DatasetError(f"{where}: {message}; fix: {fix}")


def _read_json(path: Path, root: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            out = json.load(f)
    except json.JSONDecodeError as exc:
        raise _problem(path, f"is not valid JSON ({exc})", _FIX_REEXPORT) from None
    if not isinstance(out, dict):
        raise _problem(path, "is JSON but not an object", _FIX_REEXPORT)
    return out


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise _problem(path, "is missing (a LeRobot v2 folder lists its episodes and tasks there)", _FIX_REEXPORT)
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise _problem(f"{path}:{n}", f"is not valid JSON ({exc})", _FIX_REEXPORT) from None
    return rows


def read_lerobot_meta(root) -> LeRobotFolder:
    """Read and check the metadata of a LeRobot folder (v3.0, v2.1, v2.0); every problem is one DatasetError
    line naming the file and the fix. Data files are opened later, by `read_lerobot_episode`."""
    root = Path(root)
    if not root.is_dir():
        raise _problem(root, "no such folder", "pass the LeRobot dataset's root folder (holding meta/ and data/)")
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        raise _problem(root, "has no meta/info.json, so it is not a LeRobot dataset folder",
                       "pass the dataset's root folder (the one holding meta/info.json, data/ and videos/)")
    info = _read_json(info_path, root)
    version = info.get("codebase_version")
    if version not in READ_VERSIONS:
        raise _problem(info_path, f"codebase_version {version!r} is not one robokit reads "
                       f"({', '.join(READ_VERSIONS)})",
                       "convert the dataset to v3.0 with LeRobot's converters (from v2.1: python -m "
                       "lerobot.datasets.v30.convert_dataset_v21_to_v30)")
    for key in ("fps", "features"):
        if key not in info:
            raise _problem(info_path, f"has no '{key}'", _FIX_REEXPORT)
    features = info["features"]
    if not isinstance(features, dict) or "action" not in features:
        raise _problem(info_path, "features declare no 'action'", "robokit needs actions; " + _FIX_REEXPORT)
    try:
        fps = float(info["fps"])
    except (TypeError, ValueError):
        raise _problem(info_path, f"fps {info['fps']!r} is not a number", _FIX_REEXPORT) from None
    _, pq = _need_pyarrow()
    if version == "v3.0":
        tasks, episodes = _v3_meta(root, info, features, pq)
    else:
        tasks, episodes = _v2_meta(root, info, features)
    folder = LeRobotFolder(root, info, version, fps, features, tasks, episodes)
    if not episodes:
        raise _problem(root / "meta", "lists no episodes", "record at least one episode")
    indices = [ep.index for ep in episodes]
    if indices != sorted(set(indices)):
        raise _problem(root / "meta", f"episode indices are not unique and increasing ({indices[:8]}...)",
                       _FIX_REEXPORT)
    for ep in episodes:
        for task in ep.tasks:
            if task not in tasks.values():
                raise _problem(root / "meta", f"episode {ep.index} has task {task!r}, which the tasks file lacks",
                               _FIX_REEXPORT)
        for key in folder.video_keys:
            if key not in ep.videos or not ep.videos[key][0].is_file():
                raise _problem(ep.videos.get(key, (root / "videos", 0))[0],
                               f"episode {ep.index}'s video of {key} is missing", _FIX_REEXPORT)
        if not ep.data_file.is_file():
            raise _problem(ep.data_file, f"episode {ep.index}'s data file is missing", _FIX_REEXPORT)
    return folder


def _format_path(template, where, **kwargs) -> str:
    if not isinstance(template, str):
        raise _problem(where, "has no data_path / video_path template", _FIX_REEXPORT)
    try:
        return template.format(**kwargs)
    except (KeyError, IndexError, ValueError) as exc:
        raise _problem(where, f"path template {template!r} cannot be filled ({exc})", _FIX_REEXPORT) from None


def _v3_meta(root: Path, info: dict, features: dict, pq):
    tasks_path = root / "meta" / "tasks.parquet"
    if not tasks_path.is_file():
        raise _problem(tasks_path, "is missing (a v3.0 folder lists its tasks there)", _FIX_REEXPORT)
    table = _read_parquet(pq, tasks_path)
    task_col = "task" if "task" in table.column_names else _pandas_index_column(table)
    _require_columns(table, tasks_path, ("task_index", task_col or "task"))
    tasks = {int(i): str(t) for i, t in zip(table.column("task_index").to_pylist(), table.column(task_col).to_pylist())}

    files = sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
    if not files:
        raise _problem(root / "meta" / "episodes", "holds no chunk-*/file-*.parquet (the episodes' metadata)",
                       _FIX_REEXPORT)
    video_keys = [k for k, ft in features.items() if ft.get("dtype") == "video"]
    needed = ["episode_index", "length", "tasks", "data/chunk_index", "data/file_index"]
    for key in video_keys:
        needed += [f"videos/{key}/chunk_index", f"videos/{key}/file_index", f"videos/{key}/from_timestamp"]
    episodes = []
    info_path = root / "meta" / "info.json"
    for path in files:
        table = _read_parquet(pq, path)
        _require_columns(table, path, needed)
        cols = {c: table.column(c).to_pylist() for c in table.column_names
                if c in needed or c == ROBOKIT_ATTRS_COLUMN}
        for row in range(table.num_rows):
            data_file = root / _format_path(info.get("data_path"), info_path,
                                            chunk_index=cols["data/chunk_index"][row],
                                            file_index=cols["data/file_index"][row])
            videos = {}
            for key in video_keys:
                rel = _format_path(info.get("video_path"), info_path, video_key=key,
                                   chunk_index=cols[f"videos/{key}/chunk_index"][row],
                                   file_index=cols[f"videos/{key}/file_index"][row])
                videos[key] = (root / rel, float(cols[f"videos/{key}/from_timestamp"][row]))
            raw_attrs = cols.get(ROBOKIT_ATTRS_COLUMN, [None] * table.num_rows)[row]
            episodes.append(LeRobotEpisode(int(cols["episode_index"][row]), int(cols["length"][row]),
                                           [str(t) for t in cols["tasks"][row] or []], data_file, videos,
                                           json.loads(raw_attrs) if raw_attrs else None))
    episodes.sort(key=lambda e: e.index)
    return tasks, episodes


def _v2_meta(root: Path, info: dict, features: dict):
    tasks = {int(r["task_index"]): str(r["task"]) for r in _read_jsonl(root / "meta" / "tasks.jsonl")}
    chunks = int(info.get("chunks_size", 1000) or 1000)
    info_path = root / "meta" / "info.json"
    video_keys = [k for k, ft in features.items() if ft.get("dtype") == "video"]
    episodes = []
    for row in _read_jsonl(root / "meta" / "episodes.jsonl"):
        try:
            index, length = int(row["episode_index"]), int(row["length"])
        except (KeyError, TypeError, ValueError):
            raise _problem(root / "meta" / "episodes.jsonl", f"row {row!r:.80} lacks episode_index / length",
                           _FIX_REEXPORT) from None
        chunk = index // chunks
        data_file = root / _format_path(info.get("data_path"), info_path, episode_chunk=chunk, episode_index=index)
        videos = {key: (root / _format_path(info.get("video_path"), info_path, episode_chunk=chunk, video_key=key,
                                            episode_index=index), 0.0) for key in video_keys}
        tasks_of = row.get("tasks") or []
        episodes.append(LeRobotEpisode(index, length, [str(t) for t in tasks_of], data_file, videos))
    episodes.sort(key=lambda e: e.index)
    return tasks, episodes


def _pandas_index_column(table) -> str | None:
    """The column holding a pandas index (LeRobot writes tasks.parquet with the task strings as the index)."""
    meta = (table.schema.metadata or {}).get(b"pandas")
    try:
        names = json.loads(meta)["index_columns"] if meta else []
    except (ValueError, KeyError, TypeError):
        names = []
    names = [n for n in names if isinstance(n, str) and n in table.column_names]
    return names[0] if names else None


def _read_parquet(pq, path: Path):
    import pyarrow

    try:
        return pq.read_table(path)
    except (pyarrow.ArrowException, OSError) as exc:  # a damaged or truncated file
        raise _problem(path, f"is not a readable parquet file ({str(exc).splitlines()[0][:120]})",
                       _FIX_REEXPORT) from None


def _require_columns(table, path, columns) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise _problem(path, f"has no column {missing[0]!r}" + (f" (+{len(missing) - 1} more)" if len(missing) > 1
                                                              else "") + f" (columns: {', '.join(table.column_names)})",
                       "re-export the dataset with LeRobot, or declare only the features its data files hold "
                       "in meta/info.json")


def _column_array(table, key: str, shape, n: int) -> np.ndarray:
    """A parquet column of (nested) lists or scalars -> (n, *shape) numpy array."""
    import pyarrow.types as pat

    col = table.column(key).combine_chunks()
    while pat.is_list(col.type) or pat.is_large_list(col.type) or pat.is_fixed_size_list(col.type):
        col = col.flatten()
    arr = np.asarray(col.to_numpy(zero_copy_only=False))
    if arr.size != n * int(np.prod(shape, dtype=np.int64)):
        raise ValueError(f"{arr.size} values where {n} frames of shape {tuple(shape)} need "
                         f"{n * int(np.prod(shape, dtype=np.int64))}")
    return arr.reshape((n,) + tuple(shape))


def _decode_png(cell) -> np.ndarray:
    import imageio.v3 as iio

    data = cell.get("bytes") if isinstance(cell, dict) else cell
    if data is None:
        raise ValueError("an image cell without bytes")
    img = np.asarray(iio.imread(data))
    return img[..., None] if img.ndim == 2 else img


class _VideoFrames:
    """Frames of one video, read forward (episodes follow each other in a v3 file); reopens to go back."""

    def __init__(self, path: Path):
        self.path = path
        self._gen = None
        self._pos = 0
        self._shape = None

    def _open(self) -> None:
        import imageio_ffmpeg

        self.close()
        self._gen = imageio_ffmpeg.read_frames(str(self.path), pix_fmt="rgb24")
        meta = next(self._gen)
        w, h = meta["size"]
        self._shape = (h, w, 3)
        self._pos = 0

    def read(self, start: int, count: int) -> np.ndarray:
        """(count, H, W, 3) uint8: frames start .. start + count - 1."""
        if self._gen is None or start < self._pos:
            self._open()
        out = []
        for _ in range(start + count - self._pos):
            try:
                buf = next(self._gen)
            except StopIteration:
                break
            if self._pos >= start:
                out.append(np.frombuffer(buf, dtype=np.uint8).reshape(self._shape))
            self._pos += 1
        if len(out) != count:
            raise ValueError(f"the video holds {self._pos} frames, fewer than frames {start}..{start + count - 1}")
        return np.stack(out)

    def close(self) -> None:
        if self._gen is not None:
            with contextlib.suppress(Exception):
                self._gen.close()
        self._gen = None


class _Reader:
    """Reads the episodes of a checked LeRobotFolder, each data file and video opened once in order."""

    def __init__(self, folder: LeRobotFolder):
        self.folder = folder
        self._pq = _need_pyarrow()[1]
        self._table_path = None
        self._table = None
        self._by_episode: dict[int, np.ndarray] = {}
        self._videos: dict[str, _VideoFrames] = {}  # feature -> reader of its current file (one ffmpeg each)

    def _rows(self, ep: LeRobotEpisode):
        if self._table_path != ep.data_file:
            table = _read_parquet(self._pq, ep.data_file)
            needed = [c for c in BOOKKEEPING if c != "index" or self.folder.version == "v3.0"]
            needed += [k for k in self.folder.array_keys() if self.folder.features[k]["dtype"] != "video"]
            _require_columns(table, ep.data_file, needed)
            episode_col = np.asarray(table.column("episode_index").to_numpy(zero_copy_only=False))
            known = {e.index for e in self.folder.episodes}
            stray = sorted(set(np.unique(episode_col).tolist()) - known)
            if stray:
                raise _problem(ep.data_file, f"holds frames of episode {stray[0]}, which meta/episodes does not list "
                               "(episode indices inconsistent)", _FIX_REEXPORT)
            self._table_path, self._table = ep.data_file, table
            self._by_episode = {int(i): np.flatnonzero(episode_col == i) for i in np.unique(episode_col)}
        rows = self._by_episode.get(ep.index, np.zeros(0, dtype=np.int64))
        if len(rows) != ep.length:
            raise _problem(ep.data_file, f"holds {len(rows)} frames of episode {ep.index}, but meta/episodes says "
                           f"its length is {ep.length} (episode indices inconsistent)", _FIX_REEXPORT)
        table = self._table.take(rows)
        frame_index = np.asarray(table.column("frame_index").to_numpy(zero_copy_only=False))
        order = np.argsort(frame_index, kind="stable")
        if not np.array_equal(frame_index[order], np.arange(ep.length)):
            raise _problem(ep.data_file, f"episode {ep.index}'s frame_index is not 0..{ep.length - 1}",
                           _FIX_REEXPORT)
        return table.take(order)

    def episode(self, ep: LeRobotEpisode) -> dict[str, np.ndarray]:
        """{LeRobot feature: (T, ...) array} of one episode, plus "task_index" (T,)."""
        table = self._rows(ep)
        out = {"task_index": np.asarray(table.column("task_index").to_numpy(zero_copy_only=False))}
        for key in self.folder.array_keys():
            ft = self.folder.features[key]
            shape = tuple(int(s) for s in ft.get("shape") or ())
            try:
                if ft["dtype"] == "video":
                    path, start_ts = ep.videos[key]
                    video = self._videos.get(key)
                    if video is None or video.path != path:  # v2: a file per episode; close the last one
                        if video is not None:
                            video.close()
                        video = self._videos[key] = _VideoFrames(path)
                    out[key] = video.read(round(start_ts * self.folder.fps), ep.length)
                elif ft["dtype"] == "image":
                    out[key] = np.stack([_decode_png(c) for c in table.column(key).to_pylist()])
                else:
                    out[key] = _column_array(table, key, shape, ep.length)
            except (ValueError, OSError, RuntimeError, KeyError, StopIteration) as exc:  # decoders, reshapes
                where = ep.videos[key][0] if ft["dtype"] == "video" else ep.data_file
                raise _problem(where, f"cannot read {key} of episode {ep.index} ({str(exc).splitlines()[0][:120]})",
                               _FIX_REEXPORT) from None
        return out

    def close(self) -> None:
        for video in self._videos.values():
            video.close()


def _names_of(ft: dict, width: int) -> list[str] | None:
    """A vector feature's item names (a list, or {"motors": [...]} as v2 wrote them) when they fit its width."""
    names = ft.get("names")
    if isinstance(names, dict) and len(names) == 1:
        names = next(iter(names.values()))
    if (isinstance(names, list) and len(names) == width and all(isinstance(n, str) and n for n in names)
            and len(set(names)) == width):
        return list(names)
    return None


def _embodiment_from_features(folder: LeRobotFolder, paths: dict[str, str]) -> Embodiment | None:
    """Names of the features as robokit's Embodiment (data type custom; a camera is one rgb_images item)."""
    robot = str(folder.info.get("robot_type") or "lerobot")
    actions, obs = [], {}
    for key, path in paths.items():
        ft = folder.features[key]
        shape = tuple(ft.get("shape") or ())
        if path.startswith("obs/") and ft["dtype"] in ("video", "image"):
            obs[path[4:]] = [{"data_type": DataType.RGB_IMAGES.value, "names": [key.split(".")[-1]]}]
            continue
        if len(shape) != 1 or (path != "actions" and not path.startswith("obs/")):
            continue
        names = _names_of(ft, shape[0])
        if names is None:
            continue
        seg = [{"data_type": DataType.CUSTOM.value, "names": names}]
        if path == "actions":
            actions = seg
        else:
            obs[path[4:]] = seg
    if not actions and not any(s[0]["data_type"] == DataType.CUSTOM.value for s in obs.values()):
        return None
    try:
        return Embodiment(robot, actions, obs)
    except ConfigError:
        return None


def _key_map(folder: LeRobotFolder) -> dict[str, str]:
    """{LeRobot feature: robokit path}: the stored map of a folder robokit wrote, else the naming rule."""
    stored = (folder.info.get(ROBOKIT_INFO) or {}).get("keys") or {}
    out = {}
    for key in folder.array_keys():
        out[key] = stored.get(key) or lerobot_to_robokit_key(key)
    paths = list(out.values())
    dup = next((p for i, p in enumerate(paths) if p in paths[:i]), None)
    if dup is not None:
        names = [k for k, p in out.items() if p == dup]
        raise _problem(folder.root / "meta" / "info.json", f"features {names} would both become {dup}",
                       "rename one of the features")
    return out


def lerobot_to_robokit(root, out, progress: bool = True, compression: str | None = None) -> dict:
    """Convert a LeRobot folder to a robokit HDF5 file `out` (written to a temporary file, renamed at the end;
    nothing is left on failure). Returns {"demos", "frames", "fps", "tasks", "keys": {feature: path}}."""
    from tqdm import tqdm

    folder = read_lerobot_meta(root)
    keys = _key_map(folder)
    extra = folder.info.get(ROBOKIT_INFO) or {}
    embodiment = extra.get("embodiment")
    if embodiment is None:
        embodiment = _embodiment_from_features(folder, keys)
    robot_type = folder.info.get("robot_type")
    env_args = extra.get("env_args") or {"env_name": f"LeRobot-{robot_type or 'dataset'}", "type": 2,
                                         "env_kwargs": {}}
    record = {"codebase_version": folder.version, "fps": folder.fps, "robot_type": robot_type,
              "features": folder.features, "keys": keys}
    reader = _Reader(folder)
    try:
        with hdf5_format.DatasetWriter(out, env_args=env_args, compression=compression,
                                       embodiment=embodiment) as writer:
            for ep in tqdm(folder.episodes, desc="episodes", unit="ep", disable=not progress):
                arrays = reader.episode(ep)
                writer.add_episode(**_robokit_episode(folder, ep, arrays, keys))
            for name, indices in (extra.get("masks") or {}).items():
                writer.set_mask(name, [writer.demo_names[i] for i in indices])
            writer.set_data_attrs({LEROBOT_ATTR: json.dumps(record), FPS_ATTR: folder.fps})
    finally:
        reader.close()
    return {"demos": len(folder.episodes), "frames": sum(e.length for e in folder.episodes), "fps": folder.fps,
            "tasks": sorted(set(folder.tasks.values())), "keys": keys, "version": folder.version}


def _robokit_episode(folder: LeRobotFolder, ep: LeRobotEpisode, arrays: dict, keys: dict) -> dict:
    """The DatasetWriter.add_episode arguments of one LeRobot episode."""
    T = ep.length
    obs, next_obs, top = {}, {}, {}
    shapes = (folder.info.get(ROBOKIT_INFO) or {}).get("shapes") or {}
    for key, path in keys.items():
        arr = arrays[key]
        if path in shapes:
            arr = arr.reshape((T,) + tuple(shapes[path]))
        elif path in ("rewards", "dones"):
            arr = arr.reshape(T)
        sub, _, name = path.partition("/")
        if sub == "obs":
            obs[name] = arr
        elif sub == "next_obs":
            next_obs[name] = arr
        else:
            top[path] = arr
    if "rewards" not in top:
        top["rewards"] = np.zeros(T, dtype=np.float32)
    if "dones" not in top:
        top["dones"] = (np.arange(T) == T - 1).astype(np.float32)
    if ep.attrs is not None:
        attrs = dict(ep.attrs)
    else:
        used = [folder.tasks.get(int(i), "") for i in dict.fromkeys(arrays["task_index"].tolist())]
        tasks = [t for t in dict.fromkeys(used + ep.tasks) if t]
        attrs = {"lerobot_episode_index": ep.index}
        if tasks:
            attrs["lang"] = "; ".join(tasks)
    return {"obs": obs, "next_obs": next_obs or None, "actions": top["actions"], "rewards": top["rewards"],
            "dones": top["dones"], "states": top.get("states"), "attrs": attrs}


# --------------------------------------------------------------------------------------------------
# writing a LeRobot v3.0 folder


def _json_safe(value):
    """An HDF5 attribute value -> plain JSON data (numpy scalars / arrays to Python, bytes to str)."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [_json_safe(v) for v in value.tolist()] if value.dtype.kind in "SO" else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _is_image(arr_shape, dtype) -> bool:
    return np.dtype(dtype) == np.uint8 and len(arr_shape) == 4 and arr_shape[-1] in (1, 3)


class _Stats:
    """LeRobot's per-feature statistics, accumulated episode by episode (no copy of the data is kept): min, max,
    mean, std per column, or per channel in [0, 1] with shape (C, 1, 1) for images, and count (frames)."""

    def __init__(self, image: bool):
        self.image = image
        self.count = 0
        self.n = 0
        self.sum = self.sumsq = self.min = self.max = None

    def add(self, values: np.ndarray) -> None:
        x = values.astype(np.float64)
        if self.image:  # (N, H, W, C) -> per channel
            x = x.reshape(-1, x.shape[-1]) / 255.0
        else:
            x = x.reshape(len(x), -1)
        parts = (x.sum(0), (x * x).sum(0), x.min(0), x.max(0))
        if self.sum is None:
            self.sum, self.sumsq, self.min, self.max = parts
        else:
            self.sum, self.sumsq = self.sum + parts[0], self.sumsq + parts[1]
            self.min, self.max = np.minimum(self.min, parts[2]), np.maximum(self.max, parts[3])
        self.n += len(x)
        self.count += len(values)

    def to_dict(self) -> dict:
        mean = self.sum / self.n
        std = np.sqrt(np.maximum(self.sumsq / self.n - mean * mean, 0.0))
        stat = {"min": self.min, "max": self.max, "mean": mean, "std": std}
        shape = (-1, 1, 1) if self.image else (-1,)
        out = {k: v.reshape(shape).tolist() for k, v in stat.items()}
        out["count"] = [self.count]
        return out


class _VideoWriter:
    """One mp4 of a feature's frames, episodes one after another (imageio-ffmpeg)."""

    def __init__(self, path: Path, shape, fps: float, vcodec: str):
        import imageio_ffmpeg

        path.parent.mkdir(parents=True, exist_ok=True)
        h, w, _ = shape
        params = ["-g", "2", "-crf", "30"]  # LeRobot's settings (its fast SVT-AV1 presets misplace frames here)
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its configuration to stderr otherwise
        self._gen = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, codec=vcodec, pix_fmt_in="rgb24",
                                                pix_fmt_out="yuv420p", macro_block_size=1, quality=None,
                                                output_params=params, ffmpeg_log_level="error")
        self._gen.send(None)
        self.frames = 0

    def write(self, frames: np.ndarray) -> None:
        for frame in frames:
            self._gen.send(np.ascontiguousarray(frame))
        self.frames += len(frames)

    def close(self) -> None:
        self._gen.close()


def robokit_to_lerobot(path, out, images: str = "video", fps: float | None = None, vcodec: str = "libsvtav1",
                       progress: bool = True, repo_id: str | None = None) -> dict:
    """Convert a robokit HDF5 file to a LeRobot v3.0 folder `out` (built in a hidden sibling folder and renamed
    at the end; nothing is left on failure). images: "video" (mp4, lossy) or "png" (PNG in the parquet,
    lossless). fps: the frame rate (default: the file's `fps` attribute, else 20).
    Returns {"episodes", "frames", "fps", "features": {feature: robokit path}}."""
    if images not in ("video", "png"):
        raise ConfigError(f"images must be 'video' or 'png', got {images!r}")
    pa, pq = _need_pyarrow()
    from tqdm import tqdm

    path = os.fspath(path)
    hdf5_format.check_dataset(path, check_values=False)
    out = Path(out)
    if not out.parent.is_dir():
        raise DatasetError(f"{out}: folder {out.parent} does not exist; fix: create it first")
    tmp = partial_path(out)
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        with hdf5_format.open_file(path) as f:
            summary = _write_v3(f, path, tmp, images, fps, vcodec, progress, repo_id, pa, pq, tqdm)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _write_v3(f, path, tmp: Path, images, fps, vcodec, progress, repo_id, pa, pq, tqdm) -> dict:
    data = f["data"]
    demos = hdf5_format.list_demos(f)
    record = json.loads(hdf5_format._as_str(data.attrs[LEROBOT_ATTR])) if LEROBOT_ATTR in data.attrs else {}
    if fps is None:
        fps = float(data.attrs[FPS_ATTR]) if FPS_ATTR in data.attrs else float(record.get("fps") or DEFAULT_FPS)
    known_features = record.get("features") or {}
    back = {p: k for k, p in (record.get("keys") or {}).items()}
    embodiment = hdf5_format.read_embodiment(f, check=False) if hdf5_format.EMBODIMENT_ATTR in data.attrs else None

    # the arrays of the first demo decide the features: {robokit path: (per-step shape, dtype)}
    first = data[demos[0]]
    arrays: dict[str, tuple] = {}
    for name in ("actions", "rewards", "dones", "states"):
        if isinstance(first.get(name), h5py.Dataset):
            arrays[name] = (first[name].shape[1:], first[name].dtype)
    for sub in ("obs", "next_obs"):
        if sub in first:
            for k in sorted(first[sub]):
                ds = first[sub][k]
                arrays[f"{sub}/{k}"] = (ds.shape[1:], ds.dtype)
    skipped = sorted({k for k in first if k not in ("obs", "next_obs")} - set(arrays))

    features, keys = {}, {}
    for p, (shape, dtype) in arrays.items():
        image = _is_image((1,) + tuple(shape), dtype)
        key = back.get(p) or robokit_to_lerobot_key(p, image)
        keys[key] = p
        names = _names_for(embodiment, p, shape, known_features.get(key))
        if image:
            as_video = images == "video" and shape[-1] == 3
            ft = {"dtype": "video" if as_video else "image", "shape": list(shape),
                  "names": ["height", "width", "channels"]}
            if as_video:
                ft["info"] = {"video.height": int(shape[0]), "video.width": int(shape[1]),
                              "video.codec": "av1" if vcodec == "libsvtav1" else vcodec.removeprefix("lib"),
                              "video.pix_fmt": "yuv420p", "video.is_depth_map": False, "video.fps": fps,
                              "video.channels": 3, "has_audio": False}
        else:
            ft = {"dtype": np.dtype(dtype).name, "shape": list(shape) if shape else [1], "names": names}
        features[key] = ft
    features.update({"timestamp": {"dtype": "float32", "shape": [1], "names": None},
                     "frame_index": {"dtype": "int64", "shape": [1], "names": None},
                     "episode_index": {"dtype": "int64", "shape": [1], "names": None},
                     "index": {"dtype": "int64", "shape": [1], "names": None},
                     "task_index": {"dtype": "int64", "shape": [1], "names": None}})

    # tasks: each demo's lang, in first-appearance order ("" for a demo without one)
    langs = [hdf5_format._as_str(data[d].attrs["lang"]) if "lang" in data[d].attrs else "" for d in demos]
    task_list = list(dict.fromkeys(langs))
    task_index = {t: i for i, t in enumerate(task_list)}

    (tmp / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    (tmp / "data" / "chunk-000").mkdir(parents=True)
    video_keys = [k for k, ft in features.items() if ft["dtype"] == "video"]
    videos = {k: _VideoWriter(tmp / "videos" / k / "chunk-000" / "file-000.mp4", features[k]["shape"], fps, vcodec)
              for k in video_keys}
    columns: dict[str, list] = {k: [] for k in features if k not in video_keys}
    stats = {k: _Stats(features[k]["dtype"] in ("video", "image")) for k in list(keys) + list(BOOKKEEPING)}
    ep_rows: dict[str, list] = {c: [] for c in ("episode_index", "tasks", "length", "data/chunk_index",
                                                "data/file_index", "dataset_from_index", "dataset_to_index",
                                                "meta/episodes/chunk_index", "meta/episodes/file_index",
                                                ROBOKIT_ATTRS_COLUMN)}
    for k in video_keys:
        for c in ("chunk_index", "file_index", "from_timestamp", "to_timestamp"):
            ep_rows[f"videos/{k}/{c}"] = []
    total = 0
    try:
        for i, demo in enumerate(tqdm(demos, desc="episodes", unit="ep", disable=not progress)):
            grp = data[demo]
            T = hdf5_format.demo_length(f, demo)
            for key, p in keys.items():
                arr = np.asarray(grp[p][()])
                if arr.shape[1:] != tuple(arrays[p][0]) or arr.dtype != arrays[p][1]:
                    raise DatasetError(f"{path}: {demo}/{p} has per-step shape {arr.shape[1:]} {arr.dtype}, but "
                                       f"{demos[0]} has {tuple(arrays[p][0])} {arrays[p][1]}; fix: LeRobot features "
                                       "have one shape per dataset, convert demos of one layout")
                stats[key].add(arr)
                ft = features[key]
                if ft["dtype"] == "video":
                    start = videos[key].frames
                    videos[key].write(arr)
                    ep_rows[f"videos/{key}/chunk_index"].append(0)
                    ep_rows[f"videos/{key}/file_index"].append(0)
                    ep_rows[f"videos/{key}/from_timestamp"].append(start / fps)
                    ep_rows[f"videos/{key}/to_timestamp"].append((start + T) / fps)
                elif ft["dtype"] == "image":
                    columns[key].extend({"bytes": _encode_png(img), "path": None} for img in arr)
                else:
                    columns[key].extend(arr.reshape(T, -1))
            columns["timestamp"].extend((np.arange(T) / fps).astype(np.float32))
            columns["frame_index"].extend(range(T))
            columns["episode_index"].extend([i] * T)
            columns["index"].extend(range(total, total + T))
            columns["task_index"].extend([task_index[langs[i]]] * T)
            attrs = {k: _json_safe(v) for k, v in grp.attrs.items() if k != "num_samples"}
            for c, v in (("episode_index", i), ("tasks", [langs[i]]), ("length", T), ("data/chunk_index", 0),
                         ("data/file_index", 0), ("dataset_from_index", total), ("dataset_to_index", total + T),
                         ("meta/episodes/chunk_index", 0), ("meta/episodes/file_index", 0),
                         (ROBOKIT_ATTRS_COLUMN, json.dumps(attrs))):
                ep_rows[c].append(v)
            total += T
    finally:
        for video in videos.values():
            video.close()

    pq.write_table(_frames_table(pa, features, columns), tmp / "data" / "chunk-000" / "file-000.parquet")
    pq.write_table(pa.table(ep_rows), tmp / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    pq.write_table(_tasks_table(pa, task_list), tmp / "meta" / "tasks.parquet")
    for k in BOOKKEEPING:
        stats[k].add(np.asarray(columns[k]))
    masks = {fk: [demos.index(d) for d in hdf5_format.list_demos(f, fk) if d in demos]
             for fk in hdf5_format.list_filter_keys(f)}
    robot_type = record.get("robot_type") or (embodiment.robot if embodiment is not None else None)
    info = {
        "codebase_version": WRITE_VERSION, "robot_type": robot_type, "total_episodes": len(demos),
        "total_frames": total, "total_tasks": len(task_list), "chunks_size": 1000, "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 200, "fps": fps, "splits": {"train": f"0:{len(demos)}"},
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4" if video_keys else None,
        "features": features,
        ROBOKIT_INFO: {"keys": keys, "shapes": {p: list(arrays[p][0]) for p in keys.values()},
                       "env_args": hdf5_format.read_env_args(f), "masks": masks,
                       "embodiment": embodiment.to_dict() if embodiment is not None else None,
                       "source": os.path.basename(path), "skipped": skipped},
    }
    if repo_id:
        info[ROBOKIT_INFO]["repo_id"] = repo_id
    (tmp / "meta" / "info.json").write_text(json.dumps(info, indent=4), encoding="utf-8")
    stats_json = {k: v.to_dict() for k, v in stats.items()}
    (tmp / "meta" / "stats.json").write_text(json.dumps(stats_json, indent=4), encoding="utf-8")
    return {"episodes": len(demos), "frames": total, "fps": fps, "features": keys, "tasks": task_list,
            "skipped": skipped}


def _names_for(embodiment, path: str, shape, known: dict | None):
    """A feature's names: the original LeRobot feature's, else the robokit names of that array (flattened)."""
    if known is not None and "names" in known:
        return known["names"]
    if embodiment is None or len(shape) != 1:
        return None
    if path == "actions":
        segs = embodiment.actions
    else:
        sub, _, key = path.partition("/")
        segs = embodiment.obs.get(key, ()) if sub in ("obs", "next_obs") else ()
    names = [n for s in segs for n in s.names]
    return names if len(names) == shape[0] and len(set(names)) == len(names) else None


def _tasks_table(pa, tasks: list[str]):
    """meta/tasks.parquet as LeRobot reads it (pandas.read_parquet): the task strings are the frame's index
    (named "task"), task_index its one column; written with pyarrow and the pandas metadata that says so."""
    pandas_meta = {"index_columns": ["task"], "column_indexes": [],
                   "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                                "numpy_type": "int64", "metadata": None},
                               {"name": "task", "field_name": "task", "pandas_type": "unicode",
                                "numpy_type": "object", "metadata": None}],
                   "creator": {"library": "pyarrow", "version": pa.__version__}}
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())})
    return table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})


def _encode_png(img: np.ndarray) -> bytes:
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", img[..., 0] if img.shape[-1] == 1 else img, extension=".png")


def _frames_table(pa, features: dict, columns: dict):
    """The data parquet: scalars as columns, vectors as list<dtype> columns, images as {bytes, path} structs."""
    arrays, names = [], []
    for key, values in columns.items():
        ft = features[key]
        if ft["dtype"] == "image":
            arr = pa.array(values, type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
        elif key in BOOKKEEPING:
            arr = pa.array(np.asarray(values).reshape(-1), type=pa.from_numpy_dtype(np.dtype(ft["dtype"])))
        else:
            stacked = np.stack(values)  # (N, D): one value per frame is a scalar column, as LeRobot writes shape [1]
            flat = pa.array(stacked.reshape(-1), type=pa.from_numpy_dtype(stacked.dtype))
            if stacked.shape[1] != 1:
                arr = pa.FixedSizeListArray.from_arrays(flat, stacked.shape[1]).cast(pa.list_(flat.type))
            else:
                arr = flat
        arrays.append(arr)
        names.append(key)
    return pa.Table.from_arrays(arrays, names=names)
