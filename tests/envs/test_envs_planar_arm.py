"""robokit/PlanarArm{3,4,5}-v0 (real MuJoCo): the MJCF files agree with the geometry, the fingertip is the forward
kinematics, the velocity servos follow the action, the damped least-squares expert succeeds, and
generate_dataset.py writes the arms' named joints."""

import subprocess
import sys
from pathlib import Path

import mujoco
import numpy as np
import pytest

from robokit.data import hdf5_format as fmt
from robokit.data.embodiment import DataType
from robokit.envs import create_env_from_name, make_expert
from robokit.envs.experts import has_expert, run_expert_episode
from robokit.envs.tasks import PLANAR_ARM_IDS, PLANAR_ARM_MAX_STEPS
from robokit.envs.tasks.planar_arm import xml_path
from robokit.envs.tasks.planar_arm_geometry import PLANAR_ARMS

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "generate_dataset.py"


@pytest.mark.parametrize("n", sorted(PLANAR_ARMS))
def test_mjcf_matches_the_geometry(n):
    model = mujoco.MjModel.from_xml_path(str(xml_path(n)))
    g = PLANAR_ARMS[n]
    assert [model.joint(i).name for i in range(model.njnt)] == [*g.joint_names, "target_x", "target_y"]
    assert model.nu == n and model.opt.timestep == g.timestep
    for i in range(n):
        assert model.actuator(i).gear[0] == pytest.approx(1 / g.max_joint_speed)
        assert model.geom(f"link_{i + 1}").size[1] == pytest.approx(g.link_length / 2)  # capsule half length
    assert model.site("fingertip").pos[0] == pytest.approx(g.link_length)


@pytest.mark.parametrize("n", sorted(PLANAR_ARMS))
def test_observation_kinematics_and_servos(n):
    env = create_env_from_name(PLANAR_ARM_IDS[n])
    g = PLANAR_ARMS[n]
    obs = env.reset(seed=3)
    assert {k: v.shape for k, v in obs.items()} == {"joint_pos": (n,), "joint_vel": (n,), "fingertip": (2,),
                                                   "target": (2,), "to_target": (2,)}
    assert env.action_dim == n and env.max_episode_steps == PLANAR_ARM_MAX_STEPS
    np.testing.assert_allclose(obs["fingertip"], g.fingertip(obs["joint_pos"]), atol=1e-6)
    np.testing.assert_allclose(obs["to_target"], obs["target"] - obs["fingertip"], atol=1e-6)
    assert g.target_radius[0] <= np.linalg.norm(obs["target"]) <= g.target_radius[1]
    action = np.zeros(n, dtype=np.float32)
    action[0], action[-1] = 1.0, -0.5
    next_obs, reward, terminated, truncated, info = env.step(action)
    assert reward == -1.0 and not terminated and not truncated and info["is_success"] is False
    # the servos reach the commanded velocity within the step: about action * 2 rad/s
    np.testing.assert_allclose(next_obs["joint_vel"][[0, -1]], [2.0, -1.0], atol=0.05)
    dq = next_obs["joint_pos"] - obs["joint_pos"]
    assert 0.08 < dq[0] < 0.1 and -0.055 < dq[-1] < -0.04  # 0.05 s at about the commanded speed
    np.testing.assert_allclose(next_obs["target"], obs["target"])  # the target never moves
    env.close()


@pytest.mark.parametrize("n", sorted(PLANAR_ARMS))
def test_jacobian_is_the_derivative_of_the_fingertip(n):
    g = PLANAR_ARMS[n]
    q = np.random.default_rng(n).uniform(-1, 1, n)
    numeric = np.stack([(g.fingertip(q + 1e-6 * e) - g.fingertip(q - 1e-6 * e)) / 2e-6 for e in np.eye(n)], axis=1)
    np.testing.assert_allclose(g.jacobian(q), numeric, atol=1e-6)


@pytest.mark.parametrize("n", sorted(PLANAR_ARMS))
def test_expert_reaches_the_target(n):
    env_id = PLANAR_ARM_IDS[n]
    assert has_expert(env_id)
    env, expert = create_env_from_name(env_id), make_expert(env_id)
    assert expert.action_dim == n
    episodes = [run_expert_episode(env, expert, seed=seed) for seed in range(20)]
    assert all(ep.success for ep in episodes)  # 1000/1000 per arm measured (datasets/README.md)
    last = episodes[0].next_obs
    assert np.linalg.norm(last["to_target"][-1]) < PLANAR_ARMS[n].success_radius
    assert max(len(ep) for ep in episodes) < env.max_episode_steps
    env.close()


def test_generate_dataset_writes_the_named_joints(tmp_path):
    out = tmp_path / "arm4.hdf5"
    result = subprocess.run([sys.executable, str(SCRIPT), "--env", PLANAR_ARM_IDS[4], "--n-demos", "3", "--out",
                             str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    embodiment = fmt.read_embodiment(out)
    joints = ("joint_1", "joint_2", "joint_3", "joint_4")
    assert embodiment.robot == "planar_arm_4"
    assert embodiment.data_spec(actions=True)["planar_arm_4"] == {DataType.JOINT_VELOCITIES: joints}
    inputs = embodiment.data_spec()["planar_arm_4"]
    assert inputs[DataType.JOINT_POSITIONS] == joints and inputs[DataType.JOINT_VELOCITIES] == joints
    assert inputs[DataType.END_EFFECTOR_POSES] == ("fingertip_x", "fingertip_y")
    assert fmt.read_env_args(out)["env_name"] == PLANAR_ARM_IDS[4]
