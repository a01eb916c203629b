"""Every robomimic template of v0.5 and 0.3.0 trains with --debug, unchanged, on a FetchPush dataset whose
observation slices carry the templates' key names (robot0_eef_pos, robot0_eef_quat, robot0_gripper_qpos, object,
flat). A handful in the fast suite, all of them in the slow one (the paper-sized networks take minutes on a CPU)."""

import json
from pathlib import Path

import pytest

from script_runner import run_script

REPO = Path(__file__).parents[2]
TEMPLATES = REPO / "tests" / "config" / "robomimic_templates"
ALL = [f"{release}/{p.name}" for release in ("v0.5", "v0.3.0") for p in sorted((TEMPLATES / release).glob("*.json"))]
FAST = ["v0.5/bc.json", "v0.5/gl.json", "v0.3.0/iql.json"]  # small networks; GL derives its window
SLICES = {"robot0_eef_pos": "observation[0:3]", "robot0_eef_quat": "observation[3:7]",
          "robot0_gripper_qpos": "observation[9:11]", "object": "observation[3:9]", "flat": "observation[0:25]"}


@pytest.fixture(scope="module")
def robomimic_keys_dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("templates") / "push_robomimic_keys.hdf5"
    slices = [arg for name, spec in SLICES.items() for arg in ("--obs-slice", f"{name}={spec}")]
    run_script("generate_dataset.py", "--env", "FetchPush-v4", "--n-demos", 4, "--out", path, "--seed", 3,
               "--valid-ratio", 0.25, *slices, check=True)
    return path


def train_template(name, dataset, out):
    result = run_script("train.py", "--config", TEMPLATES / name, "--dataset", dataset, "--output", out, "--debug",
                        "--no-progress", cwd=REPO, timeout=1200)
    assert result.returncode == 0, result.stderr[-2000:]
    raw = json.loads((TEMPLATES / name).read_text())
    run = next((out / raw["experiment"]["name"]).iterdir())
    assert (run / "models" / "last.pth").is_file()
    saved = json.loads((run / "config.json").read_text())
    assert saved["algo_name"] == raw["algo_name"] and saved["train"]["batch_size"] == raw["train"]["batch_size"]
    return saved


@pytest.mark.parametrize("name", FAST)
def test_template_trains_with_debug(name, robomimic_keys_dataset, tmp_path):
    saved = train_template(name, robomimic_keys_dataset, tmp_path / "out")
    if name.endswith("gl.json"):
        assert saved["train"]["seq_length"] == 10  # derived from algo.subgoal_horizon (the template says 1)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ALL if n not in FAST])
def test_every_template_trains_with_debug(name, robomimic_keys_dataset, tmp_path):
    train_template(name, robomimic_keys_dataset, tmp_path / "out")
