"""The online loop end to end: scripts/train.py --debug for each algorithm, checkpoints that deploy on raw
observations in a plain gymnasium loop, config errors before any environment, experience for offline use."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

from robokit import policy_from_checkpoint
from robokit.config import apply_overrides, config_factory, load_config
from robokit.data import check_dataset, list_demos, list_filter_keys, read_episode
from robokit.errors import CheckpointError
from robokit.train import online
from robokit.train.checkpoint import load_checkpoint
from robokit.utils.normalization import normalize
from script_runner import run_script
from robokit.train.tb_events import read_scalars

REPO = Path(__file__).resolve().parents[2]
ALGOS = ["sac", "td3", "ppo", "a2c"]


def train_script(*args, cwd=REPO) -> subprocess.CompletedProcess:
    """scripts/train.py in a subprocess (one torch thread, as the loop uses by default)."""
    return subprocess.run([sys.executable, str(REPO / "scripts" / "train.py"), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600, check=False)


@pytest.fixture(scope="module")
def debug_runs(tmp_path_factory) -> dict:
    """`scripts/train.py --config configs/<algo>.json --set experiment.env=Pendulum-v1 --debug` for each algo."""
    out = tmp_path_factory.mktemp("online_runs")
    runs = {}
    for name in ALGOS:
        result = train_script("--config", f"configs/{name}.json", "--set", "experiment.env=Pendulum-v1", "--debug",
                              "--no-progress", "--output", out / name)
        assert result.returncode == 0, f"{name} --debug failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        runs[name] = Path(result.stdout.strip().splitlines()[-1].removeprefix("finished: "))
    return runs


@pytest.mark.parametrize("name", ALGOS)
def test_debug_run_writes_config_logs_and_checkpoints(debug_runs, name):
    run = debug_runs[name]
    models = {p.name for p in (run / "models").glob("*.pth")}
    assert {"last.pth", "model_best_return.pth", "model_epoch_1.pth", "model_epoch_2.pth"} <= models
    config = load_config(run / "config.json")
    assert config.algo_name == name and config.observation.modalities.obs.low_dim == ["flat"]
    assert list((run / "logs" / "tb").iterdir()), "no TensorBoard events"
    log = (run / "logs" / "log.txt").read_text()
    assert "eval return" in log and "steps/s" in log
    ckpt = load_checkpoint(run / "models" / "last.pth")  # weights_only=True
    assert ckpt["train_state"]["env_steps"] == ckpt["online_state"]["env_steps"] >= 200


@pytest.mark.parametrize("name", ALGOS)
def test_checkpoint_policy_acts_on_raw_observations_in_a_plain_gymnasium_loop(debug_runs, name):
    policy, ckpt = policy_from_checkpoint(debug_runs[name] / "models" / "model_best_return.pth")
    env = gymnasium.make("Pendulum-v1")
    obs, _ = env.reset(seed=0)
    policy.start_episode()
    actions = []
    for _ in range(30):
        action = policy(obs)  # raw (3,) observation in, (1,) action in the env's units out
        assert action.shape == (1,) and np.all(np.abs(action) <= 2.0 + 1e-6)
        obs, *_ = env.step(action)
        actions.append(action)
    # the deployed action is the algorithm's deterministic [-1, 1] action scaled to Pendulum's [-2, 2]
    with torch.no_grad():
        unit = policy.policy.get_action({"flat": torch.as_tensor(obs, dtype=torch.float32)[None]})[0].numpy()
    np.testing.assert_allclose(policy(obs), unit * 2.0, rtol=1e-5, atol=1e-6)
    assert ckpt["env_metadata"]["env_name"] == "Pendulum-v1"


def test_bad_config_is_rejected_before_any_environment_is_made(tmp_path):
    # the env id is bogus too: the error must be about the config, which is checked first
    result = train_script("--algo", "sac", "--set", "experiment.env=NoSuchEnv-v0", "algo.discount=1.5",
                          "--output", tmp_path)
    assert result.returncode == 2 and "algo.discount" in result.stderr and "NoSuchEnv" not in result.stderr
    result = train_script("--algo", "ppo", "--set", "experiment.env=NoSuchEnv-v0", "train.batch_size=4096",
                          "--output", tmp_path)
    assert result.returncode == 2 and "train.batch_size=4096" in result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"algo_name": "td3", "algo": {"actor": {"update_frq": 2}}}))
    result = train_script("--config", bad, "--set", "experiment.env=NoSuchEnv-v0", "--output", tmp_path)
    assert result.returncode == 2 and "did you mean 'algo.actor.update_freq'" in result.stderr
    result = train_script("--algo", "sac", "--output", tmp_path)
    assert result.returncode == 2 and "experiment.env" in result.stderr
    result = train_script("--algo", "sac", "--dataset", tmp_path / "d.hdf5", "--set", "experiment.env=Pendulum-v1",
                          "--output", tmp_path)
    assert result.returncode == 2 and "no dataset" in result.stderr
    assert not any(tmp_path.glob("*/*/config.json")), "a rejected run wrote a run folder"
    assert len(result.stderr.strip().splitlines()) == 1


def test_print_schema_prints_the_json_schema():
    result = train_script("--algo", "td3", "--print-schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["properties"]["algo_name"]["const"] == "td3"


def small_config(name: str, *overrides: str):
    config = config_factory(name)
    apply_overrides(config, ["experiment.env=Pendulum-v1", "experiment.logging.log_tb=false",
                             *type(config).DEBUG_OVERRIDES, *overrides])
    return config


def test_obs_normalization_stats_live_in_the_checkpoint(tmp_path):
    config = small_config("ppo", "train.normalize_obs=true", "train.normalize_reward=true", "train.num_envs=2")
    run = online.train(config, output_dir=tmp_path, progress=False)
    policy, ckpt = policy_from_checkpoint(run / "models" / "last.pth")
    stats = ckpt["obs_normalization_stats"]["flat"]
    state = ckpt["online_state"]["obs_normalizer"]["flat"]
    assert state["count"] == 256 + 2  # every env step's observations plus the first reset
    torch.testing.assert_close(stats["offset"], state["mean"].float())
    torch.testing.assert_close(stats["scale"], (state["var"] + 1e-8).sqrt().float())
    assert ckpt["online_state"]["reward_scaler"]["rms"]["count"] == 256
    raw = np.array([0.6, -0.8, 3.0], np.float32)
    policy.start_episode()
    expected = policy.policy.get_action({"flat": torch.as_tensor(normalize(raw, policy.obs_normalization_stats["flat"]))[None]})
    np.testing.assert_allclose(policy(raw), expected[0].numpy() * 2.0, rtol=1e-5)


def test_experience_is_written_for_offline_algorithms(tmp_path):
    path = tmp_path / "experience.hdf5"
    config = small_config("sac", f"train.experience_path={path}", "train.num_envs=2", "train.num_env_steps=500")
    online.train(config, output_dir=tmp_path, progress=False)
    check_dataset(path, obs_keys=["flat"], dataset_keys=["actions", "rewards", "dones"])
    demos = list_demos(path)
    assert len(demos) == 4 and {"train", "valid"} <= set(list_filter_keys(path))  # 2 envs x (200 + 50 steps)
    import h5py

    with h5py.File(path, "r") as f:
        episode = read_episode(f, demos[0], ["flat"], ("actions", "rewards", "dones"), load_next_obs=True)
        assert bool(f["data"][demos[0]].attrs["truncated"]) and not bool(f["data"][demos[0]].attrs["terminated"])
    assert episode["actions"].shape == (200, 1) and np.abs(episode["actions"]).max() <= 2.0
    assert not episode["dones"].any()  # Pendulum only truncates
    np.testing.assert_array_equal(episode["next_obs"]["flat"][:-1], episode["obs"]["flat"][1:])

    from robokit.train.offline import train as train_offline

    bc = config_factory("bc")
    apply_overrides(bc, ['observation.modalities.obs.low_dim=["flat"]', "experiment.logging.log_tb=false",
                         "algo.actor_layer_dims=[32]", "experiment.render_video=false"])
    run = train_offline(bc, dataset_path=path, output_dir=tmp_path / "bc", debug=True, progress=False)
    assert (run / "models" / "last.pth").exists()
    iql = config_factory("iql")  # offline RL reads the rewards, dones and next observations too
    apply_overrides(iql, ['observation.modalities.obs.low_dim=["flat"]', "experiment.logging.log_tb=false",
                          "experiment.render_video=false"])
    run = train_offline(iql, dataset_path=path, output_dir=tmp_path / "iql", debug=True, progress=False)
    assert load_checkpoint(run / "models" / "last.pth")["algo_name"] == "iql"


def test_run_resumes_from_a_checkpoint_with_its_replay_buffer(tmp_path):
    config = small_config("sac", "algo.replay_buffer.save_with_checkpoint=true", "train.normalize_obs=true")
    run = online.train(config, output_dir=tmp_path, progress=False)
    ckpt = load_checkpoint(run / "models" / "last.pth")
    assert ckpt["online_state"]["replay_buffer"]["rewards"].shape == (200,)
    assert "replay_buffer" not in load_checkpoint(run / "models" / "model_epoch_1.pth")["online_state"]

    resumed = small_config("sac", f"experiment.ckpt_path={run / 'models' / 'last.pth'}", "train.normalize_obs=true")
    state = online.OnlineRun(resumed, output_dir=tmp_path / "resumed", progress=False)
    try:
        assert len(state.buffer) == 200
        assert state.obs_normalizer.rms["flat"].count == ckpt["online_state"]["obs_normalizer"]["flat"]["count"] + 1
        weights = state.algo.nets["actor"].state_dict()
        for key, value in ckpt["model"].items():
            if key.startswith("actor."):
                torch.testing.assert_close(weights[key.removeprefix("actor.")], value)
    finally:
        state.close()


def test_replay_buffer_keeps_truncated_transitions_bootstrappable(tmp_path):
    config = small_config("sac", "algo.learning_starts=100000", "train.num_env_steps=250")  # random actions only
    online.check_online_config(config)
    run = online.OnlineRun(config, output_dir=tmp_path, progress=False)
    try:
        run.run()
        buffer = run.buffer
        assert len(buffer) == 250 and not buffer.terminated.any()  # Pendulum's time limit is no terminal state
        obs, next_obs = buffer.obs["flat"], buffer.next_obs["flat"]
        np.testing.assert_array_equal(next_obs[:199], obs[1:200])  # within the episode
        assert not np.allclose(next_obs[199], obs[200])  # the final observation, not the next episode's first
        # the final observation continues the trajectory: cos^2 + sin^2 = 1 and it follows from obs[199]
        assert np.isclose(next_obs[199, 0] ** 2 + next_obs[199, 1] ** 2, 1.0, atol=1e-5)
        assert abs(next_obs[199, 2] - obs[199, 2]) < 1.1
    finally:
        run.close()


def test_run_trained_agent_evaluates_an_online_checkpoint(debug_runs):
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "run_trained_agent.py"), "--agent",
         str(debug_runs["td3"] / "models" / "last.pth"), "--n_rollouts", "2", "--horizon", "20", "--json"],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["Num_Episodes"] == 2 and summary["Horizon"] == 20


def test_checkpoints_and_configs_from_before_the_autograd_only_algorithms_end_scripts_with_one_line(debug_runs,
                                                                                                     tmp_path):
    ckpt = torch.load(debug_runs["sac"] / "models" / "last.pth", map_location="cpu", weights_only=True)
    assert ckpt["format_version"] == 2
    ckpt["format_version"] = 1  # what robokit wrote before (flat optimiser state, train.manual_backward)
    old = tmp_path / "old_sac.pth"
    torch.save(ckpt, old)
    with pytest.raises(CheckpointError, match="sac checkpoint of format 1 .*online RL checkpoints load from format 2"):
        load_checkpoint(old)
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "run_trained_agent.py"), "--agent", str(old), "--n_rollouts", "1"],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300, check=False)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "retrain" in result.stderr
    result = train_script("--config", debug_runs["sac"] / "config.json", "--set", f"experiment.ckpt_path={old}",
                          "--debug", "--no-progress", "--output", tmp_path / "resumed")
    assert result.returncode == 2 and "format 1" in result.stderr and "Traceback" not in result.stderr

    offline = {**ckpt, "algo_name": "bc"}  # offline checkpoints kept their layout: format 1 still loads
    torch.save(offline, tmp_path / "bc.pth")
    assert load_checkpoint(tmp_path / "bc.pth")["algo_name"] == "bc"

    config = json.loads((REPO / "configs" / "sac.json").read_text())
    config["train"]["manual_backward"] = True
    (tmp_path / "old_sac.json").write_text(json.dumps(config))
    result = train_script("--config", tmp_path / "old_sac.json", "--set", "experiment.env=Pendulum-v1", "--debug",
                          "--no-progress", "--output", tmp_path / "run")
    assert result.returncode == 2 and "'train.manual_backward': it was removed" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("utd_ratio, num_envs", [(0.5, 1), (2.0, 1), (1.0, 2)])
def test_gradient_steps_follow_the_update_to_data_ratio(tmp_path, utd_ratio, num_envs):
    config = small_config("sac", "algo.learning_starts=40", "train.num_env_steps=120", f"train.num_envs={num_envs}",
                          f"algo.utd_ratio={utd_ratio}", "train.batch_size=16", "experiment.rollout.enabled=false")
    online.check_online_config(config)
    run = online.OnlineRun(config, output_dir=tmp_path, progress=False)
    try:
        run.run()
        assert run.global_step == 120
        assert run.num_updates == int((120 - 40) * utd_ratio)  # none during the random warm-up
        assert run.algo.log_diagnostics  # statistics were skipped on unlogged steps only during the run
    finally:
        run.close()


@pytest.mark.parametrize("flush", [True, False])
def test_run_applies_flush_denormals(flush, tmp_path):
    config = small_config("sac", f"train.flush_denormals={str(flush).lower()}")
    torch.set_flush_denormal(not flush)
    run = online.OnlineRun(config, output_dir=tmp_path, progress=False)
    try:
        assert ((torch.tensor([1e-39]) * 2).item() == 0.0) is flush  # 2e-39 is a denormal float32
    finally:
        run.close()
        torch.set_flush_denormal(False)


def test_tensorboard_has_the_online_curves(tmp_path):
    config = small_config("sac", "experiment.logging.log_tb=true")
    run = online.train(config, output_dir=tmp_path, progress=False)
    scalars = read_scalars(run / "logs" / "tb")
    for tag in ("Train/Episode_Return", "Train/Env_Steps_per_second", "Train/Critic_Loss", "Train/Actor_Loss",
                "Train/Alpha", "Train/Entropy", "Rollout/Pendulum-v1/Return"):
        assert tag in scalars, f"{tag} missing from {sorted(scalars)}"
    steps = [step for step, _ in scalars["Train/Env_Steps_per_second"]]
    assert steps == sorted(steps) and steps[-1] == config.train.num_env_steps  # plotted against env steps
    returns = [value for _, value in scalars["Train/Episode_Return"]]
    assert all(-2000 < r <= 0 for r in returns)  # Pendulum: a negative return per 200-step episode
    assert all(value > 0 for _, value in scalars["Train/Alpha"])


def test_benchmark_online_runs_robokit_and_keeps_the_trained_policy(tmp_path):
    """The SB3 comparison script, robokit side only (SB3 is an extra), over two seeds: results JSON, loadable
    checkpoints and the mean over seeds."""
    out, keep = tmp_path / "results.json", tmp_path / "models"
    result = run_script("benchmark_online.py", "--cases", "sac_pendulum", "--scale", "0.02", "--seeds", "3", "4",
                        "--libraries", "robokit", "--out", out, "--keep-models", keep, check=True)
    assert "sac_pendulum     robokit  steps     400  seed 3" in result.stdout
    results = json.loads(out.read_text())
    runs = [results[f"sac_pendulum/robokit/seed{seed}"] for seed in (3, 4)]
    for run in runs:
        assert run["steps"] == 400 and len(run["returns"]) == 10
        assert all(-2000 < r <= 0 for r in run["returns"])  # Pendulum: a negative return per 200-step episode
    assert runs[0]["returns"] != runs[1]["returns"]  # the seeds differ
    per_seed = [sum(run["returns"]) / 10 for run in runs]
    summary = re.search(r"robokit  2 seeds  mean return +([-\d.]+) \+- +([\d.]+)", result.stdout)
    assert summary, result.stdout
    assert abs(float(summary.group(1)) - sum(per_seed) / 2) < 0.1
    assert abs(float(summary.group(2)) - abs(per_seed[0] - per_seed[1]) / 2 ** 0.5) < 0.1  # sample std of two
    for seed in (3, 4):
        policy, ckpt = policy_from_checkpoint(keep / f"sac_pendulum_robokit_seed{seed}.pth")
        assert ckpt["algo_name"] == "sac"
    policy.start_episode()
    action = policy(gymnasium.make("Pendulum-v1").reset(seed=0)[0])
    assert action.shape == (1,) and abs(float(action[0])) <= 2.0


def test_benchmark_online_compares_the_libraries_over_seeds():
    """The seed summary: each library's mean over seeds, the difference of the means and its standard error."""
    spec = importlib.util.spec_from_file_location("benchmark_online", REPO / "scripts" / "benchmark_online.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    run = lambda mean, wall: {"returns": [mean - 1.0, mean + 1.0], "steps": 1000, "wall_s": wall}
    lines = script.seed_summary("case", {"robokit": [run(-150.0, 10.0), run(-170.0, 10.0)],
                                         "sb3": [run(-160.0, 20.0), run(-200.0, 20.0)]})
    assert "robokit  2 seeds  mean return   -160.0 +-   14.1" in lines[0] and "100.0 steps/s" in lines[0]
    assert "sb3      2 seeds  mean return   -180.0 +-   28.3" in lines[1] and "50.0 steps/s" in lines[1]
    assert lines[2].endswith("robokit - SB3 mean return +20.0 (standard error 22.4)")  # sqrt(200/2 + 800/2)


def test_benchmark_precision_times_both_modes():
    """`benchmark.py --only precision` times a float32 and a bf16 gradient step and prints their ratio."""
    result = run_script("benchmark.py", "--only", "precision", "--precision-algos", "td3", "--precision-steps", "2",
                        "--rounds", "2", check=True)
    (line,) = [ln for ln in result.stdout.splitlines() if ln.strip().startswith("td3")]
    fp32_ms, bf16_ms, speedup = (float(x) for x in re.search(
        r"float32 ([\d.]+) ms, bf16 ([\d.]+) ms, bf16 speed-up x([\d.]+)", line).groups())
    assert "batch 256" in line and fp32_ms > 0 and bf16_ms > 0
    assert abs(speedup - fp32_ms / bf16_ms) < 0.5  # the median of per-round ratios, near the ratio of medians


@pytest.mark.parametrize("name, overrides", [
    ("sac", ["algo.learning_starts=40", "algo.utd_ratio=0.5"]),
    ("td3", ["algo.learning_starts=40", "algo.actor.update_freq=2"]),  # the delayed actor steps half as often
    ("ppo", ["algo.n_steps=32", "algo.update_epochs=2", "train.batch_size=16", "algo.target_kl=null"]),
])
def test_per_step_learning_rates_span_the_whole_online_run(tmp_path, name, overrides):
    """A linear per-step schedule (`step_every_batch`) of every optimiser ends the run at exactly decay_factor."""
    probe = config_factory(name)
    nets = list(probe.algo.optim_params.to_dict())
    schedule = [f"algo.optim_params.{net}.learning_rate.{key}" for net in nets
                for key in ("step_every_batch=true", "scheduler_type=linear", "decay_factor=0.1")]
    config = small_config(name, "train.num_env_steps=200", "train.epoch_env_steps=100", "experiment.rollout.enabled=false",
                          "experiment.save.enabled=false", *overrides, *schedule)
    online.check_online_config(config)
    run = online.OnlineRun(config, output_dir=tmp_path, progress=False)
    try:
        run.run()
        assert run.num_updates > 0
        for net, optimizer in run.algo.optimizers.items():
            initial = getattr(config.algo.optim_params, net).learning_rate.initial
            assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * initial, rel=1e-6), net
    finally:
        run.close()
