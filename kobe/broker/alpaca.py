"""The broker as Kobe sees it: alpaca-py's two clients behind a few typed calls, and the
one choke point through which every order leaves.

:meth:`AlpacaBroker.submit` is the **only** code in Kobe that sends an order (a test
checks the source for any other ``submit_order`` or ``close_position`` call). It checks
the kill switch at the last moment, through :meth:`KillSwitch.guard` wrapped around the
network call itself, after the request is built: a switch set at any instant before
the bytes leave stops the order.

What comes back is classified for the executor, because the right reaction differs:

=====================  ==========================================================
:class:`OrderRefused`   the broker said no (403 buying power, 422 bad price or
                        market closed, 401): nothing was placed
:class:`DuplicateOrder` 422 ``client_order_id must be unique``: an order with this
                        id exists already (e.g. alpaca-py re-POSTed after a 504):
                        look it up
:class:`OutcomeUnknown` a timeout, a dropped connection, a 5xx, 429s past the
                        client's retries, an unreadable answer: the order may or may
                        not exist; look it up by ``client_order_id`` before anything
:class:`BrokerUnavailable`  a read (clock, quote, order lookup) failed; nothing changed
=====================  ==========================================================

Every message that leaves this module went through :func:`kobe.secrets.redact`.

**OCO exits** (:meth:`AlpacaBroker.submit_oco`): a profit target and a protective stop
resting on the same shares, as Alpaca's ``order_class: "oco"`` order, so the target fills
the moment the market reaches it, as in the backtest, and not only when a cycle runs. The
request goes through the same guarded :meth:`AlpacaBroker._post` as every order. How the
OMS tracks the two orders it becomes:

- The **parent** is the take-profit (a limit at ``limit_price``: a sell above a long, a
  buy below a short) and carries Kobe's
  ``client_order_id``: record the OCO as one :class:`~kobe.oms.orders.OrderRecord`
  (``order_type="oco"``, ``limit_price`` the target, ``stop_price`` the stop,
  ``time_in_force="gtc"``), whose ``broker_order_id`` is the parent's id.
- The **leg** is the stop-loss (a stop on the same side, status ``held``); the broker makes up its id
  and ``client_order_id``. Keep the leg's id from ``BrokerOrder.legs[0].id`` of the
  submission's answer; when that answer was lost (:class:`OutcomeUnknown`), find the
  parent by ``client_order_id`` and read the leg with :meth:`AlpacaBroker.order_with_legs`.
- **How it ended**: exactly one of the two fills. Parent ``filled``: the target sold
  (the leg ends ``canceled``). Parent ``canceled`` with the leg ``filled``: the stop sold;
  the fill (qty, price, ``filled_at``) is the leg's, so a canceled parent alone does not
  mean nothing sold: read the leg before booking. Both ``expired`` (a DAY OCO) or both
  ``canceled``: nothing sold.
- **Moving a level**: a trailing stop that rose moves the leg,
  ``replace_oco_leg(leg_id, stop_price=...)``; the answer is a new leg (new id,
  ``replaces`` the old one, which ends ``replaced``) under the same parent: store its id.
  A new target moves the parent, ``replace_oco_leg(parent_id, limit_price=...)``: a new
  parent id (the stand-in keeps the leg's id; re-read it with ``order_with_legs``).
- **Another exit** (time, rule): cancel the parent (:meth:`AlpacaBroker.cancel`), which
  cancels both, resolve both to a final state (a level may have filled meanwhile), then
  sell, as :func:`kobe.trade.protect.lift` does for a plain stop.
- **Listings**: :meth:`AlpacaBroker.open_orders` lists both orders flat, the leg as a
  resting ``stop`` with the broker's ``client_order_id`` (so it counts as the position's
  one resting stop, but is no order of Kobe's store); ``open_orders(nested=True)`` lists
  the parent with its leg in ``legs`` instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.data.requests import StockLatestQuoteRequest
from alpaca.trading.enums import OrderClass, OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    ReplaceOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
)

from kobe.broker.base import (
    AssetFlags,
    BrokerOrder,
    BrokerPosition,
    BrokerUnavailable,
    Checkpoint,
    DuplicateOrder,
    MarketClock,
    OrderRefused,
    OutcomeUnknown,
    Quote,
)
from kobe.clients import DEFAULT_TIMEOUT, stock_data_client, trading_client
from kobe.config.errors import Diagnostic, KobeError
from kobe.oms.orders import OrderRecord
from kobe.risk.killswitch import KillSwitch
from kobe.secrets import redact, secret_values

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_HOST = "api.alpaca.markets"
DUPLICATE = "client_order_id must be unique"
REFUSALS = (400, 401, 403, 404, 422)
"""Statuses that mean the broker looked at the order and did not place it."""



def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _num(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def _order(raw: Any) -> BrokerOrder:
    return BrokerOrder(id=str(raw.id), client_order_id=raw.client_order_id, symbol=raw.symbol or "",
                       side=getattr(raw.side, "value", str(raw.side or "")), qty=_num(raw.qty) or 0.0,
                       limit_price=_num(raw.limit_price), status=getattr(raw.status, "value", str(raw.status)),
                       filled_qty=_num(raw.filled_qty) or 0.0, filled_avg_price=_num(raw.filled_avg_price),
                       updated_at=_utc(raw.updated_at),
                       order_type=_word(getattr(raw, "order_type", None) or getattr(raw, "type", None)) or "limit",
                       stop_price=_num(getattr(raw, "stop_price", None)),
                       time_in_force=_word(getattr(raw, "time_in_force", None)) or "ioc",
                       filled_at=_utc(raw.filled_at) if getattr(raw, "filled_at", None) else None,
                       replaced_by=str(raw.replaced_by) if getattr(raw, "replaced_by", None) else None,
                       order_class=_word(getattr(raw, "order_class", None)) or "simple",
                       legs=tuple(_order(leg) for leg in getattr(raw, "legs", None) or ()))


ENDED = ("filled", "canceled", "expired", "rejected", "replaced")


def working_leg(parent: BrokerOrder) -> BrokerOrder | None:
    """An OCO's stop-loss leg that still works (a replaced one is history), else its last."""
    open_legs = [g for g in parent.legs if g.status not in ENDED]
    return open_legs[-1] if open_legs else (parent.legs[-1] if parent.legs else None)


