"""Shared test set-up: headless MuJoCo rendering, the `slow` marker (excluded by `make test`), the `robosuite`
marker (tests that need the robosuite extra: `make test` runs them in .venv-robosuite), a real dataset."""

import os
from pathlib import Path

import pytest

from script_runner import run_script

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: learning checks that take minutes; run with `make test-all`")
    config.addinivalue_line("markers", "robosuite: needs the robosuite extra (skipped without it); `make test` runs "
                                       "them in .venv-robosuite")


@pytest.fixture(scope="session")
def fetch_push_dataset(tmp_path_factory) -> Path:
    """A real FetchPush-v4 dataset of 12 scripted-expert demonstrations with train/valid masks."""
    path = tmp_path_factory.mktemp("data") / "fetch_push_12.hdf5"
    run_script("generate_dataset.py", "--env", "FetchPush-v4", "--n-demos", "12", "--out", path, "--seed", "3",
               "--valid-ratio", "0.25", check=True)
    return path


@pytest.fixture
def one_torch_thread():
    """torch on one CPU thread for the test: small networks run fastest there on this 2-core machine.
    A folder's conftest makes it automatic by overriding it (see tests/online_rl, tests/vision)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
