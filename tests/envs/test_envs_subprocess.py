"""SubprocessEnv: an env in its own process behaves like the same env in this one; create_envs builds groups."""

import numpy as np
import pytest

from robokit.envs import GymEnv, create_envs
from robokit.envs.subprocess_env import SubprocessEnv
from robokit.errors import UserError

REACH = {"env_name": "FetchReach-v4", "type": 2, "env_kwargs": {}}


def test_subprocess_env_replays_the_same_trajectory_as_a_local_env():
    local = GymEnv("FetchReach-v4")
    remote = SubprocessEnv(REACH)
    try:
        assert remote.name == "FetchReach-v4" and remote.action_dim == 4 and remote.max_episode_steps == 50
        assert remote.observation_space == local.observation_space and remote.serialize() == local.serialize()
        a, b = local.reset(seed=3), remote.reset(seed=3)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        actions = np.random.default_rng(0).uniform(-1, 1, (6, 4)).astype(np.float32)
        for action in actions:
            la, lr, lt, ltr, _ = local.step(action)
            remote.step_async(action)
            ra, rr, rt, rtr, _ = remote.step_wait()
            assert all(np.array_equal(la[k], ra[k]) for k in la) and (lr, lt, ltr) == (rr, rt, rtr)
            assert remote.is_success() == local.is_success()
        assert np.array_equal(remote.get_state(), local.get_state())
        frame = remote.render(32, 48)
        assert frame.shape == (32, 48, 3) and frame.dtype == np.uint8 and frame.std() > 0
    finally:
        local.close()
        remote.close()
    assert not remote._process.is_alive()


def test_step_wait_without_step_async_is_an_error():
    env = SubprocessEnv(REACH)
    try:
        with pytest.raises(RuntimeError, match="without step_async"):
            env.step_wait()
        env.reset(seed=0)
        env.step_async(np.zeros(4, np.float32))
        with pytest.raises(RuntimeError, match="pending"):
            env.reset(seed=0)
        env.step_wait()
    finally:
        env.close()


def test_unknown_env_in_a_subprocess_is_the_same_one_line_error():
    with pytest.raises(UserError, match="unknown environment 'FetchRech-v4'.*did you mean FetchReach"):
        SubprocessEnv({**REACH, "env_name": "FetchRech-v4"})


@pytest.mark.parametrize("mode, cls", [("sync", GymEnv), ("async", SubprocessEnv)])
def test_create_envs_builds_a_group_of_the_chosen_kind(mode, cls):
    envs = create_envs(REACH, 2, mode, env_name="FetchPush-v4")
    try:
        assert len(envs) == 2 and all(isinstance(env, cls) and env.name == "FetchPush-v4" for env in envs)
    finally:
        for env in envs:
            env.close()
    with pytest.raises(UserError, match="unknown vector env mode"):
        create_envs(REACH, 2, "threads")
    with pytest.raises(UserError, match="unknown environment 'FetchRech-v4'"):
        create_envs(REACH, 2, mode, env_name="FetchRech-v4")
