#!/usr/bin/env python
"""robokit against Stable-Baselines3 on this machine, in one run: return and env-steps/s at equal env steps.

Each (case, library) pair trains in its own subprocess with the same hyperparameters (RL Zoo's for Pendulum),
then 10 deterministic evaluation episodes run in a plain gymnasium loop with the same seeds: robokit's policy is
loaded with `policy_from_checkpoint` and gets raw observations, SB3's acts through `model.predict`. Speed is
env steps per second of training wall-clock time and per CPU-second of the training process (the latter is
less sensitive to other load on a shared machine). Runs alternate libraries case by case.

    python scripts/benchmark_online.py                                   # every case
    python scripts/benchmark_online.py --cases sac_pendulum td3_pendulum  # a selection
    python scripts/benchmark_online.py --scale 0.1 --cases sac_pendulum   # a quick smoke run (10% of the steps)
    python scripts/benchmark_online.py --sb3-threads 0                    # SB3 with torch's default thread count
    python scripts/benchmark_online.py --cases sac_pendulum --robokit-set algo.utd_ratio=0.5  # robokit variations
    python scripts/benchmark_online.py --cases sac_pendulum --keep-models models/  # keep the trained policies
    python scripts/benchmark_online.py --cases sac_halfcheetah --seeds 0 1 2 3  # several seeds, then their means

With several seeds, each case ends with the mean over seeds of each library's mean return (+- the standard
deviation across seeds), the difference of the two means with its standard error, and the speed ratio of the
summed training times.

Cases: sac_pendulum (20k steps), td3_pendulum (20k), ppo_pendulum (100k, 4 envs), sac_halfcheetah (--cheetah-steps).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from robokit.utils.cli import run_script

EVAL_EPISODES = 10
EVAL_SEED = 1000

# name: (env, steps, robokit algo + overrides, SB3 class + kwargs); both sides get the same settings
CASES = {
    "sac_pendulum": dict(
        env="Pendulum-v1", steps=20_000, algo="sac",
        robokit=["algo.optim_params.actor.learning_rate.initial=0.001",
                 "algo.optim_params.critic.learning_rate.initial=0.001",
                 "algo.optim_params.alpha.learning_rate.initial=0.001"],
        sb3="SAC", sb3_kwargs=dict(learning_rate=1e-3),
    ),
    "td3_pendulum": dict(
        env="Pendulum-v1", steps=20_000, algo="td3",
        robokit=["algo.discount=0.98", "algo.replay_buffer.capacity=200000", "algo.learning_starts=10000",
                 "algo.actor.exploration_noise=0.1"],
        sb3="TD3", sb3_kwargs=dict(learning_rate=1e-3, gamma=0.98, buffer_size=200_000, learning_starts=10_000,
                                   policy_kwargs=dict(net_arch=[400, 300]), action_noise=0.1),
    ),
    "ppo_pendulum": dict(
        env="Pendulum-v1", steps=100_000, algo="ppo", num_envs=4,
        robokit=["train.num_envs=4", "algo.n_steps=1024", "algo.discount=0.9", "algo.gae_lambda=0.95",
                 "algo.update_epochs=10", "algo.optim_params.policy.learning_rate.initial=0.001",
                 "train.batch_size=64", "train.epoch_env_steps=4096"],
        sb3="PPO", sb3_kwargs=dict(n_steps=1024, gamma=0.9, gae_lambda=0.95, n_epochs=10, learning_rate=1e-3,
                                   batch_size=64, clip_range=0.2, ent_coef=0.0),
    ),
    "sac_halfcheetah": dict(
        env="HalfCheetah-v5", steps=None, algo="sac", robokit=["algo.learning_starts=10000"],
        sb3="SAC", sb3_kwargs=dict(learning_starts=10_000),
    ),
}


# ----- workers (one subprocess per run) -----
def evaluate(act, env_name: str) -> list[float]:
    """Returns of EVAL_EPISODES deterministic episodes in a plain gymnasium loop, seeds EVAL_SEED + i."""
    import gymnasium

    env = gymnasium.make(env_name)
    returns = []
    for i in range(EVAL_EPISODES):
        obs, _ = env.reset(seed=EVAL_SEED + i)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    env.close()
    return returns


def run_robokit(case: dict, steps: int, seed: int, threads: int, keep: Path | None, extra: list[str]) -> dict:
    from robokit import policy_from_checkpoint
    from robokit.config import apply_overrides, config_factory
    from robokit.train import online

    config = config_factory(case["algo"])
    apply_overrides(config, [
        f"experiment.env={case['env']}", f"train.num_env_steps={steps}", f"train.seed={seed}",
        f"train.num_threads={threads}", "experiment.rollout.enabled=false", "experiment.logging.log_tb=false",
        "experiment.logging.terminal_output_to_txt=false", *case["robokit"], *extra,
    ])
    with tempfile.TemporaryDirectory() as tmp:
        online.check_online_config(config)
        run = online.OnlineRun(config, output_dir=tmp, progress=False)
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            run.run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            run.close()
        checkpoint = run.run_dir / "models" / "last.pth"
        policy, _ = policy_from_checkpoint(checkpoint)
        policy.start_episode()
        returns = evaluate(policy, case["env"])
        if keep is not None:
            shutil.copyfile(checkpoint, keep / f"{case['name']}_robokit_seed{seed}.pth")
    return {"wall_s": wall, "cpu_s": cpu, "returns": returns}


def run_sb3(case: dict, steps: int, seed: int, threads: int, keep: Path | None, extra: list[str]) -> dict:
    import numpy as np
    import stable_baselines3
    import torch
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.noise import NormalActionNoise

    if threads > 0:
        torch.set_num_threads(threads)
    kwargs = dict(case["sb3_kwargs"])
    env = make_vec_env(case["env"], n_envs=case.get("num_envs", 1), seed=seed)
    if "action_noise" in kwargs:
        dim = env.action_space.shape[0]
        kwargs["action_noise"] = NormalActionNoise(np.zeros(dim), kwargs["action_noise"] * np.ones(dim))
    model = getattr(stable_baselines3, case["sb3"])("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=steps)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    returns = evaluate(lambda obs: model.predict(obs, deterministic=True)[0], case["env"])
    if keep is not None:
        model.save(keep / f"{case['name']}_sb3_seed{seed}.zip")
    return {"wall_s": wall, "cpu_s": cpu, "returns": returns, "threads": torch.get_num_threads()}


def worker(name: str, library: str, steps: int, seed: int, threads: int, keep: Path | None,
           extra: list[str]) -> None:
    case = {**CASES[name], "name": name}
    result = (run_robokit if library == "robokit" else run_sb3)(case, steps, seed, threads, keep, extra)
    print("RESULT " + json.dumps(result))


# ----- the driver -----
def launch(name: str, library: str, steps: int, seed: int, threads: int, keep: Path | None,
           extra: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, library, str(steps), str(seed), str(threads),
           str(keep or ""), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads > 0 else dict(os.environ)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{library} {name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    result["steps"], result["seed"] = steps, seed
    return result


def summary_line(name: str, library: str, r: dict) -> str:
    import numpy as np

    mean, std = float(np.mean(r["returns"])), float(np.std(r["returns"]))
    return (f"{name:16s} {library:8s} steps {r['steps']:>7,}  seed {r['seed']:<3d} return {mean:8.1f} +- {std:6.1f}  "
            f"{r['steps'] / r['wall_s']:7.1f} steps/s  {r['steps'] / r['cpu_s']:7.1f} steps/cpu-s  "
            f"({r['wall_s']:.0f} s)")


def seed_summary(name: str, runs: dict) -> list[str]:
    """Lines comparing the libraries over seeds: runs {library: [result per seed]}."""
    import numpy as np

    lines, means = [], {}
    for library, results in runs.items():
        per_seed = np.array([np.mean(r["returns"]) for r in results])  # (S,)
        means[library] = per_seed
        steps, wall = sum(r["steps"] for r in results), sum(r["wall_s"] for r in results)
        lines.append(f"{name:16s} {library:8s} {len(results)} seeds  mean return {per_seed.mean():8.1f} +- "
                     f"{per_seed.std(ddof=1) if len(results) > 1 else 0.0:6.1f} (across seeds)  "
                     f"{steps / wall:7.1f} steps/s")
    if {"robokit", "sb3"} <= set(runs):
        rk, sb = means["robokit"], means["sb3"]
        stderr = float(np.sqrt(rk.var(ddof=1) / len(rk) + sb.var(ddof=1) / len(sb))) if len(rk) > 1 else float("nan")
        lines.append(f"{name:16s} robokit - SB3 mean return {rk.mean() - sb.mean():+.1f} (standard error {stderr:.1f})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every case's env steps (smoke runs)")
    parser.add_argument("--cheetah-steps", type=int, default=30_000, help="env steps of sac_halfcheetah")
    parser.add_argument("--seeds", "--seed", nargs="+", type=int, default=[0],
                        help="training seeds; each (case, library) runs once per seed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of robokit (train.num_threads)")
    parser.add_argument("--sb3-threads", type=int, default=1, help="torch threads of SB3 (0: torch's default)")
    parser.add_argument("--libraries", nargs="+", default=["robokit", "sb3"], choices=["robokit", "sb3"])
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--png", type=Path, help="also draw the results as bar charts here (return and env "
                        "steps/s per case and library; mean, std, each seed)")
    parser.add_argument("--keep-models", type=Path, metavar="DIR",
                        help="save each trained model here: robokit's last.pth, SB3's .zip (CASE_LIBRARY_seedN)")
    parser.add_argument("--robokit-set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="extra robokit config overrides for every case (a variation, reported as such)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, library, steps, seed, threads, keep, *extra = args.worker
        worker(name, library, int(steps), int(seed), int(threads), Path(keep) if keep else None, extra)
        return

    results = {}
    if args.keep_models:
        args.keep_models.mkdir(parents=True, exist_ok=True)
        args.keep_models = args.keep_models.resolve()
    header = " ".join([f"robokit: train.num_threads={args.threads}", *args.robokit_set])
    if "sb3" in args.libraries:  # SB3 (the `bench` extra) is needed only to run it
        header += f"; SB3 {version('stable-baselines3')}: torch threads {args.sb3_threads or 'default'}"
    print(header, flush=True)
    for name in args.cases:
        steps = CASES[name]["steps"] or args.cheetah_steps
        steps = max(int(steps * args.scale), 1)
        runs = {library: [] for library in args.libraries}
        for seed in args.seeds:
            for library in args.libraries:
                threads = args.threads if library == "robokit" else args.sb3_threads
                extra = args.robokit_set if library == "robokit" else []
                result = launch(name, library, steps, seed, threads, args.keep_models, extra)
                results[f"{name}/{library}/seed{seed}"] = result
                runs[library].append(result)
                print(summary_line(name, library, result), flush=True)
            if {"robokit", "sb3"} <= set(args.libraries):
                rk, sb = runs["robokit"][-1], runs["sb3"][-1]
                print(f"{name:16s} ratio    seed {seed:<3d} wall speed x{sb['wall_s'] / rk['wall_s']:.2f}, "
                      f"cpu speed x{sb['cpu_s'] / rk['cpu_s']:.2f} (robokit / SB3)", flush=True)
        if len(args.seeds) > 1:
            print("\n".join(seed_summary(name, runs)), flush=True)
            if {"robokit", "sb3"} <= set(args.libraries):
                walls = {library: sum(r["wall_s"] for r in rs) for library, rs in runs.items()}
                print(f"{name:16s} ratio    all seeds wall speed x{walls['sb3'] / walls['robokit']:.2f}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    if args.png:
        from robokit.train.plots import bar_chart

        chart = {library: {} for library in args.libraries}  # {library: {"<case> return": [per seed], ...}}
        for key, r in results.items():
            name, library, _ = key.split("/")
            chart[library].setdefault(f"{name} return", []).append(sum(r["returns"]) / len(r["returns"]))
            chart[library].setdefault(f"{name} steps/s", []).append(r["steps"] / r["wall_s"])
        print(f"chart: {bar_chart(chart, args.png, title='robokit and SB3, ' + str(len(args.seeds)) + ' seed(s)')}")


if __name__ == "__main__":
    run_script(main)
