"""Chunk execution: per-env action queues, temporal-ensembling weights against hand-computed values, per-env
resets of RolloutPolicy (queues and frame history), and a chunking algorithm driven through RolloutPolicy."""

import math

import numpy as np
import pytest
import torch

from robokit.algo import RolloutPolicy, algo_factory
from robokit.algo.bc import BC
from robokit.algo.chunking import ActionQueue, ChunkSpec, TemporalEnsembler
from robokit.config import apply_overrides, config_factory


def test_chunk_spec_validates():
    assert ChunkSpec(8).temporal_ensemble_coeff is None and not ChunkSpec(8).ensembling
    assert ChunkSpec(1, 0.01).ensembling
    with pytest.raises(ValueError, match="action_horizon"):
        ChunkSpec(0)
    with pytest.raises(ValueError, match="temporal_ensemble_coeff"):
        ChunkSpec(2, float("nan"))


def test_queue_executes_action_horizon_actions_then_asks_for_a_plan():
    queue = ActionQueue(action_horizon=3)
    assert queue.needs_plan(2).tolist() == [True, True]
    chunk = np.arange(2 * 5 * 1, dtype=np.float32).reshape(2, 5, 1)  # env 0: 0..4, env 1: 5..9
    queue.push(chunk, np.array([True, True]))
    popped = [queue.pop()[:, 0].tolist() for _ in range(3)]
    assert popped == [[0, 5], [1, 6], [2, 7]]  # the first 3 of each chunk, then empty
    assert queue.needs_plan(2).tolist() == [True, True]
    with pytest.raises(RuntimeError, match="empty"):
        queue.pop()
    # envs re-planned at different times keep their own positions
    queue.push(chunk, np.array([True, True]))
    queue.pop()
    queue.reset([1])
    assert queue.needs_plan(2).tolist() == [False, True]
    queue.push(chunk[1:] + 100, np.array([False, True]))
    assert queue.pop()[:, 0].tolist() == [1, 105]
    assert queue.pop()[:, 0].tolist() == [2, 106]
    assert queue.needs_plan(2).tolist() == [True, False]
    with pytest.raises(ValueError, match="action horizon"):
        queue.push(chunk[:, :2], np.array([True, True]))


def test_temporal_ensembling_weights_oldest_first_and_zero_actions_count():
    m = 0.5
    ens = TemporalEnsembler(m)
    np.testing.assert_allclose(ens.weights(3), np.exp([0.0, -0.5, -1.0]) / np.exp([0.0, -0.5, -1.0]).sum())
    # one env, horizon 3, action dim 1: chunk made at step s predicts c_s[j] for step s + j
    c0 = np.array([[[1.0], [2.0], [3.0]]])
    c1 = np.array([[[0.0], [0.0], [7.0]]])  # exactly 0 for steps 1 and 2: must still count
    c2 = np.array([[[10.0], [20.0], [30.0]]])
    c3 = np.array([[[-4.0], [5.0], [6.0]]])
    a0 = ens.step(c0)
    np.testing.assert_allclose(a0, [[1.0]])  # one chunk: its own action
    a1 = ens.step(c1)  # covering: c0[1] = 2 (oldest, w=1), c1[0] = 0 (w=e^-0.5)
    np.testing.assert_allclose(a1, [[(2.0 * 1 + 0.0 * math.exp(-0.5)) / (1 + math.exp(-0.5))]])
    a2 = ens.step(c2)  # c0[2] = 3, c1[1] = 0, c2[0] = 10
    w = [1, math.exp(-0.5), math.exp(-1.0)]
    np.testing.assert_allclose(a2, [[(3 * w[0] + 0 * w[1] + 10 * w[2]) / sum(w)]])
    a3 = ens.step(c3)  # c0 no longer covers step 3: c1[2] = 7 (now oldest), c2[1] = 20, c3[0] = -4
    np.testing.assert_allclose(a3, [[(7 * w[0] + 20 * w[1] - 4 * w[2]) / sum(w)]])


def test_temporal_ensembling_resets_per_env():
    ens = TemporalEnsembler(0.0)  # m = 0: plain mean
    ens.step(np.array([[[1.0], [1.0]], [[1.0], [1.0]]]))
    ens.reset(np.array([False, True]))
    out = ens.step(np.array([[[3.0], [3.0]], [[3.0], [3.0]]]))
    np.testing.assert_allclose(out, [[2.0], [3.0]])  # env 0 averages two chunks, env 1 starts again


# ----- RolloutPolicy with a chunking algorithm -----
SHAPES = {"observation": (3,)}


