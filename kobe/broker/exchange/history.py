"""The daily bars the exchange replays: its whole knowledge of prices.

Read once from a bars file through :func:`kobe.data.bars.read_bars` (the embedded sample
by default; any file of ``shared/data`` works) and kept per symbol as NumPy arrays, so a
1.2-million-row file stays small and every look-up is a binary search. Nothing here knows
about time of day: which bars a caller may see is the venue's and the data API's affair.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.data.bars import read_bars

EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Bar:
    """One session of one symbol, prices as in the file (split-adjusted or not: the
    file's ``SOURCE`` says)."""

    symbol: str
    day: dt.date
    open: float
    high: float
    low: float
    close: float
    volume: float


class History:
    """Bars by symbol and trading date."""

    def __init__(self, frame: pl.DataFrame, source: str) -> None:
        self.source = source
        self._days: dict[str, np.ndarray] = {}
        self._values: dict[str, np.ndarray] = {}
        if frame.height == 0:
            raise KobeError(Diagnostic("the bars file has no rows", file=source))
        frame = frame.with_columns(pl.col("date").cast(pl.Int32).alias("day"))
        for (symbol,), part in frame.partition_by("symbol", as_dict=True, maintain_order=True).items():
            part = part.sort("day")
            self._days[str(symbol)] = part["day"].to_numpy()
            self._values[str(symbol)] = part.select("open", "high", "low", "close", "volume").to_numpy()
        self.symbols: frozenset[str] = frozenset(self._days)
        self.first_date = min(EPOCH + dt.timedelta(days=int(d[0])) for d in self._days.values())
        self.last_date = max(EPOCH + dt.timedelta(days=int(d[-1])) for d in self._days.values())

    def _bar(self, symbol: str, i: int) -> Bar:
        o, h, low, c, v = (float(x) for x in self._values[symbol][i])
        return Bar(symbol, EPOCH + dt.timedelta(days=int(self._days[symbol][i])), o, h, low, c, v)

    def bar(self, symbol: str, day: dt.date) -> Bar | None:
        """The bar of ``symbol`` on ``day``, or ``None`` (unknown symbol, or no trading
        that day: not yet listed, halted, or past the file's end)."""
        days = self._days.get(symbol)
        if days is None:
            return None
        key = (day - EPOCH).days
        i = int(np.searchsorted(days, key))
        return self._bar(symbol, i) if i < len(days) and days[i] == key else None

    def last_bar(self, symbol: str, on_or_before: dt.date) -> Bar | None:
        """The latest bar of ``symbol`` dated ``on_or_before`` or earlier."""
        days = self._days.get(symbol)
        if days is None:
            return None
        i = int(np.searchsorted(days, (on_or_before - EPOCH).days, side="right")) - 1
        return self._bar(symbol, i) if i >= 0 else None

    def previous_bar(self, symbol: str, before: dt.date) -> Bar | None:
        """The latest bar of ``symbol`` strictly before ``before``."""
        return self.last_bar(symbol, before - dt.timedelta(days=1))

    def bars(self, symbol: str, start: dt.date, end: dt.date) -> list[Bar]:
        """The bars of ``symbol`` from ``start`` to ``end`` included, oldest first."""
        days = self._days.get(symbol)
        if days is None or end < start:
            return []
        lo = int(np.searchsorted(days, (start - EPOCH).days, side="left"))
        hi = int(np.searchsorted(days, (end - EPOCH).days, side="right"))
        return [self._bar(symbol, i) for i in range(lo, hi)]


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> History:
    return History(read_bars(None if path == "embedded" else path).collect(), path)


def load_history(source: str | Path | None = None) -> History:
    """The bars of ``source`` (``None`` for the embedded sample), read once per file
    version: exchanges started one after another in a test session share it."""
    if source is None or str(source) == "embedded":
        return _load("embedded", 0)
    path = Path(source)
    if not path.exists():
        read_bars(path)  # raises the standard "no bars file" error
    return _load(str(path.resolve()), path.stat().st_mtime_ns)
