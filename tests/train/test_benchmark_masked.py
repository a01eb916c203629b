"""`benchmark.py --only masked_train_loop` on a tiny run: the two sides are what the section says (the same BC on
the same planar_arm_3 demos, padded + masked against plain keys and actions), and every figure is a finite positive
number (speed itself is never asserted)."""

import json
import math

from tests.script_runner import run_script


def test_benchmark_masked_section_compares_padded_and_plain_sides(tmp_path):
    out = tmp_path / "figures.json"
    result = run_script("benchmark.py", "--only", "masked_train_loop", "--masked-steps", "2", "--masked-demos", "4",
                        "--rounds", "1", "--threads", "1", "--json", out, check=True)
    rows = [line for line in result.stdout.splitlines() if "ratio masked/unpadded" in line]
    assert len(rows) == 2 and all("nan" not in line and "inf" not in line for line in rows), result.stdout
    figures = json.loads(out.read_text())["masked_train_loop"]
    # padded + masked: joints in planar_arm_4's 4 slots, the joint mask as an input (4 + 4 + 2 + 4 + 4 obs dims),
    # 4 action slots of which arm 3 fills 3; unpadded: the file's own 3 + 3 + 2 + 2 + 2 obs dims and 3 actions
    assert figures["widths"] == {"masked": {"obs": 18, "actions": 4, "padded_actions": True},
                                 "unpadded": {"obs": 12, "actions": 3, "padded_actions": False}}
    for clock in ("cpu", "wall"):
        r = figures[clock]
        assert all(math.isfinite(v) and v > 0 for v in r.values()), r
        assert r["ratio_min"] <= r["ratio"] <= r["ratio_max"]
