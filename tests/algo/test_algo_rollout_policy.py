"""RolloutPolicy: raw single / batched observations, normalisation, frame stacking, RNN re-planning."""

import numpy as np
import pytest
import torch

from robokit.algo import RolloutPolicy, algo_factory
from robokit.config import apply_overrides, config_factory

SHAPES = {"observation": (5,), "desired_goal": (3,)}


def make_algo(overrides=()):
    config = config_factory("bc")
    apply_overrides(config, ["algo.actor_layer_dims=[16]", "algo.rnn.hidden_dim=8", "algo.rnn.num_layers=1",
                             "algo.transformer.embed_dim=8", "algo.transformer.num_layers=1",
                             "algo.transformer.num_heads=2", *overrides])
    torch.manual_seed(0)
    algo = algo_factory("bc", config, SHAPES, ac_dim=2, device="cpu")
    algo.set_eval()
    return algo


def obs(value=0.0, batch=None):
    lead = () if batch is None else (batch,)
    return {k: np.full(lead + s, value, dtype=np.float64) for k, s in SHAPES.items()}


def test_single_and_batched_observations_agree():
    policy = RolloutPolicy(make_algo())
    policy.start_episode()
    single = policy(obs(0.3))
    batched = policy(obs(0.3, batch=4))
    assert single.shape == (2,) and batched.shape == (4, 2)
    np.testing.assert_allclose(batched, np.tile(single, (4, 1)), rtol=1e-5, atol=1e-6)


def test_normalisation_is_applied_to_obs_and_undone_on_actions():
    algo = make_algo()
    stats = {k: {"offset": np.full(s, 2.0, np.float32), "scale": np.full(s, 4.0, np.float32)} for k, s in SHAPES.items()}
    act_stats = {"actions": {"offset": np.array([10.0, -10.0], np.float32), "scale": np.array([2.0, 3.0], np.float32)}}
    plain = RolloutPolicy(algo)
    normalised = RolloutPolicy(algo, obs_normalization_stats=stats, action_normalization_stats=act_stats)
    plain.start_episode(), normalised.start_episode()
    raw_action = plain(obs(0.0))  # the network's output for normalised input 0 = (2 - 2) / 4
    np.testing.assert_allclose(normalised(obs(2.0)), raw_action * [2.0, 3.0] + [10.0, -10.0], rtol=1e-5)


def test_plain_array_maps_to_the_single_obs_key_and_ambiguity_is_an_error():
    config = config_factory("bc")
    apply_overrides(config, ['observation.modalities.obs.low_dim=["flat"]', "algo.actor_layer_dims=[8]"])
    algo = algo_factory("bc", config, {"flat": (3,)}, ac_dim=1, device="cpu")
    policy = RolloutPolicy(algo)
    policy.start_episode()
    assert policy(np.zeros(3)).shape == (1,)
    assert policy(np.zeros((5, 3))).shape == (5, 1)
    two_keys = RolloutPolicy(make_algo())
    with pytest.raises(ValueError, match="ambiguous"):
        two_keys(np.zeros(8))
    with pytest.raises(KeyError, match="desired_goal"):
        two_keys({"observation": np.zeros(5)})


def test_frame_stack_repeats_the_first_frame_then_slides():
    policy = RolloutPolicy(make_algo(["algo.transformer.enabled=true", "train.frame_stack=3",
                                      "algo.transformer.context_length=3"]))
    policy.start_episode()
    for value in (1.0, 2.0, 3.0, 4.0):
        policy(obs(value))
        history = policy.frame_history["observation"][0, :, 0].tolist()  # (F,) of env 0
        expected = {1.0: [1, 1, 1], 2.0: [1, 1, 2], 3.0: [1, 2, 3], 4.0: [2, 3, 4]}[value]
        assert history == expected
    policy.start_episode()
    assert policy.frame_history is None


def test_rnn_keeps_hidden_state_and_replans_every_horizon():
    algo = make_algo(["algo.rnn.enabled=true", "train.seq_length=3", "algo.rnn.horizon=3"])
    policy = RolloutPolicy(algo)
    policy.start_episode()
    actions = [policy(obs(0.5)) for _ in range(7)]
    assert not np.allclose(actions[0], actions[1])  # the hidden state carries over between calls
    np.testing.assert_allclose(actions[3], actions[0], rtol=1e-6)  # re-planned: fresh state at step 3
    np.testing.assert_allclose(actions[4], actions[1], rtol=1e-6)
    policy.start_episode()  # reset() clears the state
    np.testing.assert_allclose(policy(obs(0.5)), actions[0], rtol=1e-6)


def test_rnn_resets_and_replans_per_env():
    algo = make_algo(["algo.rnn.enabled=true", "train.seq_length=3", "algo.rnn.horizon=3"])
    policy = RolloutPolicy(algo)
    assert policy.supports_env_reset
    policy.start_episode()
    alone = [policy(obs(0.5)) for _ in range(4)]  # one env: steps 0-3 (re-plans at 0 and 3)
    policy.start_episode()
    both = [policy(obs(0.5, batch=2)) for _ in range(2)]
    policy.start_episode(env_mask=[False, True])  # env 1 starts a new episode after 2 steps
    both += [policy(obs(0.5, batch=2)) for _ in range(2)]
    for step in range(4):
        np.testing.assert_allclose(both[step][0], alone[step], rtol=1e-5, atol=1e-6)  # env 0 runs on
    np.testing.assert_allclose(both[2][1], alone[0], rtol=1e-5, atol=1e-6)  # env 1 starts afresh
    np.testing.assert_allclose(both[3][1], alone[1], rtol=1e-5, atol=1e-6)
