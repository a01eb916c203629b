"""Robot data specs, the padded slot layout, statistics over real entries, and names stored in the HDF5 file."""

import json

import h5py
import numpy as np
import pytest
import torch

from robokit.data import hdf5_format as fmt
from robokit.data.embodiment import (DataType, Embodiment, RobotDataSpec, SlotLayout, layout_for_data,
                                     masked_gaussian_stats, masked_min_max_stats, normalize_padded, parse_data_type,
                                     unnormalize_padded)
from robokit.data.sequence_dataset import SequenceDataset
from robokit.errors import ConfigError, DatasetError
from robokit.utils import batch_keys as K
from robokit.utils.normalization import STD_EPS, gaussian_stats

JP = DataType.JOINT_POSITIONS
# two robots, 3 and 5 joints, sharing "head"
SPEC = {"snake": {"joint_positions": ["spine_1", "spine_2", "head"], "rgb_images": ["left_eye", "right_eye"]},
        "cyclops": {"joint_positions": ["leg_1", "leg_2", "arm_1", "arm_2", "head"], "rgb_images": ["eye"]}}


@pytest.fixture
def layout():
    return SlotLayout(RobotDataSpec.from_config(SPEC))


# --------------------------------------------------------------------------------------------------
# parsing


def test_spec_parses_and_round_trips():
    spec = RobotDataSpec.from_config(SPEC)
    assert spec.robots == ["snake", "cyclops"]
    assert spec.data_types == [DataType.JOINT_POSITIONS, DataType.RGB_IMAGES]
    assert spec.names("cyclops", "joint_positions") == ("leg_1", "leg_2", "arm_1", "arm_2", "head")
    assert spec.names("snake", DataType.JOINT_TORQUES) == ()
    assert RobotDataSpec.from_config(spec.to_config()) == spec
    assert json.loads(json.dumps(spec.to_config())) == SPEC
    assert RobotDataSpec.from_config({}).is_empty and RobotDataSpec.from_config(None).is_empty
    assert parse_data_type("JOINT_POSITIONS") is JP and parse_data_type(JP) is JP


@pytest.mark.parametrize("raw, words", [
    ({"snake": {"joint_position": ["a"]}}, ["unknown data type 'joint_position'", "did you mean 'joint_positions'"]),
    ({"snake": {"joint_positions": ["a", "b", "a"]}}, ["lists 'a' twice"]),
    ({"snake": {}}, ["['snake'] is empty"]),
    ({"snake": {"joint_positions": []}}, ["lists no names"]),
    ({"snake": {"joint_positions": "head"}}, ["must be a list of item names"]),
    ({"snake": {"joint_positions": ["a", ""]}}, ["non-empty strings"]),
    (["snake"], ["must be {robot: {data type: [names]}}"]),
    ({"": {"joint_positions": ["a"]}}, ["robot names must be non-empty"]),
])
def test_bad_specs_are_one_line(raw, words):
    with pytest.raises(ConfigError) as err:
        RobotDataSpec.from_config(raw, where="input_robot_data_spec")
    message = str(err.value)
    assert "\n" not in message and message.startswith("input_robot_data_spec")
    for word in words:
        assert word in message


def test_unknown_robot_suggests(layout):
    with pytest.raises(ConfigError, match="unknown robot 'snak'; did you mean 'snake'"):
        layout.mask("snak", JP)


# --------------------------------------------------------------------------------------------------
# the padded layout, against hand-written batches


def test_order_layout_widths_indices_masks(layout):
    assert layout.width(JP) == 5 and layout.width("rgb_images") == 2
    np.testing.assert_array_equal(layout.indices("snake", JP), [0, 1, 2])
    np.testing.assert_array_equal(layout.indices("cyclops", JP), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(layout.mask("snake", JP), [True, True, True, False, False])
    np.testing.assert_array_equal(layout.mask("cyclops", "rgb_images"), [True, False])
    assert layout.slot_labels(JP) == ["spine_1|leg_1", "spine_2|leg_2", "head|arm_1", "arm_2", "head"]


def test_pad_hand_computed_batch_and_round_trip(layout):
    snake = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)  # (B=2, 3)
    padded = layout.pad("snake", JP, snake)
    np.testing.assert_array_equal(padded, [[1, 2, 3, 0, 0], [4, 5, 6, 0, 0]])
    assert padded.dtype == np.float32
    np.testing.assert_array_equal(layout.unpad("snake", JP, padded), snake)
    named = layout.unpad_named("snake", JP, padded)
    assert list(named) == ["spine_1", "spine_2", "head"]
    np.testing.assert_array_equal(named["head"], [3.0, 6.0])
    # (B, T, n) windows pad on the last axis
    windows = np.arange(2 * 4 * 5, dtype=np.float64).reshape(2, 4, 5)
    np.testing.assert_array_equal(layout.unpad("cyclops", JP, layout.pad("cyclops", JP, windows)), windows)


