"""Learning checks: SAC on Pendulum beats the random policy (fast); longer runs of every algorithm are `slow`."""

import time

import gymnasium
import numpy as np
import pytest

from robokit.config import apply_overrides, config_factory
from robokit.train import online


def random_policy_return(n: int, seed: int) -> float:
    env = gymnasium.make("Pendulum-v1")
    env.action_space.seed(seed)
    returns = []
    for i in range(n):
        env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total, done = total + reward, terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def train_and_evaluate(tmp_path, name: str, overrides: list[str]) -> float:
    config = config_factory(name)
    apply_overrides(config, ["experiment.env=Pendulum-v1", "experiment.logging.log_tb=false",
                             "experiment.rollout.n=5", "experiment.rollout.rate=1000", *overrides])
    online.check_online_config(config)
    run = online.OnlineRun(config, output_dir=tmp_path, progress=False)
    try:
        run.run()
        return run.evaluate()["Return"]
    finally:
        run.close()


@pytest.mark.parametrize("precision", ["off", "bf16"])
def test_short_sac_run_beats_the_random_policy(tmp_path, precision):
    started = time.perf_counter()
    sac_return = train_and_evaluate(tmp_path, "sac", [
        f"train.mixed_precision={precision}", "train.num_env_steps=1000", "train.epoch_env_steps=1000", "train.batch_size=128", "algo.learning_starts=200",
        "algo.utd_ratio=4",
        "algo.actor.layer_dims=[64,64]", "algo.critic.layer_dims=[64,64]",
        "algo.optim_params.actor.learning_rate.initial=0.002", "algo.optim_params.critic.learning_rate.initial=0.002",
        "algo.optim_params.alpha.learning_rate.initial=0.002",
    ])
    random_return = random_policy_return(5, seed=11_000)  # the evaluation's seeds: 10_000 + 1000 * train.seed
    print(f"SAC ({precision}) {sac_return:.1f} vs random {random_return:.1f} in {time.perf_counter() - started:.1f}s")
    assert sac_return > random_return + 300


@pytest.mark.slow
@pytest.mark.parametrize("name, overrides, threshold", [
    ("sac", ["train.num_env_steps=10000", "algo.optim_params.actor.learning_rate.initial=0.001",
             "algo.optim_params.critic.learning_rate.initial=0.001",
             "algo.optim_params.alpha.learning_rate.initial=0.001"], -400),
    ("td3", ["train.num_env_steps=10000", "algo.learning_starts=1000", "algo.discount=0.98"], -400),
    ("ppo", ["train.num_env_steps=100000", "train.num_envs=4", "algo.n_steps=1024", "algo.discount=0.9",
             "algo.optim_params.policy.learning_rate.initial=0.001", "train.epoch_env_steps=4096"], -600),
])
def test_algorithms_learn_pendulum(tmp_path, name, overrides, threshold):
    assert train_and_evaluate(tmp_path, name, overrides) > threshold
