#!/usr/bin/env python
"""`make demo`: FetchPush demonstrations -> a BC policy -> 50 evaluation episodes, a video and the success rate.

Each stage is one of the user-facing scripts, run as a subprocess and printed, so the commands can be reused:
    1. scripts/generate_dataset.py   scripted-expert demonstrations in the robomimic HDF5 layout
    2. scripts/train.py              BC (MLP policy, normalised observations) with validation
    3. scripts/run_trained_agent.py  50 evaluation episodes on seeds the demonstrations never used, with video

    python scripts/demo.py [--out demo_output] [--n-demos 200] [--epochs 20]
"""

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from robokit.utils.cli import run_script

SCRIPTS = Path(__file__).resolve().parent
CONFIGS = SCRIPTS.parent / "configs"
EVAL_SEED = 1_000_000  # far from the demonstration seeds


def run(cmd: list[str], capture: bool = False) -> str:
    print("$ " + shlex.join(cmd), flush=True)
    result = subprocess.run(cmd, check=False, text=True, stdout=subprocess.PIPE if capture else None)
    if result.returncode != 0:
        sys.exit(result.returncode)
    return result.stdout or ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("demo_output"), help="folder for the data, run and video")
    parser.add_argument("--n-demos", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=20, help="training epochs of 200 gradient steps")
    parser.add_argument("--n-rollouts", type=int, default=50)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    start = time.time()

    dataset = args.out / "fetch_push.hdf5"
    if not dataset.exists():
        run([py, str(SCRIPTS / "generate_dataset.py"), "--env", "FetchPush-v4", "--n-demos", str(args.n_demos),
             "--out", str(dataset), "--seed", "0"])
    else:
        print(f"using existing {dataset}")

    output = run([py, str(SCRIPTS / "train.py"), "--config", str(CONFIGS / "bc.json"), "--dataset", str(dataset),
                  "--output", str(args.out / "runs"), "--name", "fetch_push_bc", "--set",
                  f"train.num_epochs={args.epochs}", "experiment.epoch_every_n_steps=200",
                  "train.hdf5_normalize_obs=true", "algo.actor_layer_dims=[512,512]",
                  "algo.optim_params.policy.learning_rate.initial=0.001", "experiment.rollout.enabled=false",
                  "experiment.save.every_n_epochs=null"], capture=True)
    print(output.strip().splitlines()[-1])
    run_dir = Path(output.strip().splitlines()[-1].split("finished: ", 1)[1])
    checkpoint = run_dir / "models" / "last.pth"

    video = args.out / "fetch_push_bc.mp4"
    summary = json.loads(run([py, str(SCRIPTS / "run_trained_agent.py"), "--agent", str(checkpoint),
                              "--n_rollouts", str(args.n_rollouts), "--horizon", "50", "--seed", str(EVAL_SEED),
                              "--video_path", str(video), "--json"], capture=True))
    minutes = (time.time() - start) / 60
    print(f"\nFetchPush-v4, BC policy, {args.n_rollouts} evaluation episodes: "
          f"success rate {summary['Success_Rate']:.2f} ({summary['Num_Success']}/{args.n_rollouts}), "
          f"mean return {summary['Return']:.2f}")
    print(f"checkpoint: {checkpoint}\nvideo: {video}\ntensorboard --logdir {run_dir / 'logs' / 'tb'}")
    print(f"demo finished in {minutes:.1f} min")


if __name__ == "__main__":
    run_script(main)
