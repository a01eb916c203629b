"""Run logging: a text log, TensorBoard scalars (tensorboardX) and terminal lines that keep tqdm bars intact."""

import contextlib
from pathlib import Path

from tqdm import tqdm


class RunLogger:
    """Writes `<log_dir>/log.txt` and TensorBoard event files under `<log_dir>/tb`."""

    def __init__(self, log_dir: str | Path | None, log_tb: bool = True, log_txt: bool = True, quiet: bool = False):
        """`log_dir=None`: a logger that writes and prints nothing (the ranks other than 0 of a distributed run)."""
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.quiet = quiet or log_dir is None
        self._txt = self._tb = None
        if self.log_dir is None:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._txt = open(self.log_dir / "log.txt", "a", encoding="utf-8") if log_txt else None
        if log_tb:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(self.log_dir / "tb"), flush_secs=10)

    def print(self, message: str, terminal: bool = True) -> None:
        """Write `message` to log.txt and (unless `quiet`, or `terminal` is False) to the terminal."""
        if terminal and not self.quiet:
            tqdm.write(message)
        if self._txt is not None:
            self._txt.write(message + "\n")
            self._txt.flush()

    def scalars(self, prefix: str, values: dict, step: int) -> None:
        """Log {name: float} as `<prefix>/<name>` at `step`."""
        if self._tb is None:
            return
        for name, value in values.items():
            self._tb.add_scalar(f"{prefix}/{name}", value, step)

    def flush(self) -> None:
        """Write out what TensorBoard holds in memory (after each checkpoint: a run killed later and resumed from
        it keeps every value logged up to it)."""
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        """Flush and close; a failing flush (a full disk) is left to the error the run already reports."""
        with contextlib.suppress(OSError):
            if self._tb is not None:
                self._tb.close()
        with contextlib.suppress(OSError):
            if self._txt is not None:
                self._txt.close()
