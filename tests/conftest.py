"""Shared test set-up: headless MuJoCo rendering, the `slow` marker (excluded by `make test`), a real dataset."""

import os
from pathlib import Path

import pytest

from script_runner import run_script

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: learning checks that take minutes; run with `make test-all`")


@pytest.fixture(scope="session")
def fetch_push_dataset(tmp_path_factory) -> Path:
    """A real FetchPush-v4 dataset of 12 scripted-expert demonstrations with train/valid masks."""
    path = tmp_path_factory.mktemp("data") / "fetch_push_12.hdf5"
    run_script("generate_dataset.py", "--env", "FetchPush-v4", "--n-demos", "12", "--out", path, "--seed", "3",
               "--valid-ratio", "0.25", check=True)
    return path