def test_pad_images_along_the_camera_axis(layout):
    images = np.ones((2, 1, 3, 4, 4), dtype=np.uint8)  # (B, cameras, C, H, W), cyclops has one camera
    padded = layout.pad("cyclops", "rgb_images", images, axis=1)
    assert padded.shape == (2, 2, 3, 4, 4) and padded.dtype == np.uint8
    assert padded[:, 0].min() == 1 and padded[:, 1].max() == 0


def test_pad_named_reorders_and_refuses(layout):
    values = {"head": np.array([9.0]), "spine_1": np.array([1.0]), "spine_2": np.array([2.0])}
    np.testing.assert_array_equal(layout.pad_named("snake", JP, values), [[1, 2, 9, 0, 0]])
    with pytest.raises(ConfigError, match=r"robot 'snake' has no joint_positions slot for \['tail'\]"):
        layout.pad_named("snake", JP, {**values, "tail": np.array([0.0])})
    with pytest.raises(ConfigError, match=r"\['head'\] missing"):
        layout.pad_named("snake", JP, {"spine_1": np.array([1.0]), "spine_2": np.array([2.0])})
    with pytest.raises(ConfigError, match="lists 3 joint_positions item"):
        layout.pad("snake", JP, np.zeros((2, 5)))


def test_names_layout_gives_shared_joints_one_slot():
    layout = SlotLayout(RobotDataSpec.from_config(SPEC), align="names")
    assert layout.width(JP) == 7  # 3 + 5 - the shared "head"
    assert layout.slot_labels(JP) == ["spine_1", "spine_2", "head", "leg_1", "leg_2", "arm_1", "arm_2"]
    np.testing.assert_array_equal(layout.indices("cyclops", JP), [3, 4, 5, 6, 2])
    np.testing.assert_array_equal(layout.pad("cyclops", JP, np.array([[1.0, 2, 3, 4, 5]])),
                                  [[0, 0, 5, 1, 2, 3, 4]])
    x = np.array([[1.0, 2, 3, 4, 5]])
    np.testing.assert_array_equal(layout.unpad("cyclops", JP, layout.pad("cyclops", JP, x)), x)
    assert SlotLayout.from_config(json.loads(json.dumps(layout.to_config()))) == layout


def test_torch_pad_gradient_flows_only_to_real_items(layout):
    x = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    padded = layout.pad("snake", JP, x)  # (1, 5)
    assert padded.shape == (1, 5) and padded[0, 3:].abs().sum() == 0
    (padded * torch.arange(1.0, 6.0)).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[1.0, 2.0, 3.0]]))
    torch.testing.assert_close(layout.unpad("snake", JP, padded), x)


# --------------------------------------------------------------------------------------------------
# statistics over real entries only


def test_gaussian_stats_leave_padding_out(layout):
    snake = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]])
    cyclops = np.array([[5.0, 0.0, 7.0, 10.0, 20.0]])
    stats = layout.gaussian_stats(JP, {"snake": snake, "cyclops": cyclops})
    # slot 0: {1, 3, 5}; slot 1: {2, 4, 0}; slot 2: {3, 5, 7}; slots 3 and 4: cyclops alone ({10}, {20})
    np.testing.assert_allclose(stats["offset"], [3.0, 2.0, 5.0, 10.0, 20.0], rtol=1e-6)
    std = np.sqrt(8.0 / 3.0)
    np.testing.assert_allclose(stats["scale"], [std + STD_EPS] * 3 + [STD_EPS, STD_EPS], rtol=1e-6)
    # the statistics a padding-blind computation would give are different (slot 3's mean would be 10/3)
    naive = gaussian_stats(np.concatenate([layout.pad("snake", JP, snake), layout.pad("cyclops", JP, cyclops)]))
    assert abs(float(naive["offset"][3]) - 10.0 / 3.0) < 1e-5


