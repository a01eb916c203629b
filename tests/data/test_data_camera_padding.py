"""Robots with different cameras in one run (#19): one named camera slot per camera obs key of the model, a zero
image where a robot has no such camera, and the camera mask OBS_MASK["rgb_images"] (B, n_slots) in every batch
(obs key "rgb_images_mask" as an input). Hand-made files check the batches value by value; real planar-arm demos
(generate_dataset.py --camera-size) check training, the checkpoint and a rollout of each robot."""

import json

import numpy as np
import pytest
import torch
from script_runner import run_script

from robokit import policy_from_checkpoint
from robokit.config import apply_overrides, config_factory
from robokit.config.datasets import dataset_entries
from robokit.data import hdf5_format as fmt
from robokit.data.embodiment import (
    CameraSlots,
    DataType,
    Embodiment,
    RobotData,
    layout_for_data,
)
from robokit.data.multi_dataset import load_multi_datasets
from robokit.data.sequence_dataset import SequenceDataset
from robokit.envs import create_envs
from robokit.errors import DatasetError
from robokit.train.checkpoint import load_checkpoint
from robokit.train.rollouts import rollout_with_stats
from robokit.utils import batch_keys as K

ENV_ARGS = {"env_name": "PointReach-v0", "type": 4, "env_kwargs": {}}
SLOTS = ["front_image", "wrist_image"]
KEYS = ["pos", *SLOTS, "rgb_images_mask"]
JOINTS = {"uni": ["j1"], "duo": ["j1", "j2"]}


def _embodiment(robot, cameras):
    obs = {"pos": [{"data_type": "joint_positions", "names": ["p"]}]}
    obs.update({f"{c}_image": [{"data_type": "rgb_images", "names": [c]}] for c in cameras})
    return Embodiment(robot, [{"data_type": "joint_velocities", "names": JOINTS[robot]}], obs)


def write_robot(path, robot, cameras, value, lengths=(3, 2), shape=(4, 4, 3)):
    """Episode e, step t: obs/pos = 10 e + t, camera c's image = value[c] + t everywhere."""
    with fmt.DatasetWriter(path, env_args=ENV_ARGS, embodiment=_embodiment(robot, cameras)) as writer:
        for e, T in enumerate(lengths):
            t = np.arange(T)
            obs = {"pos": (10.0 * e + t)[:, None].astype(np.float32)}
            obs.update({f"{c}_image": np.broadcast_to((value[c] + t).astype(np.uint8)[:, None, None, None],
                                                      (T, *shape)).copy() for c in cameras})
            writer.add_episode(obs=obs, next_obs=obs, actions=np.ones((T, len(JOINTS[robot])), np.float32),
                               rewards=np.zeros(T), dones=(t == T - 1).astype(float))
        writer.set_mask("train", writer.demo_names)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """uni has only a wrist camera; duo has front and wrist (the slots: front_image, wrist_image)."""
    root = tmp_path_factory.mktemp("cams")
    uni = write_robot(root / "uni.hdf5", "uni", ["wrist"], {"wrist": 100})
    duo = write_robot(root / "duo.hdf5", "duo", ["front", "wrist"], {"front": 50, "wrist": 200})
    merged = root / "both.hdf5"
    fmt.merge_datasets([uni, duo], merged)
    return {"uni": uni, "duo": duo, "merged": merged, "root": root}


def _action_layout(paths):
    embodiments = [e for p in paths for e in fmt.read_embodiments(p).values()]
    return layout_for_data({}, embodiments, actions=True)


def test_camera_slots_are_the_cameras_any_robot_names(files):
    slots = CameraSlots.for_data([files["uni"], files["duo"]], KEYS)
    assert slots.keys == {DataType.RGB_IMAGES: tuple(SLOTS)}
    assert slots.specs == {k: ((4, 4, 3), np.dtype(np.uint8)) for k in SLOTS}
    uni = fmt.read_embodiment(files["uni"])
    assert slots.lacking(uni) == ["front_image"] and list(slots.mask(uni, "rgb_images")) == [False, True]
    assert CameraSlots.for_data([files["uni"]], ["pos"]) is None


