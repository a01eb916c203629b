"""Factories pick the right variant and reject impossible combinations; configs check the data they need."""

import pytest

from robokit.algo import algo_name_to_factory_func
from robokit.config import apply_overrides, config_factory
from robokit.errors import ConfigError


def resolve(algo_name: str, *overrides: str) -> type:
    config = config_factory(algo_name)
    apply_overrides(config, list(overrides))
    cls, _ = algo_name_to_factory_func(algo_name)(config.algo)
    return cls


@pytest.mark.parametrize("algo_name, overrides, expected", [
    ("bcq", [], "BCQ"),
    ("bcq", ["algo.action_sampler.vae.enabled=false", "algo.action_sampler.gmm.enabled=true"], "BCQ_GMM"),
    ("bcq", ["algo.critic.distributional.enabled=true", "algo.critic.value_bounds=[-10, 0]"], "BCQ_Distributional"),
    ("cql", [], "CQL"),
    ("iql", [], "IQL"),
    ("td3_bc", [], "TD3_BC"),
    ("gl", [], "GL_VAE"),
    ("gl", ["algo.vae.enabled=false"], "GL"),
    ("hbc", [], "HBC"),
    ("iris", [], "IRIS"),
])
def test_factory_picks_the_variant(algo_name, overrides, expected):
    assert resolve(algo_name, *overrides).__name__ == expected


def test_hbc_factory_composes_the_gl_and_bc_factories():
    config = config_factory("hbc")
    cls, kwargs = algo_name_to_factory_func("hbc")(config.algo)
    assert kwargs["planner_algo_class"].__name__ == "GL_VAE" and kwargs["policy_algo_class"].__name__ == "BC_RNN"
    apply_overrides(config, ["algo.planner.vae.enabled=false", "algo.actor.rnn.enabled=false", "train.seq_length=10"])
    _, kwargs = algo_name_to_factory_func("hbc")(config.algo)
    assert kwargs["planner_algo_class"].__name__ == "GL" and kwargs["policy_algo_class"].__name__ == "BC"
    _, kwargs = algo_name_to_factory_func("iris")(config_factory("iris").algo)
    assert kwargs["value_algo_class"].__name__ == "BCQ"


@pytest.mark.parametrize("algo_name, overrides, message", [
    ("bcq", ["algo.action_sampler.gmm.enabled=true"], "exactly one action sampler"),
    ("bcq", ["algo.action_sampler.vae.enabled=false"], "exactly one action sampler"),
    ("bcq", ["algo.critic.distributional.enabled=true"], "value_bounds"),
    ("bcq", ["algo.critic.distributional.enabled=true", "algo.critic.value_bounds=[-1, 0]",
             "algo.action_sampler.vae.enabled=false", "algo.action_sampler.gmm.enabled=true"], "VAE action sampler"),
    ("cql", ["algo.actor.net.type=gmm"], 'type="gaussian"'),
    ("iris", ["algo.latent_subgoal.enabled=true"], "latent subgoals"),
])
def test_factory_rejects_impossible_combinations(algo_name, overrides, message):
    config = config_factory(algo_name)
    apply_overrides(config, overrides, validate=False)
    with pytest.raises(ConfigError, match=message):
        algo_name_to_factory_func(algo_name)(config.algo)


@pytest.mark.parametrize("algo_name, overrides, message", [
    ("iql", ["train.hdf5_load_next_obs=false"], "hdf5_load_next_obs=true"),
    ("cql", ['train.dataset_keys=["actions"]'], "rewards"),
    ("td3_bc", ["train.frame_stack=2"], "frame_stack=1"),
    ("bcq", ["algo.n_step=5"], "seq_length >= 5"),
    ("gl", ["observation.modalities.subgoal.low_dim=[]"], "lists no keys"),
    ("hbc", ["algo.actor.rnn.horizon=5"], "rnn.horizon"),
    ("hbc", ['observation.actor.modalities.goal.low_dim=["desired_goal"]'], "must be empty"),
    ("hbc", ["algo.latent_subgoal.enabled=true", "algo.planner.vae.enabled=false"], "planner's VAE"),
    ("iris", ['observation.value_planner.value.modalities.obs.low_dim=["desired_goal"]'], "subgoal keys"),
    ("cql", ['algo.actor.target_entropy="high"'], "target_entropy"),
])
def test_config_rejects_what_cannot_train(algo_name, overrides, message):
    config = config_factory(algo_name)
    with pytest.raises(ConfigError, match=message):
        apply_overrides(config, overrides)


def test_hierarchical_configs_load_every_part_s_keys():
    config = config_factory("iris")
    apply_overrides(config, ['observation.actor.modalities.obs.low_dim=["achieved_goal"]'])
    assert config.all_obs_keys == ["achieved_goal", "desired_goal", "observation"]
    assert len(config.observation_sections()) == 3 and not config.use_goals
    apply_overrides(config, ['observation.value_planner.planner.modalities.goal.low_dim=["desired_goal"]',
                             "train.goal_mode=last"])
    assert config.use_goals


def test_value_configs_keep_robomimic_key_names():
    bcq = config_factory("bcq").to_dict()["algo"]
    assert bcq["critic"]["ensemble"] == {"n": 2, "weight": 0.75}
    assert bcq["optim_params"]["critic"]["start_epoch"] == -1
    assert bcq["action_sampler"]["vae"]["enabled"] is True and bcq["action_sampler"]["freeze_encoder_epoch"] == -1
    cql = config_factory("cql")
    assert cql.algo.critic.target_q_gap == 5.0 and cql.algo.actor.target_entropy == "default"
    assert cql.train.batch_size == 1024 and cql.algo.actor.net.common.use_tanh
    iql = config_factory("iql").algo
    assert (iql.vf_quantile, iql.adv.beta, iql.target_tau) == (0.9, 1.0, 0.01)
    td3 = config_factory("td3_bc")
    assert td3.algo.alpha == 2.5 and td3.algo.critic.ensemble.weight == 1.0 and td3.train.hdf5_normalize_obs


def test_gl_derives_a_window_long_enough_for_its_subgoal():
    """robomimic's gl.json keeps train.seq_length 1 beside subgoal_horizon 10: the window is raised, not refused."""
    config = config_factory("gl")
    apply_overrides(config, ["algo.subgoal_horizon=20"])
    assert config.train.seq_length == 20
    apply_overrides(config, ["train.seq_length=25"])
    assert config.train.seq_length == 25  # a longer window is kept
