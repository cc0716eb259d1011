"""Alpaca's trading API (v2 subset): account, clock, calendar, assets, orders and positions.

Request parsing follows what alpaca-py sends (broker-apis.md 1.2, 1.3, 6, 7): order
bodies carry numbers where the vendor documents strings, so both are accepted; query
booleans come as ``True``/``False``; datetimes as ISO 8601 with an offset. Orders are
market, limit, stop and stop-limit, and OCO exits (``order_class: "oco"``: a limit
whose ``take_profit.limit_price`` is the parent and whose ``stop_loss.stop_price`` is its
one leg, a stop; a sell exits a long, a buy a short); ``PATCH /v2/orders/{id}`` replaces
a working one, an OCO's leg included; ``nested=true`` writes an OCO's leg under its
parent's ``legs``. Anything the stand-in does not trade (trailing stops, bracket/OTO
orders, an OCO's stop-limit leg, notional orders, extended hours, ``opg``/``cls``, stops
other than DAY/GTC) is refused with 422 and a message saying so, rather than half-done.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from kobe.broker.exchange import wire
from kobe.broker.exchange.clock import market_clock
from kobe.broker.exchange.errors import UNPROCESSABLE, VendorError, unprocessable
from kobe.broker.exchange.limits import (
    MAX_DIGITS,
    MAX_PRICE,
    MAX_QTY,
    QTY_PLACES,
    QTY_STEP,
    shown,
)
from kobe.broker.exchange.quotes import CENT, on_tick
from kobe.broker.exchange.records import STOP_TYPES, Order, asset_id
from kobe.broker.exchange.routing import Reply, Request, Route
from kobe.broker.exchange.venue import OrderRequest, ReplaceRequest
from kobe.config.errors import KobeError
from kobe.data import calendar

if TYPE_CHECKING:
    from kobe.broker.exchange.app import Exchange

MAX_CLIENT_ORDER_ID = 48
MAX_LIST_LIMIT = 500
ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
PRICE_FIELDS = {"market": (), "limit": ("limit_price",), "stop": ("stop_price",),
                "stop_limit": ("stop_price", "limit_price")}
"""The price fields each order type needs; the others are refused on it."""


def decimal(value: Any, name: str) -> Decimal:
    """A JSON number or numeric string as a Decimal (floats through ``repr``, so 190.2
    stays 190.2): finite, and of at most :data:`MAX_DIGITS` significant digits and
    decimal places (``1e999999`` is no quantity or price, and arithmetic on it would
    overflow the decimal context)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise unprocessable(f"invalid {name}")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        # ValueError: an int of more digits than Python converts to text.
        raise unprocessable(f"invalid {name}: {shown(value)}") from None
    if not number.is_finite():
        raise unprocessable(f"invalid {name}: {shown(value)}")
    if number and not -MAX_DIGITS <= number.adjusted() <= MAX_DIGITS:
        raise unprocessable(f"invalid {name}: {shown(value)} is out of range")
    if len(number.as_tuple().digits) > MAX_DIGITS:
        raise unprocessable(f"invalid {name}: {shown(value)} has more than {MAX_DIGITS} digits")
    return number


def price(value: Any, name: str) -> Decimal:
    """A limit or stop price: positive, at most :data:`MAX_PRICE`, on the tick grid, as
    the vendor requires."""
    number = decimal(value, name)
    if number <= 0:
        raise unprocessable(f"{name} must be > 0")
    if number > MAX_PRICE:
        raise unprocessable(f"{name} must be <= {MAX_PRICE}")
    if not on_tick(number):
        raise unprocessable(f"invalid {name} {wire.plain(number)}. sub-penny increment does not fulfill "
                            "minimum pricing criteria")
    return number


