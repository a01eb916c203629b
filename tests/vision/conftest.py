"""A small real FetchPush image dataset shared by the vision tests (32x32 camera, proprio slices)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
IMAGE_KEY = "external_camera_0_image"


def run_vision_script(name: str, *args, check: bool = True) -> subprocess.CompletedProcess:
    """Run scripts/<name> in a subprocess; with check, fail the test (showing its output) on a non-zero exit."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny convolutions: one thread beats two on busy cores
    result = subprocess.run([sys.executable, str(SCRIPTS / name), *map(str, args)], capture_output=True, text=True,
                            timeout=600, env=env, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{name} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def push_image_dataset(tmp_path_factory) -> Path:
    """6 FetchPush-v4 expert demos with a 32x32 external_camera_0 image and proprioception slices."""
    path = tmp_path_factory.mktemp("vision") / "push_img32.hdf5"
    run_vision_script("generate_dataset.py", "--env", "FetchPush-v4", "--n-demos", "6", "--out", path, "--seed", "5",
                      "--valid-ratio", "0.34", "--camera-size", "32", "--obs-slice", "robot0_eef_pos=observation[0:3]",
                      "--obs-slice", "robot0_gripper_qpos=observation[9:11]")
    return path


@pytest.fixture(scope="session")
def vision_script():
    """`vision_script(name, *args, check=True)`: run a script in a subprocess (see run_vision_script)."""
    return run_vision_script


@pytest.fixture(autouse=True)
def one_torch_thread(one_torch_thread):  # tiny convolutions: one thread is faster than two, much more on busy cores
    yield
