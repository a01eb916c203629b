"""Two robots in one run: a file of several robots (merge_datasets), padded batches with per-sample masks and
statistics over real entries, the training loop on robot data specs, the layouts in the checkpoint, and feeding a
trained model by names (a training robot, a new robot from its spec; the refusals, exit code 2 in the scripts).

The data are real planar-arm demos (robokit/PlanarArm{3,4}-v0, a handful of steps each)."""

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from robokit import policy_from_checkpoint
from robokit.config import apply_overrides, config_factory
from robokit.data import hdf5_format as fmt
from robokit.data.embodiment import DataType, layout_for_data, training_layouts
from robokit.data.sequence_dataset import SequenceDataset
from robokit.envs import create_env_from_name, make_expert
from robokit.envs.embodiments import embodiment_for_env
from robokit.envs.experts import run_expert_episode
from robokit.envs.tasks import PLANAR_ARM_IDS
from robokit.errors import ConfigError, DatasetError
from robokit.train.checkpoint import load_checkpoint
from robokit.utils import batch_keys as K

REPO = Path(__file__).resolve().parents[2]
J = {n: [f"joint_{i + 1}" for i in range(n)] for n in (3, 4, 5)}
CUSTOM = ["to_target_x", "to_target_y", "target_x", "target_y"]


def arm_spec(n):
    return {"joint_positions": J[n], "joint_velocities": J[n], "end_effector_poses": ["fingertip_x", "fingertip_y"],
            "custom": CUSTOM}


INPUT_SPEC = {f"planar_arm_{n}": arm_spec(n) for n in (3, 4)}
OUTPUT_SPEC = {f"planar_arm_{n}": {"joint_velocities": J[n]} for n in (3, 4)}
OBS_KEYS = ["joint_positions", "joint_velocities", "end_effector_poses", "custom", "joint_positions_mask"]


def write_arm(path, n, n_demos=3):
    env = create_env_from_name(PLANAR_ARM_IDS[n])
    expert = make_expert(PLANAR_ARM_IDS[n])
    shapes = {k: tuple(s.shape) for k, s in env.observation_space.spaces.items()}
    embodiment = embodiment_for_env(PLANAR_ARM_IDS[n], shapes, (n,))
    with fmt.DatasetWriter(path, env_args=env.serialize(), embodiment=embodiment) as writer:
        for seed in range(n_demos):
            ep = run_expert_episode(env, expert, seed=100 * n + seed)
            writer.add_episode(obs=ep.obs, next_obs=ep.next_obs, actions=ep.actions, rewards=ep.rewards,
                               dones=ep.dones, states=ep.states, attrs={"seed": 100 * n + seed})
        writer.set_mask("train", writer.demo_names)
    env.close()
    return path


@pytest.fixture(scope="module")
def arms(tmp_path_factory):
    root = tmp_path_factory.mktemp("arms")
    paths = {n: write_arm(root / f"arm{n}.hdf5", n) for n in (3, 4)}
    merged = root / "arm34.hdf5"
    counts = fmt.merge_datasets([paths[3], paths[4]], merged)
    return {**paths, "merged": merged, "counts": counts, "root": root}


def test_merged_file_names_each_demos_robot(arms):
    merged = arms["merged"]
    assert arms["counts"] == {"planar_arm_3": 3, "planar_arm_4": 3}
    assert fmt.validate_dataset(merged) == []
    assert list(fmt.read_embodiments(merged)) == ["planar_arm_3", "planar_arm_4"]
    assert fmt.demo_robots(merged) == ["planar_arm_3"] * 3 + ["planar_arm_4"] * 3
    assert fmt.list_demos(merged, "robot_planar_arm_4") == ["demo_3", "demo_4", "demo_5"]
    assert fmt.list_demos(merged, "train") == [f"demo_{i}" for i in range(6)]
    assert {r: a["env_name"] for r, a in fmt.read_robot_env_args(merged).items()} == {
        "planar_arm_3": PLANAR_ARM_IDS[3], "planar_arm_4": PLANAR_ARM_IDS[4]}
    with pytest.raises(DatasetError, match="several robots"):
        fmt.read_embodiment(merged)
    with h5py.File(arms[4], "r") as src, h5py.File(merged, "r") as dst:  # the episodes are copied unchanged
        np.testing.assert_array_equal(dst["data/demo_3/actions"][()], src["data/demo_0/actions"][()])
        assert dst["data/demo_3"].attrs["seed"] == src["data/demo_0"].attrs["seed"]


def test_plain_keys_on_several_robots_are_refused(arms):
    with pytest.raises(DatasetError, match="several robots .* set train.output_robot_data_spec"):
        SequenceDataset(arms["merged"], ["target"])


