"""Replay buffer, rollout storage and running normalisation: ring wrap-around, memory bound, checkpoints."""

import numpy as np
import pytest

from robokit.algo.rollout_policy import RolloutPolicy
from robokit.data.replay_buffer import ReplayBuffer
from robokit.data.rollout_storage import RolloutStorage, next_state_values
from robokit.data.running_stats import ObsNormalizer, RewardScaler, RunningMeanStd
from robokit.errors import ConfigError
from robokit.utils import batch_keys as K
from robokit.utils.normalization import normalize


def transitions(start: int, n: int) -> tuple:
    """n transitions whose every field encodes its index start..start+n-1."""
    idx = np.arange(start, start + n, dtype=np.float32)
    obs = {"flat": np.stack([idx, -idx], axis=1)}
    next_obs = {"flat": obs["flat"] + 0.5}
    return obs, idx[:, None], idx * 10, (idx % 2 == 0).astype(np.float32), next_obs


def test_replay_buffer_ring_wraps_around_and_keeps_newest():
    buf = ReplayBuffer(5, {"flat": (2,)}, action_dim=1)
    buf.add(*transitions(0, 3))
    assert len(buf) == 3 and buf.pos == 3
    buf.add(*transitions(3, 4))  # 7 added into 5 slots: 0 and 1 are overwritten
    assert len(buf) == 5 and buf.pos == 2
    assert sorted(buf.actions[:, 0].tolist()) == [2, 3, 4, 5, 6]
    # every stored field still belongs to the same transition after wrapping
    np.testing.assert_array_equal(buf.rewards, buf.actions[:, 0] * 10)
    np.testing.assert_array_equal(buf.next_obs["flat"], buf.obs["flat"] + 0.5)
    state = buf.state_dict()
    assert state["actions"][:, 0].tolist() == [2, 3, 4, 5, 6]  # oldest first


def test_replay_buffer_memory_is_bounded():
    buf = ReplayBuffer(100, {"flat": (4,)}, action_dim=2)
    nbytes = buf.nbytes
    assert nbytes == ReplayBuffer.bytes_needed(100, {"flat": (4,)}, 2)
    for start in range(0, 1000, 30):
        obs = {"flat": np.zeros((30, 4), np.float32)}
        buf.add(obs, np.zeros((30, 2), np.float32), np.zeros(30, np.float32), np.zeros(30, np.float32), obs)
    assert len(buf) == 100 and buf.nbytes == nbytes
    with pytest.raises(ConfigError, match="algo.replay_buffer.capacity"):
        ReplayBuffer(10**9, {"flat": (100,)}, action_dim=6, max_bytes=1e9)


def test_replay_buffer_sample_and_state_roundtrip():
    buf = ReplayBuffer(8, {"flat": (2,)}, action_dim=1)
    buf.add(*transitions(0, 11))
    batch = buf.sample(64, np.random.default_rng(0))
    assert batch[K.OBS]["flat"].shape == (64, 2) and batch[K.ACTIONS].shape == (64, 1)
    assert set(batch[K.ACTIONS][:, 0].tolist()) <= set(range(3, 11))
    np.testing.assert_array_equal(batch[K.DONES], (batch[K.ACTIONS][:, 0] % 2 == 0).astype(np.float32))
    restored = ReplayBuffer(8, {"flat": (2,)}, action_dim=1)
    restored.load_state_dict(buf.state_dict())
    for key in ("actions", "rewards", "terminated"):
        np.testing.assert_array_equal(restored.state_dict()[key], buf.state_dict()[key])
    smaller = ReplayBuffer(4, {"flat": (2,)}, action_dim=1)
    smaller.load_state_dict(buf.state_dict())
    assert smaller.state_dict()["actions"][:, 0].tolist() == [7, 8, 9, 10]


