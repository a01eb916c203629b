"""Named items of the tasks robokit knows (robokit/envs/embodiments.py), and generate_dataset.py writing them."""

import os
import subprocess
import sys
from pathlib import Path

from robokit.data import hdf5_format as fmt
from robokit.data.embodiment import DataType
from robokit.envs.embodiments import embodiment_for_env

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _names(segs):
    return [n for s in segs for n in s.names]


def test_fetch_layouts_match_the_observation_widths():
    push = embodiment_for_env("FetchPush-v4", {"observation": (25,), "achieved_goal": (3,), "desired_goal": (3,)},
                              (4,))
    reach = embodiment_for_env("FetchReach-v4", {"observation": (10,), "achieved_goal": (3,)}, (4,))
    assert push.robot == reach.robot == "fetch"
    assert len(_names(push.obs["observation"])) == 25 and len(_names(reach.obs["observation"])) == 10
    spec = push.data_spec()
    assert spec.names("fetch", DataType.END_EFFECTOR_POSES) == ("grip_x", "grip_y", "grip_z")
    assert spec.names("fetch", DataType.JOINT_POSITIONS) == ("r_gripper_finger_joint", "l_gripper_finger_joint")
    assert push.locate(DataType.JOINT_POSITIONS) == [("observation", 9), ("observation", 10)]  # fetch_env.py [9:11]
    assert push.data_spec(actions=True).names("fetch", "gripper_open_amounts") == ("gripper",)
    assert "desired_goal" not in reach.obs  # not in obs_shapes: left out


def test_unknown_task_or_shape_is_left_unnamed():
    assert embodiment_for_env("CartPole-v1", {"flat": (4,)}, (1,)) is None
    odd = embodiment_for_env("FetchPush-v4", {"observation": (26,)}, (5,))
    assert odd.obs == {} and odd.actions == ()


def test_slices_and_cameras_get_names():
    kwargs = {"camera_names": ["external_camera_0"], "camera_depth": True,
              "obs_slices": {"robot0_eef_pos": ["observation", 0, 3], "fingers": ["observation", 8, 11]}}
    shapes = {"observation": (25,), "robot0_eef_pos": (3,), "fingers": (3,), "external_camera_0_image": (8, 8, 3),
              "external_camera_0_depth": (8, 8, 1)}
    emb = embodiment_for_env("FetchPickAndPlace-v4", shapes, (4,), kwargs)
    assert _names(emb.obs["robot0_eef_pos"]) == ["grip_x", "grip_y", "grip_z"]
    assert [(s.data_type.value, s.names) for s in emb.obs["fingers"]] == [
        ("custom", ("object_rel_z",)), ("joint_positions", ("r_gripper_finger_joint", "l_gripper_finger_joint"))]
    assert emb.data_spec().names("fetch", "rgb_images") == ("external_camera_0",)
    assert emb.data_spec().names("fetch", "depth_images") == ("external_camera_0",)
    emb.check_shapes((4,), shapes)
    # an item named by a slice and by its source key is one item of the data spec, where it comes first
    assert emb.data_spec().names("fetch", "end_effector_poses") == ("grip_x", "grip_y", "grip_z")
    assert emb.locate("end_effector_poses", obs_keys=["robot0_eef_pos", "observation"]) == [
        ("robot0_eef_pos", 0), ("robot0_eef_pos", 1), ("robot0_eef_pos", 2)]


def test_generate_dataset_writes_the_names(tmp_path):
    out = tmp_path / "push.hdf5"
    env = dict(os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    res = subprocess.run([sys.executable, str(SCRIPTS / "generate_dataset.py"), "--env", "FetchPush-v4",
                          "--n-demos", "2", "--out", str(out), "--obs-slice", "robot0_eef_pos=observation[0:3]"],
                         capture_output=True, text=True, timeout=120, check=False, env=env)
    assert res.returncode == 0, res.stderr
    emb = fmt.read_embodiment(out)
    assert emb.robot == "fetch" and set(emb.obs) == {"observation", "achieved_goal", "desired_goal", "robot0_eef_pos"}
    assert _names(emb.actions) == ["gripper_d_x", "gripper_d_y", "gripper_d_z", "gripper"]
    info = subprocess.run([sys.executable, str(SCRIPTS / "get_dataset_info.py"), "--dataset", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert info.returncode == 0, info.stderr
    assert "names: robot 'fetch'" in info.stdout
    assert "  actions: custom [gripper_d_x, gripper_d_y, gripper_d_z] + gripper_open_amounts [gripper]" in info.stdout
    assert "  obs/robot0_eef_pos: end_effector_poses [grip_x, grip_y, grip_z]" in info.stdout
