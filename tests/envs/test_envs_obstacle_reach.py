"""robokit/ObstacleReach-v0 (real MuJoCo) and its multimodal scripted expert.

The task is a benchmark for policies that must commit to one of two equally good ways: these tests check the
environment's API, that success comes from the environment, that the straight path (the mean of the two ways)
fails, that the expert succeeds both ways and picks them 50/50, and that generate_dataset.py records the modes.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import h5py
import mujoco
import numpy as np
import pytest

from robokit.envs import GYM_TYPE, create_env, create_env_from_name, make_expert
from robokit.envs.experts import expert_success_rate, has_expert, run_expert_episode
from robokit.envs.experts.obstacle_reach import MODES, ObstacleReachExpert
from robokit.envs.tasks import OBSTACLE_REACH_ID
from robokit.envs.tasks.geometry import OBSTACLE_REACH
from robokit.envs.tasks.obstacle_reach import XML_PATH

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "generate_dataset.py"
KEYS = {"observation", "agent_vel", "achieved_goal", "desired_goal"}


@pytest.fixture(scope="module")
def env():
    env = create_env_from_name(OBSTACLE_REACH_ID)
    yield env
    env.close()


class MeanOfModes:
    """The average of the left and the right expert's actions: what a policy that averages the modes does."""

    def __init__(self):
        self.experts = [ObstacleReachExpert(mode) for mode in MODES]

    def reset(self):
        pass

    def act(self, obs):
        return np.mean([expert.clean_action(obs) for expert in self.experts], axis=0).astype(np.float32)


def _place_agent(env, x, y):
    """Put the agent at (x, y), at rest, keeping the goal; returns the observation there."""
    state = env.get_state()
    state[1:3] = (x, y)
    state[5:] = 0.0  # qvel
    return env.set_state(state)


def test_observations_actions_and_time_limit(env):
    obs = env.reset(seed=0)
    assert set(obs) == KEYS
    assert all(value.shape == (2,) and value.dtype == np.float32 for value in obs.values())
    assert {key: env.observation_space[key].shape for key in env.observation_space} == {key: (2,) for key in KEYS}
    assert env.action_dim == 2 and np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    assert env.max_episode_steps == 60
    g = OBSTACLE_REACH
    x, y = obs["observation"]
    assert g.start_x[0] <= x <= g.start_x[1] and g.start_y[0] <= y <= g.start_y[1]
    np.testing.assert_allclose(obs["desired_goal"], [0.0, 0.4])
    np.testing.assert_array_equal(obs["achieved_goal"], obs["observation"])
    assert env.get_state().shape == (1 + 4 + 4,)  # time, qpos (agent x, y, goal x, y), qvel


def test_step_moves_the_agent_at_the_commanded_velocity(env):
    obs = env.reset(seed=1)
    assert env.is_success() is False
    next_obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0], dtype=np.float32))
    assert isinstance(reward, float) and reward == -1.0 and not terminated and not truncated
    assert info["is_success"] is False and env.is_success() is False
    dx, dy = next_obs["observation"] - obs["observation"]
    # 0.5 m/s for 0.1 s, less what the servo's ~0.025 s lag costs from rest
    assert 0.035 < dx < 0.05 and abs(dy) < 1e-4
    assert 0.45 < next_obs["agent_vel"][0] <= 0.5


def test_same_seed_same_start_and_json_round_trip(env):
    first = env.reset(seed=7)["observation"]
    env.reset(seed=8)
    np.testing.assert_array_equal(env.reset(seed=7)["observation"], first)
    env_args = json.loads(json.dumps(env.serialize()))
    assert env_args == {"env_name": OBSTACLE_REACH_ID, "type": GYM_TYPE, "env_kwargs": {}}
    rebuilt = create_env(env_args)
    np.testing.assert_array_equal(rebuilt.reset(seed=7)["observation"], first)
    rebuilt.close()


