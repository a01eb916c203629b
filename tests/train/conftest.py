"""Fixtures of the training tests."""

import sys

import pytest

from robokit.algo.registry import REGISTERED_ALGO_FACTORY_FUNCS
from robokit.config.registry import REGISTERED_CONFIGS


@pytest.fixture
def clean_registries(tmp_path_factory):
    """Plugins imported by a test are forgotten afterwards: the registries as they were, and the modules loaded from
    the tests' temporary folders dropped (robokit's and libraries' modules a test imported first stay)."""
    configs, factories, modules = dict(REGISTERED_CONFIGS), dict(REGISTERED_ALGO_FACTORY_FUNCS), set(sys.modules)
    temp = str(tmp_path_factory.getbasetemp())
    yield
    for registry, before in ((REGISTERED_CONFIGS, configs), (REGISTERED_ALGO_FACTORY_FUNCS, factories)):
        registry.clear()
        registry.update(before)
    for name in set(sys.modules) - modules:
        if str(getattr(sys.modules[name], "__file__", None) or "").startswith(temp):
            del sys.modules[name]
