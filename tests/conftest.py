"""Shared test set-up: headless MuJoCo rendering and the `slow` marker (excluded by `make test`)."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: learning checks that take minutes; run with `make test-all`")