def shares(value: Any, name: str = "qty") -> Decimal:
    """A quantity of shares: positive, at most :data:`MAX_QTY`, and at most
    :data:`QTY_PLACES` decimal places (the vendor's fractional precision)."""
    qty = decimal(value, name)
    if qty <= 0:
        raise unprocessable(f"{name} must be > 0")
    if qty > MAX_QTY:
        raise unprocessable(f"{name} must be <= {MAX_QTY}")
    if qty != qty.quantize(QTY_STEP, rounding=ROUND_DOWN):
        raise unprocessable(f"{name} must have at most {QTY_PLACES} decimal places")
    return qty


def client_order_id(body: dict[str, Any]) -> str | None:
    cid = body.get("client_order_id")
    if cid is not None and (not isinstance(cid, str) or not cid or len(cid) > MAX_CLIENT_ORDER_ID):
        raise unprocessable(f"client_order_id must be a string of 1 to {MAX_CLIENT_ORDER_ID} characters")
    return cid


def parse_order(body: Any) -> OrderRequest:
    """The body of ``POST /v2/orders`` as an :class:`OrderRequest`, or a 422."""
    if not isinstance(body, dict):
        raise unprocessable("request body must be a JSON object")
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise unprocessable("symbol is required")
    side = body.get("side")
    if side not in ("buy", "sell"):
        raise unprocessable(f"invalid side {side!r}: use buy or sell")
    kind = body.get("type", body.get("order_type"))
    if kind not in ORDER_TYPES:
        if kind == "trailing_stop":
            raise unprocessable(f"{kind} orders are not supported by the stand-in exchange")
        raise unprocessable(f"invalid order type {kind!r}")
    tif = body.get("time_in_force")
    if tif not in ("day", "gtc", "ioc", "fok"):
        if tif in ("opg", "cls"):
            raise unprocessable(f"time_in_force {tif} is not supported by the stand-in exchange")
        raise unprocessable(f"invalid time_in_force {tif!r}")
    order_class = body.get("order_class")
    if order_class not in (None, "", "simple", "oco"):
        raise unprocessable(f"order_class {order_class} is not supported by the stand-in exchange")
    if order_class == "oco":
        return parse_oco(body, symbol.strip().upper(), side, kind, tif)
    if kind in STOP_TYPES and tif not in ("day", "gtc"):
        raise unprocessable(f"{kind} orders with time_in_force {tif} are not supported by the stand-in exchange "
                            "(use day or gtc)")
    for unsupported in ("notional", "trail_price", "trail_percent", "take_profit", "stop_loss"):
        if body.get(unsupported) is not None:
            raise unprocessable(f"{unsupported} is not supported by the stand-in exchange")
    if body.get("extended_hours"):
        raise unprocessable("extended hours trading is not supported by the stand-in exchange")
    qty = quantity(body)
    if qty != qty.to_integral_value():
        if tif != "day":
            raise unprocessable("fractional orders must be DAY orders")
        if kind in STOP_TYPES:
            raise unprocessable(f"fractional qty is not allowed on {kind} orders")
    prices: dict[str, Decimal] = {}
    for name in ("limit_price", "stop_price"):
        if name in PRICE_FIELDS[kind]:
            if body.get(name) is None:
                raise unprocessable(f"{name} is required for {kind} orders")
            prices[name] = price(body[name], name)
        elif body.get(name) is not None:
            raise unprocessable(f"{name} is not allowed on {kind} orders")
    return OrderRequest(symbol.strip().upper(), side, kind, tif, qty, prices.get("limit_price"),
                        client_order_id(body), prices.get("stop_price"))


def quantity(body: dict[str, Any]) -> Decimal:
    if body.get("qty") is None:
        raise unprocessable("qty is required")
    return shares(body["qty"])


