"""Generate a demonstration dataset (robomimic HDF5 layout) by running a scripted expert.

    python scripts/generate_dataset.py --env FetchPush-v4 --n-demos 200 --out datasets/fetch_push.hdf5

Only successful episodes are kept; each ends at its first successful step (dones=1 there). Episode i is
reset with a seed drawn from --seed and stored in the demo's `seed` attribute, so any demo can be
replayed. The file is written to a temporary name and renamed at the end, together with train/valid
masks (--valid-ratio).

Multimodal demonstrations: robokit/ObstacleReach-v0's expert passes an obstacle on the left or on the right,
drawn 50/50 per episode; each demo's `mode` attribute says which, masks "mode_left" / "mode_right" list them,
and the split is printed:

    python scripts/generate_dataset.py --env robokit/ObstacleReach-v0 --n-demos 200 --out datasets/obstacle_reach.hdf5

Mixed-quality data for offline RL: --mixed SPEC keeps EVERY episode (successful or not, with its rewards and
dones) and draws each episode's behaviour from SPEC, e.g. "expert:0.3,noisy:0.4,random:0.3" (behaviours:
expert, noisy = expert + N(0, --noise-std) action noise, random = uniform actions, other_goal = the expert chasing
another goal). --n-demos is then the number of episodes. Besides train/valid, masks name each behaviour's
episodes and the successful ones ("successful"), so `train.hdf5_filter_key=successful` gives filtered BC:

    python scripts/generate_dataset.py --env FetchReach-v4 --n-demos 200 --out datasets/fetch_reach_mixed.hdf5 \\
        --mixed expert:0.2,noisy:0.2,random:0.2,other_goal:0.4 --noise-std 0.5

Camera observations (image datasets): --camera-size 84 records "<camera>_image" (H, W, 3) uint8 for each of
--camera-names (default: external_camera_0 for Fetch tasks, else the viewer camera "default"), stored chunked
one frame per chunk; --camera-depth adds "<camera>_depth"; --compression gzip shrinks them. --obs-slice adds
flat observation slices such as the robot's own state (see robokit/envs/cameras.py):

    python scripts/generate_dataset.py --env FetchPush-v4 --n-demos 200 --out datasets/fetch_push_image.hdf5 \
        --camera-size 84 --obs-slice robot0_eef_pos=observation[0:3] --obs-slice robot0_gripper_qpos=observation[9:11]

robosuite (the robosuite extra): Lift, PickPlaceCan and NutAssemblySquare with a Panda and robomimic's OSC_POSE
controller write robomimic's own layout, env_args type 1 as robomimic writes it, each demo's `states` (flattened
MuJoCo state per step) and attrs `model_file` (the episode's MJCF) and `ep_meta`, so robomimic's playback opens it.
--camera-size 84 records agentview_image and robot0_eye_in_hand_image (or --camera-names); episodes are cut at
--max-steps (default 400 for robosuite, robomimic's rollout horizon for these tasks):

    python scripts/generate_dataset.py --env Lift --n-demos 200 --out datasets/lift.hdf5
    python scripts/generate_dataset.py --env PickPlaceCan --n-demos 200 --out datasets/can_image.hdf5 --camera-size 84
    python scripts/generate_dataset.py --env NutAssemblySquare --n-demos 200 --out datasets/square.hdf5

Language tasks (robokit/PlanarArmLang-v0: which of three coloured targets to reach): each demo's instruction,
e.g. "reach the red target", is stored as its `lang` attribute (datasets/README.md), for language-conditioned
training (observation.language.enabled):
    python scripts/generate_dataset.py --env robokit/PlanarArmLang-v0 --n-demos 300 --out datasets/planar_arm_lang.hdf5

Named items: for the Fetch tasks and robokit/ObstacleReach-v0 the file also records which joint, camera or
coordinate each column of the actions and observations is (`data.attrs["robokit_embodiment"]`, see
robokit/envs/embodiments.py and datasets/README.md); other tasks are written without names.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

import numpy as np
from tqdm import tqdm

from robokit.data.hdf5_format import DatasetWriter, mask_names
from robokit.envs import create_env_from_name, make_expert
from robokit.envs.embodiments import embodiment_for_env
from robokit.envs.experts import run_expert_episode
from robokit.envs.experts.robosuite_tasks import ROBOSUITE_EXPERTS
from robokit.envs.experts.mixtures import (OtherGoalExpert, RandomPolicy, assign_behaviors, parse_mixture,
                                           run_behavior_episode)
from robokit.errors import UserError
from robokit.utils.cli import run_script


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True,
                        help="gymnasium id with a scripted expert, e.g. FetchPush-v4, or a robosuite task: "
                             + ", ".join(ROBOSUITE_EXPERTS))
    parser.add_argument("--n-demos", type=int, required=True, help="number of successful demos to keep")
    parser.add_argument("--out", required=True, help="output .hdf5 path (its folder must exist)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the episode seeds and the action noise")
    parser.add_argument("--valid-ratio", type=float, default=0.1, help="fraction of demos in mask 'valid'")
    parser.add_argument("--max-attempts-factor", type=float, default=3.0,
                        help="give up after n-demos * this many episodes")
    parser.add_argument("--noise-std", type=float, default=0.0, help="Gaussian action noise of the expert")
    parser.add_argument("--compression", choices=["gzip", "lzf"], default=None, help="HDF5 compression")
    parser.add_argument("--mixed", default=None, metavar="SPEC",
                        help='keep every episode, behaviours drawn from SPEC, e.g. "expert:0.3,noisy:0.4,random:0.3" '
                             "(behaviours: expert, noisy, random, other_goal); --n-demos counts episodes")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--camera-size", type=int, nargs="+", default=None, metavar="PX",
                        help="record camera images of this size (one int, or height width)")
    parser.add_argument("--camera-names", nargs="+", default=None,
                        help="cameras to record (default: external_camera_0 for Fetch tasks, agentview and "
                             "robot0_eye_in_hand for robosuite, else 'default')")
    parser.add_argument("--max-steps", type=int, default=None,
                        help=f"cut episodes after this many steps (default: the env's time limit; robosuite: "
                             f"{ROBOSUITE_MAX_STEPS})")
    parser.add_argument("--camera-depth", action="store_true", help="also record depth images (uint8 centimetres)")
    parser.add_argument("--obs-slice", action="append", default=[], metavar="NAME=KEY[START:STOP]",
                        help="add observation NAME = KEY[START:STOP], e.g. robot0_eef_pos=observation[0:3]")
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Raise a one-line `UserError` for arguments that cannot work, before anything is created."""
    if args.n_demos <= 0:
        raise UserError(f"--n-demos must be a positive integer, got {args.n_demos}")
    if not 0.0 <= args.valid_ratio < 1.0:
        raise UserError(f"--valid-ratio must be in [0, 1), got {args.valid_ratio}")
    if args.max_attempts_factor < 1.0:
        raise UserError(f"--max-attempts-factor must be >= 1, got {args.max_attempts_factor}")
    if args.noise_std < 0:
        raise UserError(f"--noise-std must be >= 0, got {args.noise_std}")
    if args.max_steps is not None and args.max_steps <= 0:
        raise UserError(f"--max-steps must be a positive integer, got {args.max_steps}")
    if args.mixed is not None and parse_mixture(args.mixed).get("noisy", 0) > 0 and args.noise_std <= 0:
        raise UserError("the 'noisy' behaviour of --mixed needs --noise-std > 0, e.g. --noise-std 0.5")
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):
        raise UserError(f"output folder {folder} does not exist; create it first")
    if os.path.isdir(args.out):
        raise UserError(f"--out {args.out} is a folder; give a file path such as {args.out}/demos.hdf5")
    if os.path.exists(args.out) and not args.overwrite:
        raise UserError(f"{args.out} already exists; pass --overwrite to replace it")


