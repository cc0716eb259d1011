"""The bars a backtest trades on, as the numpy arrays the simulation indexes.

A :class:`Market` holds one bars frame (sorted by symbol, then date) twice over: as the
Polars frame the strategies' plans run on, and as flat arrays where row ``i`` is the
frame's row ``i``. Symbols and sessions get small integer ids (alphabetical symbols,
chronological sessions), so the portfolio pass can index a dense session x symbol
matrix of closes instead of looking anything up by name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.data.bars import BAR_SCHEMA


@dataclass(frozen=True)
class Market:
    """Bars of every symbol a backtest may trade, with integer ids for the simulation.

    ``bars`` is the standard bars frame (``symbol`` an ``Enum`` of ``symbols``, which
    sorts the same as the text) plus ``_row`` (its row number); the arrays below
    are indexed by that row. ``last_row[i]`` is the last row of row ``i``'s symbol, so
    "the next bar of this symbol" is ``i + 1`` when ``i < last_row[i]``.
    ``closes[session, symbol]`` is the latest close at or before that session (a symbol
    without a bar that day keeps its previous close; 0 before its first bar).
    """

    bars: pl.DataFrame
    symbols: tuple[str, ...]
    sessions: tuple[dt.date, ...]
    symbol: np.ndarray      # int32 per row: index into ``symbols``
    session: np.ndarray     # int32 per row: index into ``sessions``
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    last_row: np.ndarray    # int64 per row
    closes: np.ndarray      # float64, sessions x symbols

    @property
    def rows(self) -> int:
        return self.bars.height

    @cached_property
    def day_numbers(self) -> np.ndarray:
        """Per session, its day number (days since 1970-01-01), int64. Kept: every
        account of a sweep asks for it (read only)."""
        days = np.array(self.sessions, dtype="datetime64[D]").astype(np.int64)
        days.flags.writeable = False
        return days

    def session_index(self, day: dt.date | None, *, after: bool = True) -> int:
        """The first session on or after ``day`` (``after``), or the last on or before it."""
        if day is None:
            return 0 if after else len(self.sessions) - 1
        days = np.array(self.sessions, dtype="datetime64[D]")
        target = np.datetime64(day, "D")
        if after:
            return int(np.searchsorted(days, target, side="left"))
        return int(np.searchsorted(days, target, side="right")) - 1


def scoped_market(bars: pl.LazyFrame | pl.DataFrame, symbols: Sequence[str], end: dt.date | None = None) -> Market:
    """A :class:`Market` of ``symbols`` only, from bars up to ``end``: later bars are
    never read, so nothing in the backtest can see them."""
    if isinstance(bars, pl.DataFrame) and end is None and _all_of(bars, symbols):
        return load_market(bars)      # nothing to leave out: no filter to run over every row
    scoped = bars.lazy().filter(pl.col("symbol").is_in(list(symbols)))
    if end is not None:
        scoped = scoped.filter(pl.col("date") <= end)
    return load_market(scoped)


def _all_of(frame: pl.DataFrame, symbols: Sequence[str]) -> bool:
    """Whether every row's symbol is one of ``symbols`` (asked of each run of one symbol,
    which in a sorted frame is one per symbol, instead of each row)."""
    names = frame["symbol"]
    if names.null_count():
        return False
    runs = names.rle_id().to_numpy()
    firsts = np.flatnonzero(np.r_[True, runs[1:] != runs[:-1]])
    return bool(names.gather(firsts).is_in(list(symbols)).all())


def load_market(bars: pl.LazyFrame | pl.DataFrame) -> Market:
    """Collect ``bars`` (standard shape) into a :class:`Market`.

    Raises :class:`KobeError` when there are no bars or a symbol has two bars on one
    date (the simulation needs one bar per symbol and session).
    """
    frame = bars.collect() if isinstance(bars, pl.LazyFrame) else bars
    frame = frame.select(list(BAR_SCHEMA))
    if frame.is_empty():
        raise KobeError(Diagnostic("no bars to backtest", hint="check the data file, the universe and --start/--end"))
    symbol, days = _ids(frame)
    if not _sorted(frame, symbol, days):   # files and the lake are usually sorted already: checking is cheaper
        frame = frame.sort("symbol", "date")
        symbol, days = _ids(frame)
    same = (symbol[1:] == symbol[:-1]) & (days[1:] == days[:-1])
    if same.any():
        first = frame.row(int(np.argmax(same)), named=True)
        raise KobeError(Diagnostic(f"two bars for {first['symbol']} on {first['date']}",
                                   hint="the bars file must have one row per symbol and date"))
    # Session ids through a table indexed by day number: linear, where a search is n log n.
    first_day = int(days.min())
    present = np.zeros(int(days.max()) - first_day + 1, dtype=bool)
    present[days - first_day] = True
    unique_days = (np.flatnonzero(present) + first_day).astype(np.int32)
    session = (np.cumsum(present, dtype=np.int32) - 1)[days - first_day]
    starts = np.flatnonzero(np.r_[True, symbol[1:] != symbol[:-1]])
    lengths = np.diff(np.r_[starts, frame.height])
    last_row = np.repeat(starts + lengths - 1, lengths).astype(np.int64)
    symbols = frame["symbol"].gather(starts).to_list()
    sessions = pl.Series(unique_days.astype(np.int32)).cast(pl.Date).to_list()
    close = frame["close"].to_numpy()
    closes = _forward_filled(session, symbol, close, len(sessions), len(symbols))
    market = Market(
        # The symbol as an Enum of the sorted symbols: the same order and values as the
        # text, and the per-symbol windows of the plans group integers instead of strings.
        # Taken from the ids (the symbols in order, gathered), which is faster than casting the text.
        bars=frame.with_columns(pl.Series("symbol", symbols).cast(pl.Enum(symbols)).gather(symbol),
                                pl.Series("_row", np.arange(frame.height, dtype=np.int64))),
        symbols=tuple(symbols), sessions=tuple(sessions), symbol=symbol, session=session,
        open=frame["open"].to_numpy(), high=frame["high"].to_numpy(), low=frame["low"].to_numpy(),
        close=close, last_row=last_row, closes=closes,
    )
    # Market.day_numbers from the numbers at hand, rather than from the dates again.
    day_numbers = unique_days.astype(np.int64)
    day_numbers.flags.writeable = False
    market.__dict__["day_numbers"] = day_numbers
    return market


def _ids(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the id of its run of one symbol (int32; once sorted by symbol, the runs
    get consecutive ids in alphabetical order) and its date's day number (int32)."""
    return frame["symbol"].rle_id().cast(pl.Int32).to_numpy(), frame["date"].cast(pl.Int32).to_numpy()


