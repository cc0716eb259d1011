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

The conventions are the backtest's (kobe/backtest/exits.py): a stop inside the day's
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
from alpaca.trading.enums import OrderSide, OrderStatus, OrderType, QueryOrderStatus, TimeInForce
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