def fold_oco(parent: BrokerOrder) -> BrokerOrder:
    """An OCO (parent and legs) as one order: the shares filled by any of them, at their
    average price, ``filled`` once they are all sold, else the parent's status."""
    parts = [parent, *parent.legs]
    filled = sum(p.filled_qty for p in parts)
    if not any(p.filled_qty for p in parent.legs):
        return parent
    value = sum(p.filled_qty * (p.filled_avg_price or 0.0) for p in parts)
    if filled >= parent.qty - 1e-9:
        status = "filled"
    elif any(p.status not in ENDED for p in parts):
        status = "partially_filled"       # some part still works
    else:
        status = parent.status            # the group ended with part of the shares sold
    times = [p.filled_at for p in parts if p.filled_at is not None]
    leg = working_leg(parent)
    stop = leg.stop_price if leg is not None else parent.stop_price
    return dataclasses.replace(parent, status=status, filled_qty=filled, filled_avg_price=value / filled,
                               filled_at=max(times) if times else parent.filled_at, stop_price=stop)


def _word(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def _http_host(name: str, url: str, secrets: list[str]) -> str:
    """The host of ``url``, the value of the variable ``name``; a :class:`KobeError`
    naming the variable unless it is an http(s) URL with a host and a valid port."""
    def refuse(why: str) -> KobeError:
        shown = redact(url if len(url) <= 80 else url[:77] + "...", [s for s in secrets if s])
        return KobeError(Diagnostic(f"{name} {shown!r} is not a broker's URL: {why}",
                                    hint=f"set {name} to http(s)://host[:port], e.g. {PAPER_URL} or a running "
                                         "`kobe exchange`"))
    try:
        parts = urlsplit(url)
        parts.port     # noqa: B018  (reading it checks it: a port out of 0-65535 or not a number raises)
    except ValueError as err:
        raise refuse(str(err)) from None
    if parts.scheme not in ("http", "https"):
        raise refuse(f"the scheme is {parts.scheme!r}, not http or https" if parts.scheme else "it has no scheme")
    if not parts.hostname:
        raise refuse("it has no host")
    return parts.hostname


@dataclass(frozen=True)
class BrokerSettings:
    """Where the broker is and the keys to it, from the environment (or ``.env``):
    ``ALPACA_BASE_URL`` (default: Alpaca's paper host), ``ALPACA_DATA_URL`` (default:
    the trading URL when it is not Alpaca's, e.g. a ``kobe exchange``; else Alpaca's data
    host), ``ALPACA_API_KEY_ID``, ``ALPACA_API_SECRET_KEY``."""

    base_url: str
    data_url: str | None
    key_id: str
    secret_key: str

    @classmethod
    def from_env(cls, env: Mapping[str, str], paper: bool = True) -> BrokerSettings:
        base = (env.get("ALPACA_BASE_URL") or PAPER_URL).rstrip("/")
        key_id, secret = env.get("ALPACA_API_KEY_ID", ""), env.get("ALPACA_API_SECRET_KEY", "")
        missing = [n for n, v in (("ALPACA_API_KEY_ID", key_id), ("ALPACA_API_SECRET_KEY", secret)) if not v]
        if missing:
            raise KobeError(Diagnostic(f"{' and '.join(missing)} not set", file=".env",
                                       hint="set the Alpaca keys in the environment or in .env"))
        secrets = [key_id, secret]
        host = _http_host("ALPACA_BASE_URL", env.get("ALPACA_BASE_URL") or PAPER_URL, secrets)
        if env.get("ALPACA_DATA_URL"):
            _http_host("ALPACA_DATA_URL", env["ALPACA_DATA_URL"], secrets)
        if paper and host == LIVE_HOST:
            raise KobeError(Diagnostic(f"ALPACA_BASE_URL points at the live host {host} but --paper was given",
                                       hint=f"use {PAPER_URL} or a running `kobe exchange`"))
        data = env.get("ALPACA_DATA_URL") or (None if host.endswith("alpaca.markets") else base)
        return cls(base, data.rstrip("/") if data else None, key_id, secret)

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.key_id, self.secret_key) if len(s) >= 4]