ROBOSUITE_MAX_STEPS = 400  # robomimic's rollout horizon for Lift, Can and Square (robosuite's own is 1000)
ROBOSUITE_CAMERAS = ("agentview", "robot0_eye_in_hand")


def is_robosuite_task(env_name: str) -> bool:
    """Whether `env_name` is a robosuite task with a scripted expert ("Lift", "PickPlaceCan", "NutAssemblySquare")."""
    return env_name in ROBOSUITE_EXPERTS


def create_robosuite_dataset_env(args: argparse.Namespace):
    """The RobosuiteEnv of robomimic's env_args for args.env (Panda, OSC_POSE), with the cameras asked for."""
    from robokit.envs import create_env
    from robokit.envs.factory import ROBOSUITE_EXTRA_HINT
    from robokit.envs.robosuite_env import robomimic_env_args

    if args.mixed is not None:
        raise UserError(f"--mixed is not available for robosuite tasks ({args.env}) yet; leave it out")
    if args.obs_slice:
        raise UserError("--obs-slice is for gymnasium tasks; robosuite observations already have robomimic's names")
    if (args.camera_names or args.camera_depth) and args.camera_size is None:
        raise UserError("--camera-names and --camera-depth need --camera-size (e.g. --camera-size 84)")
    cameras, size = (), 84
    if args.camera_size is not None:
        if len(args.camera_size) > 2 or min(args.camera_size) <= 0:
            raise UserError(f"--camera-size takes one or two positive ints, got {args.camera_size}")
        cameras = tuple(args.camera_names or ROBOSUITE_CAMERAS)
        size = args.camera_size[0] if len(args.camera_size) == 1 else tuple(args.camera_size)
    try:
        env_args = robomimic_env_args(args.env, camera_names=cameras, camera_size=size,
                                      **({"camera_depths": True} if args.camera_depth else {}))
    except ImportError as exc:
        raise UserError(f"{args.env} is a robosuite task and robosuite cannot be imported ({exc}); "
                        f"{ROBOSUITE_EXTRA_HINT}") from None
    return create_env(env_args)


