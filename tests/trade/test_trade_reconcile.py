"""`kobe reconcile`: every difference between Kobe's book and the broker's is named and
logged; `--adopt` takes the broker's view and leaves the books in agreement."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest
from click.testing import CliRunner
from trade_desk import DAY, assert_books_agree, picks

from kobe.cli import main
from kobe.data.bars import read_bars
from kobe.oms.orders import OrderRecord, client_order_id
from kobe.oms.store import OrderStore
from kobe.trade.cycle import run_cycle


class Crash(BaseException):
    """Stands for the process stopping dead at a checkpoint (in-process)."""


def reconcile(desk, *flags: str):
    result = CliRunner().invoke(main, ["reconcile", "--json", *flags, "--config", str(desk.root / "strategies.yaml")],
                                env=desk.env)
    return result.exit_code, json.loads(result.output)


def kinds(report: dict, key: str = "differences") -> list[tuple[str, str]]:
    return sorted((d["kind"], d["symbol"]) for d in report[key])


def events(desk, kind: str) -> list[dict]:
    lines = (desk.root / "logs" / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] == kind]


def test_books_in_agreement_have_no_difference(desk) -> None:
    run_cycle(desk.trader(), read_bars(), picks("MSFT", "KO"))
    code, report = reconcile(desk)
    assert (code, report["differences"]) == (0, [])


def test_a_fill_kobe_missed_is_reported_then_adopted(desk) -> None:
    def crash(name: str) -> None:
        if name == "send.recorded":
            raise Crash()

    with pytest.raises(Crash):
        run_cycle(desk.trader(checkpoint=crash), read_bars(), picks("MSFT"))
    code, report = reconcile(desk)
    assert code == 1 and kinds(report) == [("order_state", "MSFT"), ("position_qty", "MSFT")]
    assert report["differences"][0]["kobe"].startswith("submitted 0/")
    assert report["differences"][0]["broker"].startswith("filled")
    code, adopted = reconcile(desk, "--adopt")
    # The books agree; the position the crash left has no stop resting at the broker yet.
    assert code == 1 and kinds(adopted, "left") == [("position_without_stop", "MSFT")] and len(adopted["adopted"]) == 1
    run_cycle(desk.trader(), read_bars(), [])      # the next cycle rests the stop the crash never placed
    assert reconcile(desk) == (0, {"differences": [], "adopted": [], "left": []})
    assert_books_agree(desk, OrderStore(desk.root / "state" / "orders.sqlite"))
    assert len(events(desk, "reconcile.difference")) == 5            # 2 found by the first run, 3 by the second
    assert len(events(desk, "reconcile.adopted")) == 1


def test_shares_bought_by_hand_are_booked_at_the_brokers_price(desk) -> None:
    run_cycle(desk.trader(), read_bars(), picks("MSFT"))
    desk.client().submit_order(LimitOrderRequest(symbol="KO", qty=3, side=OrderSide.BUY, limit_price=60,
                                                 time_in_force=TimeInForce.IOC, client_order_id="by-hand-1"))
    code, report = reconcile(desk)
    assert code == 1 and kinds(report) == [("position_qty", "KO")]
    code, _ = reconcile(desk, "--adopt")
    assert code == 0
    store = OrderStore(desk.root / "state" / "orders.sqlite")
    held = desk.exchange_positions()["KO"]
    assert (store.positions()["KO"].qty, store.positions()["KO"].avg_cost) == (3, pytest.approx(held[1]))
    assert store.positions()["KO"].realized_pnl == 0


def test_shares_sold_by_hand_are_removed_at_kobes_cost_without_inventing_pnl(desk) -> None:
    (bought,) = run_cycle(desk.trader(), read_bars(), picks("KO")).entries
    # The protective stop holds every share: a person must cancel it before selling by hand.
    (stop,) = desk.resting_stops()["KO"]
    desk.client().cancel_order_by_id(stop.id)
    desk.client().submit_order(LimitOrderRequest(symbol="KO", qty=2, side=OrderSide.SELL, limit_price=1,
                                                 time_in_force=TimeInForce.IOC, client_order_id="by-hand-2"))
    code, adopted = reconcile(desk, "--adopt")
    # Adopted; what is left is the stop the person canceled, which the next cycle rests again.
    assert code == 1 and kinds(adopted, "left") == [("position_without_stop", "KO")]
    position = OrderStore(desk.root / "state" / "orders.sqlite").positions()["KO"]
    assert (position.qty, position.realized_pnl) == (bought.qty - 2, 0)


def test_an_order_the_broker_never_saw_is_canceled_on_adopt(desk) -> None:
    store = OrderStore(desk.root / "state" / "orders.sqlite")
    past = DAY - dt.timedelta(days=3)
    store.add(OrderRecord(client_order_id("donchian_breakout", "KO", past, "buy"), "donchian_breakout", "KO", "buy",
                          2, 45.0, past))
    code, report = reconcile(desk)
    assert code == 1 and kinds(report) == [("order_unknown_to_broker", "KO")]
    code, _ = reconcile(desk, "--adopt")
    assert code == 0 and store.orders()[0].status.value == "canceled"


def test_a_resting_order_kobe_did_not_make_is_reported_and_left_alone(desk) -> None:
    desk.client().submit_order(LimitOrderRequest(symbol="KO", qty=1, side=OrderSide.BUY, limit_price=1.0,
                                                 time_in_force=TimeInForce.DAY, client_order_id="resting-by-hand"))
    code, adopted = reconcile(desk, "--adopt")
    assert code == 1 and kinds(adopted, "left") == [("order_missing_in_kobe", "KO")]
    (order,) = desk.exchange_orders()
    assert order.status.value == "new"                              # not canceled by Kobe


@pytest.mark.parametrize(("have", "cost", "want", "their", "steps"), [
    pytest.param(0, 0, 5, 10, [("buy", 5, 10)], id="adopt-a-long"),
    pytest.param(0, 0, -5, 10, [("sell", 5, 10)], id="adopt-a-short"),
    # 2 short at 10, the broker has 5 short at 12: 3 more sold at (5 x 12 - 2 x 10) / 3.
    pytest.param(-2, 10, -5, 12, [("sell", 3, 40 / 3)], id="a-larger-short"),
    pytest.param(-5, 10, -2, 10, [("buy", 3, 10)], id="a-smaller-short-closed-at-cost"),
    pytest.param(4, 10, -3, 12, [("sell", 4, 10), ("sell", 3, 12)], id="long-to-short-closed-then-opened"),
    pytest.param(-3, 12, 0, 0, [("buy", 3, 12)], id="flat"),
])
def test_adopting_the_brokers_position_books_fills_that_make_it_kobes(tmp_path, have, cost, want, their,
                                                                       steps) -> None:
    from kobe.oms.orders import OrderRecord, client_order_id
    from kobe.oms.store import OrderStore
    from kobe.trade.reconcile import _adjustments

    got = _adjustments(have, cost, want, their)
    assert [(s, q, pytest.approx(p)) for s, q, p in got] == steps
    # Booked after a position of ``have`` at ``cost``, they leave the broker's position and average price.
    store = OrderStore(tmp_path / "orders.sqlite")
    if have:
        side = "buy" if have > 0 else "sell"
        entry = OrderRecord(client_order_id("s", "A", DAY, side), "s", "A", side, abs(have), cost, DAY)
        store.add_fill("seed", entry, abs(have), cost, at="2017-06-05T14:00:00+00:00")
    for n, (side, qty, price) in enumerate(got):
        store.add_adjustment(f"adj{n}", "A", side, qty, price, f"2017-06-05T15:0{n}:00+00:00")
    position = store.positions().get("A")
    assert (position.qty if position else 0) == want
    if want:
        assert position is not None and position.avg_cost == pytest.approx(their)
