"""Shared by the examples: a small FetchReach demonstration file made by the project's own generator."""

import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def make_demo_dataset(folder: Path, env: str = "FetchReach-v4", n_demos: int = 50) -> Path:
    """Run scripts/generate_dataset.py (scripted expert, train/valid masks) and return the file's path."""
    out = Path(folder) / f"{env.split('-')[0].lower()}_{n_demos}.hdf5"
    subprocess.run([sys.executable, str(SCRIPTS / "generate_dataset.py"), "--env", env,
                    "--n-demos", str(n_demos), "--out", str(out), "--seed", "0"], check=True)
    return out
