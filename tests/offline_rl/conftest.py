"""Offline RL fixtures: a small mixed-quality FetchReach dataset and an environment to act in."""

from pathlib import Path

import pytest

from script_runner import run_script


@pytest.fixture(scope="session")
def mixed_reach_dataset(tmp_path_factory) -> Path:
    """16 FetchReach-v4 episodes of mixed quality (every episode kept, with rewards and dones)."""
    path = tmp_path_factory.mktemp("offline_rl") / "reach_mixed.hdf5"
    run_script("generate_dataset.py", "--env", "FetchReach-v4", "--n-demos", "16", "--out", path, "--seed", "1",
               "--mixed", "expert:0.5,random:0.25,other_goal:0.25", "--valid-ratio", "0.25", check=True)
    return path


@pytest.fixture(scope="session")
def reach_env(mixed_reach_dataset):
    from robokit.data import read_env_args
    from robokit.envs import create_env

    env = create_env(read_env_args(mixed_reach_dataset))
    yield env
    env.close()

