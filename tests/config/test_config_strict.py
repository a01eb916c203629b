"""Strict loading: unknown keys, types, choices, ranges, and the validate() checks."""

import pytest

from robokit.config import BCConfig, OptimizerConfig, Section, config_factory, iter_params, param
from robokit.errors import ConfigError


def load_bc(d):
    return config_factory("bc", d)


def test_defaults_are_robomimic_bc_defaults():
    c = config_factory("bc")
    assert c.algo_name == "bc"
    assert c.train.batch_size == 100 and c.train.hdf5_load_next_obs is False
    assert c.train.output_dir == "runs" and c.train.hdf5_cache_mode == "all"
    assert c.algo.optim_params.policy.learning_rate.initial == 1e-4
    assert c.algo.actor_layer_dims == [1024, 1024]
    assert c.algo.gmm.num_modes == 5 and c.algo.gmm.enabled is False
    assert c.algo.rnn.kwargs == {"bidirectional": False}
    assert c.observation.modalities.obs.low_dim == ["observation", "desired_goal"]
    assert c.observation.encoder.rgb.core_class == "VisualCore"
    assert c.observation.encoder.scan.core_class == "ScanCore"
    assert c.observation.encoder.low_dim.core_class is None
    assert c.experiment.rollout.num_envs == 1


def test_instances_do_not_share_mutable_defaults():
    a, b = BCConfig(), BCConfig()
    a.observation.modalities.obs.low_dim.append("x")
    a.algo.rnn.kwargs["dropout"] = 0.5
    assert b.observation.modalities.obs.low_dim == ["observation", "desired_goal"]
    assert b.algo.rnn.kwargs == {"bidirectional": False}


def test_unknown_key_suggests_nearest():
    with pytest.raises(
        ConfigError, match=r"unknown config key 'train\.batch_sise'; did you mean 'train\.batch_size'\?"
    ):
        load_bc({"train": {"batch_sise": 5}})


def test_nested_unknown_key_has_full_path():
    with pytest.raises(
        ConfigError,
        match=r"'algo\.optim_params\.policy\.learning_rate\.inital'.*"
        r"'algo\.optim_params\.policy\.learning_rate\.initial'",
    ):
        load_bc({"algo": {"optim_params": {"policy": {"learning_rate": {"inital": 0.1}}}}})


def test_unknown_key_without_close_match_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown config key 'algo\.zzz'; valid keys under 'algo': ema, optim_params"):
        load_bc({"algo": {"zzz": 1}})


def test_partial_sections_merge_over_defaults():
    c = load_bc({"algo": {"gaussian": {"enabled": True}, "rnn": {"kwargs": {"dropout": 0.1}}}})
    assert c.algo.gaussian.enabled is True
    assert c.algo.gaussian.init_std == 0.1
    assert c.algo.rnn.kwargs == {"bidirectional": False, "dropout": 0.1}


def test_wrong_type_names_path_type_and_value():
    with pytest.raises(ConfigError, match=r"config key 'train\.batch_size' expects int or \"auto\", got \"100\" \(str\)"):
        load_bc({"train": {"batch_size": "100"}})


def test_bool_is_not_an_int_or_float():
    with pytest.raises(ConfigError, match=r"'train\.seed' expects int, got true \(bool\)"):
        load_bc({"train": {"seed": True}})
    with pytest.raises(ConfigError, match=r"expects float"):
        load_bc({"algo": {"gmm": {"min_std": False}}})


def test_int_accepted_for_float_and_stored_as_float():
    c = load_bc({"algo": {"vae": {"kl_weight": 2}}})
    assert c.algo.vae.kl_weight == 2.0 and isinstance(c.algo.vae.kl_weight, float)


def test_list_elements_are_checked():
    with pytest.raises(ConfigError, match=r"'algo\.actor_layer_dims\[1\]' expects int, got \"a\""):
        load_bc({"algo": {"actor_layer_dims": [1, "a"]}})
    c = config_factory("bc")
    c.algo.actor_layer_dims = (64, 64)  # tuples are accepted and stored as lists
    assert c.algo.actor_layer_dims == [64, 64]


def test_bad_choice_lists_allowed_values():
    with pytest.raises(ConfigError, match=r"'algo\.rnn\.rnn_type' must be one of \"LSTM\", \"GRU\"; got \"lstm\""):
        load_bc({"algo": {"rnn": {"rnn_type": "lstm"}}})
    with pytest.raises(ConfigError, match=r"must be one of \"all\", \"low_dim\", null"):
        load_bc({"train": {"hdf5_cache_mode": "everything"}})


def test_none_only_where_optional():
    c = load_bc(
        {"train": {"hdf5_cache_mode": None, "max_grad_norm": None}, "experiment": {"epoch_every_n_steps": None}}
    )
    assert c.train.hdf5_cache_mode is None and c.experiment.epoch_every_n_steps is None
    with pytest.raises(ConfigError, match=r"'train\.batch_size' expects int or \"auto\", got null"):
        load_bc({"train": {"batch_size": None}})


def test_range_checks():
    with pytest.raises(ConfigError, match=r"'train\.frame_stack' must be >= 1, got 0"):
        load_bc({"train": {"frame_stack": 0}})
    with pytest.raises(ConfigError, match=r"'algo\.transformer\.attn_dropout' must be <= 1.0"):
        load_bc({"algo": {"transformer": {"attn_dropout": 1.5}}})