def test_masked_stats_of_an_empty_slot_and_min_max():
    x = np.array([[1.0, 5.0, 0.0], [3.0, 5.0, 0.0]])
    mask = np.array([True, True, False])
    g = masked_gaussian_stats(x, mask)
    np.testing.assert_allclose(g["offset"], [2.0, 5.0, 0.0])
    np.testing.assert_allclose(g["scale"], [1.0 + STD_EPS, STD_EPS, 1.0], rtol=1e-6)
    m = masked_min_max_stats(x, np.array([[True, True, False], [True, False, False]]))
    np.testing.assert_allclose(m["offset"], [2.0, 5.0, 0.0])
    np.testing.assert_allclose(m["scale"], [1.0, 1.0, 1.0])


def test_padded_slots_are_exactly_zero_after_normalisation(layout):
    snake = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]], dtype=np.float32)
    cyclops = np.array([[5.0, 0.0, 7.0, 10.0, 20.0]], dtype=np.float32)
    stats = layout.gaussian_stats(JP, {"snake": snake, "cyclops": cyclops})
    mask = layout.mask("snake", JP)
    normed = normalize_padded(layout.pad("snake", JP, snake), stats, mask)
    assert (normed[:, 3:] == 0).all() and stats["offset"][3] != 0  # plain (x - offset) / scale would not be 0
    np.testing.assert_allclose(normed[:, :3], (snake - stats["offset"][:3]) / stats["scale"][:3], rtol=1e-6)
    back = unnormalize_padded(normed, stats, mask)
    np.testing.assert_allclose(layout.unpad("snake", JP, back), snake, rtol=1e-6)
    t = normalize_padded(torch.from_numpy(layout.pad("snake", JP, snake)), stats, torch.from_numpy(mask))
    assert t.dtype == torch.float32 and (t[:, 3:] == 0).all()


# --------------------------------------------------------------------------------------------------
# names in the HDF5 file


FETCH_LIKE = {"robot": "arm3",
              "actions": [{"data_type": "joint_target_positions", "names": ["j1", "j2", "j3"]},
                          {"data_type": "gripper_open_amounts", "names": ["gripper"]}],
              "obs": {"qpos": [{"data_type": "joint_positions", "names": ["j1", "j2", "j3"]}],
                      "cam_image": [{"data_type": "rgb_images", "names": ["cam"]}]}}


def _write(path, embodiment=FETCH_LIKE, qpos_dim=3):
    with fmt.DatasetWriter(path, env_args={"env_name": "X", "type": 4, "env_kwargs": {}},
                           embodiment=embodiment) as w:
        for _ in range(2):
            w.add_episode(obs={"qpos": np.zeros((3, qpos_dim)), "cam_image": np.zeros((3, 4, 4, 3), np.uint8),
                               "other": np.zeros((3, 2))},
                          actions=np.zeros((3, 4)), rewards=np.zeros(3), dones=np.zeros(3))
    return path


def test_names_round_trip_through_hdf5_and_robomimic_layout_is_unchanged(tmp_path):
    path = _write(tmp_path / "d.hdf5")
    emb = fmt.read_embodiment(path)
    assert emb == Embodiment.from_dict(FETCH_LIKE) and emb.robot == "arm3"
    with h5py.File(path, "r") as f:
        assert set(f["data"].attrs) == {"total", "env_args", fmt.EMBODIMENT_ATTR}
        assert json.loads(f["data"].attrs[fmt.EMBODIMENT_ATTR]) == FETCH_LIKE
        assert set(f["data/demo_0"].keys()) == {"obs", "actions", "rewards", "dones"}
        assert f["data/demo_0/actions"].shape == (3, 4)
    assert fmt.validate_dataset(path) == []
    assert emb.data_spec(actions=True).to_config() == {"arm3": {"joint_target_positions": ["j1", "j2", "j3"],
                                                                "gripper_open_amounts": ["gripper"]}}
    assert emb.data_spec().to_config() == {"arm3": {"joint_positions": ["j1", "j2", "j3"], "rgb_images": ["cam"]}}
    assert emb.locate("gripper_open_amounts", actions=True) == [("actions", 3)]
    assert emb.locate("rgb_images") == [("cam_image", None)]


def test_file_without_names_reads_none(tmp_path):
    path = _write(tmp_path / "plain.hdf5", embodiment=None)
    assert fmt.read_embodiment(path) is None
    with h5py.File(path, "r") as f:
        assert fmt.EMBODIMENT_ATTR not in f["data"].attrs


