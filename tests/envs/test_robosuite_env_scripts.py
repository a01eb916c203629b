"""robosuite datasets and checkpoints through the scripts: playback_dataset.py (states and actions) and
train.py -> checkpoint -> run_trained_agent.py on Lift, in real robosuite subprocess runs.

Needs the robosuite extra: `make test` runs these in .venv-robosuite; without robosuite they are skipped.
"""

import json
from pathlib import Path

import h5py
import imageio.v3 as iio
import numpy as np
import pytest

pytestmark = pytest.mark.robosuite
pytest.importorskip("robosuite", reason="needs the robosuite extra (pip install -e '.[robosuite]'; make test runs "
                                        "these in .venv-robosuite)")

from script_runner import run_script

from robokit.data import DatasetWriter, validate_dataset
from robokit.data.hdf5_format import read_env_args
from robokit.envs import create_env
from robokit.envs.robosuite_env import robomimic_env_args
from robokit.train.checkpoint import (
    env_args_from_checkpoint,
    maybe_dict_from_checkpoint,
)

REPO = Path(__file__).resolve().parents[2]
OBS_KEYS = ["robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos", "object"]
N_DEMOS, DEMO_STEPS = 3, 24


def reach_action(obs: dict) -> np.ndarray:
    """A trivial policy: move the hand to 3 cm above the cube, gripper open (OSC_POSE delta actions)."""
    target = obs["object"][:3] + np.array([0.0, 0.0, 0.03])
    action = np.zeros(7)
    action[:3] = np.clip(20.0 * (target - obs["robot0_eef_pos"]), -1.0, 1.0)
    action[6] = -1.0
    return action


@pytest.fixture(scope="module")
def lift_dataset(tmp_path_factory) -> Path:
    """A robomimic-layout Lift dataset: 3 demos of 24 steps with states, model_file, ep_meta and seed attributes."""
    path = tmp_path_factory.mktemp("robosuite") / "lift.hdf5"
    with create_env(robomimic_env_args("Lift")) as env, DatasetWriter(path, env_args=env.serialize()) as writer:
        for i in range(N_DEMOS):
            obs = env.reset(seed=100 + i)
            attrs = {"seed": 100 + i, "model_file": env.get_model_xml(), "ep_meta": env.get_ep_meta()}
            frames, next_frames, actions, rewards, states = [], [], [], [], []
            for _ in range(DEMO_STEPS):
                states.append(env.get_state())
                actions.append(reach_action(obs))
                next_obs, reward, *_ = env.step(actions[-1])
                frames.append({k: obs[k] for k in OBS_KEYS})
                next_frames.append({k: next_obs[k] for k in OBS_KEYS})
                rewards.append(reward)
                obs = next_obs
            writer.add_episode(obs={k: np.stack([f[k] for f in frames]) for k in OBS_KEYS},
                               next_obs={k: np.stack([f[k] for f in next_frames]) for k in OBS_KEYS},
                               actions=np.array(actions, np.float32), rewards=np.array(rewards, np.float32),
                               dones=np.eye(DEMO_STEPS)[-1], states=np.array(states), attrs=attrs)
        writer.set_mask("train", ["demo_0", "demo_1"])
        writer.set_mask("valid", ["demo_2"])
    return path


def test_the_dataset_has_robomimics_robosuite_layout(lift_dataset):
    assert validate_dataset(lift_dataset) == []
    env_args = read_env_args(lift_dataset)
    assert env_args["type"] == 1 and env_args["env_name"] == "Lift" and "controller_configs" in env_args["env_kwargs"]
    with h5py.File(lift_dataset, "r") as f:
        demo = f["data/demo_0"]
        assert demo["states"].shape[0] == DEMO_STEPS and demo["states"].dtype == np.float64
        assert demo.attrs["model_file"].startswith("<mujoco") and json.loads(demo.attrs["ep_meta"]) == {}
        assert demo["obs/object"].shape == (DEMO_STEPS, 10) and demo["actions"].shape == (DEMO_STEPS, 7)


