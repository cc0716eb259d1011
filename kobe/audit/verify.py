"""``kobe audit verify``: the chain, and the readable logs checked against it.

The chain (:func:`kobe.audit.chain.verify`) proves its own history up to its last record.
Truncating its end leaves a shorter chain that is consistent on its own, so every line
of ``events.jsonl`` and ``trades.jsonl`` (which carry the chain's ``seq``) must match the
chain record of that number: a line whose record is gone or differs is a failure. A chain
record missing from the readable logs (a crash between the two writes) is only a notice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from kobe.audit.chain import Problem, verify
from kobe.audit.log import CHAIN, EVENTS, TRADES, AuditLog


@dataclass(frozen=True)
class TrailReport:
    records: int
    problem: Problem | None
    notices: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_trail(folder: Path) -> TrailReport:
    chain_path = folder / CHAIN
    result = verify(chain_path)
    if not result.ok:
        return TrailReport(result.records, result.problem)
    records = {r["seq"]: r for r in AuditLog(folder).chain.records()}
    seen: set[int] = set()
    for name in (EVENTS, TRADES):
        path = folder / name
        if not path.exists():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                entry = json.loads(line)
                seq = entry.pop("seq")
                entry.pop("ts")
            except (ValueError, KeyError, AttributeError):
                return TrailReport(result.records, Problem(number, f"{name} line {number} is not an audit record"))
            record = records.get(seq)
            if record is None:
                return TrailReport(result.records, Problem(
                    len(records) + 1, f"{name} line {number} (seq {seq}) is missing from the chain: the chain was "
                                      "truncated or the line forged"))
            if record["data"] != entry:
                return TrailReport(result.records, Problem(seq, f"{name} line {number} differs from chain record "
                                                                f"{seq}"))
            seen.add(seq)
    notices = tuple(f"chain record {seq} ({records[seq]['data'].get('kind')}) is not in the readable logs"
                    for seq in sorted(set(records) - seen) if records[seq]["data"].get("kind") != "audit.torn_tail")
    return TrailReport(result.records, None, notices)
