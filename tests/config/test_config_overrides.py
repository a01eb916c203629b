"""Command-line overrides: JSON values, string fallback, the same checks as file loading."""

import pytest

from robokit.config import apply_overrides, config_factory, parse_override
from robokit.errors import ConfigError


def test_values_are_parsed_as_json():
    c = config_factory("bc")
    apply_overrides(
        c,
        [
            "train.batch_size=256",
            "algo.gmm.enabled=true",
            "train.max_grad_norm=1.5",
            "train.hdf5_cache_mode=null",
            "algo.actor_layer_dims=[64, 32]",
            'experiment.env_meta_update_dict={"env_kwargs": {"reward_shaping": true}}',
        ],
    )
    assert c.train.batch_size == 256
    assert c.algo.gmm.enabled is True
    assert c.train.max_grad_norm == 1.5
    assert c.train.hdf5_cache_mode is None
    assert c.algo.actor_layer_dims == [64, 32]
    assert c.experiment.env_meta_update_dict == {"env_kwargs": {"reward_shaping": True}}


def test_string_fallback_and_string_fields_keep_raw_text():
    c = config_factory("bc")
    apply_overrides(c, ["experiment.name=run1", "train.data=/tmp/demo.hdf5", "train.hdf5_filter_key=123"])
    assert c.experiment.name == "run1"
    assert c.train.data == "/tmp/demo.hdf5"
    assert c.train.hdf5_filter_key == "123"
    apply_overrides(c, ["train.hdf5_filter_key=null"])
    assert c.train.hdf5_filter_key is None


def test_nested_dict_field_key():
    c = config_factory("bc")
    apply_overrides(c, ["algo.rnn.kwargs.dropout=0.2"])
    assert c.algo.rnn.kwargs == {"bidirectional": False, "dropout": 0.2}


def test_bad_path_suggests_nearest():
    with pytest.raises(
        ConfigError, match=r"unknown config key 'train\.batch_sise'; did you mean 'train\.batch_size'\?"
    ):
        apply_overrides(config_factory("bc"), ["train.batch_sise=256"])


def test_wrong_type_same_error_as_loading():
    with pytest.raises(ConfigError, match=r"'algo\.gmm\.enabled' expects bool, got \"yes\" \(str\)"):
        apply_overrides(config_factory("bc"), ["algo.gmm.enabled=yes"])


@pytest.mark.parametrize("text", ["train.batch_size", "=3", "train..batch_size=3"])
def test_malformed_override_shows_expected_form(text):
    with pytest.raises(ConfigError, match="expected KEY=VALUE, e.g. train.batch_size=256"):
        parse_override(text)


def test_overrides_validate_at_the_end_and_leave_config_unchanged_on_error():
    c = config_factory("bc")
    apply_overrides(c, ["algo.rnn.enabled=true", "train.seq_length=10"])  # invalid in between, valid at the end
    assert c.algo.rnn.enabled and c.train.seq_length == 10
    before = c.to_dict()
    with pytest.raises(ConfigError, match="algo.rnn.horizon"):
        apply_overrides(c, ["train.batch_size=7", "train.seq_length=5"])
    assert c.to_dict() == before


def test_unsupported_robomimic_key_in_override():
    with pytest.raises(ConfigError, match="robomimic keys not supported by robokit yet: experiment.mse"):
        apply_overrides(config_factory("bc"), ["experiment.mse.enabled=true"])
