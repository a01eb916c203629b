"""Learning-curve plots (robokit.train.plots, scripts/plot_runs.py) from runs' TensorBoard logs."""

import json

import imageio.v3 as iio
import numpy as np

from script_runner import assert_one_line_error, run_script
from robokit.train.logger import RunLogger
from robokit.train.plots import group_panels, plot_runs, write_run_plots


def fake_run(folder, scale: float, online: bool = False):
    """A run folder with a config.json and TensorBoard scalars as the training loops log them."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"train": {"num_env_steps": 100} if online else {}}))
    log = RunLogger(folder / "logs", log_txt=False)
    for epoch in range(1, 8):
        log.scalars("Train", {"Loss": scale / epoch, "L1_Loss": 0.5 * scale / epoch,
                              "Optimizer/policy_lr": 1e-3 * 0.9 ** epoch, "Steps_per_second": 900.0}, epoch)
        log.scalars("Valid", {"Loss": 1.2 * scale / epoch}, epoch)
        log.scalars("Rollout/Reach-v0", {"Success_Rate": min(1.0, 0.1 * epoch * scale), "Return": epoch * scale}, epoch)
    log.close()
    return folder


def test_panels_group_train_and_valid_and_put_the_loss_first():
    panels = group_panels(["Train/Loss", "Valid/Loss", "Rollout/Reach-v0/Success_Rate", "Train/Optimizer/policy_lr",
                           "Memory/RAM_GB", "Train/L1_Loss", "Rollout/Reach-v0/Return"])
    assert list(panels) == ["Loss", "Success rate", "Return", "L1 Loss", "Learning rate", "Memory RAM_GB"]
    assert panels["Loss"] == [("Train/Loss", "train"), ("Valid/Loss", "valid")]
    assert panels["Success rate"] == [("Rollout/Reach-v0/Success_Rate", "Reach-v0")]


def test_plot_of_two_runs_is_a_nonempty_image(tmp_path):
    runs = [fake_run(tmp_path / "a", 1.0), fake_run(tmp_path / "b", 2.0)]
    out = plot_runs(runs, tmp_path / "curves.png")
    image = iio.imread(out)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 800 and np.std(image) > 0
    assert write_run_plots(runs[0]) == runs[0] / "plots" / "curves.png"
    assert np.std(iio.imread(runs[0] / "plots" / "curves.png")) > 0
    assert write_run_plots(tmp_path / "no_logs") is None  # nothing logged: nothing drawn, no error


def test_plot_runs_script(tmp_path):
    runs = [fake_run(tmp_path / "x" / "run", 1.0, online=True), fake_run(tmp_path / "y" / "run", 3.0, online=True)]
    result = run_script("plot_runs.py", *runs, "--out", tmp_path / "out" / "c.png", "--labels", "sac", "td3",
                        check=True)
    assert "wrote" in result.stdout and np.std(iio.imread(tmp_path / "out" / "c.png")) > 0
    assert_one_line_error(run_script("plot_runs.py", tmp_path / "missing"), "run folder not found")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_script("plot_runs.py", tmp_path / "empty"), "holds no TensorBoard logs")


def test_online_run_ends_with_its_curves(tmp_path, one_torch_thread):
    from robokit.config import apply_overrides, config_factory
    from robokit.train import online

    config = config_factory("sac")
    apply_overrides(config, ["experiment.env=Pendulum-v1", *type(config).DEBUG_OVERRIDES])
    run = online.train(config, output_dir=tmp_path, progress=False)
    image = iio.imread(run / "plots" / "curves.png")
    assert image.ndim == 3 and np.std(image) > 0


def test_bar_chart_of_a_results_table(tmp_path):
    from robokit.train.plots import bar_chart

    out = bar_chart({"bc": {"success_rate": [0.8, 0.9], "return": [-10.0, -8.0]},
                     "iql": {"success_rate": [0.6, 0.7], "return": [-12.0, -11.0]}}, tmp_path / "bars.png", title="t")
    image = iio.imread(out)
    assert image.ndim == 3 and image.shape[1] >= 700 and np.std(image) > 0
