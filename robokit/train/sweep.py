"""Hyperparameter sweeps: trials from a JSON spec, run as `train.py` subprocesses, results from their logs.

A spec (JSON) names a base config and the values to try for dotted config keys:

    {"name": "bc_lr", "config": "configs/bc.json", "dataset": "datasets/fetch_push.hdf5",
     "set": ["train.num_epochs=100"],                              # fixed overrides for every trial
     "grid": {"algo.optim_params.policy.learning_rate.initial": [1e-3, 1e-4],
              "train.batch_size": [64, 256]},                       # every combination ...
     "zip": [{"algo.actor_layer_dims": [[256], [1024, 1024]],       # ... with each zipped group as one axis:
              "algo.gmm.enabled": [false, true]}],                  #     its lists are taken together
     "metric": "Rollout/FetchPush-v4/Success_Rate", "mode": "max",  # "max" or "min"; the best value of the run
     "algo_module": null}                                          # or your algorithm's file (train.py --algo_module)

Trial i writes `<output>/<name>/trial_<i>/` (a run folder under it) and, once finished, `result.json`; a rerun skips
finished trials. `scripts/sweep.py` runs them in parallel and prints the table.

Instead of a grid, `"search"` asks Optuna (the `sweep` extra) to choose the values:

    "search": {"n_trials": 20, "sampler": "tpe", "seed": 0,        # or "random"
               "space": {"algo.optim_params.policy.learning_rate.initial": {"low": 1e-5, "high": 1e-2, "log": true},
                         "algo.actor_layer_dims": {"choices": [[256], [1024, 1024]]},
                         "train.batch_size": {"low": 16, "high": 256, "int": true}},
               "storage": null}   # null: a journal file in the sweep folder (one machine); or a database URL

The study is kept in that storage, so a rerun continues it and several machines can share one database.
"""

import itertools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from robokit.errors import ConfigError
from robokit.train.tb_events import read_scalars

SPEC_KEYS = {"name", "config", "dataset", "set", "grid", "zip", "metric", "mode", "search", "algo_module"}
SEARCH_KEYS = {"n_trials", "sampler", "seed", "space", "storage"}
TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train.py"


@dataclass(frozen=True)
class Trial:
    index: int
    overrides: dict  # {dotted key: value}

    def set_args(self) -> list[str]:
        return [f"{key}={json.dumps(value)}" for key, value in self.overrides.items()]


