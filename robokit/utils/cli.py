"""Entry-point helper for scripts: user errors become one line on stderr and exit code 2."""

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
