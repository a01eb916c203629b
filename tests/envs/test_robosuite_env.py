"""RobosuiteEnv (robokit/envs/robosuite_env.py): robomimic's robosuite env type behind EnvBase, in real robosuite.

Needs the robosuite extra: `make test` runs these in .venv-robosuite; without robosuite they are skipped.
"""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.robosuite
pytest.importorskip("robosuite", reason="needs the robosuite extra (pip install -e '.[robosuite]'; make test runs "
                                        "these in .venv-robosuite)")

from robokit.envs import create_env, create_envs
from robokit.envs.robosuite_env import RobosuiteEnv, robomimic_env_args
from robokit.errors import UserError

LOW_DIM_KEYS = {"robot0_eef_pos": (3,), "robot0_eef_quat": (4,), "robot0_gripper_qpos": (2,),
                "robot0_joint_pos": (7,), "robot0_joint_pos_cos": (7,), "robot0_joint_pos_sin": (7,),
                "robot0_joint_vel": (7,), "robot0_eef_vel_lin": (3,), "robot0_eef_vel_ang": (3,),
                "robot0_gripper_qvel": (2,), "object": (10,)}
# not part of the state: joint accelerations come from the last step's dynamics
STATELESS_KEYS = {"robot0_joint_acc"}

# The env_args of a robomimic v0.5 dataset (robosuite 1.5, e.g. lift/ph/low_dim_v15.hdf5), key for key as robomimic's
# EnvRobosuite.serialize() writes them: robosuite 1.5's composite controller config with an OSC_POSE right arm.
ROBOMIMIC_V15_ENV_ARGS = {
    "env_name": "Lift",
    "env_version": "1.5.1",
    "type": 1,
    "env_kwargs": {
        "has_renderer": False,
        "has_offscreen_renderer": True,
        "ignore_done": True,
        "use_object_obs": True,
        "use_camera_obs": False,
        "control_freq": 20,
        "controller_configs": {
            "type": "BASIC",
            "body_parts": {
                "right": {
                    "type": "OSC_POSE", "input_max": 1, "input_min": -1,
                    "output_max": [0.05, 0.05, 0.05, 0.5, 0.5, 0.5],
                    "output_min": [-0.05, -0.05, -0.05, -0.5, -0.5, -0.5],
                    "kp": 150, "damping_ratio": 1, "impedance_mode": "fixed", "kp_limits": [0, 300],
                    "damping_ratio_limits": [0, 10], "position_limits": None, "orientation_limits": None,
                    "uncouple_pos_ori": True, "input_type": "delta", "input_ref_frame": "base",
                    "interpolation": None, "ramp_ratio": 0.2, "gripper": {"type": "GRIP"},
                },
            },
        },
        "robots": ["Panda"],
        "camera_depths": False,
        "camera_heights": 84,
        "camera_widths": 84,
        "reward_shaping": False,
        "camera_names": ["agentview", "robot0_eye_in_hand"],
        "render_gpu_device_id": 0,
    },
}

# robomimic v0.1-v0.3 datasets (robosuite <= 1.4): one OSC_POSE part config
ROBOSUITE_14_CONTROLLER = {
    "type": "OSC_POSE", "input_max": 1, "input_min": -1, "output_max": [0.05, 0.05, 0.05, 0.5, 0.5, 0.5],
    "output_min": [-0.05, -0.05, -0.05, -0.5, -0.5, -0.5], "kp": 150, "damping": 1, "impedance_mode": "fixed",
    "kp_limits": [0, 300], "damping_limits": [0, 10], "position_limits": None, "orientation_limits": None,
    "uncouple_pos_ori": True, "control_delta": True, "interpolation": None, "ramp_ratio": 0.2,
}


@pytest.fixture(scope="module")
def lift():
    """Lift from a robomimic v0.5 dataset's env_args (low-dim observations)."""
    env = create_env(json.loads(json.dumps(ROBOMIMIC_V15_ENV_ARGS)))
    yield env
    env.close()


def rollout(env, seed: int, n: int, action_seed: int = 0):
    """n random actions from reset(seed): (states (n + 1, S), actions (n, 7), observations [n + 1 dicts])."""
    rng = np.random.default_rng(action_seed)
    observations, states, actions = [env.reset(seed=seed)], [env.get_state()], []
    for _ in range(n):
        actions.append(rng.uniform(-1, 1, env.action_dim))
        observations.append(env.step(actions[-1])[0])
        states.append(env.get_state())
    return np.array(states), np.array(actions), observations


