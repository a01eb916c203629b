"""Fixtures of the training tests."""

import sys

import pytest

from robokit.algo.registry import REGISTERED_ALGO_FACTORY_FUNCS
from robokit.config.registry import REGISTERED_CONFIGS


@pytest.fixture
def clean_registries():
    """Plugins imported by a test are forgotten afterwards (registries and sys.modules as they were)."""
    configs, factories, modules = dict(REGISTERED_CONFIGS), dict(REGISTERED_ALGO_FACTORY_FUNCS), set(sys.modules)
    yield
    for registry, before in ((REGISTERED_CONFIGS, configs), (REGISTERED_ALGO_FACTORY_FUNCS, factories)):
        registry.clear()
        registry.update(before)
    for name in set(sys.modules) - modules:
        del sys.modules[name]
