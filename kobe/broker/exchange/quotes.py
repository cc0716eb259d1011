"""Intraday prices and quotes, derived from nothing but the session's daily bar.

**The path.** During a session the mid price walks in straight lines through the bar's
four prices at equal intervals from the open to the close: open, low, high, close when
the bar closed up (close >= open), open, high, low, close when it closed down. So the
mid touches the bar's high and low once each, never leaves the bar's range, and ends the
day at the close. Outside the session the price is the last close.

**The quote.** Bid and ask sit ``spread_bps`` apart around the mid (half on each side),
rounded outwards to the tick: $0.01 at or above $1.00, $0.0001 below, the sub-penny rule
the vendor applies to limit prices. Both sides display ``max(1, floor(volume * depth))``
shares, so a liquid name (30 M shares a day) shows 300 at the default depth of 1e-5 and
an IOC for more fills in part.

Floats are used for the path (it is a model); prices that reach an order or a fill are
:class:`~decimal.Decimal` on the tick grid.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from kobe.broker.exchange.history import Bar

CENT = Decimal("0.01")
SUB_PENNY = Decimal("0.0001")


def tick(price: Decimal | float) -> Decimal:
    """The price increment at ``price``: one cent at or above $1.00, 1/100 cent below."""
    return CENT if Decimal(str(price)) >= 1 else SUB_PENNY


def on_tick(price: Decimal) -> bool:
    """Whether ``price`` is a valid limit price (a whole number of ticks)."""
    return price % tick(price) == 0


@dataclass(frozen=True)
class Quote:
    """Top of the book at ``at``: what a marketable order trades against."""

    symbol: str
    bid: Decimal
    ask: Decimal
    bid_size: int
    ask_size: int
    at: dt.datetime


def _vertices(bar: Bar) -> tuple[float, float, float, float]:
    if bar.close >= bar.open:
        return bar.open, bar.low, bar.high, bar.close
    return bar.open, bar.high, bar.low, bar.close


def _times(open_: dt.datetime, close: dt.datetime) -> list[dt.datetime]:
    step = (close - open_) / 3
    return [open_, open_ + step, open_ + 2 * step, close]


def mid_at(bar: Bar, open_: dt.datetime, close: dt.datetime, at: dt.datetime) -> float:
    """The mid price of the path at ``at`` (clamped to the session)."""
    values, times = _vertices(bar), _times(open_, close)
    if at <= open_:
        return values[0]
    if at >= close:
        return values[-1]
    for k in range(3):
        if times[k] <= at <= times[k + 1]:
            span = (times[k + 1] - times[k]).total_seconds()
            w = (at - times[k]).total_seconds() / span if span else 1.0
            return values[k] + (values[k + 1] - values[k]) * w
    return values[-1]


def first_crossing(bar: Bar, open_: dt.datetime, close: dt.datetime, start: dt.datetime, end: dt.datetime,
                   level: float, *, downward: bool) -> dt.datetime | None:
    """The first instant in ``[start, end]`` at which the path's mid is at or below
    ``level`` (``downward``) or at or above it, or ``None``."""
    start, end = max(start, open_), min(end, close)
    if end < start:
        return None
    times = _times(open_, close)

    def hit(x: float) -> bool:
        return x <= level if downward else x >= level

    if hit(mid_at(bar, open_, close, start)):
        return start
    for k in range(3):
        a, b = max(times[k], start), min(times[k + 1], end)
        if b <= a:
            continue
        va, vb = mid_at(bar, open_, close, a), mid_at(bar, open_, close, b)
        if hit(vb):
            # Linear between a and b and not hit at a: solve for the crossing instant.
            w = (level - va) / (vb - va) if vb != va else 1.0
            return a + (b - a) * min(1.0, max(0.0, w))
    return None


@dataclass(frozen=True)
class QuoteModel:
    """How quotes are made from the path: spread in basis points of the mid, displayed
    size as a share of the day's volume."""

    spread_bps: float = 10.0
    depth: float = 1e-5

    @property
    def half(self) -> float:
        return self.spread_bps / 20_000.0

    def size(self, volume: float) -> int:
        return max(1, math.floor(volume * self.depth))

    def quote(self, symbol: str, mid: float, volume: float, at: dt.datetime) -> Quote:
        raw_bid, raw_ask = Decimal(repr(mid * (1 - self.half))), Decimal(repr(mid * (1 + self.half)))
        bid = max(raw_bid.quantize(tick(raw_bid), rounding=ROUND_FLOOR), SUB_PENNY)
        ask = raw_ask.quantize(tick(raw_ask), rounding=ROUND_CEILING)
        if ask <= bid:
            ask = bid + tick(bid)
        size = self.size(volume)
        return Quote(symbol, bid, ask, size, size, at)

    def buy_level(self, limit: Decimal) -> float:
        """The mid at or below which the ask is at or below ``limit``."""
        return float(limit) / (1 + self.half)

    def sell_level(self, limit: Decimal) -> float:
        """The mid at or above which the bid is at or above ``limit``."""
        return float(limit) / (1 - self.half) if self.half < 1 else math.inf