def test_section_given_a_non_object():
    with pytest.raises(ConfigError, match=r"config key 'algo\.gmm' expects a section \(JSON object\), got true"):
        load_bc({"algo": {"gmm": True}})


def test_free_form_dicts_must_be_json_data():
    c = config_factory("bc")
    with pytest.raises(ConfigError, match=r"not JSON data"):
        c.experiment.env_meta_update_dict = {"a": object()}


def test_attribute_assignment_is_checked():
    c = config_factory("bc")
    c.train.batch_size = 32
    assert c.train.batch_size == 32
    with pytest.raises(ConfigError, match=r"did you mean 'train\.batch_size'"):
        c.train.batchsize = 32
    with pytest.raises(ConfigError, match=r"'algo\.gmm\.num_modes' expects int"):
        c.algo.gmm.num_modes = 2.5


def test_validate_rechecks_in_place_mutation():
    c = config_factory("bc")
    c.algo.actor_layer_dims.append("big")
    with pytest.raises(ConfigError, match=r"'algo\.actor_layer_dims\[2\]' expects int"):
        c.validate()


@pytest.mark.parametrize(
    "d, message",
    [
        (
            {"experiment": {"logging": {"log_wandb": True}}},
            "wandb logging is not supported yet; set experiment.logging.log_wandb=false",
        ),
        ({"experiment": {"render": True}}, "use experiment.render_video=true"),
        ({"experiment": {"name": "a/b"}}, "experiment.name is used as a folder name"),
        ({"train": {"action_keys": ["actions", "gripper"]}}, "multiple action keys not supported yet"),
        (
            {"train": {"action_config": {"actions": {"normalization": "z"}}}},
            r'train.action_config.actions.normalization must be one of null, "min_max", "gaussian"',
        ),
        ({"train": {"action_config": {"other": {"normalization": None}}}}, "not in train.action_keys"),
        (
            {"train": {"action_config": {"actions": {"rot_conversion": "axis_angle_to_6d"}}}},
            'only "normalization" can be set',
        ),
        ({"train": {"shuffled_obs_key_groups": [["a", "b"]]}}, "set train.shuffled_obs_key_groups=null"),
        ({"algo": {"rnn": {"enabled": True}}}, "set both, e.g. train.seq_length=10 algo.rnn.horizon=10"),
        (
            {"algo": {"transformer": {"enabled": True}}},
            "set both, e.g. train.frame_stack=10 algo.transformer.context_length=10",
        ),
        (
            {"algo": {"transformer": {"enabled": True, "pred_future_acs": True}}, "train": {"frame_stack": 10}},
            "pred_future_acs needs train.seq_length >= algo.transformer.context_length, got 1 and 10",
        ),
        ({"algo": {"transformer": {"embed_dim": 100, "num_heads": 8}}}, "must be divisible by"),
        (
            {"observation": {"modalities": {"obs": {"low_dim": ["x"], "rgb": ["x"]}}}},
            (
                "'x' is listed under two modalities (observation.modalities.obs.low_dim and "
                "observation.modalities.obs.rgb)"
            ),
        ),
        ({"observation": {"modalities": {"obs": {"low_dim": ["x", "x"]}}}}, "listed twice"),
        ({"observation": {"modalities": {"goal": {"low_dim": ["g"]}}}}, 'set train.goal_mode="last"'),
        (
            {
                "algo": {
                    "optim_params": {
                        "policy": {"learning_rate": {"scheduler_type": "linear", "epoch_schedule": [10, 20]}}
                    }
                }
            },
            "anneals until a single end epoch",
        ),
        ({"meta": {"hp_keys": ["lr"]}}, "must have the same length"),
    ],
)
def test_validate_messages_say_how_to_fix(d, message):
    with pytest.raises(ConfigError) as info:
        load_bc(d)
    assert message in str(info.value)


def test_valid_combinations_pass():
    c = load_bc(
        {
            "train": {
                "seq_length": 10,
                "goal_mode": "last",
                "action_config": {"actions": {"normalization": "min_max"}},
            },
            "algo": {"rnn": {"enabled": True}, "gmm": {"enabled": True}},
            "observation": {"modalities": {"goal": {"low_dim": ["desired_goal"]}}},
        }
    )
    assert c.use_goals
    assert c.all_obs_keys == ["desired_goal", "observation"]
    assert c.obs_keys_by_modality("goal") == {"low_dim": ["desired_goal"], "rgb": [], "depth": [], "scan": []}


def test_optimizer_section_is_reusable_standalone():
    opt = OptimizerConfig.from_dict({"optimizer_type": "sgd"}, path="algo.optim_params.critic")
    assert opt.optimizer_type == "sgd" and opt.learning_rate.initial == 1e-4
    with pytest.raises(ConfigError, match=r"'algo\.optim_params\.critic\.learning_rate\.initial' expects float"):
        OptimizerConfig.from_dict({"learning_rate": {"initial": "x"}}, path="algo.optim_params.critic")


def test_every_field_has_help_and_sections_require_it():
    params = list(iter_params(config_factory("bc")))
    assert all(p.help for p in params)
    assert "train.batch_size" in {p.key for p in params}
    with pytest.raises(TypeError, match="needs a help text"):

        class Bad(Section):
            x: int = param(1, "")
