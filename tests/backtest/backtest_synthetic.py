"""Hand-written bars for the backtest tests.

A synthetic strategy enters on ``volume == 2`` (the test writes a 2 in the volume of a
signal bar) and its exit rule, when a case has one, reads ``volume == 3``, so each case
spells out its signals bar by bar next to its prices.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

DAY0 = dt.date(2021, 1, 4)

# (open, high, low, close, code): code 2 is an entry signal, 3 an exit-rule signal, 1 nothing.
Bar = tuple[float, float, float, float, int]


def day(i: int) -> dt.date:
    """The date of bar ``i`` (consecutive calendar days: the engine counts bars, not days)."""
    return DAY0 + dt.timedelta(days=i)


def bars_frame(rows: dict[str, list[Bar]], start: int = 0) -> pl.DataFrame:
    """A standard bars frame; each symbol's bars start on ``day(start)``."""
    records = [(sym, day(start + i), o, h, lo, c, float(code))
               for sym, bars in rows.items() for i, (o, h, lo, c, code) in enumerate(bars)]
    return pl.DataFrame(records, schema={"symbol": pl.String, "date": pl.Date, "open": pl.Float64,
                                         "high": pl.Float64, "low": pl.Float64, "close": pl.Float64,
                                         "volume": pl.Float64}, orient="row")


def flat(n: int, price: float = 100.0) -> list[Bar]:
    """``n`` quiet bars at ``price`` (a range of 1 around it, no signal)."""
    return [(price, price + 1, price - 1, price, 1)] * n
