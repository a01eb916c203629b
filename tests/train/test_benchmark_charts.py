"""`--png` of the benchmark scripts: their tables as bar charts (robokit.train.plots.bar_chart), on tiny runs."""

import imageio.v3 as iio
import numpy as np
import pytest

from tests.script_runner import run_script

pytest.importorskip("matplotlib")


def _drawn_pixels(path) -> int:
    """Pixels that differ from the image's most common colour (the white background)."""
    image = iio.imread(path)[..., :3].reshape(-1, 3)  # (H*W, 3)
    colours, counts = np.unique(image, axis=0, return_counts=True)
    return int((image != colours[counts.argmax()]).any(axis=1).sum())


def test_benchmark_precision_draws_its_table(tmp_path):
    out = tmp_path / "charts" / "precision.png"
    result = run_script("benchmark.py", "--only", "precision", "--precision-algos", "td3", "--precision-steps", "2",
                        "--rounds", "1", "--png", out, check=True)
    assert f"chart: {out}" in result.stdout
    assert _drawn_pixels(out) > 1000


def test_benchmark_online_draws_its_table(tmp_path):
    out = tmp_path / "online.png"
    result = run_script("benchmark_online.py", "--cases", "sac_pendulum", "--scale", "0.005", "--libraries",
                        "robokit", "--png", out, check=True)
    assert f"chart: {out}" in result.stdout
    assert _drawn_pixels(out) > 1000