@dataclass(frozen=True)
class SweepSpec:
    name: str
    config: str
    dataset: str | None
    fixed: list[str]
    axes: list[list[dict]]  # each axis: the choices it offers, each {dotted key: value}
    metric: str
    mode: str
    search: dict | None = None  # the Optuna search, checked by load_spec
    algo_module: str | None = None  # a plugin algorithm's file, package folder or .zip, passed on to train.py

    def trials(self) -> list[Trial]:
        """Every combination of one choice per axis, in order (the last axis varies fastest); for a search, one
        trial at the corners of its space (the low ends and first choices), which checks that its keys load."""
        if self.search is not None:
            corner = {k: dim["choices"][0] if "choices" in dim else (int(dim["low"]) if dim.get("int") else dim["low"])
                      for k, dim in self.search["space"].items()}
            return [Trial(0, corner)]
        return [Trial(i, {k: v for choice in combo for k, v in choice.items()})
                for i, combo in enumerate(itertools.product(*self.axes))]


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Read and check a sweep spec; mistakes are ConfigErrors naming the spec and the key."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"sweep spec not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON sweep spec ({exc})") from None
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: a sweep spec is a JSON object")
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown sweep key(s) {unknown}; known: {sorted(SPEC_KEYS)}")
    for key in ("name", "config", "metric"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise ConfigError(f"{path}: \"{key}\" must be a non-empty string")
    if spec.get("algo_module") is not None and (not isinstance(spec["algo_module"], str) or not spec["algo_module"]):
        raise ConfigError(f"{path}: \"algo_module\" must be the path of a plugin (.py file, package folder or .zip)")
    if spec.get("mode", "max") not in ("max", "min"):
        raise ConfigError(f"{path}: \"mode\" must be \"max\" or \"min\", got {spec['mode']!r}")
    axes = []
    grid = spec.get("grid", {})
    if not isinstance(grid, dict):
        raise ConfigError(f"{path}: \"grid\" maps dotted config keys to lists of values")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: grid[{key!r}] must be a non-empty list of values")
        axes.append([{key: v} for v in values])
    for g, group in enumerate(spec.get("zip", [])):
        lengths = {len(v) if isinstance(v, list) else -1 for v in group.values()} if isinstance(group, dict) else {-1}
        if not group or len(lengths) != 1 or -1 in lengths or 0 in lengths:
            raise ConfigError(f"{path}: zip[{g}] maps dotted keys to lists of one common, non-zero length")
        axes.append([dict(zip(group, values)) for values in zip(*group.values())])
    search = spec.get("search")
    if search is not None:
        _check_search(search, path)
    if not axes and search is None:
        raise ConfigError(f"{path}: nothing to sweep: add \"grid\", \"zip\" or \"search\" entries")
    if axes and search is not None:
        raise ConfigError(f"{path}: a sweep is a grid (\"grid\", \"zip\") or a search (\"search\"), not both")
    return SweepSpec(spec["name"], spec["config"], spec.get("dataset"), list(spec.get("set", [])), axes,
                     spec["metric"], spec.get("mode", "max"), search, spec.get("algo_module"))


def _check_search(search, path) -> None:
    if not isinstance(search, dict) or set(search) - SEARCH_KEYS:
        raise ConfigError(f"{path}: \"search\" takes {sorted(SEARCH_KEYS)}, got {search!r}")
    if not isinstance(search.get("n_trials"), int) or search["n_trials"] < 1:
        raise ConfigError(f"{path}: search.n_trials must be a positive integer")
    if search.get("sampler", "tpe") not in ("tpe", "random"):
        raise ConfigError(f"{path}: search.sampler must be \"tpe\" or \"random\", got {search['sampler']!r}")
    space = search.get("space")
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{path}: search.space maps dotted config keys to {{\"low\", \"high\"}} or {{\"choices\"}}")
    for key, dim in space.items():
        ok = isinstance(dim, dict) and (
            (set(dim) <= {"choices"} and isinstance(dim.get("choices"), list) and dim["choices"])
            or (set(dim) <= {"low", "high", "log", "int"} and all(isinstance(dim.get(b), (int, float)) for b in
                                                                ("low", "high")) and dim["low"] < dim["high"]))
        if not ok:
            raise ConfigError(f"{path}: search.space[{key!r}] must be {{\"low\": a, \"high\": b (> a), \"log\": "
                              f"bool, \"int\": bool}} or {{\"choices\": [...]}}, got {dim!r}")


def _suggest(trial, space: dict) -> dict:
    """One value per dotted key from an Optuna trial."""
    values = {}
    for key, dim in space.items():
        if "choices" in dim:
            index = trial.suggest_categorical(key + "#", list(range(len(dim["choices"]))))  # any JSON value
            values[key] = dim["choices"][index]
        elif dim.get("int"):
            values[key] = trial.suggest_int(key, int(dim["low"]), int(dim["high"]), log=bool(dim.get("log")))
        else:
            values[key] = trial.suggest_float(key, float(dim["low"]), float(dim["high"]), log=bool(dim.get("log")))
    return values


def run_search(spec: SweepSpec, output: Path, parallel: int = 1) -> list[dict]:
    """Optuna chooses `search.n_trials` trials (minus those the stored study already finished) and each trains
    as a train.py subprocess; returns every finished trial's result."""
    try:
        import optuna
    except ImportError:
        raise ConfigError("a \"search\" sweep needs Optuna; fix: pip install -e \".[sweep]\"") from None
    search = spec.search
    folder = Path(output) / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    storage = search.get("storage") or optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / "optuna.journal")))
    seed = search.get("seed", 0)
    sampler = (optuna.samplers.RandomSampler(seed=seed) if search.get("sampler") == "random"
               else optuna.samplers.TPESampler(seed=seed))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=spec.name, storage=storage, sampler=sampler, load_if_exists=True,
                                direction="maximize" if spec.mode == "max" else "minimize")

    def objective(trial) -> float:
        overrides = _suggest(trial, search["space"])
        result = run_trial(spec, Trial(trial.number, overrides), output)
        trial.set_user_attr("overrides", overrides)
        if result["value"] is None:
            raise RuntimeError(f"trial {trial.number} logged no {spec.metric}: {result['status']}")
        return result["value"]

    done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    if done < search["n_trials"]:
        study.optimize(objective, n_trials=search["n_trials"] - done, n_jobs=parallel, catch=(RuntimeError,))
    return [{"index": t.number, "overrides": t.user_attrs.get("overrides", {}), "value": t.value,
             "exit_code": 0 if t.state == optuna.trial.TrialState.COMPLETE else 1, "status": t.state.name.lower()}
            for t in study.trials]


