"""Stop and stop-limit orders, replace and cancel, through alpaca-py's real TradingClient.

The fills are checked against prices worked out by hand from the embedded AAPL bars
(open, high, low, close; the path walks open -> low -> high -> close on an up day and
open -> high -> low -> close on a down day, the corners at 1/3 and 2/3 of the session):

    2017-06-05  154.34 154.45 153.46 153.93  down: high 11:40, low 13:50
    2017-06-06  153.90 155.81 153.78 154.45  up
    2017-06-07  155.02 155.98 154.48 155.37  up
    2017-06-08  155.25 155.54 154.40 154.99  down
    2017-06-09  155.19 155.19 146.02 148.98  down: high 11:40 (= the open), low 13:50
    2017-06-12  145.74 146.09 142.51 145.42  down: a gap under Friday's 148.98
    2017-06-13  147.16 147.45 145.15 146.59  down

The conventions are the backtest's (docs/backtest.md, Exits): a stop inside the day's
range fills at the stop itself, a session that opens beyond the stop fills at the open.
Each test first buys 10 shares at the open of 2017-06-05 (the IOC fills at the ask,
154.42), so there is something for a sell stop to protect.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from decimal import Decimal

import polars as pl
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import (
    OrderSide,
    OrderStatus,
    OrderType,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    ReplaceOrderRequest,
    StopLimitOrderRequest,
    StopOrderRequest,
    TrailingStopOrderRequest,
)

from kobe.broker.exchange.store import Store
from kobe.data.bars import read_bars
from kobe.data.calendar import NEW_YORK

UTC = dt.UTC
MONDAY_OPEN = dt.datetime(2017, 6, 5, 9, 30, tzinfo=NEW_YORK)
SHARES = 10
ENTRY = Decimal("154.42")
BUY, SELL = OrderSide.BUY, OrderSide.SELL
GTC, DAY = TimeInForce.GTC, TimeInForce.DAY


def ny(day: int, hour: int, minute: int = 0, month: int = 6) -> dt.datetime:
    return dt.datetime(2017, month, day, hour, minute, tzinfo=NEW_YORK)


def crossing(t0: dt.datetime, p0: float, t1: dt.datetime, p1: float, level: float) -> dt.datetime:
    """When a straight line from ``p0`` at ``t0`` to ``p1`` at ``t1`` passes ``level``."""
    return t0 + (t1 - t0) * ((level - p0) / (p1 - p0))


def stop(price: float, tif: TimeInForce = GTC, side: OrderSide = SELL, qty: int = SHARES,
         cid: str | None = None) -> StopOrderRequest:
    return StopOrderRequest(symbol="AAPL", qty=qty, side=side, time_in_force=tif, stop_price=price,
                            client_order_id=cid)


def stop_limit(stop_price: float, limit_price: float, tif: TimeInForce = GTC, side: OrderSide = SELL,
               qty: int = SHARES) -> StopLimitOrderRequest:
    return StopLimitOrderRequest(symbol="AAPL", qty=qty, side=side, time_in_force=tif, stop_price=stop_price,
                                 limit_price=limit_price)


def sell_now(qty: int, tif: TimeInForce = TimeInForce.IOC) -> LimitOrderRequest:
    return LimitOrderRequest(symbol="AAPL", qty=qty, side=SELL, time_in_force=tif, limit_price=100.00)


def holding(exchange):
    """A client whose account holds 10 AAPL bought at the open of 2017-06-05."""
    trading = exchange.trading()
    bought = trading.submit_order(LimitOrderRequest(symbol="AAPL", qty=SHARES, side=BUY,
                                                    time_in_force=TimeInForce.IOC, limit_price=float(ENTRY)))
    assert trading.get_order_by_id(bought.id).status == OrderStatus.FILLED
    assert Decimal(trading.get_open_position("AAPL").avg_entry_price) == ENTRY
    return trading


def test_the_bars_are_the_ones_the_hand_computations_use() -> None:
    bars = read_bars().filter((pl.col("symbol") == "AAPL")
                              & pl.col("date").is_between(dt.date(2017, 6, 5), dt.date(2017, 6, 13)))
    rows = bars.sort("date").select("open", "high", "low", "close").collect().rows()
    assert rows == [(154.34, 154.45, 153.46, 153.93), (153.9, 155.81, 153.78, 154.45),
                    (155.02, 155.98, 154.48, 155.37), (155.25, 155.54, 154.4, 154.99),
                    (155.19, 155.19, 146.02, 148.98), (145.74, 146.09, 142.51, 145.42),
                    (147.16, 147.45, 145.15, 146.59)]


@dataclass(frozen=True)
class Case:
    order: StopOrderRequest | StopLimitOrderRequest
    placed: dt.datetime          # when the order is sent
    until: dt.datetime           # where the clock is moved afterwards
    status: OrderStatus
    price: str | None = None     # the fill price
    at: dt.datetime | None = None


STOP_CASES = {
    "sell-stop-inside-the-range-fills-at-the-stop": Case(
        stop(153.50), ny(5, 9, 30), ny(5, 16), OrderStatus.FILLED, "153.5",
        crossing(ny(5, 11, 40), 154.45, ny(5, 13, 50), 153.46, 153.50)),
    "sell-stop-at-the-low-exactly-fills-at-the-low": Case(
        stop(153.46), ny(5, 9, 30), ny(5, 16), OrderStatus.FILLED, "153.46", ny(5, 13, 50)),
    "day-stop-a-cent-under-the-low-expires-at-the-close": Case(
        stop(153.45, DAY), ny(5, 9, 30), ny(5, 16), OrderStatus.EXPIRED),
    "gtc-stop-untouched-for-days-keeps-working": Case(
        stop(153.00), ny(5, 9, 30), ny(8, 16), OrderStatus.NEW),
    "gtc-stop-works-overnight-and-fills-at-the-stop-days-later": Case(
        stop(153.00), ny(5, 9, 30), ny(9, 16), OrderStatus.FILLED, "153",
        crossing(ny(9, 11, 40), 155.19, ny(9, 13, 50), 146.02, 153.00)),
    "gtc-stop-gapped-through-overnight-fills-at-the-open": Case(
        stop(146.50), ny(9, 15), ny(12, 16), OrderStatus.FILLED, "145.74", ny(12, 9, 30)),
    "stop-placed-in-the-evening-gapped-through-fills-at-the-next-open": Case(
        stop(147.00, DAY), ny(9, 18), ny(12, 16), OrderStatus.FILLED, "145.74", ny(12, 9, 30)),
    "stop-placed-in-the-evening-inside-the-next-range-fills-at-the-stop": Case(
        stop(144.00), ny(9, 18), ny(12, 16), OrderStatus.FILLED, "144",
        crossing(ny(12, 11, 40), 146.09, ny(12, 13, 50), 142.51, 144.00)),
    "sell-stop-placed-above-the-market-fills-at-once-at-the-price-rounded-down": Case(
        # 13:00 lies 80 of the 130 minutes from the high (154.45) to the low (153.46).
        stop(154.00), ny(5, 13), ny(5, 16), OrderStatus.FILLED, "153.84", ny(5, 13)),
    "buy-stop-inside-the-range-fills-at-the-stop": Case(
        stop(154.40, side=BUY), ny(5, 9, 30), ny(5, 16), OrderStatus.FILLED, "154.4",
        crossing(ny(5, 9, 30), 154.34, ny(5, 11, 40), 154.45, 154.40)),
    "buy-stop-placed-in-the-evening-gapped-through-fills-at-the-next-open": Case(
        stop(154.50, side=BUY), ny(6, 18), ny(7, 16), OrderStatus.FILLED, "155.02", ny(7, 9, 30)),
    "stop-limit-triggered-within-its-limit-fills-at-the-stop": Case(
        stop_limit(153.50, 153.40), ny(5, 9, 30), ny(5, 16), OrderStatus.FILLED, "153.5",
        crossing(ny(5, 11, 40), 154.45, ny(5, 13, 50), 153.46, 153.50)),
    "stop-limit-gapped-under-its-limit-rests-and-fills-at-the-limit": Case(
        # Triggered at the 145.74 open, below the 146.00 limit: a resting sell limit, which
        # fills once the bid (the mid less 5 bps) reaches 146.00, on the way up to 146.09.
        stop_limit(147.00, 146.00), ny(9, 18), ny(12, 16), OrderStatus.FILLED, "146"),
    "day-stop-limit-gapped-under-a-limit-never-reached-expires": Case(
        stop_limit(147.00, 147.00, DAY), ny(9, 18), ny(12, 16), OrderStatus.EXPIRED),
    "gtc-stop-limit-resting-as-a-limit-fills-at-the-next-open-bid": Case(
        # 2017-06-13 opens at 147.16: bid floor(147.16 * 0.9995) = 147.08, above the limit.
        stop_limit(147.00, 147.00), ny(9, 18), ny(13, 16), OrderStatus.FILLED, "147.08", ny(13, 9, 30)),
}


@pytest.mark.parametrize("case", STOP_CASES.values(), ids=STOP_CASES.keys())
def test_stop_orders_fill_by_the_backtests_conventions(exchange, case: Case) -> None:
    trading = holding(exchange)
    exchange.admin.set_clock(case.placed)
    placed = trading.submit_order(case.order)
    in_session = dt.time(9, 30) <= case.placed.time() < dt.time(16)
    # Sent while the market is shut, an order waits for the open as `accepted`.
    assert placed.status == (OrderStatus.NEW if in_session else OrderStatus.ACCEPTED)
    exchange.admin.set_clock(case.until)
    order = trading.get_order_by_id(placed.id)
    assert order.status == case.status
    if case.price is None:
        assert Decimal(order.filled_qty) == 0 and order.filled_avg_price is None
    else:
        assert (Decimal(order.filled_qty), order.filled_avg_price) == (SHARES, case.price)
    if case.at is not None:
        assert abs(order.filled_at - case.at) < dt.timedelta(milliseconds=1)
    if case.status == OrderStatus.FILLED:
        assert order.updated_at == order.filled_at
        shares = SHARES + (SHARES if case.order.side == BUY else -SHARES)
        held = {p.symbol: Decimal(p.qty) for p in trading.get_all_positions()}
        assert held.get("AAPL", Decimal(0)) == shares
    if case.status == OrderStatus.EXPIRED:
        assert order.expired_at == ny(case.until.day, 16).astimezone(UTC)


def test_a_stop_on_the_wire_reads_as_the_vendors(exchange) -> None:
    trading = holding(exchange)
    placed = trading.submit_order(stop_limit(153.00, 152.50))
    raw = trading.get(f"/orders/{placed.id}")
    assert {k: raw[k] for k in ("type", "order_type", "time_in_force", "stop_price", "limit_price", "status",
                                "filled_at", "replaced_by", "replaces")} == {
        "type": "stop_limit", "order_type": "stop_limit", "time_in_force": "gtc", "stop_price": "153",
        "limit_price": "152.5", "status": "new", "filled_at": None, "replaced_by": None, "replaces": None}
    order = trading.get_order_by_id(placed.id)
    assert (order.type, order.order_type) == (OrderType.STOP_LIMIT, OrderType.STOP_LIMIT)
    assert raw["updated_at"] == raw["created_at"]


def test_open_orders_list_the_resting_stops(exchange) -> None:
    trading = holding(exchange)
    day = trading.submit_order(stop(153.00, DAY, qty=4))
    gtc = trading.submit_order(stop_limit(150.00, 149.00, qty=6))
    exchange.admin.set_clock(ny(5, 15))
    listed = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert [(o.id, o.type, o.stop_price, o.time_in_force) for o in listed] == [
        (gtc.id, OrderType.STOP_LIMIT, "150", GTC), (day.id, OrderType.STOP, "153", DAY)]
    exchange.admin.set_clock(ny(6, 10))        # the DAY stop expired at Monday's close
    assert [o.id for o in trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))] == [gtc.id]


def test_a_resting_sell_stop_holds_its_shares(exchange) -> None:
    trading = holding(exchange)
    trading.submit_order(stop(153.00, qty=6))
    position = trading.get_open_position("AAPL")
    assert (position.qty, position.qty_available) == ("10", "4")
    trading.submit_order(sell_now(4, TimeInForce.DAY))       # the 4 shares the stop leaves free
    with pytest.raises(APIError) as refused:
        trading.submit_order(sell_now(1))
    assert refused.value.status_code == 403
    assert refused.value.message == "insufficient qty available for order (requested: 1, available: 0)"
    with pytest.raises(APIError) as closing:
        trading.close_position("AAPL")
    assert closing.value.status_code == 403 and "insufficient qty available" in closing.value.message


def test_canceling_the_stop_frees_the_shares_for_another_sell(exchange) -> None:
    trading = holding(exchange)
    protective = trading.submit_order(stop(153.00))
    with pytest.raises(APIError) as refused:
        trading.submit_order(sell_now(SHARES))
    assert refused.value.status_code == 403
    exchange.admin.set_clock(ny(6, 10))        # overnight: a GTC stop is still there to cancel
    trading.cancel_order_by_id(protective.id)
    canceled = trading.get_order_by_id(protective.id)
    assert canceled.status == OrderStatus.CANCELED and canceled.canceled_at == ny(6, 10).astimezone(UTC)
    assert trading.get_open_position("AAPL").qty_available == "10"
    sold = trading.submit_order(sell_now(SHARES))
    assert trading.get_order_by_id(sold.id).status == OrderStatus.FILLED
    exchange.admin.set_clock(ny(9, 16))        # the canceled stop would have filled on the 9th
    assert trading.get_order_by_id(protective.id).status == OrderStatus.CANCELED


def test_a_stop_sent_in_the_evening_can_be_canceled_before_the_open(exchange) -> None:
    trading = holding(exchange)
    exchange.admin.set_clock(ny(9, 18))
    evening = trading.submit_order(stop(147.00))
    trading.cancel_order_by_id(evening.id)
    exchange.admin.set_clock(ny(12, 16))       # the open gapped through 147: nothing sold
    assert trading.get_order_by_id(evening.id).status == OrderStatus.CANCELED
    assert trading.get_open_position("AAPL").qty == "10"


def test_replace_moves_the_stop_and_the_old_order_is_replaced(exchange) -> None:
    trading = holding(exchange)
    old = trading.submit_order(stop(153.00, cid="protect-1"))
    exchange.admin.set_clock(ny(5, 10))
    new = trading.replace_order_by_id(old.id, ReplaceOrderRequest(stop_price=153.50))
    assert new.id != old.id and new.replaces == old.id
    assert (new.status, new.type, new.side, new.symbol) == (OrderStatus.PENDING_NEW, OrderType.STOP, SELL, "AAPL")
    assert (new.stop_price, new.qty, new.time_in_force, new.limit_price) == ("153.5", "10", GTC, None)
    assert new.client_order_id != "protect-1"    # a fresh client order id unless one is given
    gone = trading.get_order_by_id(old.id)
    assert (gone.status, gone.replaced_by) == (OrderStatus.REPLACED, new.id)
    assert gone.replaced_at == gone.updated_at == ny(5, 10).astimezone(UTC)
    assert trading.get_order_by_id(new.id).status == OrderStatus.NEW
    assert [o.id for o in trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))] == [new.id]
    exchange.admin.set_clock(ny(5, 16))
    filled = trading.get_order_by_id(new.id)
    assert (filled.status, filled.filled_avg_price) == (OrderStatus.FILLED, "153.5")
    assert trading.get_order_by_id(old.id).status == OrderStatus.REPLACED
    assert trading.get_all_positions() == []


def test_replace_can_change_qty_time_in_force_limit_and_client_order_id(exchange) -> None:
    trading = holding(exchange)
    old = trading.submit_order(stop_limit(153.00, 152.00))
    new = trading.replace_order_by_id(old.id, ReplaceOrderRequest(qty=6, time_in_force=DAY, limit_price=152.50,
                                                                  client_order_id="protect-2"))
    assert (new.qty, new.time_in_force, new.stop_price, new.limit_price, new.client_order_id) == (
        "6", DAY, "153", "152.5", "protect-2")
    assert trading.get_order_by_client_id("protect-2").id == new.id
    assert trading.get_open_position("AAPL").qty_available == "4"
    exchange.admin.set_clock(ny(5, 16))
    assert trading.get_order_by_id(new.id).status == OrderStatus.EXPIRED


def test_a_stop_replaced_overnight_triggers_by_the_gap_rule(exchange) -> None:
    trading = holding(exchange)
    exchange.admin.set_clock(ny(9, 15))
    old = trading.submit_order(stop(140.00))
    exchange.admin.set_clock(ny(9, 19))
    # A working GTC order is replaceable overnight; its replacement waits for the open.
    new = trading.replace_order_by_id(old.id, ReplaceOrderRequest(stop_price=147.00))
    assert new.status == OrderStatus.ACCEPTED
    exchange.admin.set_clock(ny(12, 16))
    filled = trading.get_order_by_id(new.id)
    assert (filled.status, filled.filled_avg_price, filled.filled_at) == (
        OrderStatus.FILLED, "145.74", ny(12, 9, 30).astimezone(UTC))


def test_replacing_a_buy_limit_holds_the_new_price(exchange) -> None:
    trading = exchange.trading()
    old = trading.submit_order(LimitOrderRequest(symbol="AAPL", qty=100, side=BUY, time_in_force=DAY,
                                                 limit_price=150.00))
    new = trading.replace_order_by_id(old.id, ReplaceOrderRequest(limit_price=151.00))
    assert (new.type, new.limit_price, new.stop_price) == (OrderType.LIMIT, "151", None)
    assert Decimal(trading.get_account().buying_power) == 100000 - 100 * 151


@dataclass(frozen=True)
class Refusal:
    order: StopOrderRequest
    change: ReplaceOrderRequest
    status: int
    message: str
    placed: dt.datetime = MONDAY_OPEN
    cancel: bool = False
    until: dt.datetime | None = None     # where the clock goes before the replace


REFUSED_REPLACES = {
    "filled": Refusal(stop(154.00), ReplaceOrderRequest(stop_price=150.0), 422, "order is not replaceable",
                      until=ny(5, 16)),
    "canceled": Refusal(stop(150.00), ReplaceOrderRequest(stop_price=151.0), 422, "order is not replaceable",
                        cancel=True),
    "accepted-in-the-evening": Refusal(stop(150.00), ReplaceOrderRequest(stop_price=151.0), 422,
                                       "order is not replaceable while accepted", placed=ny(5, 18)),
    "nothing-changed": Refusal(stop(150.00), ReplaceOrderRequest(stop_price=150.0), 422,
                               "order parameters are not changed"),
    "limit-price-on-a-stop": Refusal(stop(150.00), ReplaceOrderRequest(limit_price=149.0), 422,
                                     "limit_price is not allowed on stop orders"),
    "sub-penny-stop": Refusal(stop(150.00), ReplaceOrderRequest(stop_price=150.005), 422,
                              "invalid stop_price 150.005. sub-penny increment"),
    "trail-on-a-stop": Refusal(stop(150.00), ReplaceOrderRequest(trail=1.5), 422,
                               "trail is only for trailing_stop orders"),
    "more-shares-than-held": Refusal(stop(150.00), ReplaceOrderRequest(qty=11), 403,
                                     "insufficient qty available for order (requested: 11, available: 10)"),
}


@pytest.mark.parametrize("case", REFUSED_REPLACES.values(), ids=REFUSED_REPLACES.keys())
def test_replace_is_refused_as_the_vendor_refuses_it(exchange, case: Refusal) -> None:
    trading = holding(exchange)
    exchange.admin.set_clock(case.placed)
    order = trading.submit_order(case.order)
    if case.cancel:
        trading.cancel_order_by_id(order.id)
    if case.until is not None:
        exchange.admin.set_clock(case.until)
    before = trading.get_order_by_id(order.id)
    with pytest.raises(APIError) as refused:
        trading.replace_order_by_id(order.id, case.change)
    assert refused.value.status_code == case.status
    assert refused.value.message.startswith(case.message)
    assert trading.get_order_by_id(order.id) == before
    assert len(trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL))) == 2   # the buy and this one


def test_replace_or_cancel_of_an_unknown_order_is_404(exchange) -> None:
    trading = exchange.trading()
    for call in (lambda oid: trading.replace_order_by_id(oid, ReplaceOrderRequest(stop_price=150.0)),
                 trading.cancel_order_by_id):
        with pytest.raises(APIError) as missing:
            call("00000000-0000-4000-8000-000000000000")
        assert (missing.value.status_code, missing.value.message) == (404, "order not found")


def test_a_gtc_stop_survives_a_restart_of_the_exchange(start_exchange) -> None:
    first = start_exchange()
    trading = holding(first)
    protective = trading.submit_order(stop(153.00))
    first.admin.set_clock(ny(6, 18))
    first.stop()

    second = start_exchange()                  # same state file: resumes Tuesday evening
    trading = second.trading()
    assert trading.get_order_by_id(protective.id).status == OrderStatus.NEW
    assert trading.get_open_position("AAPL").qty_available == "0"
    second.admin.set_clock(ny(9, 16))
    order = trading.get_order_by_id(protective.id)
    assert (order.status, order.filled_avg_price) == (OrderStatus.FILLED, "153")


RAW_REFUSALS = {
    "stop-without-stop-price": ({"type": "stop"}, "stop_price is required for stop orders"),
    "stop-limit-without-limit": ({"type": "stop_limit", "stop_price": 150},
                                 "limit_price is required for stop_limit orders"),
    "stop-price-on-a-limit": ({"type": "limit", "limit_price": 150, "stop_price": 149},
                              "stop_price is not allowed on limit orders"),
    "limit-price-on-a-stop": ({"type": "stop", "stop_price": 150, "limit_price": 149},
                              "limit_price is not allowed on stop orders"),
    "negative-stop": ({"type": "stop", "stop_price": -1}, "stop_price must be > 0"),
    "sub-penny-stop": ({"type": "stop", "stop_price": 150.005},
                       "invalid stop_price 150.005. sub-penny increment does not fulfill minimum pricing criteria"),
    "ioc-stop": ({"type": "stop", "stop_price": 150, "time_in_force": "ioc"},
                 "stop orders with time_in_force ioc are not supported by the stand-in exchange"),
    "fractional-stop": ({"type": "stop", "stop_price": 150, "time_in_force": "day", "qty": 1.5},
                        "fractional qty is not allowed on stop orders"),
    "trailing-stop": ({"type": "trailing_stop", "trail_price": "2.5"},
                      "trailing_stop orders are not supported by the stand-in exchange"),
}


@pytest.mark.parametrize(("fields", "message"), RAW_REFUSALS.values(), ids=RAW_REFUSALS.keys())
def test_malformed_stop_orders_are_422(exchange, fields, message) -> None:
    trading = holding(exchange)
    body = {"symbol": "AAPL", "qty": 5, "side": "sell", "time_in_force": "gtc", **fields}
    with pytest.raises(APIError) as refused:
        trading.post("/orders", body)
    assert refused.value.status_code == 422
    assert refused.value.message.startswith(message)


def test_alpaca_py_trailing_stops_are_still_refused(exchange) -> None:
    with pytest.raises(APIError) as refused:
        holding(exchange).submit_order(TrailingStopOrderRequest(symbol="AAPL", qty=5, side=SELL, time_in_force=GTC,
                                                               trail_percent=2.0))
    assert refused.value.status_code == 422 and "not supported by the stand-in exchange" in refused.value.message


def test_a_state_file_from_before_stops_opens_with_the_new_columns(tmp_path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id TEXT PRIMARY KEY, client_order_id TEXT, symbol TEXT, side TEXT, "
                     "type TEXT, time_in_force TEXT, qty TEXT, limit_price TEXT, reserve_price TEXT, status TEXT, "
                     "filled_qty TEXT, filled_avg_price TEXT, created_at TEXT, updated_at TEXT, submitted_at TEXT, "
                     "live_from TEXT, seq INTEGER, checked_until TEXT, filled_at TEXT, canceled_at TEXT, "
                     "expired_at TEXT, failed_at TEXT, reject INTEGER)")
        at = ny(5, 10).astimezone(UTC).isoformat()
        conn.execute("INSERT INTO orders VALUES ('o1', 'c1', 'AAPL', 'buy', 'limit', 'gtc', '5', '150', '150', 'new',"
                     " '0', NULL, ?, ?, ?, ?, 1, ?, NULL, NULL, NULL, NULL, 0)", (at, at, at, at, at))
    store = Store(path)
    try:
        (order,) = store.load().orders
        assert (order.id, order.stop_price, order.replaced_by, order.triggered_at) == ("o1", None, None, None)
        order.stop_price = Decimal("149.5")
        store.save_order(order)
        assert store.load().orders[0].stop_price == Decimal("149.5")
    finally:
        store.close()
