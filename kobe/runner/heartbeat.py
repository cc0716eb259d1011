"""The heartbeat: ``state/heartbeat.json``, rewritten atomically while the runner lives.

It says when the runner last proved it was alive, which process, in which mode, what it
last did and under which config hash. Older than ``STALE_AFTER`` means the runner is
stuck or gone, whatever the file says.

It also carries the audit chain's head at that moment (``audit_seq``, ``audit_hash``):
an anchor outside the logs and the order store, which ``kobe audit verify`` checks the
chain against (:mod:`kobe.audit.verify`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kobe.files import write_atomic

INTERVAL = dt.timedelta(seconds=60)
STALE_AFTER = dt.timedelta(seconds=300)


@dataclass(frozen=True)
class Heartbeat:
    time: str            # UTC, ISO 8601
    pid: int
    mode: str            # paper | live
    last_action: str
    config_sha256: str
    state: str = "running"   # running | stopped
    audit_seq: int | None = None     # the audit chain's head when written (None: no chain yet)
    audit_hash: str | None = None

    def age(self, now: dt.datetime) -> dt.timedelta:
        return now - dt.datetime.fromisoformat(self.time)

    def stale(self, now: dt.datetime) -> bool:
        return self.state != "running" or self.age(now) > STALE_AFTER


def write_heartbeat(path: Path, mode: str, last_action: str, config_sha256: str, *,
                    now: dt.datetime | None = None, state: str = "running",
                    audit_head: tuple[int, str] | None = None) -> Heartbeat:
    seq, digest = audit_head if audit_head is not None else (None, None)
    before = read_heartbeat(path)
    if before is not None and isinstance(before.audit_seq, int) and before.audit_seq > (seq or 0):
        # A head behind the one recorded means the chain was cut meanwhile: keep the evidence.
        seq, digest = before.audit_seq, before.audit_hash
    beat = Heartbeat((now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(
        timespec="seconds"), os.getpid(), mode, last_action, config_sha256, state, seq, digest)
    write_atomic(path, json.dumps(asdict(beat), indent=1) + "\n")
    return beat


def read_heartbeat(path: Path) -> Heartbeat | None:
    try:
        return Heartbeat(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
