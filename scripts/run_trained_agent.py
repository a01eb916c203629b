#!/usr/bin/env python
"""Roll out a trained policy: success rate and mean return, optional video and rollout dataset.

    python scripts/run_trained_agent.py --agent runs/bc/.../models/last.pth --n_rollouts 50 --horizon 50 \
        --video_path rollouts.mp4 --dataset_path rollouts.hdf5 --seed 0

A language-conditioned policy (observation.language.enabled) takes each episode's instruction from the
environment (robokit/PlanarArmLang-v0 poses one per episode), or --lang "reach the red target" for all of them.
--dataset_path stores each episode's instruction as its demo's 'lang' attribute, so the rollouts train a
language-conditioned policy again.
"""

import argparse
import json

from robokit.utils.cli import run_script


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", required=True, help="checkpoint (.pth) to evaluate")
    parser.add_argument("--algo_module", metavar="PLUGIN", default=None,
                        help="the plugin (.py file, package folder, .zip or module) that defines the checkpoint's "
                             "algorithm, when it is not built in (a checkpoint never imports code by itself)")
    parser.add_argument("--n_rollouts", type=int, default=27, help="number of episodes")
    parser.add_argument("--horizon", type=int, default=None, help="max steps per episode (default: the run's)")
    parser.add_argument("--env", default=None, help="override the environment id stored in the checkpoint")
    parser.add_argument("--env_dataset", metavar="NAME", default=None,
                        help="a run on several datasets: roll out in this dataset's environment (default: the first "
                             "dataset evaluated in training)")
    parser.add_argument("--video_path", default=None, help="write all episodes to this MP4")
    parser.add_argument("--video_skip", type=int, default=5, help="record every n-th frame")
    parser.add_argument("--camera_size", type=int, default=256, help="video frame height and width")
    parser.add_argument("--dataset_path", default=None,
                        help="record the rollouts as an HDF5 dataset here (an episode's instruction, the policy's or "
                             "the environment's, as its demo's 'lang' attribute)")
    parser.add_argument("--seed", type=int, default=0, help="episode i is seeded with seed + i")
    parser.add_argument("--num_envs", type=int, default=1,
                        help="run this many episodes at once, one batched policy call per step (same seeds)")
    parser.add_argument("--async_envs", action="store_true",
                        help="with --num_envs > 1: each env in its own process, stepping in parallel")
    parser.add_argument("--no_terminate_on_success", action="store_true", help="run to the horizon after success")
    parser.add_argument("--robot", default=None,
                        help="a model trained on robot data specs: feed it as this robot of its training data (by "
                             "names; default env: the one the robot was recorded in)")
    parser.add_argument("--robot_spec", metavar="JSON", default=None,
                        help="a robot the model was not trained on: its data spec {data type: [names]} (JSON text or "
                             "a .json file), read from --env's observations by name")
    parser.add_argument("--lang", default=None,
                        help="a language-conditioned policy: the instruction of every episode (default: each "
                             "episode's own, from the environment)")
    parser.add_argument("--device", default=None, help="torch device (default: the checkpoint's preference)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from contextlib import nullcontext
    from pathlib import Path

    from robokit.data import DatasetWriter
    from robokit.errors import UserError
    from robokit.envs import create_envs
    from robokit.train.checkpoint import env_args_from_checkpoint, policy_from_checkpoint
    from robokit.train.rollouts import rollout_with_stats

    if args.n_rollouts < 1:
        raise UserError(f"--n_rollouts must be at least 1, got {args.n_rollouts}")
    if args.num_envs < 1:
        raise UserError(f"--num_envs must be at least 1, got {args.num_envs}")
    for out in (args.video_path, args.dataset_path):
        if out is not None and not Path(out).parent.resolve().is_dir():
            raise UserError(f"output folder does not exist: {Path(out).parent}")
    if args.dataset_path is not None and Path(args.dataset_path).exists():
        raise UserError(f"{args.dataset_path} already exists; choose another --dataset_path")

    robot_kwargs, env_args = robot_arguments(args)
    policy, ckpt = policy_from_checkpoint(ckpt_path=args.agent, device=args.device, algo_module=args.algo_module,
                                          **robot_kwargs)
    if args.lang is not None and not policy.needs_lang:
        raise UserError(f"--lang: {args.agent} was trained without language instructions "
                        "(observation.language.enabled=false); leave --lang out")
    envs = create_envs(env_args or env_args_from_checkpoint(ckpt, args.env_dataset),
                       min(args.num_envs, args.n_rollouts),
                       "async" if args.async_envs else "sync", render_offscreen=args.video_path is not None,
                       env_name=args.env)
    env = envs[0]
    horizon = args.horizon or ckpt["config"]["experiment"]["rollout"]["horizon"]
    recording = DatasetWriter(args.dataset_path, env_args=env.serialize()) if args.dataset_path else nullcontext()
    with recording as writer:  # an interrupted run leaves no partial dataset behind
        stats = rollout_with_stats(
            policy, envs, args.n_rollouts, horizon, terminate_on_success=not args.no_terminate_on_success,
            seed=args.seed, video_path=args.video_path, video_skip=args.video_skip, video_size=args.camera_size,
            episode_callback=(lambda episode: writer.add_episode(**episode)) if writer is not None else None,
            lang=args.lang,
        )
    for each in envs:
        each.close()
    summary = {k: v for k, v in stats.items() if k != "episodes"}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{env.name}: success rate {summary['Success_Rate']:.3f} ({summary['Num_Success']}/{args.n_rollouts}), "
              f"mean return {summary['Return']:.3f}, mean horizon {summary['Horizon']:.1f}")
        if args.video_path:
            print(f"video: {args.video_path}")
        if args.dataset_path:
            print(f"rollouts dataset: {args.dataset_path}")


def robot_arguments(args) -> tuple[dict, dict | None]:
    """(policy_from_checkpoint's robot / robot_spec / embodiment, the env_args to roll out in or None) of --robot
    and --robot_spec; a new robot's embodiment comes from the environment (robokit.envs.embodiments)."""
    from pathlib import Path

    from robokit.envs import create_env
    from robokit.envs.embodiments import embodiment_for_env
    from robokit.errors import UserError
    from robokit.train.checkpoint import env_args_from_checkpoint, load_checkpoint

    if args.robot is None and args.robot_spec is None:
        return {}, None
    ckpt = load_checkpoint(args.agent)
    recorded = (ckpt.get("robot_data") or {}).get("env_args", {})
    env_args = recorded.get(args.robot) if args.robot is not None and args.env is None else None
    kwargs = {"robot": args.robot}
    if args.robot_spec is not None:
        text = Path(args.robot_spec).read_text() if args.robot_spec.endswith(".json") else args.robot_spec
        try:
            kwargs["robot_spec"] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"--robot_spec is not valid JSON ({exc})") from None
        env = create_env(env_args or env_args_from_checkpoint(ckpt), env_name=args.env)
        shapes = {k: tuple(s.shape) for k, s in env.observation_space.spaces.items()}
        embodiment = embodiment_for_env(env.name, shapes, tuple(env.action_space.shape), env.serialize()["env_kwargs"])
        env.close()
        if embodiment is None:
            raise UserError(f"--robot_spec: robokit does not know the names of {env.name}'s items "
                            "(robokit/envs/embodiments.py); load the policy in Python with embodiment=...")
        kwargs["embodiment"] = embodiment
    return kwargs, env_args


if __name__ == "__main__":
    run_script(main)
