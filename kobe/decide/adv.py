"""The average daily dollar volume (ADV) the liquidity gate judges, in one place.

The ADV of a symbol on a bar is the mean of ``close × volume`` over its ``window`` bars
up to and including that bar; with fewer bars there is none (the gate then blocks). An
entry decided on the signal bar t (filled at t+1) is judged with the ADV of bar t: the
bars live trading has when it sends the order before t+1's open.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl


def adv_expr(window: int) -> pl.Expr:
    """Per row, the ADV of the symbol's ``window`` bars up to and including it (null
    until the window is full). Bars must be sorted by symbol and date."""
    return (pl.col("close") * pl.col("volume")).rolling_mean(window, min_samples=window).over("symbol")


def adv_by_row(bars: pl.DataFrame, window: int) -> np.ndarray:
    """:func:`adv_expr` for every row of ``bars`` as floats (NaN for none): the backtest's view."""
    return bars.select(adv_expr(window).fill_null(np.nan).alias("adv"))["adv"].to_numpy()


def adv_before(bars: pl.LazyFrame, symbols: Sequence[str], before: dt.date, window: int) -> dict[str, float]:
    """Per symbol, the ADV of its last bar before ``before``: live trading's view on the
    trading date ``before`` (the same figure the backtest uses for a signal of that bar)."""
    frame = (bars.filter(pl.col("symbol").is_in(list(symbols)) & (pl.col("date") < before))
             .sort("symbol", "date")
             .select("symbol", adv_expr(window).alias("adv"))
             .group_by("symbol").agg(pl.col("adv").last())
             .collect())
    return {s: float(a) for s, a in frame.iter_rows() if a is not None and np.isfinite(a)}
