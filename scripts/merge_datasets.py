#!/usr/bin/env python
"""Merge datasets of several robots into one file (one robot per demo), for training one policy on them all.

    python scripts/merge_datasets.py --inputs datasets/planar_arm_3.hdf5 datasets/planar_arm_4.hdf5 \\
        --out datasets/planar_arm_3_4.hdf5

Every input must name its robot (data.attrs["robokit_embodiment"], which scripts/generate_dataset.py writes).
Demos are renumbered in input order and each gets a `robot` attribute; masks of the same name are merged
(`train` lists every input's `train` demos), and `robot_<name>` lists each robot's demos. Inputs are only read;
the output is written to a temporary file and renamed at the end. Train on the result with a robot data spec
(train.input_robot_data_spec / train.output_robot_data_spec, see datasets/README.md).
"""

import argparse

from robokit.data.hdf5_format import merge_datasets, robot_mask_name
from robokit.utils.cli import check_new_output, run_script


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", nargs="+", required=True, help="datasets to merge (each names its robot)")
    parser.add_argument("--out", required=True, help="output .hdf5 path")
    parser.add_argument("--compression", choices=["gzip", "lzf"], default=None, help="HDF5 compression")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    check_new_output(args.out, args.overwrite, inputs=args.inputs)
    counts = merge_datasets(args.inputs, args.out, compression=args.compression)
    print(f"wrote {args.out}: {sum(counts.values())} demos of {len(counts)} robot(s)")
    for robot, n in counts.items():
        print(f"  {robot}: {n} demos (mask {robot_mask_name(robot)})")
    return 0


if __name__ == "__main__":
    run_script(main)
