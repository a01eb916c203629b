"""Run the project's scripts and examples in subprocesses, as a user would."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_script(name, *args, cwd=None, check: bool = False, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `scripts/<name>` (or a file given by its path) with this interpreter; `check` fails on non-zero exit."""
    path = Path(name) if "/" in str(name) else REPO / "scripts" / name
    result = subprocess.run([sys.executable, str(path), *map(str, args)], capture_output=True, text=True,
                            cwd=cwd, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{name} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments, code: int = 2) -> str:
    """The script failed with `code` and printed exactly one line on stderr holding every fragment; returns it."""
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
