#!/usr/bin/env python
"""Speed ratios measured in one run on this machine (never asserted in tests).

train_loop: gradient steps/s of train.py's loop (SequenceDataset sampling + process_batch_for_training +
    train_on_batch + log_info, i.e. `robokit.train.offline.run_epoch`) against a bare PyTorch loop with the same
    network, batch size and optimiser on pre-made tensors. Rounds alternate between the two; the ratio of
    medians is printed.

    python scripts/benchmark.py [--steps 200] [--rounds 5] [--batch-size 100]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from robokit.utils.cli import run_script


def synthetic_dataset(path: Path, n_demos: int = 200, length: int = 50, seed: int = 0) -> None:
    """A robomimic-layout file with FetchPush-shaped observations (25 + 3 dims) and 4-D actions."""
    from robokit.data import DatasetWriter, split_train_val

    rng = np.random.default_rng(seed)
    env_args = {"env_name": "FetchPush-v4", "type": 2, "env_kwargs": {}}
    with DatasetWriter(path, env_args=env_args) as writer:
        for _ in range(n_demos):
            obs = {"observation": rng.standard_normal((length, 25)).astype(np.float32),
                   "desired_goal": rng.standard_normal((length, 3)).astype(np.float32)}
            writer.add_episode(obs, rng.uniform(-1, 1, (length, 4)).astype(np.float32),
                               np.zeros(length, np.float32), np.eye(1, length, length - 1)[0])
    split_train_val(path, val_ratio=0.1, seed=seed)


def bench_train_loop(dataset_path: Path, steps: int, rounds: int, batch_size: int) -> dict:
    import torch
    from torch import nn

    from robokit.algo import algo_factory
    from robokit.config import apply_overrides, config_factory
    from robokit.train.offline import batch_stream, load_datasets, run_epoch

    config = config_factory("bc")
    apply_overrides(config, [f"train.batch_size={batch_size}", "experiment.validate=false"])
    torch.manual_seed(0)
    train_ds, _ = load_datasets(config, dataset_path)
    algo = algo_factory("bc", config, train_ds.obs_key_shapes, train_ds.action_dim, "cpu")
    algo.set_train()
    batches = batch_stream(train_ds, batch_size, num_workers=0, seed=0)

    # the bare loop: the same layer sizes and optimiser settings, one pre-made batch
    obs_dim = sum(int(np.prod(s)) for s in train_ds.obs_key_shapes.values())
    dims = [obs_dim, *config.algo.actor_layer_dims]
    layers = []
    for i in range(len(dims) - 1):
        layers += [nn.Linear(dims[i], dims[i + 1]), nn.ReLU()]
    net = nn.Sequential(*layers, nn.Linear(dims[-1], train_ds.action_dim), nn.Tanh())
    optimizer = torch.optim.Adam(net.parameters(), lr=config.algo.optim_params.policy.learning_rate.initial)
    x = torch.randn(batch_size, obs_dim)
    y = torch.rand(batch_size, train_ds.action_dim) * 2 - 1

    def bare(n: int) -> None:
        for _ in range(n):
            loss = nn.functional.mse_loss(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def robokit(n: int) -> None:
        run_epoch(algo, batches, n, epoch=1, progress=False)

    def rate(fn) -> float:
        start = time.perf_counter()
        fn(steps)
        return steps / (time.perf_counter() - start)

    bare(20), robokit(20)  # warm-up
    bare_rates, robokit_rates = [], []
    for _ in range(rounds):
        bare_rates.append(rate(bare))
        robokit_rates.append(rate(robokit))
    bare_med, robokit_med = statistics.median(bare_rates), statistics.median(robokit_rates)
    return {"bare_steps_per_s": bare_med, "robokit_steps_per_s": robokit_med, "ratio": robokit_med / bare_med}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="gradient steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating timed rounds per side")
    parser.add_argument("--batch-size", type=int, default=100)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.hdf5"
        synthetic_dataset(path)
        r = bench_train_loop(path, args.steps, args.rounds, args.batch_size)
    print(f"train_loop  BC MLP {config_summary(args)}: robokit {r['robokit_steps_per_s']:.1f} steps/s, "
          f"bare PyTorch {r['bare_steps_per_s']:.1f} steps/s, ratio {r['ratio']:.3f} (target >= 0.9)")


def config_summary(args) -> str:
    return f"(batch {args.batch_size}, 2x1024 hidden, Adam)"


if __name__ == "__main__":
    run_script(main)
