#!/usr/bin/env python
"""One policy for planar arms with 3 and 4 links against a specialist per arm, and the never-seen 5-link arm.

    python scripts/benchmark_embodiment.py --demos 1000 --steps 10000 --seeds 1 2 3 --episodes 50

1. Demonstrations (scripts/generate_dataset.py, the damped least-squares expert): datasets/planar_arm_3.hdf5 and
   planar_arm_4.hdf5 (--demos each), merged into planar_arm_3_4.hdf5 (scripts/merge_datasets.py); files that
   exist are reused.
2. Per training seed: a specialist per arm (BC-MLP on its own file, robomimic's plain observation keys) and one
   generalist on the merged file through robot data specs (configs/bc_planar_arms.json: joints padded to 4 slots,
   the joint mask as an input, masked losses), with the same network, learning rate and number of steps.
3. Evaluation: --episodes episodes per policy and robot (reset seeds seed * 1,000,000 + i, the same for the
   specialist and the generalist): the generalist as planar_arm_3 and planar_arm_4 (policy_from_checkpoint(robot=))
   and as the 5-link arm from a spec (its joints 1-4 in the model's 4 slots, joint 5 held at 0).
Prints a table and writes <out>/results.json. Runs one training at a time, one torch thread each.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARMS = (3, 4)
PLAIN_OBS = ["joint_pos", "joint_vel", "fingertip", "to_target", "target"]
COMMON = ["experiment.validate=false", "experiment.rollout.enabled=false", "experiment.save.every_n_epochs=null",
          "experiment.epoch_every_n_steps=250", "train.hdf5_normalize_obs=true", "algo.actor_layer_dims=[256,256]",
          "algo.optim_params.policy.learning_rate.initial=0.001", "experiment.logging.log_tb=false"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demos", type=int, default=1000, help="demonstrations per arm")
    parser.add_argument("--steps", type=int, default=10000, help="gradient steps of every policy (multiple of 250)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="training seeds")
    parser.add_argument("--episodes", type=int, default=50, help="evaluation episodes per policy and robot")
    parser.add_argument("--data-dir", default=str(REPO / "datasets"), help="where the datasets are (written)")
    parser.add_argument("--out", default=str(REPO / "runs" / "benchmark_embodiment"), help="runs and results.json")
    return parser.parse_args(argv)


def run(cmd: list[str]) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    result = subprocess.run([sys.executable, *cmd], cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{result.stderr[-3000:]}")


def datasets(args) -> dict:
    data = Path(args.data_dir)
    paths = {n: data / f"planar_arm_{n}.hdf5" for n in ARMS}
    for n, path in paths.items():
        if not path.exists():
            run(["scripts/generate_dataset.py", "--env", f"robokit/PlanarArm{n}-v0", "--n-demos", str(args.demos),
                 "--seed", str(n), "--out", str(path)])
    merged = data / "planar_arm_3_4.hdf5"
    if not merged.exists():
        run(["scripts/merge_datasets.py", "--inputs", *map(str, paths.values()), "--out", str(merged)])
    return {**paths, "merged": merged}


def train(name: str, dataset: Path, config: str, overrides: list[str], args, seed: int) -> Path:
    out = Path(args.out)
    run(["scripts/train.py", "--config", config, "--dataset", str(dataset), "--name", name, "--output", str(out),
         "--no-progress", "--set", *COMMON, f"train.num_epochs={args.steps // 250}", f"train.seed={seed}", *overrides])
    return sorted((out / name).glob("*/models/last.pth"))[-1]


def evaluate(checkpoint: Path, n_links: int, episodes: int, seed: int, **robot) -> float:
    import numpy as np

    from robokit import policy_from_checkpoint
    from robokit.envs import create_envs
    from robokit.envs.tasks import PLANAR_ARM_IDS, PLANAR_ARM_MAX_STEPS
    from robokit.train.rollouts import rollout_with_stats

    policy, _ = policy_from_checkpoint(checkpoint, device="cpu", **robot)
    env_args = {"env_name": PLANAR_ARM_IDS[n_links], "type": 2, "env_kwargs": {}}
    envs = create_envs(env_args, 10, "sync")
    stats = rollout_with_stats(policy, envs, episodes, PLANAR_ARM_MAX_STEPS, True, seed=seed * 1_000_000,
                               progress=False)
    for env in envs:
        env.close()
    return float(np.round(stats["Success_Rate"], 4))


def arm5_robot() -> dict:
    from robokit.envs import create_env_from_name
    from robokit.envs.embodiments import embodiment_for_env

    env = create_env_from_name("robokit/PlanarArm5-v0")
    shapes = {k: tuple(s.shape) for k, s in env.observation_space.spaces.items()}
    env.close()
    joints = [f"joint_{i}" for i in (1, 2, 3, 4)]
    spec = {"joint_positions": joints, "joint_velocities": joints,
            "end_effector_poses": ["fingertip_x", "fingertip_y"],
            "custom": ["to_target_x", "to_target_y", "target_x", "target_y"]}
    return {"robot_spec": spec, "embodiment": embodiment_for_env("robokit/PlanarArm5-v0", shapes, (5,))}


def main(argv=None) -> int:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    args = parse_args(argv)
    if args.steps % 250:
        sys.exit("--steps must be a multiple of 250")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    start = time.time()
    paths = datasets(args)
    results: dict = {"args": vars(args), "specialist": {}, "generalist": {}}
    for seed in args.seeds:
        for n in ARMS:
            ckpt = train(f"specialist_{n}_seed{seed}", paths[n], "configs/bc.json",
                         [f"observation.modalities.obs.low_dim={json.dumps(PLAIN_OBS)}"], args, seed)
            results["specialist"].setdefault(f"planar_arm_{n}", []).append(evaluate(ckpt, n, args.episodes, seed))
        ckpt = train(f"generalist_seed{seed}", paths["merged"], "configs/bc_planar_arms.json", [], args, seed)
        for n in ARMS:
            rate = evaluate(ckpt, n, args.episodes, seed, robot=f"planar_arm_{n}")
            results["generalist"].setdefault(f"planar_arm_{n}", []).append(rate)
        results["generalist"].setdefault("planar_arm_5", []).append(evaluate(ckpt, 5, args.episodes, seed,
                                                                             **arm5_robot()))
        print(f"seed {seed} done ({time.time() - start:.0f} s): {json.dumps(results['specialist'])} "
              f"{json.dumps(results['generalist'])}", flush=True)
    results["minutes"] = round((time.time() - start) / 60, 1)
    (Path(args.out) / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\n{args.demos} demos per arm, {args.steps} steps, {args.episodes} episodes x seeds {args.seeds}")
    print("| robot | specialist | generalist (3+4 links) | generalist - specialist |")
    print("|---|---|---|---|")
    for robot in ("planar_arm_3", "planar_arm_4", "planar_arm_5"):
        gen = results["generalist"][robot]
        spec = results["specialist"].get(robot)
        fmt = lambda xs: f"{np.mean(xs):.3f} ({' / '.join(f'{x:.2f}' for x in xs)})"  # noqa: E731
        diff = f"{100 * (np.mean(gen) - np.mean(spec)):+.1f} points" if spec else "never trained on"
        print(f"| {robot} | {fmt(spec) if spec else '-'} | {fmt(gen)} | {diff} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
