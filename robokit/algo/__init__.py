"""Algorithms: the registry, the Algo base classes, RolloutPolicy, and one module per algorithm family.

Importing this package registers the built-in families (their modules run `@register_algo_factory_func`).
"""

from robokit.algo.base import Algo, HierarchicalAlgo, PlannerAlgo, PolicyAlgo, ValueAlgo
from robokit.algo.registry import (
    algo_factory,
    algo_name_to_factory_func,
    register_algo_factory_func,
    registered_algo_names,
)
from robokit.algo.rollout_policy import RolloutPolicy

# built-in algorithm families (import for their registration side effect)
from robokit.algo import bc  # noqa: E402,F401
from robokit.algo import act  # noqa: E402,F401
from robokit.algo import diffusion_policy  # noqa: E402,F401
from robokit.algo import bcq  # noqa: E402,F401
from robokit.algo import cql  # noqa: E402,F401
from robokit.algo import iql  # noqa: E402,F401
from robokit.algo import td3_bc  # noqa: E402,F401
from robokit.algo import gl  # noqa: E402,F401
from robokit.algo import hbc  # noqa: E402,F401
from robokit.algo import iris  # noqa: E402,F401
from robokit.algo import ppo, sac, td3  # noqa: E402,F401  (online RL)

__all__ = [
    "Algo",
    "PolicyAlgo",
    "ValueAlgo",
    "PlannerAlgo",
    "HierarchicalAlgo",
    "RolloutPolicy",
    "algo_factory",
    "algo_name_to_factory_func",
    "register_algo_factory_func",
    "registered_algo_names",
]
