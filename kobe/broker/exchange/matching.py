"""Matching: when and at what price an order trades against the modelled book.

Pure functions from an order and a quote (or the price path) to an execution. The
rules, which ``docs/exchange.md`` states for traders:

- **On arrival** an order meets the quote of that instant. A buy is marketable when it
  is a market order or its limit is at or above the ask (a sell: at or below the bid).
  A marketable limit order takes at most the displayed size, at the ask (bid); a market
  order fills in full at the touch.
- **IOC**: what does not trade on arrival is canceled, so a partial IOC ends
  ``canceled`` with ``0 < filled_qty < qty``, and an IOC that cannot trade at all ends
  ``canceled`` with nothing filled (never ``rejected``).
- **FOK**: fills in full on arrival or is canceled with nothing traded.
- **DAY/GTC limit**: the remainder rests. It fills in full at the first instant after
  it started resting at which the path's ask is at or below the limit (a buy) or the
  bid at or above it (a sell), at the touch or the limit, whichever is better for the
  order: the limit when the price moved to it, the touch when the market gapped
  through it or the order was still marketable after taking the displayed size.
- No quote (the symbol has no bar that session: halted, not listed yet, past the data):
  nothing trades; IOC and FOK are canceled.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from kobe.broker.exchange.history import Bar
from kobe.broker.exchange.quotes import Quote, QuoteModel, first_crossing, mid_at
from kobe.broker.exchange.records import Order


@dataclass(frozen=True)
class Execution:
    qty: Decimal
    price: Decimal
    at: dt.datetime


def at_touch(order: Order, quote: Quote) -> Execution | None:
    """What ``order``'s remainder takes from the top of the book right now."""
    buy = order.side == "buy"
    price, size = (quote.ask, quote.ask_size) if buy else (quote.bid, quote.bid_size)
    if order.type == "limit":
        assert order.limit_price is not None
        if (buy and order.limit_price < price) or (not buy and order.limit_price > price):
            return None
        qty = min(order.remaining, Decimal(size))
    else:
        qty = order.remaining
    return Execution(qty, price, quote.at) if qty > 0 else None


def on_arrival(order: Order, quote: Quote | None) -> tuple[Execution | None, str | None]:
    """The execution (if any) when ``order`` first meets the market, and the status it
    then ends in (``filled`` or ``canceled``), or ``None`` if it keeps working."""
    immediate = order.time_in_force in ("ioc", "fok")
    if quote is None:
        return None, "canceled" if immediate else None
    execution = at_touch(order, quote)
    complete = execution is not None and execution.qty >= order.remaining
    if order.time_in_force == "fok" and not complete:
        return None, "canceled"
    if complete:
        return execution, "filled"
    return execution, "canceled" if immediate else None


def on_crossing(order: Order, bar: Bar, open_: dt.datetime, close: dt.datetime, start: dt.datetime,
                end: dt.datetime, model: QuoteModel) -> Execution | None:
    """A resting limit order's fill between ``start`` and ``end`` of one session: the
    whole remainder, at the first instant the touch reaches the limit."""
    assert order.limit_price is not None
    buy = order.side == "buy"
    level = model.buy_level(order.limit_price) if buy else model.sell_level(order.limit_price)
    at = first_crossing(bar, open_, close, start, end, level, downward=buy)
    if at is None:
        return None
    quote = model.quote(order.symbol, mid_at(bar, open_, close, at), bar.volume, at)
    price = min(order.limit_price, quote.ask) if buy else max(order.limit_price, quote.bid)
    return Execution(order.remaining, price, at)