def trial_dir(output: Path, spec: SweepSpec, trial: Trial) -> Path:
    return Path(output) / spec.name / f"trial_{trial.index:03d}"


def trial_command(spec: SweepSpec, trial: Trial, output: Path) -> list[str]:
    command = [sys.executable, str(TRAIN_SCRIPT), "--config", spec.config, "--output",
               str(trial_dir(output, spec, trial)), "--name", "run", "--no-progress"]
    if spec.dataset:
        command += ["--dataset", spec.dataset]
    if spec.algo_module:
        command += ["--algo_module", spec.algo_module]
    return command + ["--set", *spec.fixed, *trial.set_args()]


def best_value(run_dir: Path, metric: str, mode: str) -> float | None:
    """The best value of `metric` over the run's TensorBoard logs, None if never logged."""
    values = [v for _, v in read_scalars(run_dir / "logs" / "tb").get(metric, [])]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def run_trial(spec: SweepSpec, trial: Trial, output: Path, env: dict | None = None) -> dict:
    """Train one trial (unless its result.json exists) and return its result {index, overrides, value, status}."""
    folder = trial_dir(output, spec, trial)
    done = folder / "result.json"
    if done.is_file():
        return {**json.loads(done.read_text()), "status": "skipped (finished earlier)"}
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "train.log", "w") as log:
        code = subprocess.run(trial_command(spec, trial, output), stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, **(env or {})}).returncode
    runs = sorted(folder.glob("run/*/"))
    result = {"index": trial.index, "overrides": trial.overrides, "exit_code": code,
              "run_dir": str(runs[-1]) if runs else None,
              "value": best_value(runs[-1], spec.metric, spec.mode) if runs else None}
    if code == 0:  # a failed trial is tried again when the sweep is rerun
        done.write_text(json.dumps(result, indent=2))
    return {**result, "status": "finished" if code == 0 else f"failed (exit {code}, see {folder / 'train.log'})"}


def ranked(results: list[dict], mode: str) -> list[dict]:
    """Results best first by value; trials without a value last."""
    scored = [r for r in results if r.get("value") is not None]
    rest = [r for r in results if r.get("value") is None]
    return sorted(scored, key=lambda r: r["value"], reverse=mode == "max") + rest


def results_table(results: list[dict], spec: SweepSpec) -> str:
    keys = list(dict.fromkeys(k for r in results for k in r["overrides"]))
    header = ["trial", spec.metric, *keys, "status"]
    rows = [[str(r["index"]), "-" if r.get("value") is None else f"{r['value']:.4g}",
             *[json.dumps(r["overrides"].get(k)) for k in keys], r.get("status", "")] for r in ranked(results, spec.mode)]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in [header, *rows])