def test_names_that_contradict_the_data_are_refused(tmp_path):
    with pytest.raises(DatasetError, match=r"obs/qpos has per-step shape \(5,\) but its embodiment names 3"):
        _write(tmp_path / "bad.hdf5", qpos_dim=5)
    assert not (tmp_path / "bad.hdf5").exists()
    path = _write(tmp_path / "ok.hdf5")
    with h5py.File(path, "r+") as f:  # a file edited by hand afterwards
        raw = json.loads(f["data"].attrs[fmt.EMBODIMENT_ATTR])
        raw["obs"]["missing_key"] = [{"data_type": "custom", "names": ["a"]}]
        f["data"].attrs[fmt.EMBODIMENT_ATTR] = json.dumps(raw)
    with pytest.raises(DatasetError, match="names obs key 'missing_key', which the data does not have") as err:
        fmt.read_embodiment(path)
    assert "\n" not in str(err.value)
    problems = fmt.validate_dataset(path)
    assert len(problems) == 1 and "missing_key" in problems[0]


@pytest.mark.parametrize("change, words", [
    ({"robot": ""}, "robot name must be a non-empty string"),
    ({"actions": [{"data_type": "joint_postions", "names": ["a", "b", "c", "d"]}]}, "did you mean 'joint_positions'"),
    ({"obs": {"cam_image": [{"data_type": "rgb_images", "names": ["a", "b"]}]}}, "one segment with one name"),
    ({"actions": [{"data_type": "custom", "names": ["a", "a", "b", "c"]}]}, "lists 'a' twice"),
    ({"colour": 1}, "unknown field"),
])
def test_bad_embodiments_are_refused_at_write_time(tmp_path, change, words):
    with pytest.raises(DatasetError, match=words):
        _write(tmp_path / "bad.hdf5", embodiment={**FETCH_LIKE, **change})


# --------------------------------------------------------------------------------------------------
# a SequenceDataset padded to a multi-robot action layout

ROBOTS = {"snake": ["spine_1", "spine_2", "head"], "cyclops": ["leg_1", "leg_2", "arm_1", "arm_2", "head"]}


def _robot_file(path, robot, offset):
    """One demo of 4 steps; action column j (of the file's joint order) at step t is offset + 10 * j + t, then
    the gripper -1. The file lists the joints in reverse, so reading by name must reorder them."""
    joints = ROBOTS[robot][::-1]
    embodiment = {"robot": robot, "actions": [{"data_type": "joint_target_positions", "names": joints},
                                              {"data_type": "gripper_open_amounts", "names": ["grip"]}],
                  "obs": {"q": [{"data_type": "joint_positions", "names": joints}]}}
    t = np.arange(4, dtype=np.float32)[:, None]
    actions = np.concatenate([offset + 10 * np.arange(len(joints))[None, :] + t, -np.ones((4, 1))], axis=1)
    with fmt.DatasetWriter(path, env_args={"env_name": "X", "type": 4, "env_kwargs": {}}, embodiment=embodiment) as w:
        w.add_episode(obs={"q": np.zeros((4, len(joints)), np.float32)}, actions=actions.astype(np.float32),
                      rewards=np.zeros(4), dones=np.zeros(4))
    return path


@pytest.fixture
def robot_files(tmp_path):
    return {"snake": _robot_file(tmp_path / "snake.hdf5", "snake", 100.0),
            "cyclops": _robot_file(tmp_path / "cyclops.hdf5", "cyclops", 200.0)}


def test_layout_from_the_files_names(robot_files):
    embodiments = [fmt.read_embodiment(p) for p in robot_files.values()]
    layout = layout_for_data({}, embodiments, actions=True)  # empty spec: everything the data names
    assert layout.spec.robots == ["snake", "cyclops"] and layout.flat_width == 5 + 1
    spec = {r: {"joint_target_positions": names, "gripper_open_amounts": ["grip"]} for r, names in ROBOTS.items()}
    layout = layout_for_data(spec, embodiments, actions=True)
    np.testing.assert_array_equal(layout.flat_mask("snake"), [1, 1, 1, 0, 0, 1])
    bad = {**spec, "snake": {"joint_target_positions": ["spine_1", "tail"]}}
    with pytest.raises(DatasetError, match="lists joint_target_positions item 'tail' for robot 'snake' but the file"):
        layout_for_data(bad, embodiments, actions=True, where="output_robot_data_spec")
    typo = {**spec, "snake": {"joint_target_positions": ["spine_1", "spine2"]}}
    with pytest.raises(DatasetError, match="did you mean 'spine_2'") as err:
        layout_for_data(typo, embodiments, actions=True, where="output_robot_data_spec")
    assert "\n" not in str(err.value) and str(err.value).startswith("output_robot_data_spec: ")
    with pytest.raises(DatasetError, match="unknown robot 'cyclops'"):
        layout_for_data({"snake": spec["snake"]}, embodiments, actions=True, where="output_robot_data_spec")