class CountingChunker(BC):
    """A BC network whose get_action returns a chunk whose values say which call made it: call c, step h -> 10c + h."""

    SPEC = ChunkSpec(action_horizon=2)

    @property
    def chunk_spec(self):
        return self.SPEC

    def reset(self):
        self.calls = 0
        self.batch_sizes = []

    def get_action(self, obs_dict, goal_dict=None):
        obs = obs_dict["observation"]  # (B, F, 3) with frame stacking
        self.calls += 1
        self.batch_sizes.append(obs.shape[0])
        b = obs.shape[0]
        chunk = 10.0 * self.calls + torch.arange(4.0).view(1, 4, 1).expand(b, 4, 1)  # (B, 4, 1)
        return chunk + 0 * obs[:, -1, :1].unsqueeze(1)

    def reset_envs(self, env_mask):
        pass


def chunk_policy(spec=ChunkSpec(action_horizon=2), frame_stack=2) -> RolloutPolicy:
    config = config_factory("bc")
    apply_overrides(config, ['observation.modalities.obs.low_dim=["observation"]', "algo.actor_layer_dims=[4]",
                             f"train.frame_stack={frame_stack}"])
    algo = CountingChunker(algo_config=config.algo, obs_config=config.observation, global_config=config,
                           obs_key_shapes=SHAPES, ac_dim=1, device="cpu")
    algo.SPEC = spec
    algo.reset()
    return RolloutPolicy(algo)


def obs(values):
    return {"observation": np.repeat(np.asarray(values, dtype=np.float32)[:, None], 3, axis=1)}


def test_rollout_policy_queues_per_env_and_replans_only_the_envs_that_need_it():
    policy = chunk_policy()
    policy.start_episode()
    algo = policy.policy
    a = [policy(obs([0, 0, 0]))[:, 0].tolist() for _ in range(2)]
    assert a == [[10, 10, 10], [11, 11, 11]] and algo.calls == 1  # one plan, 2 actions each
    policy.start_episode(env_mask=[1])  # env 1 starts its next episode
    assert policy(obs([0, 0, 0]))[:, 0].tolist() == [20, 20, 20]  # everyone's queue was empty: one batched plan
    assert algo.batch_sizes == [3, 3]
    policy.start_episode(env_mask=np.array([False, False, True]))
    assert policy(obs([0, 0, 0]))[:, 0].tolist() == [21, 21, 30]  # env 2 alone re-planned
    assert algo.batch_sizes == [3, 3, 1]
    assert policy(obs([0, 0, 0]))[:, 0].tolist() == [40, 40, 31]
    assert algo.batch_sizes == [3, 3, 1, 2]
    single = chunk_policy()
    single.start_episode()
    assert [single({"observation": np.zeros(3)})[0] for _ in range(3)] == [10, 11, 20]  # unbatched: (A,)


def test_rollout_policy_ensembles_every_step():
    policy = chunk_policy(ChunkSpec(action_horizon=1, temporal_ensemble_coeff=0.0))
    policy.start_episode()
    first = policy(obs([0]))[:, 0]
    second = policy(obs([0]))[:, 0]
    np.testing.assert_allclose(first, [10.0])
    np.testing.assert_allclose(second, [(11.0 + 20.0) / 2])  # chunk 1 at index 1, chunk 2 at index 0
    assert policy.policy.calls == 2


def test_frame_history_is_reset_per_env():
    policy = chunk_policy(frame_stack=3)
    policy.start_episode()
    policy(obs([1, 1]))
    policy(obs([2, 2]))
    history = policy.frame_history["observation"][:, :, 0]  # (N, F)
    assert history.tolist() == [[1, 1, 2], [1, 1, 2]]
    policy.start_episode(env_mask=[0])
    policy(obs([5, 3]))
    assert policy.frame_history["observation"][:, :, 0].tolist() == [[5, 5, 5], [1, 2, 3]]
    policy.start_episode()
    assert policy.frame_history is None


def test_plain_policies_reject_partial_reset_only_when_they_keep_state():
    config = config_factory("bc")
    apply_overrides(config, ['observation.modalities.obs.low_dim=["observation"]', "algo.actor_layer_dims=[4]"])
    mlp = RolloutPolicy(algo_factory("bc", config, SHAPES, 1, "cpu"))
    assert mlp.supports_env_reset
    mlp.start_episode()
    mlp(obs([0, 0]))
    mlp.start_episode(env_mask=[1])  # stateless: fine
    assert mlp(obs([0, 0])).shape == (2, 1)


def test_idle_envs_are_not_planned_for():
    policy = chunk_policy()
    policy.start_episode()
    policy(obs([0, 0]))  # one plan for both
    policy.set_active_envs([True, False])  # env 1 has no episode left
    policy(obs([0, 0]))
    out = policy(obs([0, 0]))  # env 0 re-plans alone; env 1 gets zeros
    assert out[:, 0].tolist() == [20, 0] and policy.policy.batch_sizes == [2, 1]
