"""LeRobot dataset folders <-> robokit HDF5 (robokit/data/lerobot_format.py, scripts/convert_dataset.py).

The fixture tests/data/fixtures/lerobot_v3_tiny/ was written by LeRobot's own code (lerobot-dataset 0.4.4,
tests/data/fixtures/make_lerobot_fixture.py); its values are functions of (episode, frame) defined there.
"""

import importlib.util
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from script_runner import assert_one_line_error, run_script

from robokit.data.embodiment import Embodiment
from robokit.data.hdf5_format import DatasetWriter, list_demos, read_embodiment
from robokit.data.lerobot_format import lerobot_to_robokit, robokit_to_lerobot

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

FIXTURES = Path(__file__).parent / "fixtures"
TINY = FIXTURES / "lerobot_v3_tiny"


def _load_maker():
    spec = importlib.util.spec_from_file_location("make_lerobot_fixture", FIXTURES / "make_lerobot_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mk = _load_maker()


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("lerobot") / "tiny.hdf5"
    summary = lerobot_to_robokit(TINY, out, progress=False)
    return out, summary


def _arrays(path) -> dict:
    """{dataset path: array} of every dataset in an HDF5 file."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def test_lerobot_fixture_converts_with_its_values(converted):
    out, summary = converted
    assert summary["demos"] == 3 and summary["frames"] == sum(mk.LENGTHS) and summary["version"] == "v3.0"
    frames = pq.read_table(TINY / "data" / "chunk-000" / "file-000.parquet").to_pydict()
    episode = np.asarray(frames["episode_index"])
    with h5py.File(out, "r") as f:
        assert list_demos(f) == ["demo_0", "demo_1", "demo_2"]
        assert f["data"].attrs["fps"] == mk.FPS
        assert f["data"].attrs["total"] == sum(mk.LENGTHS)
        for ep, (length, task) in enumerate(zip(mk.LENGTHS, mk.TASKS)):
            grp = f[f"data/demo_{ep}"]
            assert grp.attrs["num_samples"] == length
            assert grp.attrs["lang"] == task
            rows = np.flatnonzero(episode == ep)
            # every low-dim array is exactly what the parquet holds (and what the maker wrote)
            np.testing.assert_array_equal(grp["actions"][()], np.asarray([frames["action"][i] for i in rows],
                                                                         dtype=np.float32))
            np.testing.assert_array_equal(grp["obs/state"][()], np.stack([mk.state(ep, t) for t in range(length)]))
            np.testing.assert_array_equal(grp["actions"][()], np.stack([mk.action(ep, t) for t in range(length)]))
            assert grp["actions"].dtype == np.float32 and grp["obs/state"].dtype == np.float32
            np.testing.assert_array_equal(grp["rewards"][()], (np.arange(length) == length - 1).astype(np.float32))
            np.testing.assert_array_equal(grp["dones"][()], (np.arange(length) == length - 1).astype(np.float32))
            images = grp["obs/front_image"][()]
            assert images.shape == (length, mk.SIZE, mk.SIZE, 3) and images.dtype == np.uint8
            expected = np.stack([mk.frame(ep, t) for t in range(length)]).astype(int)
            err = np.abs(images.astype(int) - expected)
            assert err.mean() < 4 and err.max() <= 24  # AV1 at LeRobot's crf 30; frames in the right order
    embodiment = read_embodiment(out)
    assert embodiment.robot == "so100_follower"
    assert list(embodiment.actions[0].names) == mk.ACTION_NAMES
    assert list(embodiment.obs["state"][0].names) == mk.STATE_NAMES
    assert embodiment.obs["front_image"][0].names == ("front",)


def _robokit_file(path, image_size=64):
    """A robokit file with every part of the layout: names, masks, lang, next_obs, states, images, dtypes."""
    rng = np.random.default_rng(0)
    emb = Embodiment("arm", [{"data_type": "joint_positions", "names": ["j0", "j1"]}],
                     {"pos": [{"data_type": "joint_positions", "names": ["j0", "j1"]},
                              {"data_type": "gripper_open_amounts", "names": ["grip"]}],
                      "cam_image": [{"data_type": "rgb_images", "names": ["cam"]}]})
    y, x = np.mgrid[0:image_size, 0:image_size]
    with DatasetWriter(path, env_args={"env_name": "Reach", "type": 2, "env_kwargs": {"a": 1}}, embodiment=emb) as w:
        for i, T in enumerate((5, 7, 4)):
            img = np.stack([np.stack([x * 2 + 5 * t, y * 2, np.full_like(x, 60 * i)], -1) for t in range(T)])
            img = img.astype(np.uint8)
            w.add_episode(obs={"pos": rng.normal(size=(T, 3)).astype(np.float32), "cam_image": img,
                               "count": np.arange(T, dtype=np.int64)[:, None]},
                          next_obs={"pos": rng.normal(size=(T, 3)).astype(np.float32), "cam_image": img,
                                    "count": np.arange(1, T + 1, dtype=np.int64)[:, None]},
                          actions=rng.normal(size=(T, 2)), rewards=rng.normal(size=T),
                          dones=(np.arange(T) == T - 1).astype(np.int64), states=rng.normal(size=(T, 6)),
                          attrs={"lang": f"task {i % 2}", "seed": 100 + i})
        w.set_mask("train", ["demo_0", "demo_2"])
        w.set_mask("valid", ["demo_1"])
    return path


def _assert_same_files(a, b, image_tolerance=None):
    A, B = _arrays(a), _arrays(b)
    assert sorted(A) == sorted(B)
    for key in A:
        assert A[key].dtype == B[key].dtype and A[key].shape == B[key].shape, key
        if image_tolerance is not None and key.endswith("_image"):
            err = np.abs(A[key].astype(int) - B[key].astype(int))
            assert err.mean() < image_tolerance[0] and err.max() <= image_tolerance[1], (key, err.max())
        else:
            np.testing.assert_array_equal(A[key], B[key], err_msg=key)
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for attr in ("env_args", "robokit_embodiment", "total"):
            assert fa["data"].attrs[attr] == fb["data"].attrs[attr], attr
        for demo in list_demos(fa):
            assert dict(fa["data"][demo].attrs) == dict(fb["data"][demo].attrs)


def test_round_trip_with_png_images_preserves_every_array(tmp_path):
    src = _robokit_file(tmp_path / "src.hdf5", image_size=16)  # PNG has no minimum size
    summary = robokit_to_lerobot(src, tmp_path / "le", images="png", progress=False)
    assert summary["episodes"] == 3 and summary["frames"] == 16 and summary["skipped"] == []
    info = json.loads((tmp_path / "le" / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 20.0 and info["total_tasks"] == 2
    assert info["features"]["action"]["names"] == ["j0", "j1"]
    assert info["features"]["observation.pos"]["names"] == ["j0", "j1", "grip"]
    assert info["features"]["observation.images.cam"]["dtype"] == "image"
    tasks = pq.read_table(tmp_path / "le" / "meta" / "tasks.parquet").to_pydict()
    assert tasks == {"task_index": [0, 1], "task": ["task 0", "task 1"]}
    episodes = pq.read_table(tmp_path / "le" / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pydict()
    assert episodes["length"] == [5, 7, 4] and episodes["dataset_from_index"] == [0, 5, 12]
    assert episodes["tasks"] == [["task 0"], ["task 1"], ["task 0"]]
    stats = json.loads((tmp_path / "le" / "meta" / "stats.json").read_text())
    with h5py.File(src, "r") as f:
        all_actions = np.concatenate([f[f"data/{d}/actions"][()] for d in list_demos(f)])
    np.testing.assert_allclose(stats["action"]["mean"], all_actions.mean(0))
    np.testing.assert_allclose(stats["action"]["std"], all_actions.std(0), rtol=1e-6)
    np.testing.assert_array_equal(stats["action"]["min"], all_actions.min(0))
    assert stats["action"]["count"] == [16]
    assert np.asarray(stats["observation.images.cam"]["mean"]).shape == (3, 1, 1)  # per channel, in [0, 1]
    assert 0 <= np.min(stats["observation.images.cam"]["min"]) <= np.max(stats["observation.images.cam"]["max"]) <= 1

    back = tmp_path / "back.hdf5"
    lerobot_to_robokit(tmp_path / "le", back, progress=False)
    _assert_same_files(src, back)
    assert list_demos(back, "train") == ["demo_0", "demo_2"] and list_demos(back, "valid") == ["demo_1"]


def test_round_trip_with_videos_keeps_low_dim_exact_and_images_close(tmp_path):
    src = _robokit_file(tmp_path / "src.hdf5", image_size=64)
    robokit_to_lerobot(src, tmp_path / "le", images="video", progress=False)
    videos = sorted(p.relative_to(tmp_path / "le").as_posix() for p in (tmp_path / "le").rglob("*.mp4"))
    assert videos == ["videos/next.observation.images.cam/chunk-000/file-000.mp4",
                      "videos/observation.images.cam/chunk-000/file-000.mp4"]
    back = tmp_path / "back.hdf5"
    lerobot_to_robokit(tmp_path / "le", back, progress=False)
    _assert_same_files(src, back, image_tolerance=(4, 24))


def test_lerobot_round_trip_keeps_its_keys_and_names(converted, tmp_path):
    out, _ = converted
    robokit_to_lerobot(out, tmp_path / "le", images="video", progress=False)
    info = json.loads((tmp_path / "le" / "meta" / "info.json").read_text())
    original = json.loads((TINY / "meta" / "info.json").read_text())
    for key in ("observation.state", "action", "next.reward", "observation.images.front"):
        assert info["features"][key]["names"] == original["features"][key]["names"], key
    assert info["robot_type"] == "so100_follower" and info["fps"] == 10
    ours = pq.read_table(tmp_path / "le" / "data" / "chunk-000" / "file-000.parquet").to_pydict()
    theirs = pq.read_table(TINY / "data" / "chunk-000" / "file-000.parquet").to_pydict()
    for key in ("observation.state", "action", "next.reward", "episode_index", "frame_index", "index", "task_index"):
        assert ours[key] == theirs[key], key


def _v21_copy(dst: Path) -> Path:
    """The fixture in LeRobot's v2.1 layout (per-episode parquet and mp4, jsonl metadata), written here."""
    import imageio_ffmpeg

    (dst / "meta").mkdir(parents=True)
    info = json.loads((TINY / "meta" / "info.json").read_text())
    info.update(codebase_version="v2.1",
                data_path="data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
                video_path="videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4")
    (dst / "meta" / "info.json").write_text(json.dumps(info))
    (dst / "meta" / "tasks.jsonl").write_text("".join(json.dumps({"task_index": i, "task": t}) + "\n"
                                                      for i, t in enumerate(mk.TASKS[:2])))
    (dst / "meta" / "episodes.jsonl").write_text("".join(
        json.dumps({"episode_index": e, "tasks": [t], "length": n}) + "\n"
        for e, (n, t) in enumerate(zip(mk.LENGTHS, mk.TASKS))))
    table = pq.read_table(TINY / "data" / "chunk-000" / "file-000.parquet")
    episode = np.asarray(table.column("episode_index"))
    (dst / "data" / "chunk-000").mkdir(parents=True)
    video_dir = dst / "videos" / "chunk-000" / "observation.images.front"
    video_dir.mkdir(parents=True)
    for e, n in enumerate(mk.LENGTHS):
        pq.write_table(table.take(np.flatnonzero(episode == e)), dst / "data" / "chunk-000" / f"episode_{e:06d}.parquet")
        writer = imageio_ffmpeg.write_frames(str(video_dir / f"episode_{e:06d}.mp4"), (mk.SIZE, mk.SIZE), fps=mk.FPS,
                                             codec="libx264", macro_block_size=1, quality=None,
                                             output_params=["-crf", "10"], ffmpeg_log_level="error")
        writer.send(None)
        for t in range(n):
            writer.send(mk.frame(e, t))
        writer.close()
    return dst


def test_v21_folder_converts_like_v3(converted, tmp_path):
    out, _ = converted
    folder = _v21_copy(tmp_path / "v21")
    summary = lerobot_to_robokit(folder, tmp_path / "v21.hdf5", progress=False)
    assert summary["version"] == "v2.1" and summary["demos"] == 3
    v3, v21 = _arrays(out), _arrays(tmp_path / "v21.hdf5")
    assert sorted(v3) == sorted(v21)
    for key in v3:
        if key.endswith("_image"):
            assert v21[key].shape == v3[key].shape and v21[key].dtype == np.uint8
        else:
            np.testing.assert_array_equal(v3[key], v21[key], err_msg=key)
    with h5py.File(tmp_path / "v21.hdf5", "r") as f:
        assert [f[f"data/demo_{e}"].attrs["lang"] for e in range(3)] == list(mk.TASKS)


def test_converted_file_loads_in_sequence_dataset_and_trains(converted):
    import torch

    from robokit.algo import algo_factory
    from robokit.config import config_factory
    from robokit.data import SequenceDataset, make_dataloader

    out, _ = converted
    ds = SequenceDataset(out, obs_keys=["state", "front_image"], dataset_keys=["actions"], seq_length=3)
    assert len(ds) == sum(mk.LENGTHS)
    assert ds.demo_langs == list(mk.TASKS)  # the tasks are the demos' instructions (observation.language)
    sample = ds[0]
    assert tuple(sample["obs"]["front_image"].shape) == (3, mk.SIZE, mk.SIZE, 3)  # (T, H, W, 3)
    assert str(sample["obs"]["front_image"].dtype).endswith("uint8")
    np.testing.assert_array_equal(np.asarray(sample["obs"]["state"]), np.stack([mk.state(0, t) for t in range(3)]))
    np.testing.assert_array_equal(np.asarray(sample["actions"]), np.stack([mk.action(0, t) for t in range(3)]))

    torch.manual_seed(0)
    config = config_factory("bc")
    config.algo.actor_layer_dims = [32]
    config.observation.modalities.obs.low_dim = ["state"]
    train_ds = SequenceDataset(out, obs_keys=config.all_obs_keys, dataset_keys=["actions"])
    model = algo_factory("bc", config, obs_key_shapes=train_ds.obs_key_shapes, ac_dim=train_ds.action_dim,
                         device=torch.device("cpu"))
    before = [p.detach().clone() for p in model.nets.parameters()]
    model.set_train()
    loader = iter(make_dataloader(train_ds, batch_size=10, seed=0))
    for step in range(3):
        info = model.train_on_batch(model.process_batch_for_training(next(loader)), epoch=1, validate=False)
        assert np.isfinite(model.log_info(info)["Loss"])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.nets.parameters()))


