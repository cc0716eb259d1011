"""OCO exit orders: which of the take-profit and the stop-loss ends the position, and at what price.

An OCO order (``order_class: "oco"``) is the vendor's way to rest a profit target and a
protective stop on the same shares: the parent is a limit at the take-profit, its one
leg a stop at the stop-loss, and whichever executes cancels the other. A **sell** OCO
exits a long (the take-profit above the price, the stop below it); a **buy** OCO exits a
short, the mirror image (the take-profit below the price, the stop above it). The venue
plays the pair by the backtest's exit rules (``kobe/decide/exits.py``), on the path's
mid price and without the half-spread, so the exit lands where the backtest books it:

- **Gap**: a session that *opens* beyond the stop (at or below it for a sell, at or
  above it for a buy) fills the stop at the open; one that opens beyond the take-profit
  (at or above it for a sell, at or below it for a buy) fills the take-profit at the open.
- **Inside the range**: otherwise the first level the path reaches fills, at the level
  itself: the stop at ``stop_price`` (:func:`~kobe.broker.exchange.stops.trigger`), the
  take-profit at ``limit_price`` (:func:`target_trigger`). A sell's stop is reached as
  the price falls to it and its take-profit as it rises; a buy's the other way round.
- **Both in one bar**: the backtest only knows the bar's range and assumes the stop came
  first. The stand-in knows its path (open, low, high, close on an up day; open, high,
  low, close on a down day), so it follows it, whichever level that reaches first: for a
  sell, on an up day the low comes first (the stop, as the backtest says), on a down day
  the high does (the take-profit, where the backtest says stop); for a buy, the other
  way round (down day: the high, the stop, as the backtest; up day: the low, the
  take-profit). Reached at the same instant (never on the path, the stop lying on the
  other side of the price from the take-profit): the stop.
- **Placed through the market** in session (a take-profit beyond the price, or a stop
  leg replaced beyond it): it fills on arrival at the path's price, rounded to the tick
  against the order (down for a sell, up for a buy), never worse for the order than the
  take-profit's limit, as a stop placed through the market does.

The take-profit fills in full at its price whatever the displayed size, as a triggered
stop does: the backtest's target is one price for the whole position.
"""

from __future__ import annotations

import datetime as dt

from kobe.broker.exchange.history import Bar
from kobe.broker.exchange.records import Order
from kobe.broker.exchange.stops import Trigger, level_reached, trigger


def target_trigger(order: Order, bar: Bar, open_: dt.datetime, close: dt.datetime, start: dt.datetime,
                   end: dt.datetime, *, placed: bool) -> Trigger | None:
    """Where a take-profit at ``order.limit_price`` is reached between ``start`` and ``end``
    of one session (the mid at or above it for a sell, at or below it for a buy), and its
    price: the open on a gap, the limit inside the range, the path's price rounded against
    the order (down for a sell, up for a buy) when placed through the market."""
    assert order.limit_price is not None
    sell = order.side == "sell"
    # A sell's target is above the price (the path rises to it), a buy's below (it falls to it).
    reached = level_reached(bar, open_, close, start, end, order.limit_price, downward=not sell, sell=sell,
                            placed=placed)
    if reached is None:
        return None
    if not placed:
        return reached
    # Rounding against the order never takes the fill past the limit (a limit order's promise).
    return Trigger(reached.at, max(order.limit_price, reached.price) if sell else min(order.limit_price, reached.price))


def first_exit(parent: Order, leg: Order, bar: Bar, open_: dt.datetime, close: dt.datetime, start: dt.datetime,
               end: dt.datetime, *, placed_target: bool, placed_stop: bool) -> tuple[Order, Trigger] | None:
    """Which of an OCO's two orders executes first between ``start`` and ``end`` of one
    session (``parent``, the take-profit, or ``leg``, the stop-loss), and where; ``None``
    when neither level is reached. ``placed_*``: ``start`` is that order's arrival."""
    stop = trigger(leg, bar, open_, close, start, end, placed=placed_stop)
    target = target_trigger(parent, bar, open_, close, start, end, placed=placed_target)
    if stop is not None and (target is None or stop.at <= target.at):
        return leg, stop
    if target is not None:
        return parent, target
    return None
