"""Temporary files of atomic writes, and the one-line error for a write that fails.

A file is written to `<folder>/.<name>.partial-<pid>` and renamed to `<folder>/<name>` once complete. The
leading dot and the suffix keep a half-written file from being mistaken for data (no `*.pth` or `*.hdf5`
glob matches it); a killed writer's leftovers are removed by the next writer of the same folder
(`remove_stale_partials`), which knows them dead by their process id.
"""

import errno
import os
import re
import shutil
from pathlib import Path

from robokit.errors import OutputWriteError

_PARTIAL = re.compile(r"^\.(?P<name>.+)\.partial-(?P<pid>\d+)$")
#: errors of a write that the user can fix by freeing space or choosing another folder
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EACCES, errno.EPERM}


def partial_path(path: str | os.PathLike) -> Path:
    """Where this process writes `path` before renaming it: a hidden sibling named after the process."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial-{os.getpid()}")


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_partials(folder: str | os.PathLike) -> list[Path]:
    """Delete the partial files in `folder` whose writer process is gone; returns what was deleted."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = _PARTIAL.match(entry.name)
        if match and entry.is_file() and not _process_alive(int(match["pid"])):
            try:
                entry.unlink()
                removed.append(entry)
            except FileNotFoundError:  # another process cleaned it first
                pass
    return removed


def free_space(path: str | os.PathLike) -> str:
    """Free space on the filesystem holding `path` (or its nearest existing parent), e.g. "12.0 KiB"."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if free < 1024 or unit == "GiB":
            return f"{free:.0f} {unit}" if unit == "B" else f"{free:.1f} {unit}"
        free /= 1024
    return f"{free:.1f} TiB"


def is_write_failure(exc: BaseException) -> bool:
    """An OSError the user can fix (full disk, quota, read-only or forbidden folder), or torch's C++ report
    of a failed write (a RuntimeError that torch.save raises on a full disk)."""
    if isinstance(exc, OSError):
        return exc.errno in WRITE_ERRNOS
    return isinstance(exc, RuntimeError) and ("file write failed" in str(exc) or "PytorchStreamWriter" in str(exc))


def write_error(path: str | os.PathLike, exc: BaseException) -> OutputWriteError:
    """The one-line error for a failed write of `path`: what failed, the free space, and the fix."""
    if isinstance(exc, OSError) and exc.errno is not None:
        reason = os.strerror(exc.errno)
    else:
        reason = "the write failed"
    hint = ("free disk space or write elsewhere (--output / train.output_dir)"
            if not isinstance(exc, OSError) or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS)
            else "make the folder writable or write elsewhere (--output / train.output_dir)")
    return OutputWriteError(f"cannot write {path}: {reason} ({free_space(path)} free there); fix: {hint}")
