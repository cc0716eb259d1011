"""Universes: CSV files with a ``symbol`` column, one ticker per row.

The loader refuses what would silently change what trades: a missing ``symbol`` column,
malformed tickers and duplicates are errors with their line. :func:`build_universe`
derives a liquid universe from bars, keeping the figures that qualified each symbol.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from kobe.config.errors import Diagnostic, KobeError
from kobe.config.text import read_text

if TYPE_CHECKING:
    # build_universe imports it: loading a universe (kobe validate) needs no Polars.
    import polars as pl

# Upper-case letters and digits, optionally a class suffix after one dot (BRK.B, BF.B).
TICKER = re.compile(r"^[A-Z][A-Z0-9]{0,5}(\.[A-Z]{1,2})?$")


def load_universe(path: Path, display: str | None = None) -> list[str]:
    """The tickers of a universe file, in file order."""
    shown = display or str(path)
    try:
        missing = not path.exists()
    except OSError:  # a name longer than the file system allows: read_text says so
        missing = False
    if missing:
        raise KobeError(Diagnostic(f"universe file {shown!r} does not exist", file=shown))
    problems: list[Diagnostic] = []
    symbols: list[str] = []
    seen: dict[str, int] = {}
    lines = read_text(path, shown).split("\n")
    reader = csv.DictReader(lines)
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise KobeError(Diagnostic(f"not a CSV file: {exc}", file=shown, line=1, col=1,
                                   source_line=lines[0])) from None
    if header is None or "symbol" not in header:
        raise KobeError(Diagnostic("universe file needs a 'symbol' column", file=shown, line=1, col=1,
                                   source_line=lines[0] if lines else ""))
    for row in _rows(reader, lines, shown):
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


def _rows(reader: csv.DictReader[str], lines: list[str], shown: str) -> Iterator[dict[str, str]]:
    """The reader's rows; a line the csv module cannot split is a located error."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = max(1, reader.line_num)
            raise KobeError(Diagnostic(f"not a CSV row: {exc}", file=shown, line=line, col=1,
                                       source_line=lines[line - 1] if line <= len(lines) else "")) from None
        yield row


def build_universe(bars: pl.LazyFrame | pl.DataFrame, *, min_price: float = 5.0, min_adv_usd: float = 1e6,
                   min_history_years: float = 1.0, top: int | None = None, adv_days: int = 20,
                   as_of: dt.date | None = None) -> pl.DataFrame:
    """The liquid symbols of ``bars`` as of ``as_of`` (default: the latest date), with the
    figures that qualified each: last close, average daily dollar volume over the last
    ``adv_days`` bars (close × volume), years of history. Sorted by ADV, largest first;
    ``top`` keeps the first K. Symbols without a bar on the as-of date do not qualify
    (a delisted or stale name is not tradable).
    """
    import polars as pl

    frame = bars.lazy()
    if as_of is not None:
        frame = frame.filter(pl.col("date") <= as_of)
    latest = frame.select(pl.col("date").max()).collect().item() if as_of is None else as_of
    stats = (frame.sort("symbol", "date").group_by("symbol").agg(
        pl.col("date").last().alias("last_date"),
        pl.col("close").last().alias("last_close"),
        (pl.col("close") * pl.col("volume")).tail(adv_days).mean().alias("adv_usd"),
        pl.len().alias("bars"),
        ((pl.col("date").last() - pl.col("date").first()).dt.total_days() / 365.25).alias("history_years"),
    ).filter((pl.col("last_date") == latest) & (pl.col("last_close") >= min_price)
             & (pl.col("adv_usd") >= min_adv_usd) & (pl.col("history_years") >= min_history_years))
        .sort(["adv_usd", "symbol"], descending=[True, False]).collect())
    if top is not None:
        stats = stats.head(top)
    return stats.with_row_index("adv_rank", offset=1).select(
        "symbol", "adv_rank", pl.col("last_close").round(4), pl.col("adv_usd").round(0),
        pl.col("history_years").round(2), "bars", "last_date")
