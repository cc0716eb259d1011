"""One runner at a time: an exclusive lock on ``state/kobe.lock``.

The lock is an ``flock`` held for the life of the process, so the kernel releases it
when the process dies, however it dies: a lock file left by a dead runner is stale and
simply taken over. The file also names the holder (pid, start time, mode) so a refused
second runner can say who holds it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Self

from kobe.config.errors import Diagnostic, KobeError


class InstanceLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def holder(self) -> dict[str, Any]:
        try:
            record = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def acquire(self, mode: str) -> None:
        """Take the lock or raise :class:`KobeError` naming the running holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = self.holder()
            raise KobeError(Diagnostic(
                f"another Kobe runner holds {self.path} (pid {holder.get('pid', '?')}, mode "
                f"{holder.get('mode', '?')}, since {holder.get('started', '?')})",
                hint="stop it first; only one runner may trade")) from None
        record = {"pid": os.getpid(), "mode": mode,
                  "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
