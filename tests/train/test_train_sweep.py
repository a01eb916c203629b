"""scripts/sweep.py: a grid with a zipped group, two trials at a time, a table sorted by the metric, a plot, finished
trials skipped on a rerun, --index for one trial, and bad specs in one line."""

import json

import imageio.v3 as iio
import numpy as np
import pytest

from script_runner import REPO, assert_one_line_error, run_script
from robokit.train.sweep import load_spec

QUICK = ["train.num_epochs=2", "experiment.epoch_every_n_steps=3", "experiment.validate=false",
         "experiment.rollout.enabled=false", "algo.actor_layer_dims=[16]"]


def write_spec(tmp_path, dataset, **extra):
    spec = {"name": "lr", "config": str(REPO / "configs/bc.json"), "dataset": str(dataset), "set": QUICK,
            "grid": {"algo.optim_params.policy.learning_rate.initial": [1e-2, 1e-5]},
            "zip": [{"train.batch_size": [8, 16], "train.seed": [1, 2]}],
            "metric": "Train/Loss", "mode": "min", **extra}
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(spec))
    return path


def test_trials_are_the_grid_times_each_zipped_group(tmp_path):
    spec = load_spec(write_spec(tmp_path, "d.hdf5"))
    trials = spec.trials()
    assert [t.overrides for t in trials] == [
        {"algo.optim_params.policy.learning_rate.initial": lr, "train.batch_size": bs, "train.seed": seed}
        for lr in (1e-2, 1e-5) for bs, seed in ((8, 1), (16, 2))]


def test_sweep_runs_ranks_plots_and_skips_finished_trials(fetch_push_dataset, tmp_path):
    spec, out = write_spec(tmp_path, fetch_push_dataset), tmp_path / "sweeps"
    result = run_script("sweep.py", "--spec", spec, "--output", out, "--parallel", "2", check=True, cwd=REPO)
    rows = json.loads((out / "lr" / "results.json").read_text())
    values = [r["value"] for r in rows]
    assert len(rows) == 4 and all(v is not None for v in values) and values == sorted(values)  # best (lowest) first
    assert rows[-1]["overrides"]["algo.optim_params.policy.learning_rate.initial"] == 1e-5  # barely moved from init
    table = result.stdout.split("trial  Train/Loss")[1]
    assert table.index(f"{values[0]:.4g}") < table.index(f"{values[-1]:.4g}")
    image = iio.imread(out / "lr" / "results.png")
    assert image.ndim == 3 and image.std() > 0
    rerun = run_script("sweep.py", "--spec", spec, "--output", out, check=True, cwd=REPO)
    assert rerun.stdout.count("skipped (finished earlier)") >= 4
    assert len(list((out / "lr").glob("trial_*/run/*"))) == 4  # nothing trained twice


def test_index_runs_exactly_one_trial(fetch_push_dataset, tmp_path):
    spec, out = write_spec(tmp_path, fetch_push_dataset), tmp_path / "sweeps"
    result = run_script("sweep.py", "--spec", spec, "--output", out, "--index", "2", check=True, cwd=REPO)
    assert "trial 2: Train/Loss = " in result.stdout
    assert [p.name for p in (out / "lr").iterdir()] == ["trial_002"]


@pytest.mark.parametrize("extra, fragment", [
    ({"grid": {"train.batch_sise": [8]}}, "trial 0: unknown config key 'train.batch_sise'"),
    ({"mode": "best"}, '"mode" must be "max" or "min"'),
    ({"grid": {}, "zip": []}, "nothing to sweep"),
    ({"zip": [{"train.batch_size": [8, 16], "train.seed": [1]}]}, "zip[0]"),
    ({"metrics": "Train/Loss"}, "unknown sweep key(s) ['metrics']"),
])
def test_bad_specs_are_one_line(tmp_path, extra, fragment):
    spec = write_spec(tmp_path, "d.hdf5", **extra)
    assert_one_line_error(run_script("sweep.py", "--spec", spec, "--output", tmp_path / "out"), fragment)
    assert not (tmp_path / "out").exists()