def test_padded_batches_masks_and_real_entry_statistics(arms):
    embodiments = list(fmt.read_embodiments(arms["merged"]).values())
    obs_layout = layout_for_data(INPUT_SPEC, embodiments)
    action_layout = layout_for_data(OUTPUT_SPEC, embodiments, actions=True)
    ds = SequenceDataset(arms["merged"], OBS_KEYS, action_layout=action_layout, obs_layout=obs_layout,
                         action_normalization="gaussian", hdf5_normalize_obs=True)
    assert ds.robots == ["planar_arm_3", "planar_arm_4"] and ds.robot is None and ds.has_padded_actions
    assert ds.obs_key_shapes == {"joint_positions": (4,), "joint_velocities": (4,), "end_effector_poses": (2,),
                                 "custom": (4,), "joint_positions_mask": (4,)}
    batch = ds.get_batch(np.arange(len(ds)))
    arm3 = torch.as_tensor(np.array(ds.demo_robots)[ds._sample_ep] == "planar_arm_3")  # (N,) sample is arm 3
    np.testing.assert_array_equal(batch[K.ACTION_MASK][:, 3].numpy(), ~arm3.numpy())
    assert batch[K.ACTION_MASK][:, :3].all()
    assert (batch[K.ACTIONS][arm3][..., 3] == 0).all()  # padded slot exactly 0 after normalisation
    assert (batch[K.OBS]["joint_positions"][arm3][..., 3] == 0).all()
    np.testing.assert_array_equal(batch[K.OBS]["joint_positions_mask"][:, 0].numpy(),
                                  batch[K.OBS_MASK]["joint_positions"].numpy().astype(np.float32))
    # statistics by hand: slot 3 from arm 4's joint_4 only, slot 0 from both arms' joint_1
    with h5py.File(arms[3], "r") as f3, h5py.File(arms[4], "r") as f4:
        a3 = np.concatenate([f3[f"data/{d}/actions"][()] for d in fmt.list_demos(f3)])
        a4 = np.concatenate([f4[f"data/{d}/actions"][()] for d in fmt.list_demos(f4)])
    stats = ds.get_action_normalization_stats()[K.ACTIONS]
    np.testing.assert_allclose(stats["offset"][3], a4[:, 3].mean(), rtol=1e-5)
    np.testing.assert_allclose(stats["offset"][0], np.concatenate([a3[:, 0], a4[:, 0]]).mean(), rtol=1e-5, atol=1e-6)
    assert "joint_positions_mask" not in ds.get_obs_normalization_stats()  # masks stay 0 / 1
    # one robot's demos of the merged file
    only3 = SequenceDataset(arms["merged"], OBS_KEYS, action_layout=action_layout, obs_layout=obs_layout,
                            filter_by_attribute="robot_planar_arm_3")
    assert only3.robot == "planar_arm_3" and only3.has_padded_actions


def test_training_layouts_follow_the_specs_and_refuse_contradictions(arms):
    paths = [arms["merged"]]
    assert training_layouts({}, {}, [arms[3]]) == (None, None)  # robomimic's keys as they are
    obs_layout, action_layout = training_layouts({}, {}, paths)  # several robots: the whole action, by name
    assert obs_layout is None and action_layout.flat_width == 4
    with pytest.raises(DatasetError, match="'jont_2'.*did you mean 'joint_2'"):
        training_layouts({"planar_arm_3": {"joint_positions": ["joint_1", "jont_2"]}, "planar_arm_4": arm_spec(4)},
                         {}, paths)
    with pytest.raises(DatasetError, match="robot is not in the spec: unknown robot 'planar_arm_4'"):
        training_layouts({"planar_arm_3": arm_spec(3)}, {}, paths)


def _train(arms, algo="bc", overrides=()):
    from robokit.train.offline import train

    config = config_factory(algo)
    apply_overrides(config, [f"train.input_robot_data_spec={json.dumps(INPUT_SPEC)}",
                             f"train.output_robot_data_spec={json.dumps(OUTPUT_SPEC)}",
                             f"observation.modalities.obs.low_dim={json.dumps(OBS_KEYS)}",
                             "train.hdf5_normalize_obs=true", "train.num_epochs=2", "experiment.epoch_every_n_steps=3",
                             "experiment.validate=false", "experiment.rollout.enabled=false", "train.batch_size=8",
                             "experiment.logging.log_tb=false", *overrides])
    torch.set_num_threads(1)
    run = train(config, dataset_path=str(arms["merged"]), output_dir=str(arms["root"] / "runs"), progress=False)
    return run / "models" / "last.pth"