def parse_oco(body: dict[str, Any], symbol: str, side: str, kind: str, tif: str) -> OrderRequest:
    """An OCO exit (broker-apis.md 6.1, 6.2): ``type`` ``limit``, DAY or GTC, whole
    shares; the parent is the take-profit (``take_profit.limit_price``; a top-level
    ``limit_price``, which alpaca-py may leave out, must be the same), its leg the
    stop-loss (``stop_loss.stop_price``), on the losing side of the take-profit by at
    least a cent: below it for a sell (the exit of a long), above it for a buy (the exit
    of a short)."""
    if kind != "limit":
        raise unprocessable("oco orders must be of type limit (the take-profit)")
    if tif not in ("day", "gtc"):
        raise unprocessable("time_in_force must be day or gtc for oco orders")
    for unsupported in ("notional", "trail_price", "trail_percent"):
        if body.get(unsupported) is not None:
            raise unprocessable(f"{unsupported} is not supported by the stand-in exchange")
    if body.get("extended_hours"):
        raise unprocessable("extended hours trading is not supported by the stand-in exchange")
    if body.get("stop_price") is not None:
        raise unprocessable("stop_price is not allowed on oco orders: give stop_loss.stop_price")
    qty = quantity(body)
    if qty != qty.to_integral_value():
        raise unprocessable("fractional qty is not allowed on oco orders")
    take_profit, stop_loss = body.get("take_profit"), body.get("stop_loss")
    if not isinstance(take_profit, dict) or take_profit.get("limit_price") is None:
        raise unprocessable("oco orders require take_profit.limit_price")
    if not isinstance(stop_loss, dict) or stop_loss.get("stop_price") is None:
        raise unprocessable("oco orders require stop_loss.stop_price")
    if stop_loss.get("limit_price") is not None:
        raise unprocessable("a stop-limit stop_loss (stop_loss.limit_price) is not supported by the stand-in "
                            "exchange: give stop_loss.stop_price alone")
    limit = price(take_profit["limit_price"], "take_profit.limit_price")
    stop = price(stop_loss["stop_price"], "stop_loss.stop_price")
    if body.get("limit_price") is not None and price(body["limit_price"], "limit_price") != limit:
        raise unprocessable("limit_price must equal take_profit.limit_price on an oco order")
    if side == "sell" and stop > limit - CENT:
        raise VendorError(422, "stop_loss.stop_price must be <= base_price - 0.01", UNPROCESSABLE,
                          {"base_price": wire.plain(limit)})
    if side == "buy" and stop < limit + CENT:
        raise VendorError(422, "stop_loss.stop_price must be >= base_price + 0.01", UNPROCESSABLE,
                          {"base_price": wire.plain(limit)})
    return OrderRequest(symbol, side, "limit", tif, qty, limit, client_order_id(body), None, "oco", stop)


def query_bool(value: str | None, name: str) -> bool:
    """A query boolean: alpaca-py sends ``True``/``False``, the vendor documents ``true``."""
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise unprocessable(f"invalid {name}: {value!r}")
    return value.lower() == "true"


def with_legs(ex: Exchange, order: Order, nested: bool) -> dict[str, Any]:
    """``order`` on the wire; an OCO parent's leg under ``legs`` when ``nested``."""
    legs = ex.venue.legs(order.id) if nested and order.is_oco and not order.is_leg else None
    return wire.order(order, legs)


def parse_replace(body: Any) -> ReplaceRequest:
    """The body of ``PATCH /v2/orders/{id}`` as a :class:`ReplaceRequest`, or a 422.
    Whole shares only and DAY or GTC, as the vendor's replace allows; whether a price
    field fits the order's type is the venue's check."""
    if not isinstance(body, dict):
        raise unprocessable("request body must be a JSON object")
    if body.get("trail") is not None:
        raise unprocessable("trail is only for trailing_stop orders, which the stand-in exchange does not trade")
    qty = None
    if body.get("qty") is not None:
        qty = shares(body["qty"])
        if qty != qty.to_integral_value():
            raise unprocessable("qty must be a whole number of shares > 0")
    tif = body.get("time_in_force")
    if tif not in (None, "day", "gtc"):
        raise unprocessable(f"time_in_force {tif} is not supported for a replace by the stand-in exchange "
                            "(use day or gtc)")
    limit = price(body["limit_price"], "limit_price") if body.get("limit_price") is not None else None
    stop = price(body["stop_price"], "stop_price") if body.get("stop_price") is not None else None
    return ReplaceRequest(qty, tif, limit, stop, client_order_id(body))