def episode_model_attrs(env) -> dict:
    """robomimic's per-demo playback attrs of the episode just run: model_file (MJCF) and ep_meta; {} for gymnasium."""
    if not hasattr(env, "get_model_xml"):
        return {}
    return {"model_file": env.get_model_xml(), "ep_meta": env.get_ep_meta()}


_SLICE_RE = re.compile(r"^(\w+)=(\w+)\[(\d+):(\d+)\]$")


def env_kwargs_from_args(args: argparse.Namespace) -> dict:
    """GymEnv keyword arguments for the camera and observation-slice options (stored in the dataset's env_args)."""
    kwargs: dict = {}
    if args.camera_names and args.camera_size is None:
        raise UserError("--camera-names needs --camera-size (e.g. --camera-size 84)")
    if args.camera_depth and args.camera_size is None:
        raise UserError("--camera-depth needs --camera-size (e.g. --camera-size 84)")
    if args.camera_size is not None:
        if len(args.camera_size) > 2 or min(args.camera_size) <= 0:
            raise UserError(f"--camera-size takes one or two positive ints, got {args.camera_size}")
        default_camera = "external_camera_0" if args.env.startswith("Fetch") else "default"
        kwargs.update(camera_names=args.camera_names or [default_camera], camera_depth=args.camera_depth,
                      camera_size=args.camera_size[0] if len(args.camera_size) == 1 else list(args.camera_size))
    slices = {}
    for text in args.obs_slice:
        match = _SLICE_RE.match(text)
        if match is None:
            raise UserError(f"--obs-slice {text!r}: expected NAME=KEY[START:STOP], e.g. robot0_eef_pos=observation[0:3]")
        name, key, start, stop = match.groups()
        slices[name] = [key, int(start), int(stop)]
    if slices:
        kwargs["obs_slices"] = slices
    return kwargs


