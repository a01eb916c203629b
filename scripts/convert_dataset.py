#!/usr/bin/env python
"""Convert a LeRobot dataset folder to robokit's HDF5 layout, or a robokit HDF5 file to a LeRobot v3.0 folder.

    python scripts/convert_dataset.py --from lerobot path/to/lerobot_folder datasets/converted.hdf5
    python scripts/convert_dataset.py --from robokit datasets/fetch_push_image.hdf5 /tmp/fetch_push_lerobot

LeRobot folders of format v3.0 (v2.1 and v2.0 too) are read: actions, observations (observation.state ->
obs/state, observation.images.<cam> -> obs/<cam>_image, decoded to uint8), the features' names (robokit's
names attribute), fps, each episode's task as the demo's `lang`. robokit files are written as LeRobot v3.0:
parquet data, AV1 videos (--images video, lossy) or PNG frames in the parquet (--images png, lossless),
info.json, tasks, episodes and stats. The output is written to a temporary file or folder and renamed at the
end; an existing output is replaced only with --overwrite. See robokit/data/lerobot_format.py.
"""

import argparse
import os

from robokit.data.lerobot_format import lerobot_to_robokit, robokit_to_lerobot
from robokit.errors import UserError
from robokit.utils.cli import check_new_output, run_script


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", choices=["lerobot", "robokit"], required=True,
                        help="the input's format: a LeRobot folder or a robokit .hdf5 file")
    parser.add_argument("input", help="LeRobot dataset folder (--from lerobot) or robokit .hdf5 file (--from robokit)")
    parser.add_argument("output", help="robokit .hdf5 file (--from lerobot) or LeRobot folder (--from robokit)")
    parser.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    parser.add_argument("--images", choices=["video", "png"], default="video",
                        help="--from robokit: RGB images as mp4 videos (lossy, LeRobot's usual) or PNG in the parquet "
                             "(lossless)")
    parser.add_argument("--vcodec", default="libsvtav1",
                        help="--from robokit: ffmpeg video encoder (libsvtav1 as LeRobot; libx264 for frames under 64 px)")
    parser.add_argument("--fps", type=float, default=None,
                        help="--from robokit: frame rate (default: the file's fps attribute, else 20)")
    parser.add_argument("--compression", choices=["gzip", "lzf"], default=None, help="--from lerobot: HDF5 compression")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    check_new_output(args.output, args.overwrite, inputs=[args.input], flag="output")
    if args.source == "lerobot":
        if not os.path.exists(args.input):
            raise UserError(f"{args.input}: no such folder; fix: pass the LeRobot dataset's root folder")
        s = lerobot_to_robokit(args.input, args.output, progress=not args.no_progress, compression=args.compression)
        print(f"wrote {args.output}: {s['demos']} demos, {s['frames']} steps at {s['fps']:g} fps from LeRobot "
              f"{s['version']}; {len(s['tasks'])} task(s) as the demos' lang")
        for key, path in s["keys"].items():
            print(f"  {key} -> {path}")
        print("  no simulator comes with it: train with --set experiment.rollout.enabled=false (and "
              "experiment.validate=false, or split it with scripts/split_train_val.py)")
    else:
        s = robokit_to_lerobot(args.input, args.output, images=args.images, fps=args.fps, vcodec=args.vcodec,
                               progress=not args.no_progress)
        print(f"wrote {args.output}: LeRobot v3.0, {s['episodes']} episodes, {s['frames']} frames at {s['fps']:g} fps, "
              f"{len(s['tasks'])} task(s)")
        for key, path in s["features"].items():
            print(f"  {path} -> {key}")
        if s["skipped"]:
            print(f"  not converted (not part of robokit's layout): {', '.join(s['skipped'])}")
    return 0


if __name__ == "__main__":
    run_script(main)
