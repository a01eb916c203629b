"""Split a dataset's demos at random into train/validation masks (robomimic's mask/train, mask/valid).

    python scripts/split_train_val.py --dataset D.hdf5 [--filter_key K] [--ratio 0.1] [--seed 0]

With --filter_key K only the demos of mask K are split, into masks K_train and K_valid. Only those two masks
are written; the script prints exactly what it changed. A missing or malformed file is left untouched
(one line on stderr, exit code 2).
"""

import argparse

from robokit.data import hdf5_format as fmt
from robokit.utils.cli import run_script


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="path to the HDF5 dataset (modified in place)")
    parser.add_argument("--filter_key", default=None, help="split only the demos of this mask")
    parser.add_argument("--ratio", type=float, default=0.1, help="fraction of demos for validation (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the split (default 0)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    before = {}
    train_name, valid_name = fmt.mask_names(args.filter_key)
    fmt.check_dataset(args.dataset)  # nothing is written to a malformed file
    for name in fmt.list_filter_keys(args.dataset):
        if name in (train_name, valid_name):
            before[name] = len(fmt.list_demos(args.dataset, name))
    train, valid = fmt.split_train_val(args.dataset, val_ratio=args.ratio, filter_key=args.filter_key, seed=args.seed)
    source = f"the {len(train) + len(valid)} demos of mask '{args.filter_key}'" if args.filter_key \
        else f"all {len(train) + len(valid)} demos"
    print(f"split {source} of {args.dataset} (ratio {args.ratio}, seed {args.seed}):")
    for name, demos in ((train_name, train), (valid_name, valid)):
        action = f"replaced (had {before[name]} demos)" if name in before else "created"
        print(f"  mask/{name}: {len(demos)} demos, {action}")
    print("no other data or masks were changed")
    return 0


if __name__ == "__main__":
    run_script(main)