def split_train_valid(names: list[str], valid_ratio: float, seed: int) -> tuple[list[str], list[str]]:
    """Random split with `split_train_val`'s rule: int(ratio * N) valid demos, at least 1 if ratio > 0, N >= 2."""
    n = len(names)
    n_valid = int(valid_ratio * n)
    if valid_ratio > 0 and n >= 2:
        n_valid = min(max(n_valid, 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    valid = sorted(order[:n_valid])
    train = sorted(order[n_valid:])
    return [names[i] for i in train], [names[i] for i in valid]


def dataset_embodiment(args: argparse.Namespace, env):
    """The named items of the task's actions and observations (an Embodiment), or None when robokit does not
    know its layout."""
    obs_shapes = {k: tuple(space.shape) for k, space in env.observation_space.spaces.items()}
    return embodiment_for_env(args.env, obs_shapes, tuple(env.action_space.shape), env.serialize()["env_kwargs"])


def write_mixed_dataset(args: argparse.Namespace, env) -> int:
    """--mixed: n episodes of behaviours drawn from the mixture, all kept; masks per behaviour and "successful"."""
    mixture = parse_mixture(args.mixed)
    rng = np.random.default_rng([args.seed, 2])
    behaviors = {
        "expert": make_expert(args.env, rng=rng),
        "noisy": make_expert(args.env, noise_std=args.noise_std, rng=rng),
        "random": RandomPolicy(int(np.prod(env.action_space.shape)), rng=rng),
        "other_goal": OtherGoalExpert(make_expert(args.env, rng=rng)),
    }
    kinds = assign_behaviors(args.n_demos, mixture, rng)
    seeds = np.random.default_rng(args.seed).choice(2**31 - 1, size=2 * args.n_demos, replace=False)
    start, total_steps, by_kind = time.time(), 0, {kind: [] for kind in mixture}
    successful = []
    with DatasetWriter(args.out, env_args=env.serialize(), compression=args.compression,
                       embodiment=dataset_embodiment(args, env)) as writer:
        for i, kind in enumerate(tqdm(kinds, desc=f"{args.env} mixed episodes", unit="ep")):
            seed, other_seed = int(seeds[2 * i]), int(seeds[2 * i + 1])
            episode = run_behavior_episode(env, behaviors[kind], seed=seed, other_seed=other_seed)
            name = writer.add_episode(obs=episode.obs, next_obs=episode.next_obs, actions=episode.actions,
                                      rewards=episode.rewards, dones=episode.dones, states=episode.states,
                                      attrs={"seed": seed, "behavior": kind, "success": int(episode.success)},
                                      lang=episode.lang)
            by_kind[kind].append(name)
            if episode.success:
                successful.append(name)
            total_steps += len(episode)
        train, valid = split_train_valid(writer.demo_names, args.valid_ratio, args.seed)
        train_key, valid_key = mask_names()
        writer.set_mask(train_key, train)
        writer.set_mask(valid_key, valid)
        writer.set_mask("successful", successful)
        for kind, names in by_kind.items():
            writer.set_mask(kind, names)
    env.close()
    n = len(kinds)
    print(f"wrote {args.out}: {n} episodes ({len(train)} train / {len(valid)} valid), {total_steps} steps, "
          f"{len(successful) / n:.1%} successful ({time.time() - start:.1f} s)")
    for kind, names in by_kind.items():
        share = sum(name in successful for name in names) / max(len(names), 1)
        print(f"  {kind}: {len(names)} episodes, {share:.1%} successful")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    check_args(args)
    robosuite_task = is_robosuite_task(args.env)
    if robosuite_task:
        env = create_robosuite_dataset_env(args)
    else:
        env = create_env_from_name(args.env, **env_kwargs_from_args(args))
    max_steps = args.max_steps or (ROBOSUITE_MAX_STEPS if robosuite_task else None)
    if args.mixed is not None:
        return write_mixed_dataset(args, env)
    expert = make_expert(args.env, noise_std=args.noise_std, rng=np.random.default_rng([args.seed, 1]))
    max_attempts = int(np.ceil(args.n_demos * args.max_attempts_factor))
    # Distinct, spread-out reset seeds, so evaluation with small seeds does not replay training episodes.
    episode_seeds = np.random.default_rng(args.seed).choice(2**31 - 1, size=max_attempts, replace=False)

    start, attempts, total_steps = time.time(), 0, 0
    by_mode: dict[str, list[str]] = {}  # multimodal experts: demo names per chosen mode
    with DatasetWriter(args.out, env_args=env.serialize(), compression=args.compression,
                       embodiment=dataset_embodiment(args, env)) as writer:
        with tqdm(total=args.n_demos, desc=f"{args.env} demos", unit="demo") as progress:
            while len(writer.demo_names) < args.n_demos and attempts < max_attempts:
                seed = int(episode_seeds[attempts])
                attempts += 1
                episode = run_expert_episode(env, expert, seed=seed, max_steps=max_steps)
                if episode.success:
                    attrs = {"seed": seed} if expert.mode is None else {"seed": seed, "mode": expert.mode}
                    attrs.update(episode_model_attrs(env))  # the model is the reset's: unchanged by the steps
                    name = writer.add_episode(obs=episode.obs, next_obs=episode.next_obs, actions=episode.actions,
                                              rewards=episode.rewards, dones=episode.dones, states=episode.states,
                                              attrs=attrs, lang=episode.lang)
                    if expert.mode is not None:
                        by_mode.setdefault(expert.mode, []).append(name)
                    total_steps += len(episode)
                    progress.update(1)
                success_rate = len(writer.demo_names) / attempts
                progress.set_postfix(attempts=attempts, success=f"{success_rate:.1%}", refresh=False)
        kept = len(writer.demo_names)
        if kept < args.n_demos:
            raise UserError(f"the {args.env} expert succeeded in only {kept} of {attempts} episodes, short of "
                            f"--n-demos {args.n_demos}; raise --max-attempts-factor or lower --noise-std")
        train, valid = split_train_valid(writer.demo_names, args.valid_ratio, args.seed)
        train_key, valid_key = mask_names()
        writer.set_mask(train_key, train)
        writer.set_mask(valid_key, valid)
        for mode, names in sorted(by_mode.items()):
            writer.set_mask(f"mode_{mode}", names)
    env.close()

    elapsed = time.time() - start
    print(f"wrote {args.out}: {kept} demos ({len(train)} train / {len(valid)} valid), {total_steps} steps, "
          f"mean length {total_steps / kept:.1f}")
    print(f"attempts: {attempts}, expert success rate: {kept / attempts:.1%}, "
          f"{kept / elapsed:.1f} demos/s ({elapsed:.1f} s)")
    if by_mode:
        print("modes: " + ", ".join(f"{mode} {len(names)} ({len(names) / kept:.1%})"
                                    for mode, names in sorted(by_mode.items())))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
