"""Order records, their state machine, and the SQLite store."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from pathlib import Path

import pytest

from kobe.oms.orders import (
    ALLOWED,
    IllegalTransition,
    OrderRecord,
    OrderStatus,
    client_order_id,
    id_action,
)
from kobe.oms.store import OrderStore

DAY = dt.date(2026, 11, 24)
S = OrderStatus


def order(symbol: str = "AAPL", qty: int = 2, limit: float = 30.0, side: str = "buy") -> OrderRecord:
    return OrderRecord(client_order_id("donchian_breakout", symbol, DAY, side), "donchian_breakout", symbol, side,
                       qty, limit, DAY, reason="entry")


def test_client_order_id_is_deterministic_and_distinct() -> None:
    a = client_order_id("donchian_breakout", "AAPL", DAY, "buy")
    assert a == client_order_id("donchian_breakout", "AAPL", DAY, "buy")
    others = {client_order_id("donchian_breakout", "AAPL", DAY, "sell"),
              client_order_id("ict_turtle_soup", "AAPL", DAY, "buy"),
              client_order_id("donchian_breakout", "MSFT", DAY, "buy"),
              client_order_id("donchian_breakout", "AAPL", DAY + dt.timedelta(days=1), "buy")}
    assert a not in others and len(others) == 4
    assert a.startswith("kb-20261124-b-AAPL-") and len(a) <= 48


@pytest.mark.parametrize(("path", "ok"), [
    ([S.SUBMITTED, S.PARTIALLY_FILLED, S.FILLED], True),
    ([S.SUBMITTED, S.CANCELED], True),
    ([S.UNKNOWN, S.NEW, S.SUBMITTED, S.FILLED], True),
    ([S.SUBMITTED, S.UNKNOWN, S.PARTIALLY_FILLED, S.CANCELED], True),
    ([S.FILLED, S.CANCELED], False),
    ([S.SUBMITTED, S.PARTIALLY_FILLED, S.SUBMITTED], False),
    ([S.REJECTED, S.NEW], False),
])
def test_state_machine(path: list[OrderStatus], ok: bool) -> None:
    record = order()
    try:
        for status in path:
            record = record.to(status)
    except IllegalTransition:
        assert not ok
    else:
        assert ok


def test_terminal_states_have_no_way_out() -> None:
    for status in (S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED):
        assert status.terminal and not ALLOWED[status]


def test_store_round_trip_and_history(tmp_path: Path) -> None:
    store = OrderStore(tmp_path / "orders.sqlite")
    o = order()
    assert store.add(o) and not store.add(o)  # the id is the idempotency key
    o = store.update(o.to(S.SUBMITTED, broker_order_id="b-1"), "sent")
    o = store.update(o.to(S.FILLED, filled_qty=2, filled_avg_price=29.9), "filled")
    again = OrderStore(tmp_path / "orders.sqlite").get(o.client_order_id)  # a new process would see this
    assert again == o
    assert store.transitions(o.client_order_id) == [(None, "new"), ("new", "submitted"), ("submitted", "filled")]


def test_spent_counts_until_known_canceled_unfilled(tmp_path: Path) -> None:
    store = OrderStore(tmp_path / "orders.sqlite")
    a, b, c, d = order("AAPL"), order("MSFT"), order("KO"), order("XOM")
    for o in (a, b, c, d):
        store.add(o)
    store.update(a.to(S.SUBMITTED))                                                   # 60 in flight
    store.update(b.to(S.CANCELED))                                                    # 0: canceled unfilled
    store.update(c.to(S.CANCELED, filled_qty=1, filled_avg_price=29.5))               # 29.50 partly filled
    store.update(d.to(S.UNKNOWN))                                                     # 60: fate unknown
    assert store.spent(DAY) == pytest.approx(60 + 0 + 29.5 + 60)
    assert store.spent(DAY + dt.timedelta(days=1)) == 0
    assert {o.symbol for o in store.active()} == {"AAPL", "XOM"}


def test_positions_from_fills_with_average_cost(tmp_path: Path) -> None:
    store = OrderStore(tmp_path / "orders.sqlite")
    buy, sell = order("AAPL"), order("AAPL", side="sell")
    assert store.add_fill("f1", buy, 2, 10.0, at="2026-11-24T15:00:00")
    assert store.add_fill("f2", buy, 2, 14.0, at="2026-11-24T15:01:00")
    assert not store.add_fill("f2", buy, 2, 14.0)                                     # a fill is recorded once
    store.add_fill("f3", sell, 3, 15.0, at="2026-11-25T15:00:00")
    (pos,) = store.positions().values()
    # bought 4 at an average 12; sold 3 at 15: realized 3 x 3 = 9; 1 left at 12.
    assert (pos.qty, pos.avg_cost, pos.realized_pnl) == (1, 12.0, 9.0)


@pytest.mark.parametrize(("fills", "expected"), [
    # sold short 4 at an average 12 (10 and 14); bought back 3 at 9: realized 3 x (12 - 9) = 9; short 1 at 12.
    pytest.param([("sell", 2, 10.0), ("sell", 2, 14.0), ("buy", 3, 9.0)], (-1, 12.0, 9.0), id="short-covered-in-part"),
    pytest.param([("sell", 2, 10.0), ("buy", 2, 11.0)], (0, 0.0, -2.0), id="short-covered-at-a-loss"),
    # long 2 at 10, sold 5 at 12: +4 on the long, then short 3 at 12 (the rest opened there).
    pytest.param([("buy", 2, 10.0), ("sell", 5, 12.0)], (-3, 12.0, 4.0), id="past-zero-opens-a-short"),
    pytest.param([("sell", 2, 10.0), ("buy", 5, 8.0), ("sell", 3, 9.0)], (0, 0.0, 4.0 + 3.0),
                 id="short-to-long-and-flat"),
])
def test_positions_are_signed_with_a_shorts_cost_and_pnl_inverted(tmp_path: Path, fills, expected) -> None:
    store = OrderStore(tmp_path / "orders.sqlite")
    for n, (side, qty, price) in enumerate(fills):
        store.add_fill(f"f{n}", order("AAPL", side=side), qty, price, at=f"2026-11-24T15:0{n}:00")
    (pos,) = store.positions().values()
    assert (pos.qty, pos.avg_cost, pos.realized_pnl) == pytest.approx(expected)


def _add_same(path: str, results) -> None:
    results.put(OrderStore(Path(path)).add(order()))


def test_two_processes_cannot_both_create_the_same_order(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    path = str(tmp_path / "orders.sqlite")
    OrderStore(Path(path))
    procs = [ctx.Process(target=_add_same, args=(path, results)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    outcomes = sorted(results.get() for _ in procs)
    assert outcomes == [False, False, False, True]


def test_a_stale_writer_cannot_overwrite_a_newer_state(tmp_path: Path) -> None:
    """Two processes hold the same order; the one that read it earlier must lose."""
    store = OrderStore(tmp_path / "orders.sqlite")
    o = order()
    store.add(o)
    stale = store.get(o.client_order_id)                       # process B read it while it was new
    assert stale is not None
    filled = o.to(S.FILLED, filled_qty=2, filled_avg_price=29.9)
    assert store.record(filled, "process A: filled", expected=S.NEW)
    assert not store.record(stale.to(S.UNKNOWN), "process B: timed out", expected=S.NEW)
    assert store.get(o.client_order_id) == filled
    assert store.transitions(o.client_order_id) == [(None, "new"), ("new", "filled")]


@pytest.mark.parametrize(("action", "side", "opens"), [
    pytest.param("buy", "buy", True, id="buy-opens-a-long"),
    pytest.param("sell", "sell", False, id="sell-closes-a-long"),
    pytest.param("short", "sell", True, id="short-opens-a-short"),
    pytest.param("cover", "buy", False, id="cover-closes-a-short"),
    pytest.param("stop", "buy", False, id="a-shorts-protective-buy"),
])
def test_an_ids_action_says_whether_the_order_opens(action: str, side: str, opens: bool) -> None:
    cid = client_order_id("s", "AAPL", DAY, action)
    assert id_action(cid) == {"buy": "b", "sell": "s", "short": "o", "cover": "c", "stop": "s"}[action]
    assert OrderRecord(cid, "s", "AAPL", side, 1, 1.0, DAY).opens is opens


@pytest.mark.parametrize(("cid", "side", "opens"), [
    pytest.param("kb-20170606-01", "buy", True, id="not-our-format-buy"),
    pytest.param("kb-20170606-01", "sell", False, id="not-our-format-sell"),
    pytest.param("someone-elses", "buy", True, id="a-persons-buy"),
])
def test_an_id_not_of_kobes_format_reads_by_its_side(cid: str, side: str, opens: bool) -> None:
    assert id_action(cid) is None
    assert OrderRecord(cid, "s", "AAPL", side, 1, 1.0, DAY).opens is opens


def test_a_short_sale_counts_against_the_days_budget_and_a_cover_does_not(tmp_path: Path) -> None:
    store = OrderStore(tmp_path / "orders.sqlite")
    short = OrderRecord(client_order_id("s", "A", DAY, "short"), "s", "A", "sell", 3, 20.0, DAY)
    cover = OrderRecord(client_order_id("s", "A", DAY, "cover"), "s", "A", "buy", 3, 19.0, DAY)
    for o in (short, cover):
        store.add(o)
    assert store.spent(DAY) == pytest.approx(60.0)
