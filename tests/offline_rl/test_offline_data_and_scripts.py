"""Mixed-quality datasets from scripts/generate_dataset.py --mixed, and offline RL runs of scripts/train.py."""

import json

import h5py
import numpy as np
import pytest

from robokit.config import load_config
from robokit.envs.experts.mixtures import assign_behaviors, parse_mixture
from robokit.errors import UserError
from script_runner import run_script


def test_mixed_dataset_keeps_every_episode_with_rewards(mixed_reach_dataset):
    with h5py.File(mixed_reach_dataset, "r") as f:
        demos = list(f["data"].keys())
        assert len(demos) == 16
        kinds = [f[f"data/{d}"].attrs["behavior"] for d in demos]
        assert sorted(set(kinds)) == ["expert", "other_goal", "random"] and kinds.count("expert") == 8
        masks = {k: sorted(n.decode() for n in f[f"mask/{k}"][()]) for k in f["mask"]}
        assert set(masks) == {"train", "valid", "successful", "expert", "random", "other_goal"}
        assert sorted(masks["expert"] + masks["random"] + masks["other_goal"]) == sorted(demos)
        failures = [d for d in demos if not f[f"data/{d}"].attrs["success"]]
        assert failures, "a mixed dataset should contain failed episodes"
        assert sorted(masks["successful"]) == sorted(set(demos) - set(failures))
        for d in demos:
            rewards, dones = f[f"data/{d}/rewards"][()], f[f"data/{d}/dones"][()]
            success = bool(f[f"data/{d}"].attrs["success"])
            assert np.all(rewards[:-1] == -1.0) and dones[:-1].sum() == 0
            assert (rewards[-1] == 0.0) == success and dones[-1] == int(success)
            if not success:
                assert len(rewards) == 50  # ran to the time limit
        assert all(f[f"data/{d}"].attrs["success"] for d in masks["expert"])


def test_mixture_parsing_and_assignment():
    assert parse_mixture("expert:0.3, random:0.7") == {"expert": 0.3, "random": 0.7}
    kinds = assign_behaviors(10, {"expert": 0.25, "noisy": 0.25, "random": 0.5}, np.random.default_rng(0))
    assert sorted(kinds) == ["expert"] * 3 + ["noisy"] * 2 + ["random"] * 5 or \
        sorted(kinds) == ["expert"] * 2 + ["noisy"] * 3 + ["random"] * 5
    for spec, message in [("expert:0.5", "sum to 1"), ("expert:0.5,robot:0.5", "one of"),
                          ("expert:x", "not a number"), ("expert:0.5,expert:0.5", "twice")]:
        with pytest.raises(UserError, match=message):
            parse_mixture(spec)


def test_bad_mixture_exits_2_with_one_line(tmp_path):
    result = run_script("generate_dataset.py", "--env", "FetchReach-v4", "--n-demos", 4, "--out", tmp_path / "d.hdf5",
                        "--mixed", "expert:0.5,noisy:0.5")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "--noise-std" in result.stderr


@pytest.mark.parametrize("algo, extra", [
    ("iql", ["algo.critic.layer_dims=[16]", "algo.actor.layer_dims=[16]"]),
    pytest.param("hbc", ["algo.planner.subgoal_horizon=3", "train.seq_length=3", "algo.actor.rnn.horizon=3",
                         "algo.actor.rnn.hidden_dim=8", "algo.actor.actor_layer_dims=[16]"], marks=pytest.mark.slow),
])
def test_train_script_debug_run_and_evaluation(algo, extra, mixed_reach_dataset, tmp_path):
    out = tmp_path / "runs"
    run_script("train.py", "--algo", algo, "--dataset", mixed_reach_dataset, "--output", out, "--name", algo,
               "--debug", "--no-progress", "--set", "experiment.render_video=false", "experiment.logging.log_tb=false",
               *extra, check=True)
    (run_dir,) = (out / algo).iterdir()
    assert load_config(run_dir / "config.json").algo_name == algo
    result = run_script("run_trained_agent.py", "--agent", run_dir / "models" / "last.pth", "--n_rollouts", 2,
                        "--horizon", 5, "--json", check=True)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["Num_Episodes"] == 2
