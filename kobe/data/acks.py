"""Acknowledged data findings: a person has looked at a bar the gate flagged and judged it
real (an earnings gap, a trading halt), so the gate warns about it instead of excluding
the symbol.

They are kept in the lake, beside the bars they speak of, in ``acknowledged.json``: a
list of ``{symbol, date, rule, reason, at}`` objects, one per (symbol, date, rule). Only
findings whose bar can be right although it is unusual may be acknowledged
(:data:`ACKNOWLEDGEABLE`); a broken bar (a duplicate, a null, a high below the low) or a
stale last bar is repaired, never waved through.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from kobe.config.errors import Diagnostic, KobeError
from kobe.data.quality import ACKNOWLEDGEABLE
from kobe.files import write_atomic

ACKS_FILE = "acknowledged.json"
MAX_REASON = 500

Key = tuple[str, dt.date, str]


@dataclass(frozen=True)
class Acknowledgement:
    symbol: str
    date: dt.date
    rule: str
    reason: str
    at: str          # when it was recorded (UTC, ISO 8601)

    @property
    def key(self) -> Key:
        return (self.symbol, self.date, self.rule)

    def to_dict(self) -> dict[str, str]:
        return {**asdict(self), "date": self.date.isoformat()}


def acks_path(lake: Path) -> Path:
    return lake / ACKS_FILE


def read_acks(lake: Path) -> dict[Key, Acknowledgement]:
    """The acknowledgements recorded in ``lake`` (none when the file is absent); a file
    that cannot be read is an error naming it, never an empty list: an unread note would
    exclude a symbol the trader cleared, or worse, hide that the file was damaged."""
    path = acks_path(lake)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as err:
        raise KobeError(Diagnostic(f"cannot read the acknowledged data findings: {err}", file=str(path))) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        lines = text.splitlines()
        raise KobeError(Diagnostic(f"not JSON: {err.msg}", file=str(path), line=err.lineno, col=err.colno,
                                   source_line=lines[err.lineno - 1] if 0 < err.lineno <= len(lines) else None,
                                   hint="fix or remove the file; `kobe data ack` writes it")) from None
    out: dict[Key, Acknowledgement] = {}
    for i, item in enumerate(raw if isinstance(raw, list) else [None]):
        try:
            ack = Acknowledgement(str(item["symbol"]), dt.date.fromisoformat(item["date"]), str(item["rule"]),
                                  str(item["reason"]), str(item.get("at", "")))
        except (TypeError, KeyError, ValueError):
            raise KobeError(Diagnostic(f"entry {i} is not an acknowledgement (symbol, date, rule, reason)",
                                       file=str(path), hint="fix or remove it; `kobe data ack` writes the file")
                            ) from None
        if ack.rule not in ACKNOWLEDGEABLE:
            raise KobeError(Diagnostic(f"entry {i} acknowledges a {ack.rule} finding, which no note may waive",
                                       file=str(path), hint=f"acknowledgeable: {', '.join(ACKNOWLEDGEABLE)}; "
                                                            "remove the entry and repair the bars"))
        out[ack.key] = ack
    return out


def check_ack(symbol: str, rule: str, reason: str) -> None:
    """Refuse what may not be acknowledged, saying why."""
    if rule not in ACKNOWLEDGEABLE:
        raise KobeError(Diagnostic(
            f"a {rule} finding cannot be acknowledged: it marks a bar that is wrong or old, not an unusual one",
            hint=f"acknowledgeable: {', '.join(ACKNOWLEDGEABLE)}; repair the bars instead (`kobe data repair`, "
                 f"or fix the file)"))
    if not reason.strip():
        raise KobeError(Diagnostic("--reason is empty", hint="say why the bar is right, e.g. 'earnings gap, Q3 report'"))
    if len(reason) > MAX_REASON:
        raise KobeError(Diagnostic(f"--reason is {len(reason):,} characters; at most {MAX_REASON} are kept"))
    if not symbol or len(symbol) > 32 or not symbol.isprintable():
        raise KobeError(Diagnostic(f"{symbol!r} is not a symbol"))


def record_ack(lake: Path, ack: Acknowledgement) -> Path:
    """Add ``ack`` to the lake's file (replacing an earlier note on the same finding),
    written atomically; returns the file's path."""
    acks: Mapping[Key, Acknowledgement] = {**read_acks(lake), ack.key: ack}
    ordered = sorted(acks.values(), key=lambda a: (a.symbol, a.date, a.rule))
    path = acks_path(lake)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps([a.to_dict() for a in ordered], indent=1) + "\n")
    return path
