"""GymEnv and the env factory on real gymnasium / gymnasium-robotics environments."""

import importlib.util
import json

import numpy as np
import pytest

from robokit.envs import GYM_TYPE, EnvBase, GymEnv, create_env, create_env_from_name
from robokit.errors import UserError


@pytest.fixture(scope="module")
def push_env():
    env = create_env_from_name("FetchPush-v4")
    yield env
    env.close()


def test_fetch_observations_keep_their_keys_as_float32(push_env):
    obs = push_env.reset(seed=0)
    shapes = {key: value.shape for key, value in obs.items()}
    assert shapes == {"observation": (25,), "achieved_goal": (3,), "desired_goal": (3,)}
    assert all(value.dtype == np.float32 for value in obs.values())
    space = push_env.observation_space
    assert {key: space[key].shape for key in space} == shapes
    assert all(space[key].dtype == np.float32 for key in space)
    assert push_env.action_dim == 4 and push_env.action_space.shape == (4,)
    assert push_env.max_episode_steps == 50
    assert isinstance(push_env, EnvBase) and push_env.name == "FetchPush-v4"


def test_step_returns_a_gymnasium_five_tuple(push_env):
    push_env.reset(seed=1)
    assert push_env.is_success() is False  # nothing has happened yet
    obs, reward, terminated, truncated, info = push_env.step(np.zeros(4, dtype=np.float32))
    assert set(obs) == {"observation", "achieved_goal", "desired_goal"}
    assert isinstance(reward, float) and reward == -1.0  # sparse reward: the block is not at the goal
    assert terminated is False and truncated is False
    assert "is_success" in info and push_env.is_success() is False


def test_box_observation_becomes_flat():
    env = create_env_from_name("Pendulum-v1")
    obs = env.reset(seed=0)
    assert list(obs) == ["flat"] and obs["flat"].shape == (3,) and obs["flat"].dtype == np.float32
    assert env.observation_space["flat"].shape == (3,)
    next_obs, reward, *_ = env.step(np.zeros(1))
    assert next_obs["flat"].shape == (3,) and isinstance(reward, float)
    assert env.get_state().shape == (2,)  # pendulum (theta, theta_dot)
    env.close()


def test_same_seed_gives_same_episode(push_env):
    first = push_env.reset(seed=7)["observation"]
    push_env.reset(seed=8)
    again = push_env.reset(seed=7)["observation"]
    np.testing.assert_array_equal(first, again)


def test_serialize_round_trip_through_json():
    env = create_env_from_name("FetchReach-v4", reward_type="dense", max_episode_steps=20)
    env_args = json.loads(json.dumps(env.serialize()))
    assert env_args == {"env_name": "FetchReach-v4", "type": GYM_TYPE,
                        "env_kwargs": {"reward_type": "dense", "max_episode_steps": 20}}
    rebuilt = create_env(env_args)
    assert rebuilt.serialize() == env_args
    assert rebuilt.max_episode_steps == 20
    rebuilt.reset(seed=0)
    _, reward, *_ = rebuilt.step(np.zeros(4))
    assert reward < 0 and reward != -1.0  # dense reward: minus the distance to the goal
    env.close()
    rebuilt.close()


def test_create_env_overrides_name_and_kwargs():
    env_args = {"env_name": "FetchReach-v4", "type": GYM_TYPE, "env_kwargs": {"max_episode_steps": 20}}
    env = create_env(env_args, env_name="FetchPush-v4", max_episode_steps=30)
    assert env.name == "FetchPush-v4" and env.max_episode_steps == 30
    assert env.serialize()["env_kwargs"] == {"max_episode_steps": 30}
    env.close()


def test_render_gives_a_nonconstant_uint8_frame(push_env):
    push_env.reset(seed=2)
    frame = push_env.render(height=64, width=96)
    assert frame.shape == (64, 96, 3) and frame.dtype == np.uint8
    assert frame.std() > 5  # a real image, not a blank buffer
    assert push_env.render().shape == (256, 256, 3)


def test_rendered_frames_follow_the_simulation(push_env):
    push_env.reset(seed=3)
    before = push_env.render(64, 64).astype(int)
    for _ in range(8):
        push_env.step(np.array([1.0, 0.0, 1.0, 0.0]))
    after = push_env.render(64, 64).astype(int)
    assert np.abs(after - before).sum() > 0


def test_set_state_replays_the_same_transitions(push_env):
    actions = np.random.default_rng(0).uniform(-1, 1, size=(12, 4))
    push_env.reset(seed=4)
    for action in actions[:6]:
        push_env.step(action)
    state = push_env.get_state()
    raw = push_env.unwrapped
    assert state.shape == (1 + raw.model.nq + raw.model.nv,)
    reference = [push_env.step(action)[0]["observation"] for action in actions[6:]]

    push_env.reset(seed=4)  # same goal; the state restores the rest
    push_env.set_state(state)
    np.testing.assert_allclose(push_env.get_state(), state)
    replayed = [push_env.step(action)[0]["observation"] for action in actions[6:]]
    np.testing.assert_allclose(replayed, reference, atol=1e-6)


def test_unknown_env_id_is_a_user_error():
    with pytest.raises(UserError, match="unknown environment 'FetchPsh-v4'.*did you mean FetchPush-v4"):
        create_env({"env_name": "FetchPsh-v4", "type": GYM_TYPE, "env_kwargs": {}})
    with pytest.raises(UserError, match="NoSuchEnv-v0"):
        create_env_from_name("NoSuchEnv-v0")


def test_unsupported_env_type_is_a_user_error():
    with pytest.raises(UserError, match="type 7"):
        create_env({"env_name": "FetchPush-v4", "type": 7, "env_kwargs": {}})


@pytest.mark.skipif(importlib.util.find_spec("robosuite") is not None, reason="robosuite is installed here")
def test_robosuite_env_without_the_extra_says_how_to_install_it():
    with pytest.raises(UserError, match=r'Lift is a robosuite environment.*pip install -e "\.\[robosuite\]"') as info:
        create_env({"env_name": "Lift", "type": 1, "env_kwargs": {}})
    assert "\n" not in str(info.value)


def test_bad_env_kwargs_are_a_user_error():
    with pytest.raises(UserError, match="bad env_kwargs for FetchPush-v4"):
        create_env_from_name("FetchPush-v4", no_such_option=3)


def test_gym_env_is_a_context_manager():
    with GymEnv("Pendulum-v1") as env:
        assert env.reset(seed=0)["flat"].shape == (3,)
