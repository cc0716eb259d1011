"""The heartbeat: ``state/heartbeat.json``, rewritten atomically while the runner lives.

It says when the runner last proved it was alive, which process, in which mode, what it
last did and under which config hash. Older than ``STALE_AFTER`` means the runner is
stuck or gone, whatever the file says.

It also carries the audit chain's head at that moment (``audit_seq``, ``audit_hash``):
an anchor outside the logs and the order store, which ``kobe audit verify`` checks the
chain against (:mod:`kobe.audit.verify`), and which shows that a missing order store
was there before (:mod:`kobe.oms.evidence`).

A file that is there but cannot be read as a heartbeat (not UTF-8, not JSON, fields
missing or of the wrong type, a time without its zone, a folder in its place) is
:class:`HeartbeatUnreadable` from :func:`load_heartbeat`, which says why; the runner's
own readers (:func:`read_heartbeat`) take it as no heartbeat.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from kobe.files import write_atomic

HEARTBEAT_NAME = "heartbeat.json"
"""Its name in the state folder, beside the order store (``kobe.runner.run.HEARTBEAT_FILE``)."""
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


class HeartbeatUnreadable(ValueError):
    """A heartbeat file that is there but cannot be read; the message says why."""


MAX_BYTES = 64 * 1024
"""A heartbeat is a few hundred bytes; a larger file is not read."""
HASH = re.compile(r"[0-9a-f]{64}")
TEXT_FIELDS = ("mode", "last_action", "config_sha256", "state")


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checked(value: Any) -> Heartbeat:
    if not isinstance(value, dict):
        raise HeartbeatUnreadable("not a JSON object")
    names = {f.name for f in fields(Heartbeat)}
    unknown = sorted(set(value) - names)
    missing = [n for n in ("time", "pid", "mode", "last_action", "config_sha256") if n not in value]
    if unknown or missing:
        raise HeartbeatUnreadable("; ".join([*(f"unknown field {n!r}" for n in unknown[:3]),
                                             *(f"field {n!r} is missing" for n in missing)]))
    try:
        when = dt.datetime.fromisoformat(value["time"]) if isinstance(value["time"], str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise HeartbeatUnreadable(f"time {str(value['time'])[:40]!r} is not an ISO 8601 time with its zone")
    if not _integer(value["pid"]):
        raise HeartbeatUnreadable(f"pid {str(value['pid'])[:40]!r} is not a whole number")
    for name in TEXT_FIELDS:
        if name in value and not isinstance(value[name], str):
            raise HeartbeatUnreadable(f"{name} {str(value[name])[:40]!r} is not text")
    seq, digest = value.get("audit_seq"), value.get("audit_hash")
    if seq is not None and not (_integer(seq) and seq >= 0):
        raise HeartbeatUnreadable(f"audit_seq {str(seq)[:40]!r} is not a record number")
    if digest is not None and not (isinstance(digest, str) and HASH.fullmatch(digest)):
        raise HeartbeatUnreadable(f"audit_hash {str(digest)[:40]!r} is not a SHA256 in hex")
    if (seq is None) != (digest is None):
        raise HeartbeatUnreadable("audit_seq and audit_hash come together, or neither")
    return Heartbeat(**value)


def load_heartbeat(path: Path) -> Heartbeat | None:
    """The heartbeat at ``path``; None when there is none; :class:`HeartbeatUnreadable`
    (saying why) when the file is there but is no heartbeat."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        raise HeartbeatUnreadable(f"cannot be read: {err.strerror or err}") from None
    if len(raw) > MAX_BYTES:
        raise HeartbeatUnreadable(f"larger than {MAX_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise HeartbeatUnreadable(f"not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})") from None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise HeartbeatUnreadable("not JSON") from None
    return _checked(value)


def read_heartbeat(path: Path) -> Heartbeat | None:
    """The heartbeat at ``path``, or None when there is none or it cannot be read."""
    try:
        return load_heartbeat(path)
    except HeartbeatUnreadable:
        return None