def query_time(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        raise unprocessable(f"invalid {name}: {value!r}") from None
    return instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)


def query_date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise unprocessable(f"invalid {name}: {value!r}") from None


def get_account(ex: Exchange, req: Request) -> Reply:
    return Reply(body=wire.account(ex.venue.account()))


def get_clock(ex: Exchange, req: Request) -> Reply:
    return Reply(body=wire.clock(market_clock(ex.clock.now())))


def get_calendar(ex: Exchange, req: Request) -> Reply:
    today = calendar.trading_date(ex.clock.now())
    start = query_date(req.query.get("start"), "start") or today - dt.timedelta(days=366)
    end = query_date(req.query.get("end"), "end") or today + dt.timedelta(days=366)
    try:
        days = calendar.sessions(start, end)
    except KobeError as err:
        raise unprocessable(err.diagnostics[0].message) from None
    return Reply(body=[wire.calendar_day(d, *calendar.session_open_close(d)) for d in days])


def post_order(ex: Exchange, req: Request) -> Reply:
    # The vendor's answer to an OCO carries its leg, as ``nested`` would (observed, not
    # documented; Kobe reads the leg's id from it).
    return Reply(body=with_legs(ex, ex.venue.submit(parse_order(req.body)), nested=True))


def list_orders(ex: Exchange, req: Request) -> Reply:
    q = req.query
    status = q.get("status", "open")
    if status not in ("open", "closed", "all"):
        raise unprocessable(f"invalid status {status!r}")
    try:
        limit = int(q.get("limit", "50"))
    except ValueError:
        raise unprocessable("invalid limit") from None
    if not 0 < limit <= MAX_LIST_LIMIT:
        raise unprocessable(f"limit must be between 1 and {MAX_LIST_LIMIT}")
    direction = q.get("direction", "desc")
    if direction not in ("asc", "desc"):
        raise unprocessable(f"invalid direction {direction!r}")
    side = q.get("side")
    if side not in (None, "buy", "sell"):
        raise unprocessable(f"invalid side {side!r}")
    symbols = {s.strip().upper() for s in q["symbols"].split(",") if s.strip()} if q.get("symbols") else None
    nested = query_bool(q.get("nested"), "nested")
    orders = ex.venue.list_orders(status, limit, query_time(q.get("after"), "after"),
                                  query_time(q.get("until"), "until"), direction, side, symbols, nested)
    return Reply(body=[with_legs(ex, o, nested) for o in orders])


def get_order(ex: Exchange, req: Request) -> Reply:
    nested = query_bool(req.query.get("nested"), "nested")
    return Reply(body=with_legs(ex, ex.venue.get(req.params["order_id"]), nested))


def get_order_by_client_id(ex: Exchange, req: Request) -> Reply:
    cid = req.query.get("client_order_id")
    if not cid:
        raise unprocessable("client_order_id is required")
    return Reply(body=wire.order(ex.venue.get_by_client_id(cid)))


def patch_order(ex: Exchange, req: Request) -> Reply:
    return Reply(body=with_legs(ex, ex.venue.replace(req.params["order_id"], parse_replace(req.body)), nested=True))


def delete_order(ex: Exchange, req: Request) -> Reply:
    ex.venue.cancel(req.params["order_id"])
    return Reply(status=204)


def list_positions(ex: Exchange, req: Request) -> Reply:
    return Reply(body=[wire.position(v) for v in ex.venue.all_positions()])


def get_position(ex: Exchange, req: Request) -> Reply:
    return Reply(body=wire.position(ex.venue.position(req.params["symbol"])))


