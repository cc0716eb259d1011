"""Synthetic daily bars for scale tests and benchmarks, never for trading decisions.

Each symbol is a geometric random walk with its own drift and volatility, occasional
jumps (earnings-like gaps at the open), an intraday range that grows with volatility,
and volume that rises with the size of the day's move. Realistic enough to time the
engine on 900 symbols × 10 years; deterministic for a given seed.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl


def synth_bars(symbols: int = 900, years: int = 10, seed: int = 1,
               start: dt.date = dt.date(2010, 1, 4)) -> pl.DataFrame:
    """``symbols`` × ``years`` of weekday bars in the standard shape (symbol, date, OHLCV)."""
    rng = np.random.default_rng(seed)
    days = np.arange(np.datetime64(start), np.datetime64(start) + np.timedelta64(int(years * 365.25), "D"))
    days = days[np.is_busday(days)]
    n, m = len(days), symbols
    drift = rng.normal(0.0003, 0.0004, m)
    vol = rng.uniform(0.01, 0.035, m)
    returns = rng.standard_normal((n, m)) * vol + drift
    jumps = (rng.random((n, m)) < 0.004) * rng.normal(0, 0.08, (n, m))     # about one a year
    gaps = rng.standard_normal((n, m)) * vol * 0.3 + jumps
    close = rng.uniform(10, 300, m) * np.exp(np.cumsum(returns + jumps, axis=0))
    prev_close = np.vstack([close[:1] / np.exp(returns[:1] + jumps[:1]), close[:-1]])
    open_ = prev_close * np.exp(gaps)
    spread = np.abs(rng.standard_normal((n, m))) * vol * 0.6
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - np.abs(rng.standard_normal((n, m))) * vol * 0.6)
    move = np.abs(np.log(close / prev_close)) / vol
    volume = np.round(rng.lognormal(13.5, 1.0, m) * (0.6 + 0.4 * move) * rng.lognormal(0, 0.25, (n, m)))
    names = [f"S{i:04d}" for i in range(m)]
    return pl.DataFrame({
        "symbol": np.repeat(np.array(names), n),
        "date": np.tile(days.astype("datetime64[D]"), m),
        "open": open_.T.ravel().round(4), "high": high.T.ravel().round(4), "low": low.T.ravel().round(4),
        "close": close.T.ravel().round(4), "volume": volume.T.ravel().astype(np.float64),
    }).with_columns(pl.col("date").cast(pl.Date))