def test_optuna_search_trains_its_trials_and_a_rerun_continues_the_study(fetch_push_dataset, tmp_path):
    pytest.importorskip("optuna")
    spec = tmp_path / "search.json"
    spec.write_text(json.dumps({
        "name": "lr_search", "config": str(REPO / "configs/bc.json"), "dataset": str(fetch_push_dataset),
        "set": QUICK, "metric": "Train/Loss", "mode": "min",
        "search": {"n_trials": 3, "sampler": "random", "seed": 0,
                   "space": {"algo.optim_params.policy.learning_rate.initial": {"low": 1e-5, "high": 1e-2, "log": True},
                             "train.batch_size": {"choices": [8, 16]}}}}))
    out = tmp_path / "sweeps"
    run_script("sweep.py", "--spec", spec, "--output", out, "--parallel", "2", check=True, cwd=REPO)
    rows = json.loads((out / "lr_search" / "results.json").read_text())
    assert len(rows) == 3 and all(r["status"] == "complete" and r["value"] is not None for r in rows)
    assert all(1e-5 <= r["overrides"]["algo.optim_params.policy.learning_rate.initial"] <= 1e-2 and
               r["overrides"]["train.batch_size"] in (8, 16) for r in rows)
    assert [r["value"] for r in rows] == sorted(r["value"] for r in rows)
    (out / "lr_search" / "optuna.journal").stat()  # the study's storage
    run_script("sweep.py", "--spec", spec, "--output", out, check=True, cwd=REPO)  # n_trials reached: trains none
    assert len(list((out / "lr_search").glob("trial_*/run/*"))) == 3


def test_sweep_of_a_plugin_algorithm_passes_its_module_to_every_trial(tmp_path):
    """A spec whose config names an algorithm from the user's own file: the spec's "algo_module" (or the
    --algo_module flag) is imported to check the trials' configs and handed to each trial's train.py."""
    from plugin_source import PLUGIN
    from test_train_plugins import TRAIN_SET, write_tiny_dataset

    plugin = tmp_path / "ext_sweep.py"
    plugin.write_text(PLUGIN.replace("@name@", "ext_sweep"))
    config = tmp_path / "ext_sweep.json"
    config.write_text(json.dumps({"algo_name": "ext_sweep"}))
    spec = tmp_path / "sweep.json"
    spec.write_text(json.dumps({"name": "plugin", "config": str(config),
                                "dataset": str(write_tiny_dataset(tmp_path / "tiny.hdf5")), "set": TRAIN_SET,
                                "grid": {"algo.hidden": [[4], [32, 32]]}, "metric": "Train/Loss", "mode": "min"}))
    refused = run_script("sweep.py", "--spec", spec, "--output", tmp_path / "refused")
    assert_one_line_error(refused, "ext_sweep")  # the algorithm is unknown without its module
    assert not (tmp_path / "refused").exists()
    out = tmp_path / "sweeps"
    run_script("sweep.py", "--spec", spec, "--output", out, "--algo_module", plugin, check=True, cwd=REPO)
    rows = json.loads((out / "plugin" / "results.json").read_text())
    assert sorted(json.dumps(r["overrides"]["algo.hidden"]) for r in rows) == ["[32, 32]", "[4]"]
    assert all(r["exit_code"] == 0 and np.isfinite(r["value"]) for r in rows)
    configs = [json.loads(path.read_text()) for path in sorted((out / "plugin").glob("trial_*/run/*/config.json"))]
    assert [c["algo_name"] for c in configs] == ["ext_sweep", "ext_sweep"]
    assert sorted(c["algo"]["hidden"] for c in configs) == [[4], [32, 32]]
    spec.write_text(json.dumps({**json.loads(spec.read_text()), "algo_module": str(plugin)}))
    rerun = run_script("sweep.py", "--spec", spec, "--output", out, check=True, cwd=REPO)
    assert rerun.stdout.count("(skipped (finished earlier))") == 2  # one progress line per trial, nothing retrained


def test_a_bad_algo_module_in_a_spec_is_one_line(tmp_path):
    spec = write_spec(tmp_path, "d.hdf5", algo_module=3)
    assert_one_line_error(run_script("sweep.py", "--spec", spec, "--output", tmp_path / "out"), '"algo_module"')
