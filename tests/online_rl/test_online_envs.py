"""Vector environments behind robokit's env layer: dict observations, final observations, action scaling."""

import gymnasium
import numpy as np
import pytest

from robokit.envs.vector_env import VectorEnv, action_scaling_stats
from robokit.errors import UserError


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_env_steps_n_envs_with_flat_observations(mode):
    with VectorEnv("Pendulum-v1", num_envs=2, mode=mode) as venv:
        obs = venv.reset(seed=0)
        assert set(obs) == {"flat"} and obs["flat"].shape == (2, 3) and obs["flat"].dtype == np.float32
        assert venv.obs_shapes == {"flat": (3,)} and venv.action_dim == 1 and venv.max_episode_steps == 200
        out = venv.step(np.zeros((2, 1), np.float32))
        next_obs, rewards, terminated, truncated, final_obs, _ = out
        assert rewards.shape == (2,) and terminated.dtype == bool and truncated.dtype == bool
        np.testing.assert_array_equal(final_obs["flat"], next_obs["flat"])


def test_truncated_episode_returns_its_final_observation_and_resets():
    with VectorEnv("Pendulum-v1", num_envs=1) as venv:
        obs = venv.reset(seed=1)
        reference = gymnasium.make("Pendulum-v1")
        ref_obs, _ = reference.reset(seed=1)
        np.testing.assert_allclose(obs["flat"][0], ref_obs, rtol=1e-6)
        for t in range(200):
            action = np.full((1, 1), np.sin(t), np.float32)
            next_obs, _, terminated, truncated, final_obs, _ = venv.step(action)
            ref_obs, _, _, ref_truncated, _ = reference.step(action[0])
        assert truncated[0] and ref_truncated and not terminated[0]  # a time limit, not a terminal state
        np.testing.assert_allclose(final_obs["flat"][0], ref_obs, rtol=1e-5)  # the true last observation
        assert not np.allclose(next_obs["flat"][0], ref_obs)  # already the next episode's first observation
        assert len(venv.episodes) == 1 and venv.episodes[0][1] == 200


def test_dict_observations_keep_their_keys():
    with VectorEnv("FetchReach-v4", num_envs=2) as venv:
        obs = venv.reset(seed=0)
        assert set(obs) == {"observation", "achieved_goal", "desired_goal"}
        assert obs["observation"].shape == (2, 10)
        *_, final_obs, _ = venv.step(np.zeros((2, 4), np.float32))
        assert set(final_obs) == set(obs)


def test_action_scaling_maps_unit_box_to_bounds():
    space = gymnasium.spaces.Box(low=np.array([-2.0, 0.0, -np.inf], np.float32),
                                 high=np.array([2.0, 1.0, np.inf], np.float32), dtype=np.float32)
    stats = action_scaling_stats(space)
    unit = np.array([[-1.0, -1.0, 0.3], [1.0, 1.0, 0.3]])
    env_actions = unit * stats["scale"] + stats["offset"]
    np.testing.assert_allclose(env_actions, [[-2.0, 0.0, 0.3], [2.0, 1.0, 0.3]])


def test_unknown_env_and_discrete_actions_are_user_errors():
    with pytest.raises(UserError, match="unknown environment 'Pendulum-v0'.*did you mean"):
        VectorEnv("Pendulum-v0")
    with pytest.raises(UserError, match="continuous"):
        VectorEnv("CartPole-v1")
