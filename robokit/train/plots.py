"""Learning curves of runs as one PNG, from their TensorBoard logs (robokit.train.tb_events), with matplotlib.

    plot_runs(["runs/bc/A", "runs/bc/B"], "curves.png")   # one panel per tag group, one line per run and split
    write_run_plots(run_dir)                            # <run>/plots/curves.png; None without matplotlib

Panels, most important first (at most MAX_PANELS): the main loss, success rate, return, every other loss,
learning rates, then any other logged metric (memory and speed last). A tag `Train/X` and `Valid/X` share the
panel `X` (solid and dashed lines); `Rollout/<env>/X` is one line per env. Each run has its own colour, so
several runs are compared side by side in every panel. Offline runs log per epoch, online runs per env step.

matplotlib is optional (the `plot` and `dev` extras): without it `write_run_plots` does nothing and
`plot_runs` raises UserError saying how to install it. The figure is drawn with matplotlib's object API
(`Figure` + the Agg canvas), so no pyplot state or backend setting is touched.
"""

import json
import math
from collections import defaultdict
from pathlib import Path

from robokit.errors import UserError
from robokit.train.tb_events import read_scalars

MAX_PANELS = 12
SPLIT_STYLES = {"Train": "-", "Valid": "--", "Rollout": "-"}
LOW_PRIORITY = ("Memory", "Steps_per_second", "Time")


def _panel_of(tag: str) -> tuple[int, str, str] | None:
    """(priority, panel title, series suffix) of a tag; lower priority numbers come first."""
    parts = tag.split("/")
    split = parts[0] if len(parts) > 1 else ""
    if split == "Rollout" and len(parts) >= 3:
        env, name = "/".join(parts[1:-1]), parts[-1]
        suffix = env
    else:
        name = "/".join(parts[1:]) if split in SPLIT_STYLES else tag
        suffix = split.lower() if split in SPLIT_STYLES else ""
    last = name.split("/")[-1]
    words = last.lower().split("_")
    if split == "Memory" or any(last.startswith(p) for p in LOW_PRIORITY):
        return 6, f"Memory {'/'.join(parts[1:])}" if split == "Memory" else name, suffix
    if name == "Loss":
        return 0, "Loss", suffix
    if last == "Success_Rate":
        return 1, "Success rate", suffix
    if last == "Return":
        return 2, "Return", suffix
    if "loss" in last.lower():
        return 3, name.replace("_", " "), suffix
    if "lr" in words or "learning" in words:
        return 4, "Learning rate", f"{suffix} {name.split('/')[-1].replace('_lr', '')}".strip()
    return 5, name.replace("_", " "), suffix


def group_panels(tags) -> dict[str, list[tuple[str, str]]]:
    """{panel title: [(tag, series suffix), ...]} in panel priority order, at most MAX_PANELS panels."""
    panels: dict[str, list] = defaultdict(list)
    priority: dict[str, tuple] = {}
    for tag in sorted(tags):
        found = _panel_of(tag)
        if found is None:
            continue
        rank, title, suffix = found
        panels[title].append((tag, suffix))
        priority[title] = min(priority.get(title, (rank, title)), (rank, title))
    ordered = sorted(panels, key=lambda t: priority[t])[:MAX_PANELS]
    return {title: panels[title] for title in ordered}


def _x_label(run_dirs) -> str:
    """"epoch" for offline runs, "env step" for online ones (their config.json says), else "step"."""
    kinds = set()
    for run in run_dirs:
        try:
            train = json.loads((Path(run) / "config.json").read_text()).get("train", {})
        except (OSError, ValueError):
            return "step"
        kinds.add("env step" if "num_env_steps" in train else "epoch")
    return kinds.pop() if len(kinds) == 1 else "step"