@pytest.fixture(scope="module")
def checkpoint(arms):
    return _train(arms, overrides=["algo.actor_layer_dims=[16]"])


def test_checkpoint_holds_layouts_names_and_statistics(checkpoint):
    ckpt = load_checkpoint(checkpoint)
    record = ckpt["robot_data"]
    assert record["input_layout"]["spec"] == INPUT_SPEC and record["output_layout"]["spec"] == OUTPUT_SPEC
    assert list(record["embodiments"]) == ["planar_arm_3", "planar_arm_4"]
    assert record["env_args"]["planar_arm_4"]["env_name"] == PLANAR_ARM_IDS[4]
    assert ckpt["shape_metadata"]["ac_dim"] == 4
    assert ckpt["shape_metadata"]["all_shapes"]["joint_positions_mask"] == [4]
    stats = ckpt["obs_normalization_stats"]  # over real entries: arm 4's joint_4 alone fills slot 3
    assert set(stats) == {"joint_positions", "joint_velocities", "end_effector_poses", "custom"}
    assert stats["joint_positions"]["offset"].shape == (4,)


def _obs(n, seed=0):
    env = create_env_from_name(PLANAR_ARM_IDS[n])
    obs = env.reset(seed=seed)
    env.close()
    return obs


def test_a_training_robot_is_fed_by_names_and_gets_its_own_action(checkpoint):
    for n in (3, 4):
        policy, _ = policy_from_checkpoint(checkpoint, robot=f"planar_arm_{n}", device="cpu")
        obs = _obs(n)
        policy.start_episode()
        action = policy(obs)
        assert action.shape == (n,) and np.isfinite(action).all()
        batched = policy({k: np.stack([v, v]) for k, v in obs.items()})
        assert batched.shape == (2, n)
        np.testing.assert_allclose(batched[0], action, rtol=1e-5, atol=1e-6)
    # the model's inputs for arm 3: joint_1..3 in slots 0-2, slot 3 zero and masked
    adapter = policy_from_checkpoint(checkpoint, robot="planar_arm_3", device="cpu")[0].robot
    model_obs = adapter.obs(_obs(3))
    np.testing.assert_array_equal(model_obs["joint_positions"][:3], _obs(3)["joint_pos"])
    assert model_obs["joint_positions"][3] == 0 and list(model_obs["joint_positions_mask"]) == [1, 1, 1, 0]


def test_a_new_robot_loads_from_its_spec_and_acts(checkpoint):
    obs5 = _obs(5)
    embodiment = embodiment_for_env(PLANAR_ARM_IDS[5], {k: v.shape for k, v in obs5.items()}, (5,))
    spec = arm_spec(4)  # its first four joints feed the model's four slots; joint_5 is held at 0
    policy, _ = policy_from_checkpoint(checkpoint, robot_spec=spec, embodiment=embodiment, device="cpu")
    action = policy(obs5)
    assert action.shape == (5,) and action[4] == 0 and np.isfinite(action).all()
    # reordering by names: listing joints 2, 1 swaps the model's slots 0 and 1, and maps the outputs back
    swapped = dict(spec, joint_positions=["joint_2", "joint_1", "joint_3", "joint_4"],
                   joint_velocities=["joint_2", "joint_1", "joint_3", "joint_4"])
    adapter = policy_from_checkpoint(checkpoint, robot_spec=swapped, embodiment=embodiment, device="cpu")[0].robot
    model_obs = adapter.obs(obs5)
    np.testing.assert_array_equal(model_obs["joint_positions"][:2], obs5["joint_pos"][[1, 0]])
    np.testing.assert_array_equal(adapter.action(np.array([10.0, 20.0, 30.0, 40.0])), [20, 10, 30, 40, 0])


@pytest.mark.parametrize("kwargs, words", [
    ({"robot": "planar_arm_9"}, "unknown robot 'planar_arm_9'; did you mean"),
    ({"robot_spec": arm_spec(4)}, "give its embodiment too"),
    ({"robot_spec": dict(arm_spec(4), joint_positions=J[5]), "embodiment": True},
     "has 5 joint_positions items .* but the model has 4 input slot"),
    ({"robot_spec": dict(arm_spec(4), joint_positions=["joint_1", "jont_2"]), "embodiment": True},
     "no joint_positions item 'jont_2'; did you mean 'joint_2'"),
    ({"robot_spec": {"rgb_images": ["top"]}, "embodiment": True}, "no input slot for rgb_images"),
    ({"embodiment": True}, "choose 4 by name"),
])
def test_bad_robots_and_specs_are_one_line(checkpoint, kwargs, words):
    if kwargs.get("embodiment") is True:
        kwargs = dict(kwargs, embodiment=embodiment_for_env(PLANAR_ARM_IDS[5], {k: v.shape for k, v in _obs(5).items()},
                                                            (5,)))
    with pytest.raises(ConfigError, match=words) as err:
        policy_from_checkpoint(checkpoint, device="cpu", **kwargs)
    assert "\n" not in str(err.value)