def assert_same_obs(a: dict, b: dict, atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        if key not in STATELESS_KEYS:
            np.testing.assert_allclose(value, b[key], atol=atol, rtol=0, err_msg=key)


def test_robomimic_env_args_build_lift_with_robomimic_keys_shapes_and_dtypes(lift):
    assert isinstance(lift, RobosuiteEnv) and lift.name == "Lift"
    assert lift.action_space.shape == (7,) and lift.action_dim == 7
    np.testing.assert_array_equal(lift.action_space.low, -1.0)
    obs = lift.reset(seed=0)
    for key, shape in LOW_DIM_KEYS.items():
        assert obs[key].shape == shape and obs[key].dtype == np.float32, key
    assert not any(key.endswith(("_image", "proprio-state")) for key in obs)  # use_camera_obs is off
    assert set(obs) == set(lift.observation_space.spaces)
    for key, space in lift.observation_space.spaces.items():
        assert space.shape == obs[key].shape and space.dtype == obs[key].dtype
    # the object's state starts with the cube's position: on the table, near the centre
    np.testing.assert_allclose(obs["object"][:3], lift.base_env.sim.data.body_xpos[lift.base_env.cube_body_id],
                               atol=1e-6)
    assert np.linalg.norm(obs["object"][:2]) < 0.05 and 0.8 < obs["object"][2] < 0.85
    np.testing.assert_allclose(np.linalg.norm(obs["robot0_eef_quat"]), 1.0, atol=1e-5)
    obs, reward, terminated, truncated, info = lift.step(np.zeros(7))
    assert reward == 0.0 and not terminated and not truncated and info["is_success"] is False
    assert lift.max_episode_steps == 1000  # robosuite's horizon; robomimic's envs never end by themselves


def test_reset_seed_gives_the_same_initial_state(lift):
    first = lift.reset(seed=7)
    state = lift.get_state()
    assert_same_obs(lift.reset(seed=7), first)
    np.testing.assert_array_equal(lift.get_state(), state)
    lift.reset(seed=8)
    assert np.abs(lift.get_state()[1:] - state[1:]).max() > 1e-3  # another seed places the cube elsewhere


def test_success_is_the_tasks_check_lifting_the_cube(lift):
    lift.reset(seed=1)
    assert not lift.is_success()
    state = lift.get_state()
    sim = lift.base_env.sim
    cube_z = 1 + sim.model.jnt_qposadr[sim.model.joint_name2id(lift.base_env.cube.joints[0])] + 2
    state[cube_z] += 0.1  # 10 cm above the table: robosuite's Lift counts 4 cm
    obs = lift.set_state(state)
    assert lift.is_success() and lift.base_env._check_success()
    assert obs["object"][2] == pytest.approx(state[cube_z], abs=1e-6)


def test_set_state_and_reset_to_reproduce_states_and_observations_exactly(lift):
    states, _, observations = rollout(lift, seed=3, n=12)
    model = lift.get_model_xml()
    restored = {}
    for t in (0, 12, 5):  # within the episode's own model
        restored[t] = lift.set_state(states[t])
        np.testing.assert_array_equal(lift.get_state(), states[t])
    # reset's observation is of its state; a step's is of the physics before its last substep (robosuite reads
    # the sensors before integrating), so a restored state's observation differs from it by one 2 ms substep
    assert_same_obs(restored[0], observations[0], atol=1e-6)  # the quaternion: float32 rounding
    assert_same_obs(restored[12], observations[12], atol=5e-3)
    lift.reset(seed=11)  # another episode: another cube (size and place)
    assert lift.get_model_xml() != model
    for t in (5, 12):
        obs = lift.reset_to({"model": model, "states": states[t]})
        np.testing.assert_array_equal(lift.get_state(), states[t])
        assert_same_obs(obs, restored[t], atol=1e-6)  # the model recompiled from its saved MJCF text: ~1e-7 apart
    assert lift.get_model_xml() == model


def test_actions_replayed_from_reset_to_repeat_the_recorded_states(lift):
    states, actions, _ = rollout(lift, seed=4, n=15, action_seed=1)
    model = lift.get_model_xml()
    lift.reset(seed=12)
    lift.reset_to({"model": model, "states": states[0]})
    errors = []
    for t, action in enumerate(actions):
        lift.step(action)
        errors.append(np.abs(lift.get_state() - states[t + 1]).max())
    assert max(errors) < 1e-3, errors  # the solver's warm start is not part of the state: not bit for bit


def test_serialize_is_robomimics_env_args_and_rebuilds_the_same_env(lift):
    env_args = lift.serialize()
    assert json.loads(json.dumps(env_args)) == env_args
    assert env_args["type"] == 1 and env_args["env_name"] == "Lift" and env_args["env_version"] == "1.5.2"
    kwargs = env_args["env_kwargs"]
    assert kwargs["controller_configs"] == ROBOMIMIC_V15_ENV_ARGS["env_kwargs"]["controller_configs"]
    assert kwargs["robots"] == ["Panda"] and kwargs["ignore_done"] is True and kwargs["use_camera_obs"] is False
    lift.reset(seed=5)
    with create_env(env_args) as twin:
        twin.reset(seed=5)
        np.testing.assert_array_equal(twin.get_state(), lift.get_state())
        assert twin.serialize() == env_args
        assert twin.observation_space == lift.observation_space


def test_robosuite_14_controller_config_is_converted_to_the_composite_one():
    env_args = robomimic_env_args("PickPlaceCan", controller_configs=ROBOSUITE_14_CONTROLLER)
    with create_env(env_args) as env:
        config = env.serialize()["env_kwargs"]["controller_configs"]
        assert config["type"] == "BASIC" and config["body_parts"]["right"]["type"] == "OSC_POSE"
        assert config["body_parts"]["right"]["gripper"] == {"type": "GRIP"}
        obs = env.reset(seed=0)
        assert obs["object"].shape == (14,) and env.action_dim == 7  # the can's pose and its pose to the hand
        obs, *_ = env.step(np.zeros(7))
        assert not env.is_success()
        frame = env.render(48, 64, camera="frontview")
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8 and frame.std() > 0


def test_camera_observations_are_robomimics_right_side_up_uint8_images():
    env_args = robomimic_env_args("Lift", camera_names=["agentview", "robot0_eye_in_hand"], camera_size=(32, 40))
    with create_env(env_args) as env:
        obs = env.reset(seed=2)
        for key in ("agentview_image", "robot0_eye_in_hand_image"):
            assert obs[key].shape == (32, 40, 3) and obs[key].dtype == np.uint8 and obs[key].std() > 0
            assert env.observation_space[key].shape == (32, 40, 3)
        # robosuite renders OpenGL-style, bottom row first; robomimic (and robokit) flip to top row first, the way
        # env.render() shows the camera: the agentview image is the same picture
        frame = env.render(32, 40, camera="agentview")
        assert np.abs(frame.astype(int) - obs["agentview_image"]).mean() < 2
        assert np.abs(frame[::-1].astype(int) - obs["agentview_image"]).mean() > 5
        # the bright floor/table fills the lower rows of agentview, the dark background the top ones
        image = obs["agentview_image"].astype(float)
        assert image[-8:].mean() > image[:8].mean()
        assert env.render(24, 24).shape == (24, 24, 3)  # "default": robomimic's first camera, sorted
        with pytest.raises(UserError, match="no camera 'nope'.*agentview"):
            env.render(24, 24, camera="nope")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_envs_step_like_the_gymnasium_ones(mode):
    envs = create_envs(robomimic_env_args("Lift"), 2, mode)
    try:
        assert [e.name for e in envs] == ["Lift", "Lift"] and envs[0].action_space.shape == (7,)
        first = [env.reset(seed=s) for env, s in zip(envs, (0, 1))]
        assert first[0]["object"].shape == (10,) and not np.allclose(first[0]["object"], first[1]["object"])
        for env in envs:
            obs, _, terminated, _, info = env.step(np.zeros(7))
            assert obs.keys() == first[0].keys() and not env.is_success() and not terminated
            assert info["is_success"] is False
        assert envs[1].serialize()["type"] == 1 and envs[1].get_state().dtype == np.float64
        assert envs[0].render(16, 16).shape == (16, 16, 3)
    finally:
        for env in envs:
            env.close()


def test_bad_names_and_kwargs_are_one_line_user_errors():
    with pytest.raises(UserError, match="unknown robosuite environment 'Lfit'.*did you mean Lift"):
        create_env({"env_name": "Lfit", "type": 1, "env_kwargs": {}})
    with pytest.raises(UserError, match="bad env_kwargs for robosuite Lift"):
        create_env({"env_name": "Lift", "type": 1, "env_kwargs": {"no_such_option": 1}})
