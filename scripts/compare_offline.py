#!/usr/bin/env python
"""Compare behaviour cloning with offline RL (IQL, TD3-BC, ...) on a mixed-quality dataset.

Each algorithm trains for --steps gradient steps with each of --seeds, then its policy (reloaded from the
checkpoint with policy_from_checkpoint) runs --eval-episodes evaluation episodes (the same reset seeds for
every run); the table gives the mean +- std over seeds of the success rate and the return.

The measured table (datasets/README.md) came from this command, the defaults spelled out (about 4 minutes
on 2 CPU cores):

    OMP_NUM_THREADS=1 python scripts/compare_offline.py --env FetchReach-v4 --n-episodes 200 \\
        --mixed expert:0.2,noisy:0.2,random:0.2,other_goal:0.4 --noise-std 0.5 --algos bc iql td3_bc \\
        --seeds 0 1 2 --steps 3000 --eval-episodes 50

Without --dataset, the dataset is generated with scripts/generate_dataset.py --mixed into --work-dir
(and reused when it exists). Per-algorithm overrides: --set iql:algo.adv.beta=0.5 (repeatable).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from robokit.errors import UserError
from robokit.utils.cli import run_script

REPO = Path(__file__).resolve().parents[1]

# small networks and a common budget for every algorithm; the rest are each algorithm's defaults
COMMON = [
    "experiment.validate=false",
    "experiment.rollout.enabled=false",
    "experiment.render_video=false",
    "experiment.logging.log_tb=false",
    "experiment.logging.terminal_output_to_txt=false",
    "experiment.save.every_n_epochs=null",
    "experiment.save.on_best_rollout_success_rate=false",
    "train.batch_size=256",
    "train.hdf5_normalize_obs=true",
]
DEFAULTS = {
    "bc": ["algo.actor_layer_dims=[256,256]", "algo.optim_params.policy.learning_rate.initial=0.001"],
    "iql": ["algo.actor.layer_dims=[256,256]", "algo.critic.layer_dims=[256,256]",
            "algo.optim_params.actor.learning_rate.initial=0.0003",
            "algo.optim_params.critic.learning_rate.initial=0.0003",
            "algo.optim_params.vf.learning_rate.initial=0.0003",
            "algo.adv.beta=0.3", "algo.vf_quantile=0.8", "algo.actor.net.gaussian.init_std=0.1"],
    "td3_bc": ["algo.actor.layer_dims=[256,256]", "algo.critic.layer_dims=[256,256]"],
    "cql": ["algo.actor.layer_dims=[256,256]", "algo.critic.layer_dims=[256,256]", "train.batch_size=256"],
    "bcq": ["algo.critic.layer_dims=[256,256]", "algo.action_sampler.vae.encoder_layer_dims=[256,256]",
            "algo.action_sampler.vae.decoder_layer_dims=[256,256]"],
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=None, help="mixed-quality HDF5 (default: generate one)")
    parser.add_argument("--env", default="FetchReach-v4", help="task, when generating the dataset")
    parser.add_argument("--n-episodes", type=int, default=200, help="episodes, when generating the dataset")
    parser.add_argument("--mixed", default="expert:0.2,noisy:0.2,random:0.2,other_goal:0.4",
                        help="behaviour mixture, when generating the dataset")
    parser.add_argument("--noise-std", type=float, default=0.5, help="noise of the 'noisy' behaviour")
    parser.add_argument("--algos", nargs="+", default=["bc", "iql", "td3_bc"], help="algorithms to compare")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--steps", type=int, default=3000, help="gradient steps per run")
    parser.add_argument("--eval-episodes", type=int, default=50, help="evaluation episodes per run")
    parser.add_argument("--horizon", type=int, default=50, help="evaluation episode length limit")
    parser.add_argument("--set", action="append", default=[], metavar="ALGO:KEY=VALUE",
                        help="extra config override for one algorithm, e.g. iql:algo.adv.beta=0.5")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/compare_offline"), help="datasets and runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the per-run results here")
    parser.add_argument("--png", type=Path, default=None,
                        help="also draw the table as bar charts (success rate, return; mean, std, seeds) here")
    return parser.parse_args(argv)


def ensure_dataset(args) -> Path:
    if args.dataset is not None:
        return args.dataset
    args.work_dir.mkdir(parents=True, exist_ok=True)
    name = f"{args.env.split('-')[0].lower()}_{args.n_episodes}_{args.mixed.replace(':', '').replace(',', '_')}"
    path = args.work_dir / f"{name}_n{args.noise_std:g}.hdf5"
    if not path.exists():
        subprocess.run([sys.executable, str(REPO / "scripts" / "generate_dataset.py"), "--env", args.env,
                        "--n-demos", str(args.n_episodes), "--out", str(path), "--mixed", args.mixed,
                        "--noise-std", str(args.noise_std), "--seed", "0"], check=True)
    return path


def run_one(algo: str, seed: int, dataset: Path, args, extra: list[str]) -> dict:
    """Train one (algo, seed) and evaluate its reloaded policy."""
    import torch

    from robokit import policy_from_checkpoint
    from robokit.config import apply_overrides, config_factory
    from robokit.envs import create_env
    from robokit.train.offline import train
    from robokit.train.rollouts import rollout_with_stats

    config = config_factory(algo)
    steps_per_epoch = 500
    overrides = COMMON + DEFAULTS.get(algo, []) + extra + [
        f"experiment.name={algo}_seed{seed}", f"train.seed={seed}",
        f"train.num_epochs={max(args.steps // steps_per_epoch, 1)}",
        f"experiment.epoch_every_n_steps={min(steps_per_epoch, args.steps)}",
    ]
    apply_overrides(config, overrides)
    torch.set_num_threads(1)
    start = time.time()
    run_dir = train(config, dataset_path=dataset, output_dir=args.work_dir / "runs", device="cpu", progress=False)
    train_time = time.time() - start
    policy, ckpt = policy_from_checkpoint(run_dir / "models" / "last.pth", device="cpu")
    env = create_env(ckpt["env_metadata"])
    stats = rollout_with_stats(policy, env, n=args.eval_episodes, horizon=args.horizon, seed=10_000, progress=False)
    env.close()
    return {"algo": algo, "seed": seed, "success": stats["Success_Rate"], "return": stats["Return"],
            "train_s": train_time, "run_dir": str(run_dir)}


def table(results: list[dict], algos: list[str]) -> str:
    lines = [f"{'algo':<10} {'success rate':>18} {'return':>18}  runs", "-" * 56]
    for algo in algos:
        rows = [r for r in results if r["algo"] == algo]
        s = np.array([r["success"] for r in rows])
        g = np.array([r["return"] for r in rows])
        lines.append(f"{algo:<10} {s.mean():>9.3f} +- {s.std():.3f} {g.mean():>9.2f} +- {g.std():5.2f}  {len(rows)}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    extra: dict[str, list[str]] = {algo: [] for algo in args.algos}
    for item in args.set:
        algo, sep, override = item.partition(":")
        if not sep or algo not in extra:
            raise UserError(f"--set {item!r}: expected ALGO:KEY=VALUE with ALGO one of {', '.join(args.algos)}")
        extra[algo].append(override)
    dataset = ensure_dataset(args)
    print(f"dataset: {dataset}", flush=True)
    results = []
    for seed in args.seeds:
        for algo in args.algos:
            result = run_one(algo, seed, dataset, args, extra[algo])
            results.append(result)
            print(f"{algo} seed {seed}: success {result['success']:.2f}, return {result['return']:.2f} "
                  f"({result['train_s']:.0f} s training)", flush=True)
    print(f"\n{len(args.seeds)} seeds x {args.eval_episodes} evaluation episodes, {args.steps} gradient steps, "
          f"dataset {dataset.name}")
    print(table(results, args.algos))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    if args.png is not None:
        from robokit.train.plots import bar_chart

        chart = {algo: {"success_rate": [r["success"] for r in results if r["algo"] == algo],
                        "return": [r["return"] for r in results if r["algo"] == algo]} for algo in args.algos}
        print(f"chart: {bar_chart(chart, args.png, title=f'{dataset.name}, {len(args.seeds)} seed(s)')}")
    return 0


if __name__ == "__main__":
    run_script(main)