def test_stored_states_restore_the_observations(env):
    episode = run_expert_episode(env, ObstacleReachExpert("left"), seed=4)
    env.reset(seed=5)  # another start
    for t in (0, len(episode) // 2):
        obs = env.set_state(episode.states[t])
        for key in KEYS:
            np.testing.assert_allclose(obs[key], episode.obs[key][t], atol=1e-6)


def test_success_is_the_environment_s(env):
    env.reset(seed=2)
    _place_agent(env, 0.03, 0.4)  # 3 cm from the goal centre
    _, reward, _, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert info["is_success"] is True and env.is_success() is True and reward == 0.0
    _place_agent(env, 0.08, 0.4)  # 8 cm away: outside the 5 cm goal radius
    _, reward, _, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert info["is_success"] is False and reward == -1.0
    dense = create_env_from_name(OBSTACLE_REACH_ID, reward_type="dense")
    dense.reset(seed=2)
    _place_agent(dense, 0.08, 0.4)
    _, reward, *_ = dense.step(np.zeros(2, dtype=np.float32))
    assert reward == pytest.approx(-0.08, abs=2e-3)
    dense.close()


def test_model_walls_match_the_geometry():
    model = mujoco.MjModel.from_xml_path(str(XML_PATH))
    for name, (cx, cy, half_length, angle) in zip(("obstacle_left", "obstacle_right"), OBSTACLE_REACH.wall_boxes()):
        geom = model.geom(name)
        np.testing.assert_allclose(geom.pos[:2], [cx, cy], atol=1e-4)
        np.testing.assert_allclose(geom.size[:2], [half_length, OBSTACLE_REACH.wall_half_thickness], atol=1e-4)
        yaw = 2 * math.atan2(geom.quat[3], geom.quat[0])  # rotation about z
        assert math.isclose(yaw, angle, abs_tol=1e-3)
    assert model.geom("agent").size[0] == pytest.approx(OBSTACLE_REACH.agent_radius)


def test_driving_straight_or_averaging_the_modes_ends_in_the_chevron(env):
    """The straight path is blocked: the mean of the two ways' actions runs into the chevron's apex and stays."""
    for seed in range(5):
        episode = run_expert_episode(env, MeanOfModes(), seed=seed)
        assert not episode.success and len(episode) == env.max_episode_steps
        x, y = episode.next_obs["observation"][-1]
        assert abs(x) < 0.03 and -0.15 < y < 0  # between the walls, near the apex
        last = episode.next_obs["observation"][-10:]  # (10, 2)
        assert np.abs(last - last[-1]).max() < 3e-3  # stuck there (contact jitters by a millimetre)
    obs = env.reset(seed=0)
    for _ in range(env.max_episode_steps):
        obs, *_ = env.step(np.array([0.0, 1.0], dtype=np.float32))
    assert not env.is_success() and obs["observation"][1] < 0


@pytest.mark.parametrize("mode", MODES)
def test_expert_succeeds_on_its_side_without_touching_the_chevron(env, mode):
    expert = ObstacleReachExpert(mode)
    for seed in range(10):
        episode = run_expert_episode(env, expert, seed=seed)
        assert episode.success and len(episode) <= 25
        path = np.concatenate([episode.obs["observation"], episode.next_obs["observation"][-1:]])
        assert min(OBSTACLE_REACH.clearance(x, y) for x, y in path) > 0.005
        level = path[np.argmax(path[:, 1] > -0.1)]  # where it passes the chevron's height
        assert (level[0] < -OBSTACLE_REACH.obstacle_half_width) if mode == "left" else \
            (level[0] > OBSTACLE_REACH.obstacle_half_width)
        assert episode.dones.tolist() == [0] * (len(episode) - 1) + [1] and episode.rewards[-1] == 0.0


def test_expert_picks_both_modes_about_equally_and_succeeds(env):
    expert = make_expert(OBSTACLE_REACH_ID, rng=np.random.default_rng(0))
    assert isinstance(expert, ObstacleReachExpert) and has_expert(OBSTACLE_REACH_ID)
    modes = []
    for _ in range(400):
        expert.reset()
        modes.append(expert.mode)
    assert 0.42 < modes.count("left") / len(modes) < 0.58
    assert expert_success_rate(env, expert, seeds=range(1000, 1020)) >= 0.95


def test_expert_rejects_unknown_modes():
    with pytest.raises(ValueError, match="mode must be one of"):
        ObstacleReachExpert("middle")


def test_renders_frames_and_camera_observations():
    env = create_env_from_name(OBSTACLE_REACH_ID, render_offscreen=True, camera_names=["top"], camera_size=32)
    obs = env.reset(seed=0)
    assert obs["top_image"].shape == (32, 32, 3) and obs["top_image"].dtype == np.uint8
    frame = env.render(height=48, width=64)
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8 and frame.std() > 10
    assert env.serialize()["env_kwargs"]["camera_names"] == ["top"]
    env.close()


def test_generate_dataset_records_both_modes(tmp_path):
    out = tmp_path / "obstacle.hdf5"
    result = subprocess.run([sys.executable, str(SCRIPT), "--env", OBSTACLE_REACH_ID, "--n-demos", "40", "--out",
                             str(out), "--seed", "0"], check=False, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl")))
    assert result.returncode == 0, result.stderr
    assert "expert success rate: 100.0%" in result.stdout and "modes: left" in result.stdout
    with h5py.File(out, "r") as f:
        data = f["data"]
        assert json.loads(data.attrs["env_args"])["env_name"] == OBSTACLE_REACH_ID
        modes = {name: data[name].attrs["mode"] for name in data}
        masks = {key: sorted(n.decode() for n in f[f"mask/{key}"][()]) for key in ("mode_left", "mode_right")}
        for mode in MODES:
            assert masks[f"mode_{mode}"] == sorted(name for name, m in modes.items() if m == mode)
        assert 12 <= len(masks["mode_left"]) <= 28  # about half of 40
        for name, mode in modes.items():  # the recorded mode is the side the demo passed on
            path = data[name]["next_obs/observation"][()]
            x = path[np.argmax(path[:, 1] > -0.1), 0]
            assert (x < 0) == (mode == "left")
            assert data[name]["actions"].shape == (len(path), 2)
