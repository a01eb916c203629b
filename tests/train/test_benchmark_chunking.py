"""`benchmark.py --only chunk_train_loop chunk_inference` on a tiny run: every figure it prints and writes is a
finite positive number (speed itself is never asserted)."""

import json
import math
import re

from tests.script_runner import run_script


def _numbers(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+\.\d+", line)]


def test_benchmark_chunk_sections_print_finite_figures(tmp_path):
    out = tmp_path / "figures.json"
    result = run_script("benchmark.py", "--only", "chunk_train_loop", "chunk_inference", "--chunk-steps", "2",
                        "--rounds", "1", "--inference-chunks", "1", "--threads", "1", "--json", out, check=True)
    lines = result.stdout.splitlines()
    rows = {name: [line for line in lines if line.strip().startswith(name + " ")]
            for name in ("DP-C", "ACT", "DDPM-100", "DDIM-10")}
    assert all(len(found) == (2 if name == "ACT" else 1) for name, found in rows.items()), result.stdout
    for line in (line for found in rows.values() for line in found):
        numbers = _numbers(line)
        assert "nan" not in line and "inf" not in line, line
        assert len(numbers) >= 4 and all(math.isfinite(x) and x > 0 for x in numbers), line

    figures = json.loads(out.read_text())
    train = figures["chunk_train_loop"]
    assert set(train) == {"DP-C", "ACT"}
    for r in train.values():
        for key in ("robokit_steps_per_s", "bare_steps_per_s", "ratio", "ratio_min", "ratio_max"):
            assert math.isfinite(r[key]) and r[key] > 0, (key, r)
        assert r["ratio_min"] <= r["ratio"] <= r["ratio_max"]
    inference = {r["label"]: r for r in figures["chunk_inference"]}
    assert set(inference) == {"DDPM-100", "DDIM-10", "ACT"}
    # one DP-C config, two samplers: a chunk serves the same action_horizon steps (8 in diffusion_policy_cpu.json)
    assert inference["DDPM-100"]["action_horizon"] == inference["DDIM-10"]["action_horizon"] > 1
    assert inference["ACT"]["action_horizon"] == 1  # temporal ensembling re-plans every step
    for r in inference.values():
        for envs in ("1", "10"):
            assert all(math.isfinite(v) and v > 0 for v in r[envs].values()), r