class AlpacaBroker:
    """Alpaca (or the stand-in exchange) through alpaca-py; see the module doc."""

    def __init__(self, trading: Any, data: Any, kill_switch: KillSwitch, secrets: Iterable[str] = (),
                 checkpoint: Checkpoint | None = None) -> None:
        self.trading, self.data, self.kill_switch = trading, data, kill_switch
        self.secrets = [s for s in secrets if s]
        self.checkpoint: Checkpoint = checkpoint or (lambda name: None)
        # The choke point: the kill switch is read when the guarded call starts, i.e.
        # after the request was built and right before the network.
        self._send = kill_switch.guard(self._post)
        self._send_patch = kill_switch.guard(self._patch)

    @classmethod
    def connect(cls, settings: BrokerSettings, kill_switch: KillSwitch, *, timeout: float = DEFAULT_TIMEOUT,
                retry_wait: float | None = None, env: Mapping[str, str] | None = None,
                checkpoint: Checkpoint | None = None) -> AlpacaBroker:
        """Build both clients (with timeouts) from ``settings``."""
        try:
            trading = trading_client(settings.key_id, settings.secret_key, base_url=settings.base_url,
                                     timeout=timeout, retry_wait=retry_wait)
            data = stock_data_client(settings.key_id, settings.secret_key, base_url=settings.data_url,
                                     timeout=timeout, retry_wait=retry_wait)
        except ValueError as err:
            raise KobeError(Diagnostic(redact(str(err), settings.secrets), hint="check ALPACA_BASE_URL")) from None
        secrets = settings.secrets + (secret_values(env) if env is not None else [])
        return cls(trading, data, kill_switch, secrets, checkpoint)

    # -- errors -----------------------------------------------------------------------

    def _text(self, err: BaseException) -> str:
        text = str(err).strip().replace("\n", " ")
        return redact(f"{type(err).__name__}: {text[:300]}", self.secrets)

    def _read_error(self, err: BaseException) -> BrokerUnavailable:
        return BrokerUnavailable(self._text(err), getattr(err, "status_code", None))

    def _read(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except (APIError, requests.RequestException, ValueError) as err:
            raise self._read_error(err) from None

    # -- the choke point ----------------------------------------------------------------

    def _post(self, request: Any) -> Any:
        self.checkpoint("send.before")
        return self.trading.submit_order(request)

    def _patch(self, broker_order_id: str, request: ReplaceOrderRequest) -> Any:
        self.checkpoint("send.before")
        return self.trading.replace_order_by_id(broker_order_id, request)

    def _request(self, order: OrderRecord) -> Any:
        side = OrderSide.BUY if order.side == "buy" else OrderSide.SELL
        if order.qty <= 0:
            raise ValueError(f"{order.client_order_id}: Kobe sends whole-share orders only")
        if order.order_type == "stop":
            if order.stop_price is None:
                raise ValueError(f"{order.client_order_id}: a stop order needs a stop price")
            return StopOrderRequest(symbol=order.symbol, qty=order.qty, stop_price=order.stop_price, side=side,
                                    time_in_force=TimeInForce(order.time_in_force),
                                    client_order_id=order.client_order_id)
        if order.limit_price is None:
            raise ValueError(f"{order.client_order_id}: Kobe sends limit or stop orders only")
        return LimitOrderRequest(symbol=order.symbol, qty=order.qty, limit_price=order.limit_price, side=side,
                                 time_in_force=TimeInForce(order.time_in_force),
                                 client_order_id=order.client_order_id)

    def _oco_request(self, order: OrderRecord) -> LimitOrderRequest:
        """Alpaca's OCO exit for ``order`` (``order_type="oco"``): a limit order of class
        ``oco``, the take-profit at ``limit_price`` and the stop-loss at ``stop_price``;
        no top-level ``limit_price`` (the take-profit's is the parent's)."""
        cid = order.client_order_id
        if order.order_type != "oco":
            raise ValueError(f"{cid}: an OCO exit is an order of type 'oco', not {order.order_type!r}")
        if order.qty <= 0:
            raise ValueError(f"{cid}: Kobe sends whole-share orders only")
        if order.limit_price is None or order.stop_price is None:
            raise ValueError(f"{cid}: an OCO exit needs a take-profit (limit_price) and a stop (stop_price)")
        sell = order.side == "sell"
        if (order.stop_price >= order.limit_price) if sell else (order.stop_price <= order.limit_price):
            raise ValueError(f"{cid}: the stop {order.stop_price} must lie on the losing side of the "
                             f"take-profit {order.limit_price}")
        if order.time_in_force not in ("day", "gtc"):
            raise ValueError(f"{cid}: an OCO exit rests as a DAY or GTC order, not {order.time_in_force}")
        return LimitOrderRequest(symbol=order.symbol, qty=order.qty, side=OrderSide.SELL if sell else OrderSide.BUY,
                                 time_in_force=TimeInForce(order.time_in_force), order_class=OrderClass.OCO,
                                 take_profit=TakeProfitRequest(limit_price=order.limit_price),
                                 stop_loss=StopLossRequest(stop_price=order.stop_price),
                                 client_order_id=cid)

    def _outcome(self, call: Callable[[], Any]) -> BrokerOrder:
        """Run a sending call and classify what came back (the module doc's table)."""
        try:
            raw = call()
        except APIError as err:
            status, text = err.status_code, self._text(err)
            if status == 422 and DUPLICATE in str(err):
                raise DuplicateOrder(text, status) from None
            if status in REFUSALS:
                raise OrderRefused(text, status) from None
            raise OutcomeUnknown(text, status) from None       # 5xx, 429 past the retries
        except requests.RequestException as err:
            raise OutcomeUnknown(self._text(err)) from None    # timeout, connection dropped
        try:
            return _order(raw)
        except (ValueError, TypeError, AttributeError) as err:
            raise OutcomeUnknown(f"unreadable answer: {self._text(err)}") from None

    def submit(self, order: OrderRecord) -> BrokerOrder:
        """Send ``order`` with its ``client_order_id``: an IOC limit order (entries and
        exits) or a GTC stop (the protective stop that rests at the broker).

        Raises :class:`~kobe.risk.killswitch.KillSwitchActive` (nothing sent),
        :class:`OrderRefused`, :class:`DuplicateOrder` or :class:`OutcomeUnknown`.
        """
        if order.order_type == "oco":
            return self.submit_oco(order)
        request = self._request(order)
        return self._outcome(lambda: self._send(request))

    def replace(self, broker_order_id: str, order: OrderRecord) -> BrokerOrder:
        """Move the resting order ``broker_order_id`` to ``order``'s stop (a trailing stop
        that rose), as ``PATCH /v2/orders/{id}``; the replacement carries ``order``'s
        ``client_order_id``. Guarded by the kill switch like a submission: while it is
        set, a stop stays where it is (it still protects)."""
        if order.order_type == "oco":
            # The OCO's parent (Kobe's id) stays; its stop-loss leg is what moves.
            leg = working_leg(self.order_with_legs(broker_order_id))
            if leg is None:
                raise OrderRefused(f"{order.client_order_id}: the OCO has no stop-loss leg to move", 422)
            self.replace_oco_leg(leg.id, stop_price=order.stop_price)
            return self.order(broker_order_id)
        request = ReplaceOrderRequest(qty=order.qty, stop_price=order.stop_price,
                                      client_order_id=order.client_order_id)
        return self._outcome(lambda: self._send_patch(broker_order_id, request))

    def submit_oco(self, order: OrderRecord) -> BrokerOrder:
        """Rest ``order`` as an OCO exit of a held position: the take-profit (a limit at
        ``order.limit_price``, the parent, with ``order.client_order_id``) and the stop
        (``order.stop_price``, the one leg) on the same shares; ``order.order_type`` must
        be ``"oco"``, its ``time_in_force`` ``"gtc"`` or ``"day"``. The answer is the parent,
        its leg in ``legs`` (the module doc says how to track both).

        Sent through the same kill-switch-guarded choke point as :meth:`submit`; raises as
        it does (:class:`OrderRefused` also for the vendor's ``stop_loss.stop_price must be
        <= base_price - 0.01``: the stop at or above the market or the target), and
        ``ValueError`` (nothing sent) for a record that is no OCO exit.
        """
        request = self._oco_request(order)
        return self._outcome(lambda: self._send(request))

    def replace_oco_leg(self, broker_order_id: str, *, stop_price: float | None = None,
                        limit_price: float | None = None, client_order_id: str | None = None) -> BrokerOrder:
        """Move one level of a resting OCO with ``PATCH /v2/orders/{id}``: the stop-loss
        leg's ``stop_price`` (``broker_order_id`` the leg's), or the take-profit's
        ``limit_price`` (the parent's); only that price (and ``client_order_id``) is sent,
        not the quantity. The answer is the new order (new id, ``replaces`` the old one).
        Guarded by the kill switch like :meth:`replace`."""
        if (stop_price is None) == (limit_price is None):
            raise ValueError("give the stop-loss leg's stop_price or the take-profit's limit_price, one of them")
        request = ReplaceOrderRequest(stop_price=stop_price, limit_price=limit_price, client_order_id=client_order_id)
        return self._outcome(lambda: self._send_patch(broker_order_id, request))

    # -- reads --------------------------------------------------------------------------

    def clock(self) -> MarketClock:
        raw = self._read(self.trading.get_clock)
        return MarketClock(_utc(raw.timestamp), bool(raw.is_open), _utc(raw.next_open), _utc(raw.next_close))

    def quote(self, symbol: str) -> Quote | None:
        """The latest quote, or ``None`` when the broker has none for ``symbol``."""
        quotes = self._read(lambda: self.data.get_stock_latest_quote(
            StockLatestQuoteRequest(symbol_or_symbols=[symbol])))
        q = quotes.get(symbol)
        if q is None:
            return None
        return Quote(symbol, float(q.bid_price), float(q.ask_price), float(q.bid_size), float(q.ask_size),
                     _utc(q.timestamp))

    def _folded(self, found: BrokerOrder) -> BrokerOrder:
        """An OCO parent as one order for the OMS: its fills and its stop-loss leg's
        together (the leg that sold the shares cancels the parent, which alone would read
        as canceled with nothing filled)."""
        if found.order_class != "oco":
            return found
        parent = found if found.legs else self.order_with_legs(found.id)
        return fold_oco(parent)

    def _found(self, read: Callable[[], Any]) -> Any:
        """What ``read`` returns, or ``None`` for the vendor's 404 (never seen, unknown
        symbol); any other failure is a failed read (:meth:`_read_error`)."""
        try:
            return read()
        except APIError as err:
            if err.status_code == 404:
                return None
            raise self._read_error(err) from None
        except (requests.RequestException, ValueError) as err:
            raise self._read_error(err) from None

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        """The broker's order with this id, or ``None`` when it has never seen it (404)."""
        found = self._found(lambda: self.trading.get_order_by_client_id(client_order_id))
        return None if found is None else self._folded(_order(found))

    def order(self, broker_order_id: str) -> BrokerOrder:
        return self._folded(_order(self._read(lambda: self.trading.get_order_by_id(broker_order_id))))

    def order_with_legs(self, broker_order_id: str) -> BrokerOrder:
        """The order with its legs (``nested=true``): an OCO parent's stop-loss leg in
        ``legs``, in its current state."""
        return _order(self._read(lambda: self.trading.get_order_by_id(
            broker_order_id, GetOrderByIdRequest(nested=True))))

    def cancel(self, broker_order_id: str) -> bool:
        """Ask to cancel; False when the order had finished already (422). Never guarded
        by the kill switch: canceling only ever lowers risk."""
        try:
            self.trading.cancel_order_by_id(broker_order_id)
        except APIError as err:
            if err.status_code in (404, 422):
                return False
            raise self._read_error(err) from None
        except (requests.RequestException, ValueError) as err:
            raise self._read_error(err) from None
        return True

    def open_orders(self, nested: bool = False) -> list[BrokerOrder]:
        """The working orders, each on its own; ``nested``: an OCO's leg under its
        parent's ``legs`` rather than listed apart."""
        request = (GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500, nested=True) if nested
                   else GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500))
        raw = self._read(lambda: self.trading.get_orders(request))
        return [_order(o) for o in raw]

    def all_orders(self) -> list[BrokerOrder]:
        """Every order the broker has, working and ended, oldest first; an OCO as one
        order (its legs folded in, as :meth:`order` reads it). What ``kobe reconcile
        --rebuild`` rebuilds the order store from. Paged by submission time; a page
        starts a microsecond before the last one's end, so orders sent at the same instant
        are never skipped (those seen twice are kept once)."""
        seen: dict[str, BrokerOrder] = {}
        after: dt.datetime | None = None
        while True:
            request = GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500, nested=True, direction=Sort.ASC,
                                       after=after)
            page = self._read(lambda: self.trading.get_orders(request))  # noqa: B023 - called at once
            new = [raw for raw in page if str(raw.id) not in seen]
            for raw in new:
                found = _order(raw)
                seen[found.id] = fold_oco(found) if found.order_class == "oco" else found
            if len(page) < 500 or not new:
                return list(seen.values())
            after = max(_utc(raw.submitted_at) for raw in page) - dt.timedelta(microseconds=1)

    def asset(self, symbol: str) -> AssetFlags | None:
        """The asset's short-sale flags (``GET /v2/assets/{symbol}``), or ``None`` for a
        symbol the broker does not list (404); any other failure is a failed read.
        alpaca-py puts the symbol into the path as is, so ``BRK/B`` would be read as two
        segments: give ``BRK.B``."""
        if "/" in symbol:
            raise ValueError(f"asset symbol {symbol!r}: write a class share with a dot, as BRK.B")
        raw = self._found(lambda: self.trading.get_asset(symbol))
        if raw is None:
            return None
        return AssetFlags(symbol=raw.symbol, tradable=bool(raw.tradable), shortable=bool(raw.shortable),
                          easy_to_borrow=bool(raw.easy_to_borrow), marginable=bool(raw.marginable),
                          fractionable=bool(raw.fractionable), status=_word(raw.status) or "")

    def positions(self) -> list[BrokerPosition]:
        raw = self._read(self.trading.get_all_positions)
        return [BrokerPosition(p.symbol, float(p.qty), float(p.avg_entry_price)) for p in raw]

    def equity(self) -> float:
        return float(self._read(self.trading.get_account).equity or 0.0)

    def shorting_enabled(self) -> bool:
        return bool(self._read(self.trading.get_account).shorting_enabled)
