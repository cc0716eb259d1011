"""The ledger: positions, average cost and realized P&L from the fills in the broker's
time order, the order of recording breaking ties, never the fill id."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kobe.monitor.drift import round_trips
from kobe.oms.orders import OrderRecord, OrderStatus
from kobe.oms.store import Fill, OrderStore

DAY = dt.date(2018, 1, 8)


def order(cid: str, side: str, qty: int, strategy: str = "s") -> OrderRecord:
    return OrderRecord(cid, strategy, "CSCO", side, qty, 50.0, DAY, status=OrderStatus.SUBMITTED)


def fill(store: OrderStore, cid: str, side: str, qty: int, price: float, at: str, strategy: str = "s") -> None:
    record = order(cid, side, qty, strategy)
    store.add(record)
    done = record.to(OrderStatus.FILLED, filled_qty=float(qty), filled_avg_price=price)
    assert store.record(done, "filled", Fill(f"{cid}:{qty}", qty, price, at), expected=record.status)


CASES = [
    # Sell then re-buy at the same broker instant (a replayed clock standing still); the
    # re-buy's id sorts first ("a" < "z"), which used to apply it before the sell.
    pytest.param(["2018-01-08T14:35:00+00:00", "2018-01-09T14:35:00+00:00", "2018-01-09T14:35:00+00:00"],
                 id="same-instant-sell-then-rebuy"),
    # The broker's times decide even when the store learned of the fills in another order.
    pytest.param(["2018-01-08T14:35:00+00:00", "2018-01-09T14:35:00+00:00", "2018-01-09T14:36:00+00:00"],
                 id="rebuy-a-minute-later"),
]


@pytest.mark.parametrize("times", CASES)
def test_a_same_cycle_sell_and_rebuy_keep_the_brokers_average_cost(tmp_path: Path, times: list[str]) -> None:
    store = OrderStore(tmp_path / "orders.sqlite")
    fill(store, "m-first-buy", "buy", 10, 40.00, times[0])
    fill(store, "z-sell", "sell", 10, 42.00, times[1])
    fill(store, "a-rebuy", "buy", 4, 42.30, times[2])
    position = store.positions()["CSCO"]
    # By hand: the first lot realized 10 x (42.00 - 40.00) = 20.00; the new lot costs 42.30.
    assert (position.qty, position.avg_cost, position.realized_pnl) == (4, pytest.approx(42.30), pytest.approx(20.0))
    assert [f["fill_id"] for f in store.fills()] == ["m-first-buy:10", "z-sell:10", "a-rebuy:4"]


def test_realized_pnl_per_round_trip_and_per_strategy(tmp_path: Path) -> None:
    store = OrderStore(tmp_path / "orders.sqlite")
    fill(store, "b1", "buy", 10, 40.00, "2018-01-08T14:35:00+00:00", strategy="breakout")
    fill(store, "s1", "sell", 10, 41.00, "2018-01-09T14:35:00+00:00", strategy="breakout")
    fill(store, "b2", "buy", 5, 41.00, "2018-01-09T14:35:00+00:00", strategy="soup")
    fill(store, "s2", "sell", 5, 39.00, "2018-01-10T14:35:00+00:00", strategy="soup")
    trips = round_trips(store.fills(), {o.client_order_id: o.strategy for o in store.orders()})
    assert [(t.strategy, t.pnl) for t in trips] == [("breakout", pytest.approx(10.0)), ("soup", pytest.approx(-10.0))]
    assert store.positions()["CSCO"].realized_pnl == pytest.approx(0.0)
