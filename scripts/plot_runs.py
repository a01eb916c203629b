#!/usr/bin/env python
"""Learning curves of one or more runs as one PNG: losses, success rate, return, learning rates (whatever the
runs logged), a panel per group of tags, the runs side by side in each panel, read from their TensorBoard logs.

    python scripts/plot_runs.py runs/bc/20260101_120000_000000 --out curves.png
    python scripts/plot_runs.py runs/bc/A runs/bc_rnn/B --labels bc bc_rnn --out compare.png

train.py draws the same figure for every run into <run>/plots/curves.png when it ends (with matplotlib
installed: pip install 'robokit[plot]').
"""

import argparse

from robokit.utils.cli import run_script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders written by scripts/train.py")
    parser.add_argument("--out", default="curves.png", help="PNG file to write (default: curves.png)")
    parser.add_argument("--labels", nargs="+", help="one legend name per run (default: the folder names)")
    args = parser.parse_args()
    from robokit.errors import UserError
    from robokit.train.plots import plot_runs

    if args.labels is not None and len(args.labels) != len(args.run_dirs):
        raise UserError(f"--labels gives {len(args.labels)} name(s) for {len(args.run_dirs)} run(s); give one per run")
    print(f"wrote {plot_runs(args.run_dirs, args.out, labels=args.labels)}")


if __name__ == "__main__":
    run_script(main)
