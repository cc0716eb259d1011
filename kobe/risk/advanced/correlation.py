"""The correlation limit: no new position that moves too much like one already held.

Two positions whose daily returns are correlated at 0.95 are nearly one position of
twice the size: the per-order budget no longer bounds the risk. The limit blocks a
candidate whose Pearson correlation of daily returns, over the last ``window`` common
sessions, with any held symbol exceeds ``max_correlation``. Negative correlation
(a hedge) is never blocked. Too little common history is not a reason to block; the
other gates still apply.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from kobe.config.model import CorrelationSettings
from kobe.decide.decision import Decision


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r of two equal-length series; None when either is constant or short."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.shape != b.shape or a.size < 3:
        return None
    da, db = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float(da @ da) * float(db @ db))
    return None if denominator == 0 else float(da @ db) / denominator


def daily_returns(bars: pl.LazyFrame | pl.DataFrame, symbols: Collection[str], before: dt.date,
                  window: int) -> pl.DataFrame:
    """Close-to-close returns of ``symbols`` on the last ``window`` sessions before
    ``before``: one column per symbol, one row per date (nulls where a symbol has no bar)."""
    frame = bars.lazy() if isinstance(bars, pl.DataFrame) else bars
    wide = (frame.filter(pl.col("symbol").is_in(list(symbols)) & (pl.col("date") < before))
            .sort("symbol", "date")
            .with_columns((pl.col("close") / pl.col("close").shift(1).over("symbol") - 1).alias("ret"))
            .collect()
            .pivot(on="symbol", index="date", values="ret")
            .sort("date"))
    return wide.tail(window)


@dataclass(frozen=True)
class CorrelationLimit:
    """The correlation gate (module doc); ``risk.yaml`` ``advanced.correlation``."""

    max_correlation: float = 0.8
    window: int = 60
    min_days: int = 20

    @classmethod
    def from_config(cls, settings: CorrelationSettings) -> "CorrelationLimit":
        return cls(settings.max, settings.lookback_days)

    def check(self, symbol: str, held: Collection[str], returns: pl.DataFrame) -> Decision:
        """Block ``symbol`` when it is correlated above the limit with a held symbol.
        ``returns`` as :func:`daily_returns` makes it."""
        if symbol not in returns.columns:
            return Decision.allow("correlation")
        for other in sorted(held):
            if other == symbol or other not in returns.columns:
                continue
            pair = returns.select(symbol, other).drop_nulls().tail(self.window)
            if pair.height < self.min_days:
                continue
            r = pearson(pair[symbol].to_list(), pair[other].to_list())
            if r is not None and r > self.max_correlation:
                return Decision.block("correlation", f"{symbol} moves with {other} (r = {r:.2f} over "
                                                     f"{pair.height} days > {self.max_correlation})")
        return Decision.allow("correlation")
