"""Entry-point helpers for scripts: user errors become one line on stderr and exit code 2; output-path checks."""

import os
import sys
from typing import Callable

from termcolor import colored

from robokit.errors import RunStopped, UserError


def run_script(main: Callable[[], object]) -> None:
    """Run `main()`; a `UserError` prints `error: <message>` and exits 2, a `RunStopped` (diverged training,
    memory limit) prints the same way and exits with its own code, anything else propagates."""
    try:
        result = main()
    except UserError as exc:
        print(colored(f"error: {exc}", "red"), file=sys.stderr)
        sys.exit(2)
    except RunStopped as exc:
        print(colored(f"error: {exc}", "red"), file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(int(result) if isinstance(result, int) else 0)


def check_new_output(output, overwrite: bool, inputs=(), flag: str = "--out") -> None:
    """Refuse, before anything is written, an `output` path that exists (unless `overwrite`) or is one of `inputs`."""
    if any(os.path.abspath(path) == os.path.abspath(output) for path in inputs):
        raise UserError(f"{flag} {output} is one of the inputs; fix: write the result elsewhere")
    if os.path.exists(output) and not overwrite:
        raise UserError(f"{output} already exists; fix: pass --overwrite to replace it, or choose another {flag}")
