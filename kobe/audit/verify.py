"""``kobe audit verify``: the chain, the readable logs checked against it, and the chain
checked against its anchors.

The chain (:func:`kobe.audit.chain.verify`) proves its own history up to its last record.
Truncating its end leaves a shorter chain that is consistent on its own, so every line
of ``events.jsonl`` and ``trades.jsonl`` (which carry the chain's ``seq``) must match the
chain record of that number: a line whose record is gone or differs is a failure. A chain
record missing from the readable logs (a crash between the two writes) is only a notice.

Deleting all three logs, or cutting all three at the same record, leaves nothing to
compare; the **anchors** do: the head of the chain as recorded where the logs' deletion
cannot reach (the order store, the runner's heartbeat, a head exported with ``kobe audit
head``). A chain shorter than an anchor, or whose record at the anchor's ``seq`` has
another hash, was cut or replaced. A chain longer than an anchor is what a crash between
an append and its anchor leaves (the append comes first), and is accepted.

A line that is not UTF-8, not JSON or not an audit record is reported with its file and
line; nothing here raises on a damaged file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kobe.audit.chain import GENESIS, Problem, verify
from kobe.audit.log import CHAIN, EVENTS, TRADES, AuditLog

HEAD = re.compile(r"(\d+):([0-9a-f]{64})")


@dataclass(frozen=True)
class Anchor:
    """The chain's head as ``source`` recorded it: its record ``seq`` has hash ``hash``."""

    seq: int
    hash: str
    source: str

    @classmethod
    def parse(cls, text: str, source: str) -> Anchor:
        """``SEQ:HASH`` (what ``kobe audit head`` prints); ``ValueError`` otherwise."""
        match = HEAD.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not SEQ:HASH (a record number, a colon, 64 hex digits)")
        return cls(int(match[1]), match[2], source)


@dataclass(frozen=True)
class TrailReport:
    records: int
    problem: Problem | None
    notices: tuple[str, ...] = field(default=())
    anchors: tuple[Anchor, ...] = field(default=())   # those checked

    @property
    def ok(self) -> bool:
        return self.problem is None


def _entries(path: Path) -> Iterable[tuple[int, Any, str | None]]:
    """Each line of a readable log: (line number, its JSON value, what is wrong with it)."""
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            yield number, None, f"not UTF-8 text (byte 0x{raw[err.start]:02x} at column {err.start + 1})"
            continue
        try:
            yield number, json.loads(text), None
        except ValueError:
            yield number, None, "not JSON"


def _check_log(folder: Path, name: str, records: dict[int, dict[str, Any]], seen: set[int]) -> Problem | None:
    path = folder / name
    if not path.exists():
        return None
    try:
        entries = list(_entries(path))
    except OSError as err:
        return Problem(None, f"cannot be read: {err.strerror or err}", name)
    for number, entry, wrong in entries:
        if wrong is not None:
            return Problem(number, f"{wrong}: not an audit record (modified)", name)
        seq = entry.get("seq") if isinstance(entry, dict) else None
        if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(entry.get("ts"), str):
            return Problem(number, "not an audit record (no seq or ts): modified", name)
        record = records.get(seq)
        if record is None:
            return Problem(number, f"seq {seq} is missing from the chain: the chain was truncated or the line "
                                   "forged", name)
        if record["data"] != {k: v for k, v in entry.items() if k not in ("seq", "ts")}:
            return Problem(number, f"differs from chain record {seq}", name)
        seen.add(seq)
    return None


def check_anchor(anchor: Anchor, records: dict[int, dict[str, Any]], count: int) -> Problem | None:
    """Whether the chain of ``count`` records reaches ``anchor`` with the same record."""
    if anchor.seq == 0:
        return None if anchor.hash == GENESIS else Problem(
            None, f"{anchor.source} anchors record 0 with a hash other than the empty chain's", CHAIN)
    if anchor.seq > count:
        gone = "there is no chain at all" if count == 0 else f"the chain ends at record {count}"
        return Problem(count + 1, f"{gone}, but {anchor.source} anchors record {anchor.seq} "
                                  f"({anchor.hash[:12]}...): records were removed (the logs deleted or cut)", CHAIN)
    if records[anchor.seq]["hash"] != anchor.hash:
        return Problem(anchor.seq, f"record {anchor.seq} is not the one {anchor.source} anchors "
                                   f"({anchor.hash[:12]}...): the chain was replaced", CHAIN)
    return None


def verify_trail(folder: Path, anchors: Iterable[Anchor] = ()) -> TrailReport:
    """The chain, the readable logs against it, then the chain against each anchor."""
    anchors = tuple(anchors)
    result = verify(folder / CHAIN)
    if not result.ok:
        return TrailReport(result.records, result.problem, (), anchors)
    records = {r["seq"]: r for r in AuditLog(folder).chain.records()}
    seen: set[int] = set()
    for name in (EVENTS, TRADES):
        problem = _check_log(folder, name, records, seen)
        if problem is not None:
            return TrailReport(result.records, problem, (), anchors)
    for anchor in anchors:
        problem = check_anchor(anchor, records, result.records)
        if problem is not None:
            return TrailReport(result.records, problem, (), anchors)
    notices = tuple(f"chain record {seq} ({records[seq]['data'].get('kind')}) is not in the readable logs"
                    for seq in sorted(set(records) - seen) if records[seq]["data"].get("kind") != "audit.torn_tail")
    return TrailReport(result.records, None, notices, anchors)