def test_playback_of_states_renders_every_demo_into_an_mp4(lift_dataset, tmp_path):
    video = tmp_path / "states.mp4"
    result = run_script("playback_dataset.py", "--dataset", lift_dataset, "--video_path", video, "--n", 2,
                        "--camera_size", 64, "--video_skip", 6, "--render_image_names", "agentview",
                        "robot0_eye_in_hand", check=True)
    assert "demo_0: 24 steps" in result.stdout and "demo_1: 24 steps" in result.stdout
    frames = iio.imread(video)
    assert frames.shape == (8, 64, 128, 3) and frames.std() > 10  # 2 demos x 4 frames, two cameras side by side
    # the hand moves toward the cube: frames of one demo differ
    assert np.abs(frames[0].astype(int) - frames[3].astype(int)).mean() > 0.5


def test_playback_of_actions_repeats_the_recorded_states(lift_dataset, tmp_path):
    video = tmp_path / "actions.mp4"
    result = run_script("playback_dataset.py", "--dataset", lift_dataset, "--video_path", video, "--use-actions",
                        "--n", 2, "--camera_size", 48, "--video_skip", 12, check=True)
    errors = [float(line.rsplit(" ", 1)[1]) for line in result.stdout.splitlines() if "max |state" in line]
    assert len(errors) == 2 and max(errors) < 1e-3, result.stdout
    assert iio.imread(video).shape == (4, 48, 48, 3)


@pytest.fixture(scope="module")
def lift_run(lift_dataset, tmp_path_factory) -> Path:
    """A --debug BC run on the Lift dataset: 2 epochs, each with 2 rollouts of 10 steps in robosuite."""
    out = tmp_path_factory.mktemp("runs")
    result = run_script("train.py", "--config", "configs/bc.json", "--dataset", lift_dataset, "--output", out,
                        "--name", "lift", "--debug", "--no-progress", "--set",
                        f"observation.modalities.obs.low_dim={json.dumps(OBS_KEYS)}", "algo.actor_layer_dims=[32]",
                        cwd=REPO, check=True)
    return Path(result.stdout.strip().splitlines()[-1].split("finished: ")[1])


def test_training_rolls_out_in_robosuite_and_saves_a_video(lift_run, lift_dataset):
    log = (lift_run / "logs" / "log.txt").read_text()
    assert "epoch 2/2" in log and "success" in log
    frames = iio.imread(lift_run / "videos" / "epoch_1.mp4")
    assert frames.ndim == 4 and frames.shape[0] >= 2 and frames.std() > 0
    ckpt = maybe_dict_from_checkpoint(lift_run / "models" / "last.pth")
    assert env_args_from_checkpoint(ckpt) == read_env_args(lift_dataset)  # robomimic's env_args, as the data has them


def test_run_trained_agent_on_a_lift_checkpoint(lift_run, tmp_path):
    video, data = tmp_path / "eval.mp4", tmp_path / "rollouts.hdf5"
    result = run_script("run_trained_agent.py", "--agent", lift_run / "models" / "last.pth", "--n_rollouts", 2,
                        "--horizon", 8, "--video_path", video, "--video_skip", 4, "--camera_size", 64,
                        "--dataset_path", data, "--seed", 5, check=True)
    assert "Lift: success rate 0.000 (0/2)" in result.stdout and "mean horizon 8.0" in result.stdout
    assert iio.imread(video).shape == (4, 64, 64, 3)  # 2 episodes x 8 steps, every 4th frame
    assert validate_dataset(data) == []
    assert read_env_args(data)["type"] == 1
    with h5py.File(data, "r") as f:
        assert sorted(f["data"]) == ["demo_0", "demo_1"]
        assert f["data/demo_0/actions"].shape == (8, 7) and f["data/demo_0/states"].shape[0] == 8
        assert f["data/demo_0/obs/object"].shape == (8, 10)
