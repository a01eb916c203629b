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


#: free bytes below which a filesystem counts as full
NEARLY_FULL = 2**20


def free_bytes(path: str | os.PathLike) -> int:
    """Free bytes on the filesystem holding `path` (or its nearest existing parent); -1 if unknown."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return -1


def free_space(path: str | os.PathLike) -> str:
    """Free space on the filesystem holding `path`, e.g. "12.0 KiB", or "unknown"."""
    free = free_bytes(path)
    if free < 0:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if free < 1024 or unit == "GiB":
            break
        free /= 1024
    return f"{free:.0f} {unit}" if unit == "B" else f"{free:.1f} {unit}"


def is_write_failure(exc: BaseException, folder: str | os.PathLike | None = None) -> bool:
    """Whether `exc` is a write the user can fix: an OSError of a full disk, a quota, a read-only or forbidden
    folder; or, with `folder`, any OSError or RuntimeError while that folder's filesystem is (nearly) full
    (torch.save reports a full disk as a RuntimeError, a video encoder as a broken pipe)."""
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
        return True
    return folder is not None and isinstance(exc, (OSError, RuntimeError)) and 0 <= free_bytes(folder) < NEARLY_FULL


def write_error(path: str | os.PathLike, exc: BaseException,
                elsewhere: str = "--output / train.output_dir") -> OutputWriteError:
    """The one-line error for a failed write of `path`: what failed, the free space, and the fix (`elsewhere`:
    how to write to another place)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        reason = os.strerror(exc.errno)
    elif 0 <= free_bytes(path) < NEARLY_FULL:
        reason = os.strerror(errno.ENOSPC)
    else:
        reason = "the write failed"
    unwritable = isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
    hint = f"{'make the folder writable' if unwritable else 'free disk space'} or write elsewhere ({elsewhere})"
    return OutputWriteError(f"cannot write {path}: {reason} ({free_space(path)} free there); fix: {hint}")
