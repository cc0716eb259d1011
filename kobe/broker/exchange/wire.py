"""The JSON the exchange writes, shaped as the vendor's (broker-apis.md 1.4, 1.5, 2).

The rules the real clients enforce: decimals as strings (Position, TradeAccount and the
Order's decimals), exact lower-case enums (upper-case for the account status), canonical
UUIDs, non-null ``created_at``/``updated_at``/``submitted_at``, and timestamps in RFC 3339
with ``Z`` (the clock, like the vendor's, in New York's offset).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kobe.broker.exchange.clock import MarketClock
from kobe.broker.exchange.quotes import Quote
from kobe.broker.exchange.records import Order, asset_id
from kobe.data.calendar import NEW_YORK

if TYPE_CHECKING:
    from kobe.broker.exchange.assets import AssetFlags
    from kobe.broker.exchange.venue import AccountView, PositionView

UTC = dt.UTC


def plain(value: Decimal | None) -> str | None:
    """A decimal as the vendor writes it: no exponent, no trailing zeros (``"5"``,
    ``"190.1"``)."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def money(value: Decimal) -> str:
    """Dollars rounded to the cent, as the account endpoint writes them."""
    return format(value.quantize(Decimal("0.01")), "f")


def timestamp(instant: dt.datetime | None) -> str | None:
    """RFC 3339 in UTC with microseconds and ``Z``."""
    if instant is None:
        return None
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_york(instant: dt.datetime) -> str:
    """RFC 3339 in New York's offset, as Alpaca's clock writes it."""
    return instant.astimezone(NEW_YORK).isoformat()


def order(o: Order, legs: list[Order] | None = None) -> dict[str, Any]:
    """An order as the vendor writes it; ``legs``: an OCO parent's leg, written in full
    under ``legs`` (``nested``, and the answer to the POST), else ``null``."""
    return {
        "id": o.id, "client_order_id": o.client_order_id,
        "created_at": timestamp(o.created_at), "updated_at": timestamp(o.updated_at),
        "submitted_at": timestamp(o.submitted_at), "filled_at": timestamp(o.filled_at),
        "expired_at": timestamp(o.expired_at), "canceled_at": timestamp(o.canceled_at),
        "failed_at": timestamp(o.failed_at), "replaced_at": timestamp(o.replaced_at),
        "replaced_by": o.replaced_by, "replaces": o.replaces,
        "asset_id": o.asset_id, "symbol": o.symbol, "asset_class": "us_equity", "notional": None,
        "qty": plain(o.qty), "filled_qty": plain(o.filled_qty),
        "filled_avg_price": plain(o.filled_avg_price.quantize(Decimal("0.0001"))) if o.filled_avg_price else None,
        "order_class": o.order_class, "order_type": o.type, "type": o.type, "side": o.side,
        "position_intent": o.intent,
        "time_in_force": o.time_in_force, "limit_price": plain(o.limit_price), "stop_price": plain(o.stop_price),
        "status": o.status, "extended_hours": False,
        "legs": [order(leg) for leg in legs] if legs is not None else None,
        "trail_percent": None, "trail_price": None, "hwm": None,
    }


def position(view: PositionView) -> dict[str, Any]:
    """A position; a short has negative ``qty``, ``market_value`` and ``cost_basis`` and
    a positive ``avg_entry_price`` (broker-apis.md 11)."""
    p = view.position
    market_value = p.qty * view.current_price
    pl = market_value - p.cost_basis
    out: dict[str, Any] = {
        "asset_id": asset_id(p.symbol), "symbol": p.symbol,
        # The bars file does not say where a symbol is listed; "" is the enum's
        # "unknown", where a made-up NYSE or NASDAQ would be wrong half the time.
        "exchange": "", "asset_class": "us_equity", "asset_marginable": False,
        "avg_entry_price": plain(p.avg_entry_price.quantize(Decimal("0.0001"))), "qty": plain(p.qty),
        "qty_available": plain(view.qty_available), "side": "short" if p.qty < 0 else "long", "market_value": money(market_value),
        "cost_basis": money(p.cost_basis), "unrealized_pl": money(pl),
        "unrealized_plpc": plain((pl / abs(p.cost_basis)).quantize(Decimal("0.0000001"))) if p.cost_basis else "0",
        "current_price": plain(view.current_price),
    }
    if view.lastday_price is not None:
        out["lastday_price"] = plain(view.lastday_price)
        out["change_today"] = plain(((view.current_price - view.lastday_price) / view.lastday_price)
                                    .quantize(Decimal("0.0000001")))
    return out


def account(view: AccountView) -> dict[str, Any]:
    return {
        "id": view.id, "account_number": view.account_number, "status": "ACTIVE", "currency": "USD",
        "cash": money(view.cash), "buying_power": money(view.buying_power),
        "regt_buying_power": money(view.buying_power), "daytrading_buying_power": "0",
        "non_marginable_buying_power": money(view.buying_power), "portfolio_value": money(view.equity),
        "equity": money(view.equity), "long_market_value": money(view.long_market_value),
        "short_market_value": money(view.short_market_value), "multiplier": "1", "pattern_day_trader": False, "trading_blocked": False,
        "transfers_blocked": False, "account_blocked": False, "shorting_enabled": view.shorting_enabled, "daytrade_count": 0,
        "created_at": timestamp(view.created_at),
    }


def asset(flags: AssetFlags) -> dict[str, Any]:
    """An asset as ``GET /v2/assets`` writes it (broker-apis.md 9): the key is ``class``,
    and the listing exchange is "" (the bars do not say where a symbol is listed, as
    for positions). Not ``marginable``: the stand-in's account is a cash account."""
    return {"id": asset_id(flags.symbol), "class": "us_equity", "exchange": "", "symbol": flags.symbol,
            "name": flags.symbol, "status": "active", "tradable": True, "marginable": False,
            "shortable": flags.shortable, "easy_to_borrow": flags.easy_to_borrow, "fractionable": True,
            "attributes": []}


def clock(mc: MarketClock) -> dict[str, Any]:
    return {"timestamp": new_york(mc.timestamp), "is_open": mc.is_open,
            "next_open": new_york(mc.next_open), "next_close": new_york(mc.next_close)}


def calendar_day(day: dt.date, open_: dt.datetime, close: dt.datetime) -> dict[str, Any]:
    """One session as ``GET /v2/calendar`` lists it: local New York ``HH:MM`` times."""
    return {"date": day.isoformat(), "open": open_.astimezone(NEW_YORK).strftime("%H:%M"),
            "close": close.astimezone(NEW_YORK).strftime("%H:%M"),
            "session_open": "0400", "session_close": "2000"}


def quote(q: Quote) -> dict[str, Any]:
    return {"t": timestamp(q.at), "bp": float(q.bid), "bs": q.bid_size, "ap": float(q.ask), "as": q.ask_size}
