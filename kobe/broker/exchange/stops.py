"""Stop and stop-limit orders: when the market reaches the stop, and at what price.

A stop is a protective order held at the broker, and the backtest assumes how it ends
(its exit rules, ``docs/backtest.md``): a bar that opens beyond the stop (a gap) fills
at the open, otherwise the stop itself fills. The venue plays stops by the same rule, on
the path's mid price (:mod:`~kobe.broker.exchange.quotes`) and with no half-spread, so
that a stop held at the stand-in ends at the price the backtest booked for it:

- A **sell** stop triggers when the mid trades at or below ``stop_price``; a **buy**
  stop at or above it.
- **Gap**: when a session *opens* at or beyond the stop, it triggers at the open and
  fills at the open price itself (a sell stop at 147 over an open of 145.74 sells at
  145.74).
- **Inside the range**: otherwise it triggers at the first instant the path reaches the
  stop and fills at ``stop_price`` exactly (a sell stop at 153.50 in a day whose low is
  153.46 sells at 153.50).
- **Placed through the market** in session (a sell stop above the price): it triggers
  on arrival and fills at the path's price then, rounded to the tick against the order
  (down for a sell). Placed while the market is shut, it meets the next open: the gap
  rule.

A triggered ``stop`` fills in full at that price (as a market order does, whatever the
displayed size). A triggered ``stop_limit`` becomes a limit order at ``limit_price``: it
fills in full at the trigger price when that is within the limit, and otherwise rests as
an ordinary limit order of the venue (:func:`~kobe.broker.exchange.matching.on_crossing`,
against the quote with its spread).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from kobe.broker.exchange.history import Bar
from kobe.broker.exchange.quotes import first_crossing, mid_at, tick
from kobe.broker.exchange.records import Order


@dataclass(frozen=True)
class Trigger:
    """The stop was reached at ``at``; ``price`` is what the market traded there: the
    open on a gap, the stop itself inside the range, the path's price when placed
    through the market."""

    at: dt.datetime
    price: Decimal


def level_reached(bar: Bar, open_: dt.datetime, close: dt.datetime, start: dt.datetime, end: dt.datetime,
                  level: Decimal, *, downward: bool, sell: bool, placed: bool) -> Trigger | None:
    """Where the path first reaches ``level`` (falling to it when ``downward``) between
    ``start`` and ``end`` of one session, and the price there: the open on a gap, the
    level itself inside the range, the path's price on the tick (rounded against the order:
    down for a ``sell``) when ``placed`` and the market was already beyond it. The one rule
    for stops and for an OCO's take-profit."""
    at = first_crossing(bar, open_, close, start, end, float(level), downward=downward)
    if at is None:
        return None
    if at <= open_:
        return Trigger(open_, Decimal(repr(bar.open)))
    if placed and at <= start:
        mid = Decimal(repr(mid_at(bar, open_, close, at)))
        return Trigger(at, mid.quantize(tick(mid), rounding=ROUND_FLOOR if sell else ROUND_CEILING))
    return Trigger(at, level)


def trigger(order: Order, bar: Bar, open_: dt.datetime, close: dt.datetime, start: dt.datetime,
            end: dt.datetime, *, placed: bool) -> Trigger | None:
    """Where ``order``'s stop triggers between ``start`` and ``end`` of one session, or
    ``None``. ``placed``: ``start`` is the order's arrival, so a price already beyond the
    stop there is the market the order was placed into, not a crossing since the last
    look."""
    assert order.stop_price is not None
    sell = order.side == "sell"
    return level_reached(bar, open_, close, start, end, order.stop_price, downward=sell, sell=sell, placed=placed)


def within_limit(order: Order, price: Decimal) -> bool:
    """Whether a triggered stop-limit may trade at ``price``: at or above its limit for a
    sell, at or below it for a buy."""
    assert order.limit_price is not None
    return price >= order.limit_price if order.side == "sell" else price <= order.limit_price