def test_a_camera_of_two_sizes_is_one_line(files):
    small = write_robot(files["root"] / "small.hdf5", "duo", ["front", "wrist"], {"front": 1, "wrist": 2},
                        shape=(2, 2, 3))
    with pytest.raises(DatasetError, match=r"camera obs 'front_image' has shape \(4, 4, 3\) in .* but \(2, 2, 3\)"):
        CameraSlots.for_data([files["duo"], small], KEYS)


@pytest.mark.parametrize("cache", ["all", "low_dim"])
def test_padded_camera_batches_by_hand(files, cache):
    slots = CameraSlots.for_data([files["merged"]], KEYS)
    ds = SequenceDataset(files["merged"], KEYS, action_layout=_action_layout([files["merged"]]), camera_slots=slots,
                         hdf5_cache_mode=cache, hdf5_normalize_obs=True, load_next_obs=True, goal_mode="last")
    assert ds.obs_key_shapes == {"pos": (1,), "front_image": (4, 4, 3), "wrist_image": (4, 4, 3),
                                 "rgb_images_mask": (2,)}
    # samples: uni's episodes (3 and 2 steps), then duo's; sample 0 is uni t=0, sample 6 is duo's second demo t=1
    batch = ds.get_batch(np.array([0, 6, 4]))
    obs = batch[K.OBS]
    assert obs["front_image"].dtype == torch.uint8
    assert (obs["front_image"][[0, 2]] == 0).all()  # uni has no front camera: exactly zero
    assert (obs["front_image"][1] == 50 + 1).all() and (obs["wrist_image"][1] == 200 + 1).all()
    assert (obs["wrist_image"][0] == 100).all() and (obs["wrist_image"][2] == 100 + 1).all()
    expected = torch.tensor([[False, True], [True, True], [False, True]])
    assert torch.equal(batch[K.OBS_MASK]["rgb_images"], expected)  # (B, n_slots)
    assert torch.equal(obs["rgb_images_mask"][:, 0], expected.float())  # the same mask as an input
    assert (batch[K.NEXT_OBS]["front_image"][[0, 2]] == 0).all() and (batch[K.GOAL_OBS]["front_image"][0] == 0).all()
    stats = ds.get_obs_normalization_stats()  # images and the mask are not normalised
    assert set(stats) == {"pos"}
    assert torch.equal(batch[K.ACTION_MASK], torch.tensor([[True, False], [True, True], [True, False]]))


def test_several_datasets_share_the_camera_slots(files):
    paths = [files["uni"], files["duo"]]
    entries = dataset_entries([str(p) for p in paths])
    kwargs = {"obs_keys": KEYS, "action_layout": _action_layout(paths), "hdf5_normalize_obs": True,
              "camera_slots": CameraSlots.for_data(paths, KEYS)}
    train, _ = load_multi_datasets(entries, kwargs, ["train", "train"], None)
    batch = train.get_batch(np.array([0, 5]))  # uni's first step, duo's first step
    assert torch.equal(batch[K.OBS_MASK]["rgb_images"], torch.tensor([[False, True], [True, True]]))
    assert (batch[K.OBS]["front_image"][0] == 0).all() and (batch[K.OBS]["front_image"][1] == 50).all()
    assert set(train.get_obs_normalization_stats()) == {"pos"}  # over the union: images and masks left out


