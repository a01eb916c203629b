"""Summarise a robomimic-layout HDF5 dataset and list its problems.

    python scripts/get_dataset_info.py --dataset D.hdf5 [--filter_key train] [--verbose]

Prints demo and sample counts, trajectory length statistics, filter keys, env_args, obs keys with shapes
and dtypes, the named items of actions and obs keys (robot, data type and names per column, when the file has
them: data.attrs["robokit_embodiment"]; each robot of a file of several), the demos' language instructions
(their `lang` attributes: how many demos have one, and each distinct instruction with its count), and the action dimension with per-dim min/max; then runs the validator. Exit code 2 (one line on
stderr) when the file is missing, unreadable or has problems.
"""

import argparse
import json

import numpy as np

from robokit.data import hdf5_format as fmt
from robokit.errors import DatasetError
from robokit.utils.cli import run_script


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="path to the HDF5 dataset")
    parser.add_argument("--filter_key", default=None, help="only report the demos of this mask (e.g. train)")
    parser.add_argument("--verbose", action="store_true",
                        help="also list demo names per filter key and per-demo lengths")
    return parser.parse_args(argv)


def _safe(fn, default=None):
    try:
        return fn()
    except (DatasetError, KeyError, OSError, ValueError):
        return default


def main(argv=None):
    args = parse_args(argv)
    path = args.dataset
    with fmt.open_file(path) as f:  # missing / not HDF5 -> DatasetError
        all_demos = fmt.list_demos(f)  # no 'data' group -> DatasetError
        demos = fmt.list_demos(f, args.filter_key)
        lengths = {d: _safe(lambda d=d: fmt.demo_length(f, d)) for d in demos}
        filter_keys = {k: _safe(lambda k=k: fmt.list_demos(f, k), []) for k in fmt.list_filter_keys(f)}
        env_args = _safe(lambda: fmt.read_env_args(f))
        specs = _safe(lambda: fmt.obs_specs(f), {})
        has_names = fmt.EMBODIMENT_ATTR in f["data"].attrs
        embodiments = _safe(lambda: fmt.read_embodiments(f)) if has_names else None
        robots = _safe(lambda: fmt.demo_robots(f, demos), []) if embodiments else []
        robot_env_args = _safe(lambda: fmt.read_robot_env_args(f), {}) if embodiments and len(embodiments) > 1 else {}
        langs = _safe(lambda: fmt.demo_langs(f, demos), [])
        actions = [a for a in (_safe(lambda d=d: fmt.read_episode(f, d, [], ["actions"])["actions"]) for d in demos)
                   if a is not None and a.ndim == 2]

    scope = f" (filter key '{args.filter_key}': {len(demos)} of {len(all_demos)} demos)" if args.filter_key else ""
    print(f"dataset: {path}{scope}")
    print(f"total demos: {len(demos)}")
    known = np.array([n for n in lengths.values() if n is not None], dtype=np.int64)
    print(f"total samples: {int(known.sum())}")
    if len(known):
        print(f"trajectory length: mean {known.mean():.1f}, std {known.std():.1f}, "
              f"min {known.min()}, max {known.max()}")
    print("filter keys:" + ("" if filter_keys else " none"))
    for k, names in filter_keys.items():
        print(f"  {k}: {len(names)} demos" + (f" {names}" if args.verbose else ""))
    print("env_args: " + (json.dumps(env_args, indent=2, sort_keys=True) if env_args is not None else "unreadable"))
    print("obs keys:" + ("" if specs else " none"))
    for k, (shape, dtype) in specs.items():
        print(f"  {k}: shape {shape}, dtype {dtype}")
    if not has_names:
        print("names: none (no robokit_embodiment attribute)")
    elif embodiments is None:
        print("names: unreadable (see problems)")
    else:
        for embodiment in embodiments.values():
            count = f", {robots.count(embodiment.robot)} demos" if len(embodiments) > 1 else ""
            env = robot_env_args.get(embodiment.robot, {}).get("env_name")
            print(f"names: robot '{embodiment.robot}'" + count + (f", env {env}" if env else ""))
            rows = ([("actions", embodiment.actions)] if embodiment.actions else []) + \
                [(f"obs/{k}", segs) for k, segs in embodiment.obs.items()]
            for key, segs in rows:
                print(f"  {key}: " + " + ".join(f"{s.data_type.value} [{', '.join(s.names)}]" for s in segs))
    given = [lang for lang in langs if lang is not None]
    if not given:
        print("language instructions: none (no demo has a 'lang' attribute)")
    else:
        counts: dict[str, int] = {}
        for lang in given:
            counts[lang] = counts.get(lang, 0) + 1
        print(f"language instructions: {len(given)} of {len(demos)} demos, {len(counts)} distinct")
        for lang, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {lang!r}: {n} demos")
    if actions and len({a.shape[1] for a in actions}) == 1:
        stacked = np.concatenate(actions)  # (total steps, A)
        np.set_printoptions(precision=4, suppress=True, linewidth=120)
        print(f"action dim: {stacked.shape[1]}")
        print(f"  min: {stacked.min(axis=0)}")
        print(f"  max: {stacked.max(axis=0)}")
    if args.verbose:
        print("demos:")
        for d, n in lengths.items():
            print(f"  {d}: {n} steps")

    problems = fmt.validate_dataset(path)
    print(f"problems: {len(problems) or 'none'}")
    for p in problems:
        print(f"  - {p}")
    if problems:
        raise DatasetError(f"{path}: {len(problems)} problem(s), listed above; first: {problems[0]}")
    return 0


if __name__ == "__main__":
    run_script(main)
