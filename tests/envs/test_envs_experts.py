"""Scripted experts: success rates on the real Fetch tasks, action contract, noise."""

import numpy as np
import pytest

from robokit.envs import create_env_from_name, make_expert
from robokit.envs.experts import expert_success_rate, has_expert, run_expert_episode
from robokit.errors import UserError

TASKS = ["FetchReach-v4", "FetchPush-v4", "FetchPickAndPlace-v4"]
N_EPISODES = 40


@pytest.mark.parametrize("env_name", TASKS)
def test_expert_succeeds_on_at_least_95_percent_of_seeded_episodes(env_name):
    env = create_env_from_name(env_name)
    rate = expert_success_rate(env, make_expert(env_name), seeds=range(1000, 1000 + N_EPISODES))
    env.close()
    assert rate >= 0.95, f"{env_name} expert success rate {rate:.2f} over {N_EPISODES} episodes"


def test_episode_ends_on_its_first_successful_step():
    env = create_env_from_name("FetchPush-v4")
    episode = run_expert_episode(env, make_expert("FetchPush-v4"), seed=5)
    env.close()
    T = len(episode)
    assert episode.success and 1 <= T <= 50
    assert episode.obs["observation"].shape == (T, 25) and episode.next_obs["desired_goal"].shape == (T, 3)
    assert episode.actions.shape == (T, 4) and episode.actions.dtype == np.float32
    assert episode.dones.tolist() == [0] * (T - 1) + [1]
    assert episode.rewards[-1] == 0.0 and np.all(episode.rewards[:-1] == -1.0)  # sparse reward
    np.testing.assert_array_equal(episode.obs["observation"][1:], episode.next_obs["observation"][:-1])
    assert episode.states.shape[0] == T


def test_actions_are_bounded_and_a_function_of_the_observation():
    env = create_env_from_name("FetchPickAndPlace-v4")
    expert = make_expert("FetchPickAndPlace-v4")
    obs = env.reset(seed=0)
    for _ in range(20):
        action = expert.act(obs)
        assert action.shape == (4,) and action.dtype == np.float32
        assert np.all(np.abs(action) <= 1.0)
        np.testing.assert_array_equal(expert.act(obs), action)  # deterministic given obs
        obs, *_ = env.step(action)
    env.close()


def test_noise_is_reproducible_from_the_generator():
    obs = {"observation": np.zeros(10, np.float32), "achieved_goal": np.zeros(3, np.float32),
           "desired_goal": np.full(3, 0.01, np.float32)}
    clean = make_expert("FetchReach-v4").act(obs)
    noisy_a = make_expert("FetchReach-v4", noise_std=0.3, rng=np.random.default_rng(1)).act(obs)
    noisy_b = make_expert("FetchReach-v4", noise_std=0.3, rng=np.random.default_rng(1)).act(obs)
    np.testing.assert_array_equal(noisy_a, noisy_b)
    assert not np.allclose(noisy_a, clean) and np.all(np.abs(noisy_a) <= 1.0)


def test_expert_lookup():
    assert has_expert("FetchPushDense-v4") and has_expert("FetchReach-v1")
    assert not has_expert("Pendulum-v1")
    with pytest.raises(UserError, match="no scripted expert for 'Pendulum-v1'"):
        make_expert("Pendulum-v1")
    with pytest.raises(ValueError):
        make_expert("FetchPush-v4", noise_std=-1.0)
