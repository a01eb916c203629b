"""Generate a demonstration dataset (robomimic HDF5 layout) by running a scripted expert.

    python scripts/generate_dataset.py --env FetchPush-v4 --n-demos 200 --out datasets/fetch_push.hdf5

Only successful episodes are kept; each ends at its first successful step (dones=1 there). Episode i is
reset with a seed drawn from --seed and stored in the demo's `seed` attribute, so any demo can be
replayed. The file is written to a temporary name and renamed at the end, together with train/valid
masks (--valid-ratio).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from robokit.data.hdf5_format import DatasetWriter, mask_names
from robokit.envs import create_env_from_name, make_expert
from robokit.envs.experts import run_expert_episode
from robokit.errors import UserError
from robokit.utils.cli import run_script


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, help="gymnasium id with a scripted expert, e.g. FetchPush-v4")
    parser.add_argument("--n-demos", type=int, required=True, help="number of successful demos to keep")
    parser.add_argument("--out", required=True, help="output .hdf5 path (its folder must exist)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the episode seeds and the action noise")
    parser.add_argument("--valid-ratio", type=float, default=0.1, help="fraction of demos in mask 'valid'")
    parser.add_argument("--max-attempts-factor", type=float, default=3.0,
                        help="give up after n-demos * this many episodes")
    parser.add_argument("--noise-std", type=float, default=0.0, help="Gaussian action noise of the expert")
    parser.add_argument("--compression", choices=["gzip", "lzf"], default=None, help="HDF5 compression")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
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
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):
        raise UserError(f"output folder {folder} does not exist; create it first")
    if os.path.isdir(args.out):
        raise UserError(f"--out {args.out} is a folder; give a file path such as {args.out}/demos.hdf5")
    if os.path.exists(args.out) and not args.overwrite:
        raise UserError(f"{args.out} already exists; pass --overwrite to replace it")


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


def main(argv=None) -> int:
    args = parse_args(argv)
    check_args(args)
    env = create_env_from_name(args.env)
    expert = make_expert(args.env, noise_std=args.noise_std, rng=np.random.default_rng([args.seed, 1]))
    max_attempts = int(np.ceil(args.n_demos * args.max_attempts_factor))
    # Distinct, spread-out reset seeds, so evaluation with small seeds does not replay training episodes.
    episode_seeds = np.random.default_rng(args.seed).choice(2**31 - 1, size=max_attempts, replace=False)

    start, attempts, total_steps = time.time(), 0, 0
    with DatasetWriter(args.out, env_args=env.serialize(), compression=args.compression) as writer:
        with tqdm(total=args.n_demos, desc=f"{args.env} demos", unit="demo") as progress:
            while len(writer.demo_names) < args.n_demos and attempts < max_attempts:
                seed = int(episode_seeds[attempts])
                attempts += 1
                episode = run_expert_episode(env, expert, seed=seed)
                if episode.success:
                    writer.add_episode(obs=episode.obs, next_obs=episode.next_obs, actions=episode.actions,
                                       rewards=episode.rewards, dones=episode.dones, states=episode.states,
                                       attrs={"seed": seed})
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
    env.close()

    elapsed = time.time() - start
    print(f"wrote {args.out}: {kept} demos ({len(train)} train / {len(valid)} valid), {total_steps} steps, "
          f"mean length {total_steps / kept:.1f}")
    print(f"attempts: {attempts}, expert success rate: {kept / attempts:.1%}, "
          f"{kept / elapsed:.1f} demos/s ({elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
