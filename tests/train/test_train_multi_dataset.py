"""A run on several datasets through scripts/train.py: weighted union, each dataset evaluated under its own name
(TensorBoard and the log line), checkpoints that reload and roll out, bad entries one line exit 2 (issue 19)."""

import json
from pathlib import Path

import pytest

from robokit import env_from_checkpoint, policy_from_checkpoint
from robokit.train.checkpoint import env_args_from_checkpoint, load_checkpoint
from robokit.train.tb_events import read_scalars
from script_runner import assert_one_line_error, run_script

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("multi")
    out = {}
    for name, env, n, seed in (("push", "FetchPush-v4", 4, 3), ("push_b", "FetchPush-v4", 3, 5),
                               ("reach", "FetchReach-v4", 3, 5)):
        out[name] = folder / f"{name}.hdf5"
        run_script("generate_dataset.py", "--env", env, "--n-demos", n, "--out", out[name], "--seed", seed,
                   check=True)
    return out


def write_config(path, data, **train):
    config = {"algo_name": "bc", "experiment": {"name": "multi", "validate": False,
                                                 "rollout": {"n": 2, "horizon": 8}, "render_video": False},
              "train": {"data": data, "batch_size": 8, "hdf5_normalize_obs": True, **train},
              "observation": {"modalities": {"obs": {"low_dim": ["observation", "desired_goal"]}}},
              "algo": {"actor_layer_dims": [16]}}
    path.write_text(json.dumps(config))
    return path


def train(config, out):
    return run_script("train.py", "--config", config, "--output", out, "--debug", "--no-progress", cwd=REPO)


def test_two_datasets_train_evaluate_by_name_and_reload(datasets, tmp_path):
    data = [{"path": str(datasets["push"]), "weight": 2.0, "lang": "push the puck"},
            {"path": str(datasets["push_b"]), "key": "second", "demo_limit": 2, "lang": "push it again"}]
    result = train(write_config(tmp_path / "c.json", data), tmp_path / "out")
    assert result.returncode == 0, result.stderr
    run = next((tmp_path / "out" / "multi").iterdir())
    log = (run / "logs" / "log.txt").read_text()
    epoch_lines = [line for line in log.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 2 and all(" push success " in ln and " second success " in ln and " mean success "
                                         in ln for ln in epoch_lines), epoch_lines
    scalars = read_scalars(run / "logs" / "tb")
    for name in ("push", "second"):  # each dataset's environment, logged under its own name
        assert [step for step, _ in scalars[f"Rollout/{name}/Success_Rate"]] == [1, 2]
    ckpt = load_checkpoint(run / "models" / "last.pth")
    records = ckpt["datasets"]
    assert [r["name"] for r in records] == ["push", "second"]
    assert [r["lang"] for r in records] == ["push the puck", "push it again"]  # round-tripped for a text encoder
    assert records[1]["demo_limit"] == 2 and records[1]["samples"] < records[0]["samples"]
    assert records[0]["share"] > records[1]["share"] and sum(r["share"] for r in records) == pytest.approx(1.0)
    assert all(r["env_metadata"]["env_name"] == "FetchPush-v4" for r in records)
    # the checkpoint loads and rolls out in the environment of either dataset
    policy, ckpt = policy_from_checkpoint(ckpt_path=run / "models" / "last.pth")
    env, _ = env_from_checkpoint(ckpt_dict=ckpt, dataset="second")
    policy.start_episode()
    obs = env.reset(seed=0)
    for _ in range(3):
        obs, *_ = env.step(policy(obs))
    env.close()
    agent = run_script("run_trained_agent.py", "--agent", run / "models" / "last.pth", "--n_rollouts", 1,
                       "--horizon", 3, "--env_dataset", "second", "--json", cwd=REPO)
    assert agent.returncode == 0, agent.stderr
    assert json.loads(agent.stdout.strip().splitlines()[-1])["Horizon"] == 3
    assert_one_line_error(run_script("run_trained_agent.py", "--agent", run / "models" / "last.pth",
                                     "--env_dataset", "third", cwd=REPO), "no dataset named 'third'", "push, second")
    # no dataset evaluated: the default is refused with the names to choose from
    ckpt["datasets"] = [dict(r, eval=False) for r in records]
    with pytest.raises(Exception, match="choose the environment of one by name .*: push, second"):
        env_args_from_checkpoint(ckpt)


@pytest.mark.parametrize("entry, fragments", [
    ({"path": "PUSH", "wieght": 2.0}, ["train.data[1]: unknown key 'wieght'", "did you mean 'weight'"]),
    ({"weight": 2.0}, ["train.data[1] has no \"path\""]),
    ({"path": "PUSH", "weight": 0}, ["train.data[1].weight must be a number > 0, got 0"]),
    ({"path": "REACH"}, ["the datasets do not share one observation and action layout",
                         "obs 'observation' has shapes (25,) in push, (10,) in reach", "input_robot_data_spec"]),
])
def test_bad_entries_are_one_line(datasets, tmp_path, entry, fragments):
    entry = {k: {"PUSH": str(datasets["push_b"]), "REACH": str(datasets["reach"])}.get(v, v) for k, v in entry.items()}
    config = write_config(tmp_path / "c.json", [{"path": str(datasets["push"])}, entry])
    assert_one_line_error(train(config, tmp_path / "out"), *fragments)
    assert not (tmp_path / "out").exists()