def _sorted(frame: pl.DataFrame, symbol: np.ndarray | None = None, days: np.ndarray | None = None) -> bool:
    """Whether the rows are in (symbol, date) order; ``symbol`` and ``days``: :func:`_ids`
    when already computed."""
    if frame.height < 2:
        return True
    if frame["symbol"].dtype == pl.String and frame["date"].dtype == pl.Date and frame["symbol"].null_count() == 0:
        if symbol is None or days is None:
            symbol, days = _ids(frame)
        # The text in order, then the dates within each run of one symbol: faster than
        # comparing every row's text with the one before.
        return frame["symbol"].is_sorted() and bool(((days[1:] >= days[:-1]) | (symbol[1:] != symbol[:-1])).all())
    name, date = pl.col("symbol"), pl.col("date")
    later = (name > name.shift(1)) | ((name == name.shift(1)) & (date >= date.shift(1)))
    return bool(frame.select(later.slice(1).all()).item())


def _forward_filled(session: np.ndarray, symbol: np.ndarray, values: np.ndarray,
                    n_sessions: int, n_symbols: int) -> np.ndarray:
    """A sessions x symbols matrix of ``values``, each gap holding the last value before it
    (a NaN value is a gap too; 0 before a symbol's first value, and an infinite value
    the largest finite one, as ``np.nan_to_num``)."""
    # Per symbol and session, 1 + the latest row at or before it (0: none). The rows are
    # sorted by symbol, then session, so the latest row is the largest; symbols by rows,
    # the running maximum runs along contiguous memory.
    latest = np.zeros((n_symbols, n_sessions), dtype=np.int64)
    have = ~np.isnan(values)
    latest[symbol[have], session[have]] = np.flatnonzero(have) + 1
    np.maximum.accumulate(latest, axis=1, out=latest)
    filled = np.where(latest > 0, np.nan_to_num(values, nan=0.0)[latest - 1], 0.0)
    return np.ascontiguousarray(filled.T)


class SimulatedPeriod:
    """For results that hold a ``market`` and the index of its ``first_session`` (the
    first one simulated after the warm-up): the dates they cover."""

    market: Market
    first_session: int

    @property
    def start(self) -> dt.date:
        return self.market.sessions[self.first_session]

    @property
    def end(self) -> dt.date:
        return self.market.sessions[-1]