def test_dataset_pads_actions_by_name_and_masks_them(robot_files):
    spec = {r: {"joint_target_positions": names, "gripper_open_amounts": ["grip"]} for r, names in ROBOTS.items()}
    layout = layout_for_data(spec, [fmt.read_embodiment(p) for p in robot_files.values()], actions=True)
    ds = SequenceDataset(robot_files["snake"], ["q"], action_layout=layout)
    assert ds.robot == "snake" and ds.action_dim == 6
    batch = ds.get_batch([0, 3])
    # spec order spine_1, spine_2, head = file columns 2, 1, 0 -> values 100 + 20, 100 + 10, 100 (+ t)
    np.testing.assert_array_equal(batch[K.ACTIONS][:, 0].numpy(), [[120, 110, 100, 0, 0, -1], [123, 113, 103, 0, 0, -1]])
    assert batch[K.ACTION_MASK].shape == (2, 6) and batch[K.ACTION_MASK].dtype == torch.bool
    np.testing.assert_array_equal(batch[K.ACTION_MASK][0].numpy(), [1, 1, 1, 0, 0, 1])

    normed = SequenceDataset(robot_files["snake"], ["q"], action_layout=layout, action_normalization="gaussian")
    stats = normed.get_action_normalization_stats()[K.ACTIONS]
    np.testing.assert_allclose(stats["offset"], [121.5, 111.5, 101.5, 0, 0, -1], rtol=1e-6)
    np.testing.assert_allclose(stats["scale"][3:5], [1.0, 1.0])  # padded slots: no data, no statistics
    # pooled statistics (e.g. over both robots) with offsets at snake's padded slots: they still read exactly 0
    pooled = {"offset": np.full(6, 5.0, np.float32), "scale": np.full(6, 2.0, np.float32)}
    ds2 = SequenceDataset(robot_files["snake"], ["q"], action_layout=layout, action_normalization_stats=pooled)
    acts = ds2.get_batch(np.arange(len(ds2)))[K.ACTIONS]
    assert (acts[..., 3:5] == 0).all()
    np.testing.assert_allclose(acts[0, 0, :3].numpy(), (np.array([120, 110, 100]) - 5.0) / 2.0)

    cyc = SequenceDataset(robot_files["cyclops"], ["q"], action_layout=layout).get_batch([1])
    np.testing.assert_array_equal(cyc[K.ACTIONS][0, 0].numpy(), [241, 231, 221, 211, 201, -1])
    assert cyc[K.ACTION_MASK].all()
    named = layout.flat_unpad_named("snake", batch[K.ACTIONS][0, 0])
    assert float(named[DataType.JOINT_TARGET_POSITIONS]["head"]) == 100.0


def test_dataset_without_names_or_robot_is_refused(robot_files, tmp_path):
    layout = layout_for_data({}, [fmt.read_embodiment(robot_files["snake"])], actions=True)
    with pytest.raises(DatasetError, match="robot 'cyclops' is not in the output robot data spec"):
        SequenceDataset(robot_files["cyclops"], ["q"], action_layout=layout)
    plain = _write(tmp_path / "plain.hdf5", embodiment=None)
    with pytest.raises(DatasetError, match="does not name its actions"):
        SequenceDataset(plain, ["qpos"], action_layout=layout)
    with pytest.raises(DatasetError, match="hdf5_cache_mode"):
        SequenceDataset(robot_files["snake"], ["q"], action_layout=layout, hdf5_cache_mode=None)


# --------------------------------------------------------------------------------------------------
# config keys


def test_config_keys_default_empty_and_bad_specs_are_one_line():
    from robokit.config import apply_overrides, config_factory

    config = config_factory("bc")
    config.validate()
    assert config.train.input_robot_data_spec == {} and config.train.output_robot_data_spec == {}
    cases = {'train.output_robot_data_spec={"arm": {"joint_postions": ["a"]}}': "did you mean 'joint_positions'",
             'train.input_robot_data_spec={"arm": {}}': "train.input_robot_data_spec['arm'] is empty",
             'train.input_robot_data_spec={"arm": {"joint_positions": ["a", "a"]}}': "lists 'a' twice"}
    for override, words in cases.items():
        config = config_factory("bc")
        with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")) as err:
            apply_overrides(config, [override])  # checks the config
            config.validate()
        assert "\n" not in str(err.value)
    config = config_factory("bc")  # a well-formed spec is accepted: the data decides whether it fits
    apply_overrides(config, ['train.output_robot_data_spec={"arm": {"joint_positions": ["a"]}}'])
    config.validate()
    assert config.train.output_robot_data_spec == {"arm": {"joint_positions": ["a"]}}


