"""Protective orders at the broker (kobe/trade/protect.py): which order rests for which
exits, one per position, recorded under its own id, moved up never down, lifted before
another sell, and read back through the OCO's legs when its stop sold the shares."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest
from trade_desk import DAY, assert_books_agree, picks

from kobe.broker.alpaca import fold_oco
from kobe.broker.base import BrokerOrder
from kobe.data.bars import read_bars
from kobe.data.calendar import NEW_YORK
from kobe.oms.orders import OrderRecord, OrderStatus, client_order_id
from kobe.trade.cycle import run_cycle
from kobe.trade.executor import broker_status
from kobe.trade.protect import resting_stop, unsettled
from kobe.trade.reconcile import reconcile

STOP = "stop: entry_price - stop_atr * atr(atr_bars)"
S = OrderStatus


def _open_nested(desk):
    return desk.client().get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, nested=True, limit=500))


# exits written in strategies.yaml, the order Kobe rests, its fields
KINDS = [
    pytest.param({}, "stop", ("stop",), id="stop-rests-as-a-gtc-stop"),
    pytest.param({STOP: "target: entry_price * 1.5"}, "limit", ("limit",), id="target-alone-rests-as-a-gtc-limit"),
    pytest.param({STOP: f"{STOP}\n      target: entry_price * 1.5"}, "oco", ("limit", "stop"),
                 id="stop-and-target-rest-as-one-oco"),
]


@pytest.mark.parametrize(("edits", "kind", "at_broker"), KINDS)
def test_each_position_rests_with_one_protective_order(open_desk, edits, kind, at_broker) -> None:
    desk = open_desk(project={"edits": edits})
    report = run_cycle(desk.trader(), read_bars(), picks("KO"))
    (bought,) = report.entries
    (rest,) = report.stops
    assert (rest.order_type, rest.time_in_force, rest.qty, rest.status) == (kind, "gtc", bought.filled_qty,
                                                                              S.SUBMITTED)
    (parent,) = _open_nested(desk)
    assert parent.client_order_id == rest.client_order_id and parent.side.value == "sell"
    assert tuple(o.order_type.value for o in [parent, *(parent.legs or [])]) == at_broker
    if kind == "oco":
        assert float(parent.limit_price) == rest.limit_price and float(parent.legs[0].stop_price) == rest.stop_price
    # Another cycle the same day changes nothing: one order a position.
    again = run_cycle(desk.trader(), read_bars(), [])
    assert again.stops == [] and len(_open_nested(desk)) == 1
    store = desk.trader().store
    assert unsettled(store) == [] and resting_stop(store, "KO") == rest
    assert reconcile(store, desk.trader().broker, protected={"KO"}) == []


def test_an_oco_whose_stop_sold_the_shares_is_recorded_as_filled(open_desk) -> None:
    """The stop-loss leg fills and cancels the parent (Kobe's order): read alone the
    parent says canceled with nothing filled; read with its leg it is the sale."""
    desk = open_desk(project={"edits": {STOP: "stop: entry_price * 0.999\n      target: entry_price * 1.5"}})
    run_cycle(desk.trader(), read_bars(), picks("KO"))
    store = desk.trader().store
    oco = resting_stop(store, "KO")
    assert oco is not None and oco.order_type == "oco"
    desk.admin.set_clock(dt.datetime(2017, 6, 9, 10, 0, tzinfo=NEW_YORK))    # KO trades through 0.1 % below
    run_cycle(desk.trader(), read_bars(), [])
    store = desk.trader().store
    sold = store.get(oco.client_order_id)
    assert sold is not None and sold.status is S.FILLED and sold.filled_qty == oco.qty
    assert sold.filled_avg_price == pytest.approx(oco.stop_price, abs=0.005) or sold.filled_avg_price < oco.stop_price
    assert store.positions()["KO"].qty == 0 and desk.exchange_positions() == {}
    assert_books_agree(desk, store)


def test_a_trailing_stop_moves_up_after_the_close_and_never_down(open_desk) -> None:
    desk = open_desk(project={"edits": {STOP: 'trailing_stop: "0.5"'}})
    first = run_cycle(desk.trader(), read_bars(), picks("KO"))
    (stop,) = first.stops
    moved = []
    for day in (DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)):
        desk.admin.set_clock(dt.datetime.combine(day, dt.time(16, 10), NEW_YORK))   # the settling cycle
        report = run_cycle(desk.trader(), read_bars(), [])
        moved += report.stops
    store = desk.trader().store
    assert moved, "the trailing level never rose"
    if store.positions()["KO"].qty:                      # still held: the stop only ever rose
        levels = [stop.stop_price, *(o.stop_price for o in moved)]
        assert levels == sorted(levels) and len(set(levels)) == len(levels)
        (resting,) = [o for o in _open_nested(desk)]
        assert float(resting.stop_price) == levels[-1]
    assert_books_agree(desk, store)


def test_a_shutdown_mid_cycle_still_protects_what_was_bought(open_desk) -> None:
    """SIGTERM arrives while the entries go out: no new pick is decided, but the entry
    that filled still gets its stop before the cycle ends (it only lowers risk)."""
    desk = open_desk()
    stopping = []
    trader = desk.trader(checkpoint=lambda name: stopping.append(name) if name == "send.recorded" else None)
    trader.stop_requested = lambda: bool(stopping)
    report = run_cycle(trader, read_bars(), picks("KO", "MSFT"))
    assert [o.symbol for o in report.entries] == ["KO"]
    assert ("donchian_breakout", "MSFT", "shutting down: no new work") in report.skipped
    assert [(o.symbol, o.order_type) for o in report.stops] == [("KO", "stop")]
    assert_books_agree(desk, desk.trader().store)


class Killed(BaseException):
    """The process stopping dead at a checkpoint (in-process)."""


def _ny(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=NEW_YORK)


def test_a_stop_recorded_but_never_sent_rests_by_the_settling_cycle(open_desk) -> None:
    """Killed between recording the stop and sending it; the restart is after the close.
    The stop is sent again under its id (a GTC order is taken while the market is shut),
    so the position is protected through the night and the next open."""
    desk = open_desk()
    seen: list[str] = []

    def die(name: str) -> None:
        seen.append(name)
        if name == "order.recorded" and seen.count("order.recorded") == 2:     # 1: the entry, 2: its stop
            raise Killed()

    with pytest.raises(Killed):
        run_cycle(desk.trader(checkpoint=die), read_bars(), picks("KO"))
    assert desk.resting_stops() == {}
    desk.admin.set_clock(_ny(2017, 6, 5, 16, 10))
    run_cycle(desk.trader(), read_bars(), [])
    (rests,) = desk.resting_stops()["KO"]
    assert rests.client_order_id == client_order_id("donchian_breakout", "KO", DAY, "stop")
    assert_books_agree(desk, desk.trader().store)


def test_a_replace_killed_before_it_was_sent_never_becomes_a_second_sell(open_desk) -> None:
    desk = open_desk(project={"edits": {STOP: 'trailing_stop: "0.5"'}})
    run_cycle(desk.trader(), read_bars(), picks("KO"))
    desk.admin.set_clock(_ny(2017, 6, 6, 16, 10))

    def die(name: str) -> None:
        if name == "send.before":
            raise Killed()

    with pytest.raises(Killed):
        run_cycle(desk.trader(checkpoint=die), read_bars(), [])            # the PATCH never left
    desk.admin.set_clock(_ny(2017, 6, 6, 17, 0))
    run_cycle(desk.trader(), read_bars(), [])                              # the restart, same evening
    assert desk.posts(stops=True) and all(r["status"] < 400 for r in desk.posts(stops=True))
    assert len(desk.resting_stops().get("KO", [])) <= 1
    desk.admin.set_clock(_ny(2017, 6, 7, 9, 45))
    run_cycle(desk.trader(), read_bars(), [])
    assert all(r["status"] < 400 for r in desk.admin.requests() if r["method"] in ("POST", "PATCH"))
    assert_books_agree(desk, desk.trader().store)


def test_an_oco_that_ended_with_part_of_its_shares_sold_is_final() -> None:
    at = dt.datetime(2017, 6, 9, 14, 0, tzinfo=dt.UTC)
    leg = BrokerOrder("leg", "x", "KO", "sell", 10, None, "canceled", 3, 45.0, at, order_type="stop",
                      stop_price=45.03, time_in_force="gtc", filled_at=at, order_class="oco")
    parent = BrokerOrder("p", "kb-oco", "KO", "sell", 10, 60.0, "canceled", 0, None, at, time_in_force="gtc",
                         order_class="oco", legs=(leg,))
    folded = fold_oco(parent)
    assert (folded.status, folded.filled_qty, folded.filled_avg_price) == ("canceled", 3, 45.0)
    record = OrderRecord("kb-oco", "s", "KO", "sell", 10, 60.0, DAY, status=S.SUBMITTED, order_type="oco",
                         stop_price=45.03, time_in_force="gtc")
    assert broker_status(record, folded) is S.CANCELED
    working = dataclasses.replace(parent, status="new")
    assert fold_oco(working).status == "partially_filled"
