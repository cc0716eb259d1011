"""The /metrics figures from a store and an events file written by hand."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from kobe.monitor.metrics import trading_metrics
from kobe.oms.orders import OrderRecord, OrderStatus, client_order_id
from kobe.oms.store import OrderStore

DAY = dt.date(2017, 6, 5)


def order(symbol: str, side: str = "buy", day: dt.date = DAY) -> OrderRecord:
    return OrderRecord(client_order_id("s", symbol, day, side), "s", symbol, side, 2, 30.0, day)


def test_figures(tmp_path: Path) -> None:
    store = OrderStore(tmp_path / "orders.sqlite")
    filled, part, cancelled, pending, yesterday = (order("AAPL"), order("MSFT"), order("KO"), order("XOM"),
                                                   order("IBM", day=DAY - dt.timedelta(days=3)))
    for o in (filled, part, cancelled, pending, yesterday):
        store.add(o)
    store.update(filled.to(OrderStatus.FILLED, filled_qty=2, filled_avg_price=29.0))
    store.update(part.to(OrderStatus.CANCELED, filled_qty=1, filled_avg_price=30.0))
    store.update(cancelled.to(OrderStatus.CANCELED))
    store.update(yesterday.to(OrderStatus.FILLED, filled_qty=2, filled_avg_price=10.0))
    # IBM: bought 2 at 10, sold 1 at 12 (a win) and 1 at 9 (a loss); AAPL bought 2 at 29.
    store.add_fill("f1", yesterday, 2, 10.0, at="2017-06-02T15:00:00+00:00")
    store.add_fill("f2", order("IBM", "sell"), 1, 12.0, at="2017-06-05T14:00:00+00:00")
    store.add_fill("f3", order("IBM", "sell"), 1, 9.0, at="2017-06-05T14:30:00+00:00")
    store.add_fill("f4", filled, 2, 29.0, at="2017-06-05T15:00:00+00:00")
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in [
        {"kind": "gate.blocked", "gate": "liquidity", "trading_date": "2017-06-05"},
        {"kind": "gate.blocked", "gate": "policy", "trading_date": "2017-06-05"},
        {"kind": "gate.blocked", "gate": "policy", "trading_date": "2017-06-05"},
        {"kind": "gate.blocked", "gate": "policy", "trading_date": "2017-06-02"},
        {"kind": "pick.skipped", "trading_date": "2017-06-05"},
    ]) + "\n")
    m = trading_metrics(store, events, DAY, marks={"AAPL": 31.0})
    assert (m["ioc_submitted"], m["ioc_filled"], m["ioc_cancelled"]) == (3, 2, 1)  # XOM was never sent
    assert (m["liquidity_blocked"], m["policy_blocked"]) == (1, 2)
    assert m["pnl_realized_usd"] == pytest.approx(2.0 - 1.0)
    assert m["pnl_unrealized_usd"] == pytest.approx(2 * (31.0 - 29.0))
    assert (m["win_count"], m["loss_count"], m["win_rate"]) == (1, 1, 0.5)
    assert m["last_trade_timestamp_seconds"] == dt.datetime(2017, 6, 5, 15, tzinfo=dt.timezone.utc).timestamp()