def test_dataset_pads_obs_by_name_with_masks_and_real_entry_stats(robot_files):
    spec = {r: {"joint_positions": names} for r, names in ROBOTS.items()}
    layout = layout_for_data(spec, [fmt.read_embodiment(p) for p in robot_files.values()])
    with h5py.File(robot_files["snake"], "r+") as f:  # give the joints values: column j (file order) = j + 1
        f["data/demo_0/obs/q"][...] = np.tile(np.arange(1, 4, dtype=np.float32), (4, 1))
    ds = SequenceDataset(robot_files["snake"], ["joint_positions"], obs_layout=layout)
    assert ds.obs_keys == ["joint_positions"] and ds.obs_key_shapes == {"joint_positions": (5,)}
    batch = ds.get_batch([0, 2])
    # spec order spine_1, spine_2, head = file columns 2, 1, 0 = values 3, 2, 1
    np.testing.assert_array_equal(batch[K.OBS]["joint_positions"][:, 0].numpy(), [[3, 2, 1, 0, 0]] * 2)
    np.testing.assert_array_equal(batch[K.OBS_MASK]["joint_positions"][0].numpy(), [1, 1, 1, 0, 0])
    assert "obs/q" not in ds._cache  # the file key only fed the padded one
    normed = SequenceDataset(robot_files["snake"], None, obs_layout=layout, hdf5_normalize_obs=True)
    stats = normed.get_obs_normalization_stats()["joint_positions"]
    np.testing.assert_allclose(stats["offset"], [3, 2, 1, 0, 0])
    np.testing.assert_allclose(stats["scale"], [STD_EPS] * 3 + [1, 1], rtol=1e-5)
    obs = normed.get_batch([0])[K.OBS]["joint_positions"]
    assert (obs == 0).all()  # constant real slots normalise to 0, padded slots are exactly 0
    both = SequenceDataset(robot_files["snake"], ["joint_positions", "q"], obs_layout=layout, hdf5_cache_mode="low_dim")
    assert set(both.get_batch([1])[K.OBS]) == {"joint_positions", "q"} and both.obs_key_shapes["q"] == (3,)
    with pytest.raises(DatasetError, match=r"padded keys: joint_positions"):
        SequenceDataset(robot_files["snake"], ["joint_position"], obs_layout=layout)


def test_pooled_stats_over_two_robots_real_entries_only(robot_files):
    from robokit.data.embodiment import pooled_stats

    spec = {r: {"joint_target_positions": names, "gripper_open_amounts": ["grip"]} for r, names in ROBOTS.items()}
    paths = list(robot_files.values())
    layout = layout_for_data(spec, [fmt.read_embodiment(p) for p in paths], actions=True)
    stats = pooled_stats(paths, layout, actions=True)
    # slot 0: snake 120+t, cyclops 240+t (t = 0..3) -> mean 181.5; slots 3, 4: cyclops alone (210+t, 200+t)
    np.testing.assert_allclose(stats["offset"], [181.5, 171.5, 161.5, 211.5, 201.5, -1.0], rtol=1e-6)
    std_two_robots = np.sqrt(60.0 ** 2 + 1.25)  # two clusters 120 apart, each with variance 1.25
    np.testing.assert_allclose(stats["scale"][:3], std_two_robots + STD_EPS, rtol=1e-5)
    np.testing.assert_allclose(stats["scale"][3:5], np.sqrt(1.25) + STD_EPS, rtol=1e-5)
    snake = SequenceDataset(paths[0], ["q"], action_layout=layout, action_normalization_stats=stats)
    acts = snake.get_batch(np.arange(len(snake)))[K.ACTIONS]
    assert (acts[..., 3:5] == 0).all()  # padded slots exactly 0 although their offsets are not
    obs_layout = layout_for_data({r: {"joint_positions": n} for r, n in ROBOTS.items()},
                                 [fmt.read_embodiment(p) for p in paths])
    obs_stats = pooled_stats(paths, obs_layout, kind="min_max")
    assert set(obs_stats) == {"joint_positions"} and obs_stats["joint_positions"]["offset"].shape == (5,)
