"""Typed, strict configs with robomimic's key names (plain data: this package never imports torch).

    config = config_factory("bc")                      # defaults
    config = load_config("configs/bc_rnn.json")        # a file (algo_name picks the class)
    apply_overrides(config, ["train.batch_size=256"])  # command-line style overrides
    config.train.batch_size, config.algo.rnn.enabled   # attribute access like robomimic
    config.dump("run/config.json")

Importing this package registers the built-in configs.
"""

from robokit.config.base_config import AlgoConfig, BaseConfig, MetaConfig
from robokit.config.bc_config import BCAlgoConfig, BCConfig
from robokit.config import act_config  # noqa: F401  (action chunking with transformers)
from robokit.config import diffusion_policy_config  # noqa: F401  (diffusion policy)
from robokit.config import ppo_config, sac_config, td3_config  # noqa: F401  (online RL configs register)
from robokit.config import bcq_config, cql_config, gl_config, hbc_config, iql_config, iris_config, td3_bc_config  # noqa: F401,E501
from robokit.config.loading import config_from_dict, load_config
from robokit.config.optim import OptimizerConfig
from robokit.config.overrides import apply_overrides, parse_override
from robokit.config.registry import (
    REGISTERED_CONFIGS,
    config_factory,
    get_config_class,
    register_config,
    registered_config_names,
)
from robokit.config.section import ParamInfo, Section, iter_params, param
from robokit.config.unsupported import UnsupportedKey

__all__ = [
    "REGISTERED_CONFIGS",
    "AlgoConfig",
    "BCAlgoConfig",
    "BCConfig",
    "BaseConfig",
    "MetaConfig",
    "OptimizerConfig",
    "ParamInfo",
    "Section",
    "UnsupportedKey",
    "apply_overrides",
    "config_factory",
    "config_from_dict",
    "get_config_class",
    "iter_params",
    "load_config",
    "param",
    "parse_override",
    "register_config",
    "registered_config_names",
]
