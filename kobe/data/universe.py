"""Universes: CSV files with a ``symbol`` column, one ticker per row.

The loader refuses what would silently change what trades: a missing ``symbol`` column,
malformed tickers and duplicates are errors with their line.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from kobe.config.errors import Diagnostic, KobeError

# Upper-case letters and digits, optionally a class suffix after one dot (BRK.B, BF.B).
TICKER = re.compile(r"^[A-Z][A-Z0-9]{0,5}(\.[A-Z]{1,2})?$")


def load_universe(path: Path, display: str | None = None) -> list[str]:
    """The tickers of a universe file, in file order."""
    shown = display or str(path)
    if not path.exists():
        raise KobeError(Diagnostic(f"universe file {shown!r} does not exist", file=shown))
    problems: list[Diagnostic] = []
    symbols: list[str] = []
    seen: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or "symbol" not in reader.fieldnames:
        raise KobeError(Diagnostic("universe file needs a 'symbol' column", file=shown, line=1, col=1,
                                   source_line=lines[0] if lines else ""))
    for row in reader:
        line = reader.line_num
        raw = (row.get("symbol") or "").strip()
        if not TICKER.match(raw):
            problems.append(Diagnostic(f"malformed ticker {raw!r}", file=shown, line=line, col=1,
                                       source_line=lines[line - 1], width=max(1, len(raw)),
                                       hint="upper-case letters and digits, e.g. AAPL or BRK.B"))
            continue
        if raw in seen:
            problems.append(Diagnostic(f"duplicate ticker {raw!r}", file=shown, line=line, col=1,
                                       source_line=lines[line - 1], width=len(raw),
                                       hint=f"first listed on line {seen[raw]}"))
            continue
        seen[raw] = line
        symbols.append(raw)
    if problems:
        raise KobeError(problems)
    if not symbols:
        raise KobeError(Diagnostic("universe file lists no symbols", file=shown))
    return symbols
