"""The bars a backtest trades on, as the numpy arrays the simulation indexes.

A :class:`Market` holds one bars frame (sorted by symbol, then date) twice over: as the
Polars frame the strategies' plans run on, and as flat arrays where row ``i`` is the
frame's row ``i``. Symbols and sessions get small integer ids (alphabetical symbols,
chronological sessions), so the portfolio pass can index a dense session x symbol
matrix of closes instead of looking anything up by name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.data.bars import BAR_SCHEMA


@dataclass(frozen=True)
class Market:
    """Bars of every symbol a backtest may trade, with integer ids for the simulation.

    ``bars`` is the standard bars frame plus ``_row`` (its row number); the arrays below
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

    def session_index(self, day: dt.date | None, *, after: bool = True) -> int:
        """The first session on or after ``day`` (``after``), or the last on or before it."""
        if day is None:
            return 0 if after else len(self.sessions) - 1
        days = np.array(self.sessions, dtype="datetime64[D]")
        target = np.datetime64(day, "D")
        if after:
            return int(np.searchsorted(days, target, side="left"))
        return int(np.searchsorted(days, target, side="right")) - 1


def load_market(bars: pl.LazyFrame | pl.DataFrame) -> Market:
    """Collect ``bars`` (standard shape) into a :class:`Market`.

    Raises :class:`KobeError` when there are no bars or a symbol has two bars on one
    date (the simulation needs one bar per symbol and session).
    """
    frame = bars.collect() if isinstance(bars, pl.LazyFrame) else bars
    frame = frame.select(list(BAR_SCHEMA)).sort("symbol", "date")
    if frame.is_empty():
        raise KobeError(Diagnostic("no bars to backtest", hint="check the data file, the universe and --start/--end"))
    # Sorted by symbol, so runs of one symbol get consecutive ids in alphabetical order.
    symbol = frame["symbol"].rle_id().cast(pl.Int32).to_numpy()
    days = frame["date"].cast(pl.Int32).to_numpy()
    same = (symbol[1:] == symbol[:-1]) & (days[1:] == days[:-1])
    if same.any():
        first = frame.row(int(np.argmax(same)), named=True)
        raise KobeError(Diagnostic(f"two bars for {first['symbol']} on {first['date']}",
                                   hint="the bars file must have one row per symbol and date"))
    unique_days = np.sort(frame["date"].unique().cast(pl.Int32).to_numpy())
    session = np.searchsorted(unique_days, days).astype(np.int32)
    starts = np.flatnonzero(np.r_[True, symbol[1:] != symbol[:-1]])
    lengths = np.diff(np.r_[starts, frame.height])
    last_row = np.repeat(starts + lengths - 1, lengths).astype(np.int64)
    symbols = frame["symbol"].gather(starts).to_list()
    sessions = pl.Series(unique_days.astype(np.int32)).cast(pl.Date).to_list()
    close = frame["close"].to_numpy()
    closes = _forward_filled(session, symbol, close, len(sessions), len(symbols))
    return Market(
        bars=frame.with_columns(pl.Series("_row", np.arange(frame.height, dtype=np.int64))),
        symbols=tuple(symbols), sessions=tuple(sessions), symbol=symbol, session=session,
        open=frame["open"].to_numpy(), high=frame["high"].to_numpy(), low=frame["low"].to_numpy(),
        close=close, last_row=last_row, closes=closes,
    )


def _forward_filled(session: np.ndarray, symbol: np.ndarray, values: np.ndarray,
                    n_sessions: int, n_symbols: int) -> np.ndarray:
    """A sessions x symbols matrix of ``values``, each gap holding the last value before it."""
    dense = np.full((n_sessions, n_symbols), np.nan)
    dense[session, symbol] = values
    have = ~np.isnan(dense)
    # For each cell, the latest session at or before it that has a value.
    latest = np.where(have, np.arange(n_sessions)[:, None], 0)
    np.maximum.accumulate(latest, axis=0, out=latest)
    filled = dense[latest, np.arange(n_symbols)[None, :]]
    return np.nan_to_num(filled, nan=0.0)