def test_cameras_are_named_slots(checkpoint):
    """A model with two camera slots: a robot with three cameras must choose two by name; fewer is black."""
    from robokit.data.embodiment import Embodiment, RobotData

    record = RobotData.from_config(load_checkpoint(checkpoint)["robot_data"])
    record.camera_slots = {DataType.RGB_IMAGES: ["front_image", "wrist_image"]}
    shapes = {"front_image": (8, 8, 3), "wrist_image": (8, 8, 3), "custom": (4,)}
    spider = Embodiment("spider", [{"data_type": "joint_velocities", "names": J[4]}],
                        {f"{c}_image": [{"data_type": "rgb_images", "names": [c]}] for c in ("a", "b", "c")}
                        | {"goal": [{"data_type": "custom", "names": CUSTOM}]})
    with pytest.raises(ConfigError, match=r"has 3 rgb_images cameras \(a, b, c\) but the model has 2"):
        record.adapter(shapes, embodiment=spider)
    adapter = record.adapter(shapes, spec={"rgb_images": ["c", "a"]}, embodiment=spider)
    ob = {f"{c}_image": np.full((8, 8, 3), i, np.uint8) for i, c in enumerate("abc")} | {"goal": np.ones(4)}
    model_obs = adapter.obs(ob)
    assert model_obs["front_image"][0, 0, 0] == 2 and model_obs["wrist_image"][0, 0, 0] == 0
    one = record.adapter(shapes, spec={"rgb_images": ["b"]}, embodiment=spider).obs(ob)
    assert one["front_image"][0, 0, 0] == 1 and (one["wrist_image"] == 0).all()


def test_unpadded_algorithms_refuse_padded_actions(arms):
    with pytest.raises(ConfigError, match="TD3_BC cannot leave padded action dims out"):
        _train(arms, "td3_bc", ["algo.actor.layer_dims=[8]", "algo.critic.layer_dims=[8]",
                                "train.hdf5_load_next_obs=true"])


@pytest.mark.parametrize("script, args, words", [
    ("train.py", ["--algo", "bc", "--set", 'train.input_robot_data_spec={"planar_arm_3": {"joint_positions": '
                  '["joint_1", "jont_2"]}}', 'observation.modalities.obs.low_dim=["joint_positions"]',
                  "experiment.validate=false"],
     "did you mean 'joint_2'"),
    ("train.py", ["--algo", "bc", "--set", 'train.input_robot_data_spec={"planar_arm_3": {"joint_position": ["a"]}}'],
     "did you mean 'joint_positions'"),
    ("run_trained_agent.py", ["--robot", "planar_arm_9"], "unknown robot 'planar_arm_9'"),
])
def test_bad_specs_exit_2_through_the_scripts(arms, checkpoint, script, args, words):
    extra = ["--dataset", str(arms["merged"]), "--output", str(arms["root"] / "bad")] if script == "train.py" else \
        ["--agent", str(checkpoint), "--n_rollouts", "1"]
    result = subprocess.run([sys.executable, str(REPO / "scripts" / script), *extra, *args], capture_output=True,
                            text=True, cwd=REPO)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], result.stderr[-2000:]


@pytest.mark.slow
def test_one_policy_for_two_arms_learns_both(tmp_path):
    """The benchmark in small (scripts/benchmark_embodiment.py; the full run is in datasets/README.md): BC on the
    merged 3- and 4-link data reaches both arms about as well as a specialist, and drives the 5-link arm."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import benchmark_embodiment
    finally:
        sys.path.pop(0)
    benchmark_embodiment.main(["--demos", "300", "--steps", "4000", "--seeds", "1", "--episodes", "30",
                               "--data-dir", str(tmp_path), "--out", str(tmp_path / "runs")])
    results = json.loads((tmp_path / "runs" / "results.json").read_text())
    for robot in ("planar_arm_3", "planar_arm_4"):
        specialist, generalist = results["specialist"][robot][0], results["generalist"][robot][0]
        assert generalist >= 0.5 and generalist >= specialist - 0.15, results
    assert 0.0 <= results["generalist"]["planar_arm_5"][0] <= 1.0
