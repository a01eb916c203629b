#!/usr/bin/env python
"""Run a hyperparameter sweep: every trial of a JSON spec trained by train.py, N at a time, then a results table.

    python scripts/sweep.py --spec sweep.json --parallel 2            # all trials, 2 at a time (1 GPU each if any)
    python scripts/sweep.py --spec sweep.json --index 3               # exactly trial 3 (cluster job arrays)
    python scripts/sweep.py --spec sweep.json --list                  # the trials, without running them
    python scripts/sweep.py --spec sweep.json --algo_module my_algo.py  # trials of your own algorithm's config

The spec format is in robokit/train/sweep.py. Finished trials are skipped when the sweep is rerun. The table
(sorted by the spec's metric) is printed and written to <output>/<name>/results.{json,csv}, with a bar chart
results.png when matplotlib is installed (pip install -e ".[plot]").
"""

import argparse
import csv
import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from robokit.utils.cli import run_script


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", required=True, help="sweep spec (JSON)")
    parser.add_argument("--output", default="runs/sweeps", help="folder of the sweep's trials (default runs/sweeps)")
    parser.add_argument("--parallel", type=int, default=1, help="trials trained at the same time (default 1)")
    parser.add_argument("--index", type=int, help="run only this trial")
    parser.add_argument("--list", action="store_true", help="print the trials and exit")
    parser.add_argument("--algo_module", metavar="PLUGIN",
                        help="a plugin algorithm (.py file, package folder or .zip) that every trial imports, as "
                             "train.py --algo_module (overrides the spec's \"algo_module\")")
    return parser.parse_args()


def write_results(results: list[dict], spec, folder: Path) -> list[str]:
    from robokit.train.sweep import ranked

    folder.mkdir(parents=True, exist_ok=True)
    rows = ranked(results, spec.mode)
    (folder / "results.json").write_text(json.dumps(rows, indent=2))
    keys = list(dict.fromkeys(k for r in rows for k in r["overrides"]))
    with open(folder / "results.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["trial", spec.metric, *keys, "status"])
        for r in rows:
            writer.writerow([r["index"], r.get("value"), *[json.dumps(r["overrides"].get(k)) for k in keys],
                             r.get("status")])
    written = [str(folder / "results.json"), str(folder / "results.csv")]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no plot: matplotlib is not installed (pip install -e \".[plot]\")")
        return written
    scored = [r for r in rows if r.get("value") is not None]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(scored) + 2), 3.5))
    ax.bar([f"trial {r['index']}" for r in scored], [r["value"] for r in scored], color="tab:blue")
    ax.set_ylabel(spec.metric)
    ax.set_title(f"{spec.name}: {spec.mode} of {spec.metric}")
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(folder / "results.png", dpi=100)
    plt.close(fig)
    return [*written, str(folder / "results.png")]


def main() -> None:
    args = parse_args()
    from robokit.algo.plugins import ensure_algo_registered
    from robokit.config import apply_overrides, load_config
    from robokit.errors import UserError
    from robokit.train.sweep import load_spec, results_table, run_search, run_trial

    spec = load_spec(args.spec)
    if args.algo_module is not None:
        spec = dataclasses.replace(spec, algo_module=args.algo_module)
    if spec.algo_module is not None:
        ensure_algo_registered(None, spec.algo_module)  # so that the trials' configs load here too
    trials = spec.trials()  # for a search: one corner of its space, to check its keys
    for trial in trials:  # every trial's config must load before any trains
        try:
            apply_overrides(load_config(spec.config), [*spec.fixed, *trial.set_args()])
        except UserError as exc:
            raise type(exc)(f"{args.spec}: trial {trial.index}: {exc}") from None
    if args.list and spec.search is None:
        for trial in trials:
            print(f"trial {trial.index}: {' '.join(trial.set_args())}")
        return
    if args.parallel < 1:
        raise UserError(f"--parallel must be at least 1, got {args.parallel}")
    output = Path(args.output)
    if spec.search is not None:  # Optuna chooses the values, trial by trial
        if args.index is not None:
            raise UserError("--index picks a grid trial; a search sweep shares its study instead: run the same "
                            "command on each machine with a database URL as search.storage")
        results = run_search(spec, output, args.parallel)
        print(results_table(results, spec))
        for path in write_results(results, spec, output / spec.name):
            print(f"wrote {path}")
        return 0 if any(r["exit_code"] == 0 for r in results) else 1
    if args.index is not None:
        if not 0 <= args.index < len(trials):
            raise UserError(f"--index {args.index}: the sweep has trials 0-{len(trials) - 1}")
        result = run_trial(spec, trials[args.index], output)
        print(f"trial {args.index}: {spec.metric} = {result['value']} ({result['status']})")
        return 0 if result["exit_code"] == 0 else 1

    import torch

    gpus = torch.cuda.device_count()
    results = []
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        futures = [pool.submit(run_trial, spec, trial, output,
                               {"CUDA_VISIBLE_DEVICES": str(trial.index % gpus)} if gpus else None)
                   for trial in trials]
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            print(f"[{len(results)}/{len(trials)}] trial {result['index']}: {spec.metric} = {result['value']} "
                  f"({result['status']})", flush=True)
    print(results_table(results, spec))
    for path in write_results(results, spec, output / spec.name):
        print(f"wrote {path}")
    return 0 if all(r["exit_code"] == 0 for r in results) else 1


if __name__ == "__main__":
    run_script(main)