def test_rollout_storage_keeps_final_observations_where_episodes_ended():
    storage = RolloutStorage(3, 2, {"flat": (1,)}, action_dim=1)
    ends = [(np.array([False, False]), np.array([False, True])),  # env 1 truncated at t=0
            (np.array([True, False]), np.array([False, False])),  # env 0 terminated at t=1
            (np.array([False, False]), np.array([False, False]))]
    for t in range(3):
        terminated, truncated = ends[t]
        storage.add({"flat": np.full((2, 1), t)}, np.zeros((2, 1)), np.ones(2), terminated, truncated,
                    final_obs={"flat": np.array([[-1.0], [-2.0]]) * (t + 1)})
    assert storage.full
    np.testing.assert_array_equal(storage.final_index, [1, 2])  # flat t * N + env
    np.testing.assert_array_equal(storage.final_obs["flat"][:, 0], [-2.0, -2.0])
    np.testing.assert_array_equal(storage.dones, [[0, 1], [1, 0], [0, 0]])
    np.testing.assert_array_equal(storage.terminated, [[0, 0], [1, 0], [0, 0]])
    np.testing.assert_array_equal(storage.obs["flat"][:, :, 0], [[0, 0], [1, 1], [2, 2]])
    storage.reset()
    assert storage.final_obs["flat"].shape == (0, 1) and storage.final_index.shape == (0,)


def test_next_state_values_use_final_values_where_episodes_ended():
    values = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]], np.float32)
    next_values = next_state_values(values, np.array([4.0, 40.0]), np.array([1, 2]), np.array([-2.0, -4.0]))
    np.testing.assert_allclose(next_values, [[2.0, -2.0], [-4.0, 30.0], [4.0, 40.0]])


def test_running_mean_std_matches_numpy_over_batches():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(1000, 3))
    rms = RunningMeanStd((3,))
    for chunk in np.array_split(data, 7):
        rms.update(chunk)
    np.testing.assert_allclose(rms.mean, data.mean(0), rtol=1e-10)
    np.testing.assert_allclose(rms.var, data.var(0), rtol=1e-10)
    restored = RunningMeanStd((3,))
    restored.load_state_dict(rms.state_dict())
    assert restored.count == 1000


def test_obs_normalizer_exports_the_stats_rollout_policy_applies():
    rng = np.random.default_rng(1)
    norm = ObsNormalizer({"flat": (3,), "image": (4, 4, 3)}, {"image": np.uint8})
    raw = rng.normal(5.0, 3.0, size=(500, 3)).astype(np.float32)
    norm.update({"flat": raw, "image": np.zeros((500, 4, 4, 3), np.uint8)})
    stats = norm.stats()
    assert set(stats) == {"flat"} and set(stats["flat"]) == {"offset", "scale"}  # images are not normalised
    trained = norm.normalize({"flat": raw[:4]})["flat"]
    np.testing.assert_allclose(trained, normalize(raw[:4], stats["flat"]), rtol=1e-6)
    assert abs(norm.normalize({"flat": raw})["flat"].mean()) < 1e-3

    class Echo:  # a policy that returns the observation it is given, as RolloutPolicy normalises it
        obs_shapes, goal_shapes = {"flat": (3,)}, {}
        device = "cpu"

        class global_config:
            class train:
                frame_stack = 1

        def get_action(self, obs, goal=None):
            return obs["flat"]

    deployed = RolloutPolicy(Echo(), obs_normalization_stats=stats)(raw[:4])
    np.testing.assert_allclose(deployed, trained, rtol=1e-6)


def test_reward_scaler_divides_by_std_of_discounted_return_and_resets_at_episode_end():
    scaler = RewardScaler(num_envs=2, discount=0.5)
    scaler.update(np.array([1.0, 2.0]), np.array([False, True]))
    np.testing.assert_allclose(scaler.returns, [1.0, 0.0])
    scaler.update(np.array([1.0, 2.0]), np.array([False, False]))
    np.testing.assert_allclose(scaler.returns, [1.5, 2.0])
    expected_std = np.sqrt(np.var([1.0, 2.0, 1.5, 2.0]) + 1e-8)
    np.testing.assert_allclose(scaler(np.array([3.0])), [3.0 / expected_std], rtol=1e-6)