def test_a_training_robot_fills_the_camera_slots_by_key(files):
    """uni's only camera is its wrist: it feeds the wrist slot (as in training), not the first slot."""
    record = RobotData.for_training(None, _action_layout([files["merged"]]), [files["merged"]], KEYS)
    assert record.camera_slots == {DataType.RGB_IMAGES: SLOTS}
    shapes = {"pos": (1,), "front_image": (4, 4, 3), "wrist_image": (4, 4, 3), "rgb_images_mask": (2,)}
    adapter = record.adapter(shapes, robot="uni")
    model_obs = adapter.obs({"pos": np.zeros(1, np.float32), "wrist_image": np.full((4, 4, 3), 9, np.uint8)})
    assert (model_obs["wrist_image"] == 9).all() and (model_obs["front_image"] == 0).all()
    assert list(model_obs["rgb_images_mask"]) == [0.0, 1.0]
    assert adapter.input_items[DataType.RGB_IMAGES] == ("wrist",)
    duo = record.adapter(shapes, robot="duo")
    assert list(duo.obs({"pos": np.zeros(1, np.float32), "front_image": np.zeros((4, 4, 3), np.uint8),
                         "wrist_image": np.zeros((4, 4, 3), np.uint8)})["rgb_images_mask"]) == [1.0, 1.0]


# ---------------------------------------------------------------- real demos: training and a rollout of each robot
@pytest.fixture(scope="module")
def arms(tmp_path_factory):
    """planar_arm_3 with camera top, planar_arm_4 with cameras top and default (8x8 images), and both merged."""
    root = tmp_path_factory.mktemp("arm_cams")
    for n, cameras in ((3, ["top"]), (4, ["top", "default"])):
        run_script("generate_dataset.py", "--env", f"robokit/PlanarArm{n}-v0", "--n-demos", "2", "--out",
                   root / f"arm{n}.hdf5", "--seed", str(n), "--camera-size", "8", "--camera-names", *cameras,
                   check=True)
    fmt.merge_datasets([root / "arm3.hdf5", root / "arm4.hdf5"], root / "arm34.hdf5")
    return root


def _train(arms, data_overrides):
    from robokit.train.offline import train

    output = {f"planar_arm_{n}": {"joint_velocities": [f"joint_{i + 1}" for i in range(n)]} for n in (3, 4)}
    config = config_factory("bc")
    apply_overrides(config, [f"train.output_robot_data_spec={json.dumps(output)}",
                             'observation.modalities.obs.low_dim=["target", "rgb_images_mask"]',
                             'observation.modalities.obs.rgb=["top_image", "default_image"]',
                             "algo.actor_layer_dims=[16]", "train.hdf5_normalize_obs=true", "train.num_epochs=1",
                             "experiment.epoch_every_n_steps=2",
                             "experiment.validate=false", "experiment.rollout.enabled=false", "train.batch_size=4",
                             "experiment.logging.log_tb=false", *data_overrides])
    run = train(config, output_dir=str(arms / "runs"), progress=False)
    return run / "models" / "last.pth"


@pytest.mark.parametrize("data", ["merged", "list"])
def test_bc_on_robots_with_different_cameras_trains_and_each_robot_rolls_out(arms, data):
    paths = [arms / "arm3.hdf5", arms / "arm4.hdf5"]
    entries = ([{"path": str(arms / "arm34.hdf5")}] if data == "merged" else [{"path": str(p)} for p in paths])
    checkpoint = _train(arms, [f"train.data={json.dumps(entries)}"])
    ckpt = load_checkpoint(checkpoint)
    assert ckpt["robot_data"]["camera_slots"] == {"rgb_images": ["default_image", "top_image"]}
    assert ckpt["shape_metadata"]["all_shapes"]["rgb_images_mask"] == [2]
    assert "rgb_images_mask" not in ckpt["obs_normalization_stats"]
    for n, mask in ((3, [0.0, 1.0]), (4, [1.0, 1.0])):
        robot = f"planar_arm_{n}"
        policy, ckpt = policy_from_checkpoint(checkpoint, robot=robot, device="cpu")
        assert list(policy.robot._constant["rgb_images_mask"]) == mask
        envs = create_envs(ckpt["robot_data"]["env_args"][robot], 1, "sync")
        try:
            stats = rollout_with_stats(policy, envs, 1, 3, seed=0, progress=False)
        finally:
            for env in envs:
                env.close()
        assert stats["Num_Episodes"] == 1 and stats["Horizon"] == 3
