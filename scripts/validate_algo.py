#!/usr/bin/env python
"""Check an algorithm before training it: a checklist on a few synthetic (or real) batches, one line per check.

    python scripts/validate_algo.py --algo bc
    python scripts/validate_algo.py --algo my_algo --algo_module my_algo.py          # your own algorithm
    python scripts/validate_algo.py --config configs/bc_rnn.json --dataset D.hdf5    # real batches
    python scripts/validate_algo.py --algo diffusion_policy --set algo.unet.down_dims=[16,32]

Checks: the config loads and every field has help; the networks build; every loss is finite; no gradient is NaN;
every trainable parameter changes in the first steps (those that do not are named); serialize/deserialize
reproduces the actions; get_action shapes for one and a batch of observations (chunks (B, H, A) for algorithms
with a chunk_spec); determinism in eval mode; the checkpoint loads with weights_only=True; a short overfitting
run on a handful of samples drives the loss down.

Exit code 0 when every check passes, 1 when one fails, 2 for bad input (unknown algorithm, bad config or plugin).
"""

import argparse

from robokit.utils.cli import run_script


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", help="algorithm name (its default config)")
    parser.add_argument("--config", help="JSON config file instead of the defaults")
    parser.add_argument("--algo_module", metavar="PLUGIN", help="import your algorithm first: a .py file, package "
                        "folder, .zip or installed module")
    parser.add_argument("--dataset", help="check on batches of this HDF5 dataset instead of synthetic ones")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config overrides (JSON values); the flag may repeat")
    parser.add_argument("--overfit_steps", type=int, default=60, help="steps of the overfitting check")
    parser.add_argument("--device", default="cpu", help="torch device")
    args = parser.parse_args()
    if not args.algo and not args.config:
        parser.error("pass --algo NAME or --config FILE")
    return args


def main() -> int:
    args = parse_args()
    from robokit.algo.plugins import algo_name_of_config_file, ensure_algo_registered
    from robokit.errors import DatasetError
    from robokit.train.validate import validate_algo

    ensure_algo_registered(args.algo or algo_name_of_config_file(args.config), args.algo_module)
    if args.dataset is not None:
        from pathlib import Path

        if not Path(args.dataset).is_file():
            raise DatasetError(f"dataset not found: {args.dataset}")
    results = validate_algo(args.algo, config_path=args.config, dataset_path=args.dataset, overrides=args.set,
                            overfit_steps=args.overfit_steps, device=args.device)
    for result in results:
        print(result.line())
    failed = [r.name for r in results if not r.passed]
    print(f"{len(results) - len(failed)}/{len(results)} checks passed" + (f"; failed: {', '.join(failed)}" if failed
                                                                          else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    run_script(main)
