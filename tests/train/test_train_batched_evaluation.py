"""Evaluation with several envs at once (experiment.rollout.num_envs): one batched policy call per step, the
same episode seeds as one env after another, in this process or with each env in its own process."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from script_runner import run_script
from robokit.algo import RolloutPolicy, algo_factory
from robokit.config import apply_overrides, config_factory
from robokit.envs import create_envs
from robokit.train.rollouts import rollout_with_stats

PUSH = {"env_name": "FetchPush-v4", "type": 2, "env_kwargs": {}}


class CountingPolicy(RolloutPolicy):
    """Counts calls and the batch size of each."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_sizes = []

    def __call__(self, ob, goal=None):
        action = super().__call__(ob, goal)
        self.batch_sizes.append(1 if action.ndim == 1 else action.shape[0])
        return action


def make_policy(rnn: bool = False) -> CountingPolicy:
    config = config_factory("bc")
    apply_overrides(config, ['observation.modalities.obs.low_dim=["observation", "desired_goal"]',
                             "algo.actor_layer_dims=[32]"])
    if rnn:
        apply_overrides(config, ["algo.rnn.enabled=true", "algo.rnn.hidden_dim=16", "train.seq_length=4",
                                 "algo.rnn.horizon=4"])
    torch.manual_seed(0)
    algo = algo_factory("bc", config, {"observation": (25,), "desired_goal": (3,)}, 4, "cpu")
    return CountingPolicy(algo)


def first_observations(policy, envs, n: int) -> list[np.ndarray]:
    episodes = []
    stats = rollout_with_stats(policy, envs, n, horizon=6, seed=40, progress=False,
                               episode_callback=episodes.append)
    assert stats["Num_Episodes"] == n and len(stats["episodes"]) == n and len(episodes) == n
    assert all(len(e["actions"]) == r["Horizon"] == 6 for e, r in zip(episodes, stats["episodes"]))
    return [e["obs"]["observation"][0] for e in episodes]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_batched_episodes_use_the_same_seeds_with_one_policy_call_per_step(mode):
    sequential, batched = make_policy(), make_policy()
    one = create_envs(PUSH, 1)
    group = create_envs(PUSH, 3, mode)
    try:
        expected = first_observations(sequential, one, 5)
        got = first_observations(batched, group, 5)
    finally:
        for env in one + group:
            env.close()
    assert all(np.array_equal(a, b) for a, b in zip(expected, got))  # episode i is seeded with seed + i
    assert len({tuple(o) for o in got}) == 5  # and the episodes differ
    assert sequential.batch_sizes == [1] * 30  # 5 episodes x 6 steps, one observation at a time
    # episodes 0-2 together, then 3-4 in envs 0 and 1 as soon as they are free; env 2 idles in the batch
    assert batched.batch_sizes == [3] * 12


def test_batched_rnn_policy_acts_like_one_env_at_a_time():
    """An RNN's hidden state is per batch row: each env's episode gets the actions it would get alone."""
    policies = make_policy(rnn=True), make_policy(rnn=True)
    one, group = create_envs(PUSH, 1), create_envs(PUSH, 2)
    try:
        alone = rollout_with_stats(policies[0], one, 2, horizon=8, seed=3, progress=False,
                                   terminate_on_success=False)
        together = rollout_with_stats(policies[1], group, 2, horizon=8, seed=3, progress=False,
                                      terminate_on_success=False)
    finally:
        for env in one + group:
            env.close()
    for a, b in zip(alone["episodes"], together["episodes"]):
        assert a["Horizon"] == b["Horizon"] == 8 and a["Return"] == pytest.approx(b["Return"], abs=1.0)


def test_train_evaluates_in_parallel_envs_and_in_additional_envs(fetch_push_dataset, tmp_path):
    result = run_script("train.py", "--config", "configs/bc.json", "--dataset", fetch_push_dataset, "--output", tmp_path,
                        "--name", "multi", "--debug", "--no-progress", "--set", "algo.actor_layer_dims=[16]",
                        "experiment.rollout.num_envs=2", "experiment.rollout.vector_env=async",
                        'experiment.additional_envs=["FetchPickAndPlace-v4"]', cwd=Path(__file__).parents[2],
                        check=True)
    run_dir = Path(result.stdout.strip().splitlines()[-1].split("finished: ")[1])
    log = (run_dir / "logs" / "log.txt").read_text()
    assert "| success" in log and "| FetchPickAndPlace-v4 success" in log
    videos = {p.name for p in (run_dir / "videos").iterdir()}
    assert {"epoch_1.mp4", "epoch_1_FetchPickAndPlace-v4.mp4"} <= videos


def test_run_trained_agent_with_several_envs_records_every_episode(fetch_push_dataset, tmp_path):
    run = run_script("train.py", "--config", "configs/bc.json", "--dataset", fetch_push_dataset, "--output", tmp_path,
                     "--name", "agent", "--debug", "--no-progress", "--set", "algo.actor_layer_dims=[16]",
                     "experiment.rollout.enabled=false", cwd=Path(__file__).parents[2], check=True)
    ckpt = Path(run.stdout.strip().splitlines()[-1].split("finished: ")[1]) / "models" / "last.pth"
    data = tmp_path / "rollouts.hdf5"
    result = run_script("run_trained_agent.py", "--agent", ckpt, "--n_rollouts", 5, "--horizon", 6, "--num_envs", 2,
                        "--async_envs", "--dataset_path", data, "--seed", 1, check=True)
    assert "success rate" in result.stdout
    with h5py.File(data, "r") as f:
        assert len(f["data"]) == 5 and all(f[f"data/demo_{i}/actions"].shape == (6, 4) for i in range(5))
    bad = run_script("run_trained_agent.py", "--agent", ckpt, "--n_rollouts", 2, "--num_envs", 0)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].endswith("--num_envs must be at least 1, got 0")