def test_script_converts_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "tiny.hdf5"
    result = run_script("convert_dataset.py", "--from", "lerobot", TINY, out, "--no-progress", check=True)
    assert "3 demos, 30 steps at 10 fps" in result.stdout
    before = out.read_bytes()
    again = run_script("convert_dataset.py", "--from", "lerobot", TINY, out)
    assert_one_line_error(again, "already exists", "--overwrite")
    assert out.read_bytes() == before
    result = run_script("convert_dataset.py", "--from", "robokit", out, tmp_path / "le", "--no-progress", check=True)
    assert (tmp_path / "le" / "meta" / "info.json").is_file() and "LeRobot v3.0, 3 episodes" in result.stdout


def _drop_column(root: Path, column: str) -> None:
    path = root / "data" / "chunk-000" / "file-000.parquet"
    table = pq.read_table(path)
    pq.write_table(table.drop_columns([column]), path)


def _renumber_episode(root: Path) -> None:
    path = root / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
    table = pq.read_table(path)
    index = table.column_names.index("episode_index")
    table = table.set_column(index, "episode_index", pa.array([0, 1, 5], pa.int64()))
    pq.write_table(table, path)


def _set_version(root: Path) -> None:
    path = root / "meta" / "info.json"
    info = json.loads(path.read_text())
    info["codebase_version"] = "v1.6"
    path.write_text(json.dumps(info))


@pytest.mark.parametrize("break_it, fragments", [
    (lambda root: (root / "meta" / "info.json").unlink(), ["has no meta/info.json", "fix: pass the dataset's root"]),
    (_set_version, ["codebase_version 'v1.6'", "fix: convert the dataset to v3.0"]),
    (lambda root: _drop_column(root, "action"), ["file-000.parquet: has no column 'action'", "fix: "]),
    (_renumber_episode, ["episode 2", "episode indices inconsistent", "fix: re-export"]),
], ids=["missing_info", "unknown_version", "missing_column", "inconsistent_episodes"])
def test_malformed_folders_are_one_line_and_write_nothing(tmp_path, break_it, fragments):
    root = tmp_path / "broken"
    shutil.copytree(TINY, root)
    break_it(root)
    out = tmp_path / "out" / "converted.hdf5"
    out.parent.mkdir()
    result = run_script("convert_dataset.py", "--from", "lerobot", root, out, "--no-progress")
    assert_one_line_error(result, *fragments)
    assert list(out.parent.iterdir()) == []  # no output and no partial file
