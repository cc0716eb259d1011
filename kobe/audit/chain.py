"""A hash-chained, append-only log: any change to a past record is detectable.

Each line of the file is one JSON record::

    {"seq": 7, "ts": "2026-11-25T14:35:02.123456+00:00", "prev": "<hash of record 6>",
     "data": {...}, "hash": "<sha256 of this record without its hash>"}

``hash`` is the SHA256 of the canonical JSON (sorted keys, no spaces) of the record's
other fields, so it covers ``prev`` and with it the whole history. :func:`verify` walks
the file and names the first bad line: a modified record (its hash no longer matches),
a deleted, inserted or reordered one (``seq`` or ``prev`` breaks), or a torn last line
(a crash in the middle of an append).

Appends are serialised across processes with an exclusive ``flock``, written as one
``write`` of a whole line, flushed and fsynced before :meth:`HashChain.append` returns.
A torn last line is never silently dropped: the next append moves its bytes to a
``.torn`` file beside the chain and records that in the chain itself.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: dict[str, Any]) -> str:
    """The SHA256 of a record without its ``hash`` field."""
    return hashlib.sha256(_canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


@dataclass(frozen=True)
class Problem:
    line: int | None   # 1-based line of the file; None: the whole file
    message: str
    file: str | None = None   # the file's name in the logs folder (the chain's when None)


@dataclass(frozen=True)
class Verification:
    records: int
    problem: Problem | None      # the first bad line, or None when the chain is intact

    @property
    def ok(self) -> bool:
        return self.problem is None


class HashChain:
    """An append-only hash-chained JSONL file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def append(self, data: dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
        """Append one record holding ``data``; returns the record once it is on disk."""
        with self._locked() as fd:
            last = self._quarantine_torn_tail(fd)
            record = self._write(fd, last, data, now)
        return record

    def _write(self, fd: int, last: dict[str, Any] | None, data: dict[str, Any],
               now: dt.datetime | None) -> dict[str, Any]:
        when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        record: dict[str, Any] = {"seq": (last["seq"] + 1) if last else 1, "ts": when.isoformat(),
                                  "prev": last["hash"] if last else GENESIS, "data": data}
        record["hash"] = record_hash(record)
        line = _canonical(record) + b"\n"
        os.write(fd, line)  # O_APPEND: one write of a whole line lands at the end
        os.fsync(fd)
        return record

    def _quarantine_torn_tail(self, fd: int) -> dict[str, Any] | None:
        """The last whole record; a torn tail is moved aside and recorded first."""
        size = os.fstat(fd).st_size
        if size == 0:
            return None
        tail_start, tail = _last_line(self.path, size)
        if tail.endswith(b"\n"):
            try:
                return json.loads(tail)
            except ValueError:
                return None  # a corrupt but whole line: verify() reports it; keep chaining
        # A crash cut the last append short: keep its bytes, cut it off, say so in the chain.
        torn_path = self.path.with_name(self.path.name + ".torn")
        with open(torn_path, "ab") as handle:
            handle.write(tail + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.ftruncate(fd, tail_start)
        os.fsync(fd)
        previous = None
        if tail_start > 0:
            _, before = _last_line(self.path, tail_start)
            previous = json.loads(before)
        note = {"kind": "audit.torn_tail", "bytes": len(tail), "sha256": hashlib.sha256(tail).hexdigest(),
                "moved_to": torn_path.name}
        return self._write(fd, previous, note, None)

    def head(self) -> tuple[int, str] | None:
        """The last whole record's ``(seq, hash)``, or None when there is none or it
        cannot be read (a folder in its place, no logs folder: :func:`verify` says why):
        what the anchors record (a torn tail, an append cut short, is not a record)."""
        try:
            size = self.path.stat().st_size if self.path.is_file() else 0
        except OSError:
            return None
        end = size
        while end > 0:
            try:
                start, line = _last_line(self.path, end)
            except OSError:
                return None
            if line.endswith(b"\n"):
                try:
                    record = json.loads(line)
                except ValueError:
                    return None
                if isinstance(record, dict) and isinstance(record.get("seq"), int) \
                        and isinstance(record.get("hash"), str):
                    return record["seq"], record["hash"]
                return None
            end = start
        return None

    def records(self) -> list[dict[str, Any]]:
        """Every whole record, in order (no verification; use :func:`verify`)."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_bytes().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                break
        return out


def _last_line(path: Path, size: int) -> tuple[int, bytes]:
    """Offset and bytes of the last line among the first ``size`` bytes of ``path``
    (with its newline, if it has one). Records are small, so the last MiB holds it."""
    window = min(size, 1 << 20)
    with open(path, "rb") as handle:
        handle.seek(size - window)
        data = handle.read(window)
    body = data[:-1] if data.endswith(b"\n") else data
    cut = body.rfind(b"\n") + 1  # 0 when the window holds a single line
    return size - window + cut, data[cut:]


def verify(path: Path) -> Verification:
    """Check the whole chain; the first problem found, with its line, or none."""
    if not path.exists():
        return Verification(0, None)
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as err:
        return Verification(0, Problem(None, f"cannot be read: {err.strerror or err}", name))
    lines = raw.split(b"\n")
    torn = not raw.endswith(b"\n") and raw != b""
    if raw.endswith(b"\n"):
        lines = lines[:-1]
    previous = GENESIS
    for index, line in enumerate(lines, start=1):
        def bad(message: str, at: int = index) -> Verification:
            return Verification(at - 1, Problem(at, message, name))

        if torn and index == len(lines):
            return bad("torn last line: an append was cut short by a crash")
        try:
            record = json.loads(line)
        except UnicodeDecodeError as err:
            return bad(f"not UTF-8 text (byte 0x{err.object[err.start]:02x} at column {err.start + 1}): modified")
        except ValueError:
            return bad("not a JSON record (modified)")
        if not isinstance(record, dict) or not {"seq", "ts", "prev", "data", "hash"} <= set(record):
            return bad("not a chain record (modified)")
        if record["hash"] != record_hash(record):
            return bad("record was modified: its hash does not match")
        if record["seq"] != index:
            return bad(f"sequence {record['seq']} where {index} was expected: a record was deleted, inserted "
                       "or moved")
        if record["prev"] != previous:
            return bad("does not chain to the line before: a record was deleted, inserted or moved")
        previous = record["hash"]
    return Verification(len(lines), None)
