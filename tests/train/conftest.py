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


@pytest.fixture(scope="session")
def planar_arm_files(tmp_path_factory) -> dict:
    """{3: path, 4: path}: a few scripted-expert demos of the planar arms with 3 and 4 links (their joints named in
    the files), with train/valid masks: two robots' datasets for multi-dataset runs on robot data specs."""
    from script_runner import run_script

    folder = tmp_path_factory.mktemp("planar_arms")
    paths = {}
    for n, demos in ((3, 8), (4, 6)):
        paths[n] = folder / f"planar_arm_{n}.hdf5"
        run_script("generate_dataset.py", "--env", f"robokit/PlanarArm{n}-v0", "--n-demos", demos, "--seed", n,
                   "--valid-ratio", "0.25", "--out", paths[n], check=True)
    return paths