def delete_position(ex: Exchange, req: Request) -> Reply:
    qty = req.query.get("qty")
    percentage = req.query.get("percentage")
    if qty is not None and percentage is not None:
        raise unprocessable("give qty or percentage, not both")
    amount = shares(qty) if qty is not None else None
    share = decimal(percentage, "percentage") if percentage is not None else None
    if share is not None and not 0 < share <= 100:
        raise unprocessable("percentage must be in (0, 100]")
    return Reply(body=wire.order(ex.venue.close_position(req.params["symbol"], amount, share)))


def _asset(ex: Exchange, symbol_or_id: str) -> dict[str, Any]:
    """An asset by symbol or by its UUID, as the vendor finds either."""
    key = symbol_or_id.upper()
    if key not in ex.venue.assets.listed:
        key = next((s for s in ex.venue.assets.listed if asset_id(s) == symbol_or_id.lower()), key)
    return _with_options(ex, wire.asset(ex.venue.assets.flags(key)))


def _with_options(ex: Exchange, asset: dict[str, Any]) -> dict[str, Any]:
    """The asset with Alpaca's ``options_enabled`` attribute when it has listed options
    (:mod:`~kobe.broker.exchange.option_chains`)."""
    from kobe.broker.exchange.option_chains import OPTIONS_ENABLED, optionable

    if optionable(ex, asset["symbol"]):
        asset["attributes"] = [OPTIONS_ENABLED]
    return asset


def get_asset(ex: Exchange, req: Request) -> Reply:
    return Reply(body=_asset(ex, req.params["symbol"]))


def list_assets(ex: Exchange, req: Request) -> Reply:
    """Every listed symbol; filters on ``status``, ``asset_class`` (the vendor's default
    is ``us_equity``) and ``exchange`` (the stand-in's assets have none, so any gives
    nothing) and ``attributes`` (comma-separated, any of them: only ``options_enabled``
    is ever set)."""
    q = req.query
    if q.get("status") not in (None, "active", "inactive"):
        raise unprocessable(f"invalid status {q['status']!r}")
    if q.get("status") == "inactive" or q.get("asset_class", "us_equity") != "us_equity" or q.get("exchange"):
        return Reply(body=[])
    assets = [_with_options(ex, wire.asset(flags)) for flags in ex.venue.assets.all()]
    wanted = {a.strip() for a in q.get("attributes", "").split(",") if a.strip()}
    if wanted:
        assets = [a for a in assets if wanted & set(a["attributes"])]
    return Reply(body=assets)


ORDER_ID = r"(?P<order_id>[^/:]+)"
ROUTES = [
    Route("GET", r"/v2/account", "alpaca", get_account),
    Route("GET", r"/v2/clock", "alpaca", get_clock),
    Route("GET", r"/v2/calendar", "alpaca", get_calendar),
    Route("GET", r"/v2/assets", "alpaca", list_assets),
    # Not URL-encoded by alpaca-py: "BRK/B" would arrive as two segments and 404, as at the vendor.
    Route("GET", r"/v2/assets/(?P<symbol>[^/]+)", "alpaca", get_asset),
    Route("POST", r"/v2/orders", "alpaca", post_order),
    Route("GET", r"/v2/orders", "alpaca", list_orders),
    Route("GET", r"/v2/orders:by_client_order_id", "alpaca", get_order_by_client_id),
    Route("GET", rf"/v2/orders/{ORDER_ID}", "alpaca", get_order),
    Route("PATCH", rf"/v2/orders/{ORDER_ID}", "alpaca", patch_order),
    Route("DELETE", rf"/v2/orders/{ORDER_ID}", "alpaca", delete_order),
    Route("GET", r"/v2/positions", "alpaca", list_positions),
    Route("GET", r"/v2/positions/(?P<symbol>[^/]+)", "alpaca", get_position),
    Route("DELETE", r"/v2/positions/(?P<symbol>[^/]+)", "alpaca", delete_position),
]
