#!/usr/bin/env python
"""Train an algorithm from a JSON config: on an HDF5 dataset, or online in a gymnasium environment.

    python scripts/train.py --config configs/bc_rnn.json --dataset datasets/fetch_push.hdf5
    python scripts/train.py --algo bc --dataset D.hdf5 --set train.batch_size=256 algo.gmm.enabled=true
    python scripts/train.py --config configs/bc.json --dataset D.hdf5 --debug     # a tiny run of everything
    python scripts/train.py --config configs/sac.json --set experiment.env=Pendulum-v1   # online RL (sac, td3,
                                                                                          # ppo, a2c): no dataset
    python scripts/train.py --algo my_algo --algo_module my_algo.py --dataset D.hdf5   # your own algorithm (a .py
                                                                                  # file, package folder or .zip)
    python scripts/train.py --algo sac --print-schema                             # the config's JSON Schema
    python scripts/train.py --resume runs/bc/20260101_120000_000000               # continue a stopped run exactly
    torchrun --nproc_per_node 2 scripts/train.py --config configs/bc.json --dataset D.hdf5   # data-parallel

User errors (bad config, missing or malformed dataset) print one line and exit with code 2, writing nothing.
"""

import argparse
import json
from pathlib import Path

from robokit.utils.cli import run_script


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="JSON config file (see configs/)")
    source.add_argument("--algo", help="algorithm name, to train with its default config")
    source.add_argument("--resume", metavar="RUN_DIR",
                        help="continue a run folder exactly where it stopped (offline algorithms); --set may change "
                             "only train.num_epochs, data workers, logging and saving")
    parser.add_argument("--dataset", help="HDF5 dataset (overrides train.data)")
    parser.add_argument("--algo_module", metavar="PLUGIN",
                        help="import your own algorithm first: a .py file, a package folder, a .zip of one, or an "
                             "installed module (packages in the 'robokit.algos' entry-point group load by --algo name)")
    parser.add_argument("--name", help="experiment name (overrides experiment.name)")
    parser.add_argument("--output", help="output folder (overrides train.output_dir)")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config overrides, e.g. train.batch_size=256 algo.gmm.enabled=true (JSON values); the "
                             "flag may repeat")
    parser.add_argument("--device", help="torch device (default: CUDA if train.cuda and available, else CPU)")
    parser.add_argument("--debug", action="store_true", help="run a tiny version of the whole pipeline")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--print-schema", action="store_true", help="print the config's JSON Schema and exit")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from robokit.algo.plugins import algo_name_of_config_file, ensure_algo_registered
    from robokit.config import apply_overrides, config_factory, load_config

    config_file = Path(args.resume) / "config.json" if args.resume else args.config
    algo_name = args.algo or algo_name_of_config_file(config_file)
    ensure_algo_registered(algo_name, args.algo_module)  # a plugin named by --algo_module, or an entry point
    if args.resume:
        config = load_config(Path(args.resume) / "config.json")
    else:
        config = load_config(args.config) if args.config else config_factory(args.algo)
    if args.print_schema:
        print(json.dumps(type(config).json_schema(), indent=2))
        return
    from robokit.train.dispatch import train

    apply_overrides(config, args.set)
    if args.name:
        config.experiment.name = args.name
    run_dir = train(config, dataset_path=args.dataset, output_dir=args.output, device=args.device,
                    debug=args.debug, progress=not args.no_progress, resume_dir=args.resume)
    if run_dir is not None:  # None on the ranks other than 0 of a torchrun job
        print(f"finished: {run_dir}")


if __name__ == "__main__":
    run_script(main)
