"""Config registry: registration by ALGO_NAME, duplicates, unknown names, config_factory."""

from unittest import mock

import pytest

from robokit.config import (
    REGISTERED_CONFIGS,
    AlgoConfig,
    BaseConfig,
    BCConfig,
    config_factory,
    get_config_class,
    param,
    registered_config_names,
)
from robokit.errors import ConfigError


def test_builtin_configs_registered():
    assert "bc" in registered_config_names()
    assert get_config_class("bc") is BCConfig
    assert isinstance(config_factory("bc"), BCConfig)


def test_new_algorithm_config_registers_and_loads():
    with mock.patch.dict(REGISTERED_CONFIGS):

        class MyAlgoSection(AlgoConfig):
            temperature: float = param(1.0, "softmax temperature", minimum=0.0)

        class MyConfig(BaseConfig):
            ALGO_NAME = "my_algo"
            algo: MyAlgoSection = param(MyAlgoSection(), "my_algo settings")

        c = config_factory("my_algo", {"algo": {"temperature": 2}})
        assert isinstance(c, MyConfig) and c.algo.temperature == 2.0
        assert c.train.hdf5_load_next_obs is True  # base default; BC's override does not leak
        with pytest.raises(ConfigError, match=r"'algo\.temprature'; did you mean 'algo\.temperature'"):
            config_factory("my_algo", {"algo": {"temprature": 2}})
    assert "my_algo" not in REGISTERED_CONFIGS


def test_subclass_without_algo_name_is_not_registered():
    before = dict(REGISTERED_CONFIGS)

    class Intermediate(BaseConfig):
        pass

    assert REGISTERED_CONFIGS == before
    with pytest.raises(TypeError, match="has no ALGO_NAME"):
        Intermediate()


def test_duplicate_name_is_an_error():
    with pytest.raises(
        ConfigError, match=r"config name 'bc' is already registered by robokit\.config\.bc_config\.BCConfig"
    ):

        class AnotherBC(BaseConfig):
            ALGO_NAME = "bc"

    assert get_config_class("bc") is BCConfig


def test_unknown_algo_name_lists_registered_names():
    with pytest.raises(ConfigError, match=r"unknown algo name 'bcc'; did you mean 'bc'\? \(registered: .*bc"):
        config_factory("bcc")
    with pytest.raises(ConfigError, match=r"registered: .*bc"):
        get_config_class("nothing_like_it")