def _labels(run_dirs) -> list[str]:
    """Short distinct names: the folder names, with their parents where two are alike."""
    paths = [Path(r).resolve() for r in run_dirs]
    names = [p.name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{p.parent.name}/{p.name}" for p in paths]
    return names


def _import_matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure, FigureCanvasAgg


def plot_runs(run_dirs, out_path, labels=None) -> Path:
    """Draw the learning curves of `run_dirs` (run folders, or any folders holding event files) into `out_path`.

    A folder that does not exist or holds no TensorBoard events, or a missing matplotlib, is a UserError.
    """
    run_dirs = [Path(r) for r in run_dirs]
    for run in run_dirs:
        if not run.is_dir():
            raise UserError(f"run folder not found: {run}")
    curves = []
    for run in run_dirs:
        scalars = read_scalars(run)
        if not scalars:
            raise UserError(f"{run} holds no TensorBoard logs (events.out.tfevents.*); fix: pass a run folder of "
                            "scripts/train.py trained with experiment.logging.log_tb=true")
        curves.append(scalars)
    found = _import_matplotlib()
    if found is None:
        raise UserError("plotting needs matplotlib; fix: pip install 'robokit[plot]' (or pip install matplotlib)")
    Figure, FigureCanvasAgg = found
    labels = list(labels) if labels is not None else _labels(run_dirs)
    panels = group_panels({tag for scalars in curves for tag in scalars})
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    figure = Figure(figsize=(5.0 * ncols, 3.3 * nrows), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    colours = [f"C{i % 10}" for i in range(len(run_dirs))]
    x_label = _x_label(run_dirs)
    for i, (title, series) in enumerate(panels.items()):
        ax = figure.add_subplot(nrows, ncols, i + 1)
        for run_index, scalars in enumerate(curves):
            for tag, suffix in series:
                points = scalars.get(tag)
                if not points:
                    continue
                steps, values = zip(*sorted(points))  # (N,), (N,)
                split = tag.split("/")[0]
                label = labels[run_index] + (f" {suffix}" if suffix else "")
                ax.plot(steps, values, SPLIT_STYLES.get(split, "-"), color=colours[run_index], label=label,
                        marker="o" if len(steps) < 20 else None, markersize=3, linewidth=1.4)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(x_label, fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if "loss" in title.lower() and _all_positive(curves, series):
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_path)
    return out_path


def _all_positive(curves, series) -> bool:
    values = [v for scalars in curves for tag, _ in series for _, v in scalars.get(tag, [])]
    return bool(values) and min(values) > 0 and max(values) / min(values) > 20


def write_run_plots(run_dir) -> Path | None:
    """`<run_dir>/plots/curves.png` at the end of a run; None (nothing written) without matplotlib or logs."""
    run_dir = Path(run_dir)
    if _import_matplotlib() is None or not read_scalars(run_dir / "logs"):
        return None
    try:
        return plot_runs([run_dir], run_dir / "plots" / "curves.png")
    except Exception as exc:  # a finished run stays finished: the plot is a convenience, reported in one line
        import sys

        from termcolor import colored

        print(colored(f"warning: could not draw {run_dir / 'plots' / 'curves.png'}: {exc}", "yellow"), file=sys.stderr)
        return None


def bar_chart(values: dict, out_path, title: str | None = None) -> Path:
    """A results table as a PNG of bar charts: `values` {row label: {metric: [value per seed, ...]}} -> a panel per
    metric, a bar per row at the mean with the standard deviation as an error bar and the seeds as dots.

    For comparison scripts (scripts/compare_offline.py --png); a missing matplotlib is a UserError.
    """
    found = _import_matplotlib()
    if found is None:
        raise UserError("plotting needs matplotlib; fix: pip install 'robokit[plot]' (or pip install matplotlib)")
    Figure, FigureCanvasAgg = found
    rows = list(values)
    metrics = list(dict.fromkeys(m for row in rows for m in values[row]))
    if not rows or not metrics:
        raise UserError("nothing to plot: the results table is empty")
    figure = Figure(figsize=(max(4.0, 1.0 + 0.9 * len(rows)) * len(metrics), 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    for i, metric in enumerate(metrics):
        ax = figure.add_subplot(1, len(metrics), i + 1)
        for j, row in enumerate(rows):
            seeds = [float(v) for v in values[row].get(metric, [])]
            if not seeds:
                continue
            mean = sum(seeds) / len(seeds)
            std = math.sqrt(sum((v - mean) ** 2 for v in seeds) / len(seeds))
            ax.bar(j, mean, yerr=std, color=f"C{j % 10}", alpha=0.8, capsize=4)
            ax.plot([j] * len(seeds), seeds, "k.", markersize=4)
        ax.set_xticks(range(len(rows)), rows, fontsize=8, rotation=20 if len(rows) > 4 else 0)
        ax.set_title(metric.replace("_", " "), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    if title:
        figure.suptitle(title, fontsize=10)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_path)
    return out_path
