"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Write to a temporary file in the same folder, flush and fsync it, rename it over the
target (atomic on POSIX), then fsync the folder so the rename itself survives a crash.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from kobe.config.errors import Diagnostic, KobeError


class WriteError(KobeError, OSError):
    """A file Kobe must write cannot be: printed as a located error by the CLI, and still
    an :class:`OSError` for the callers that handle one (the runner's heartbeat)."""


def write_atomic(path: Path, data: str | bytes) -> None:
    try:
        _write_atomic(path, data)
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(Diagnostic(f"cannot write this file: {_why(exc)}", file=str(path),
                                    hint="check the folder: a file where a folder should be, "
                                         "permissions, free space")) from None


def _why(exc: OSError) -> str:
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return "a file stands where a folder of its path should be"
    if exc.errno == errno.EISDIR:
        return "a folder stands where the file should be"
    return exc.strerror or str(exc)


def _write_atomic(path: Path, data: str | bytes) -> None:
    if path.is_dir():  # os.replace would put the file inside it, or fail obscurely
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; the files Kobe writes (reports, views, pins) are meant to be read.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
