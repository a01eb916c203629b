"""Learning check (slow): on mixed-quality FetchReach data, IQL and TD3-BC succeed far more often than BC."""

import json

import pytest

from script_runner import run_script


@pytest.mark.slow
def test_offline_rl_beats_bc_on_mixed_reach_data(tmp_path):
    result = run_script("compare_offline.py", "--env", "FetchReach-v4", "--n-episodes", 200, "--algos", "bc", "iql",
                        "td3_bc", "--seeds", 0, "--steps", 2000, "--eval-episodes", 30, "--work-dir", tmp_path,
                        "--json", tmp_path / "results.json", check=True, timeout=1800)
    success = {r["algo"]: r["success"] for r in json.loads((tmp_path / "results.json").read_text())}
    assert success["iql"] >= success["bc"] + 0.2, (success, result.stdout[-2000:])
    assert success["td3_bc"] >= success["bc"] + 0.2, (success, result.stdout[-2000:])
