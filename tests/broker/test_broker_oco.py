"""Kobe's AlpacaBroker sending OCO exits to the stand-in exchange, through alpaca-py.

An OCO exit is one OrderRecord (``order_type="oco"``: ``limit_price`` the profit target,
``stop_price`` the protective stop) sent through the kill-switch-guarded choke point; the
answer is the parent (the take-profit) with its stop-loss leg in ``BrokerOrder.legs``.
The fills are the ones worked out by hand in test_exchange_oco.py from the AAPL bars:

    2017-06-05  154.34 154.45 153.46 153.93  down: high 11:40, low 13:50
    2017-06-06  153.90 155.81 153.78 154.45  up
    2017-06-07  155.02 155.98 154.48 155.37  up:   opens above the 6th's close
    2017-06-09  155.19 155.19 146.02 148.98  down
    2017-06-12  145.74 146.09 142.51 145.42  down: a gap under Friday's 148.98
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from stand_keys import SECRET

from kobe.broker.alpaca import AlpacaBroker
from kobe.broker.base import BrokerOrder, DuplicateOrder, OcoBroker, OrderRefused
from kobe.data.calendar import NEW_YORK
from kobe.oms.orders import OrderRecord, client_order_id
from kobe.risk.killswitch import KillSwitch, KillSwitchActive

DAY = dt.date(2017, 6, 5)
UTC = dt.UTC


def ny(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2017, 6, day, hour, minute, tzinfo=NEW_YORK)


def crossing(t0: dt.datetime, p0: float, t1: dt.datetime, p1: float, level: float) -> dt.datetime:
    return t0 + (t1 - t0) * ((level - p0) / (p1 - p0))


def exit_record(target: float, stop: float, qty: int = 10, tag: str = "oco", **changes: Any) -> OrderRecord:
    record = OrderRecord(client_order_id("trend", "AAPL", DAY, tag), "trend", "AAPL", "sell", qty, target, DAY,
                         reason=f"target {target}, stop {stop}", order_type="oco", stop_price=stop,
                         time_in_force="gtc")
    return dataclasses.replace(record, **changes)


@dataclass
class Desk:
    broker: AlpacaBroker
    switch: KillSwitch
    sent: list[tuple[str, str, Any]]      # method, path, JSON body (or query) of each request alpaca-py made


@pytest.fixture
def desk(exchange, tmp_path: Path) -> Desk:
    """A broker on the stand-in holding 10 AAPL bought at the open of 2017-06-05 (154.42)."""
    trading = exchange.trading()
    sent: list[tuple[str, str, Any]] = []
    request = trading._session.request

    def recording(method: str, url: str, **opts: Any) -> Any:
        body = opts.get("json", opts.get("params"))
        sent.append((method, url.split("/v2", 1)[1], json.loads(json.dumps(body)) if body is not None else None))
        return request(method, url, **opts)

    trading._session.request = recording
    switch = KillSwitch(tmp_path / "KILL_SWITCH")
    broker = AlpacaBroker(trading, exchange.data(), switch, secrets=[SECRET])
    entry = OrderRecord(client_order_id("trend", "AAPL", DAY, "buy"), "trend", "AAPL", "buy", 10, 154.42, DAY)
    broker.submit(entry)
    bought = broker.order_by_client_id(entry.client_order_id)
    assert bought is not None and bought.status == "filled"
    sent.clear()
    return Desk(broker, switch, sent)


def test_the_broker_is_an_oco_broker(desk) -> None:
    oco_broker: OcoBroker = desk.broker      # mypy checks the protocol; this checks the methods exist
    assert callable(oco_broker.submit_oco) and callable(oco_broker.replace_oco_leg)


def test_submit_oco_sends_alpacas_documented_body_and_reads_the_leg(desk) -> None:
    record = exit_record(156.00, 150.00)
    parent = desk.broker.submit_oco(record)
    assert desk.sent == [("POST", "/orders", {
        "symbol": "AAPL", "qty": 10.0, "side": "sell", "type": "limit", "time_in_force": "gtc",
        "order_class": "oco", "client_order_id": record.client_order_id,
        "take_profit": {"limit_price": 156.0}, "stop_loss": {"stop_price": 150.0}})]
    assert (parent.client_order_id, parent.order_class, parent.order_type, parent.limit_price, parent.stop_price,
            parent.status, parent.qty) == (record.client_order_id, "oco", "limit", 156.0, None, "new", 10.0)
    (leg,) = parent.legs
    assert (leg.order_class, leg.order_type, leg.side, leg.qty, leg.stop_price, leg.limit_price, leg.status,
            leg.time_in_force, leg.legs) == ("oco", "stop", "sell", 10.0, 150.0, None, "held", "gtc", ())
    assert leg.id != parent.id and leg.client_order_id != record.client_order_id
    # Reads of an OCO come with its leg: the OMS sees the OCO as one order (fold_oco).
    assert [g.id for g in desk.broker.order(parent.id).legs] == [leg.id]
    assert [g.id for g in desk.broker.order_with_legs(parent.id).legs] == [leg.id]


def test_open_orders_flat_and_nested(desk) -> None:
    parent = desk.broker.submit_oco(exit_record(156.00, 150.00))
    flat = desk.broker.open_orders()
    assert [(o.id, o.order_type, o.status, o.order_class) for o in flat] == [
        (parent.legs[0].id, "stop", "held", "oco"), (parent.id, "limit", "new", "oco")]
    (grouped,) = desk.broker.open_orders(nested=True)
    assert (grouped.id, [g.id for g in grouped.legs]) == (parent.id, [parent.legs[0].id])
    assert desk.sent[1:] == [("GET", "/orders", {"status": "open", "limit": 500}),
                             ("GET", "/orders", {"status": "open", "limit": 500, "nested": True})]


@dataclass(frozen=True)
class Exit:
    record: OrderRecord
    placed: dt.datetime
    until: dt.datetime
    filled: str           # "target" (the parent filled) or "stop" (the leg filled)
    price: float
    at: dt.datetime


EXITS = {
    "target-reached-intrabar": Exit(exit_record(154.40, 153.00), ny(5, 9, 30), ny(5, 16), "target", 154.40,
                                    crossing(ny(5, 9, 30), 154.34, ny(5, 11, 40), 154.45, 154.40)),
    "stop-reached-intrabar": Exit(exit_record(155.00, 153.50), ny(5, 9, 30), ny(5, 16), "stop", 153.50,
                                  crossing(ny(5, 11, 40), 154.45, ny(5, 13, 50), 153.46, 153.50)),
    "gap-under-the-stop": Exit(exit_record(150.00, 147.00), ny(9, 18), ny(12, 16), "stop", 145.74, ny(12, 9, 30)),
    "gap-over-the-target": Exit(exit_record(154.80, 150.00), ny(6, 18), ny(7, 16), "target", 155.02, ny(7, 9, 30)),
}


@pytest.mark.parametrize("case", EXITS.values(), ids=EXITS.keys())
def test_how_an_oco_ended_is_read_from_the_parent_and_its_leg(exchange, desk, case: Exit) -> None:
    exchange.admin.set_clock(case.placed)
    placed = desk.broker.submit_oco(case.record)
    exchange.admin.set_clock(case.until)
    parent = desk.broker.order_with_legs(placed.id)
    (leg,) = parent.legs
    won, lost = (parent, leg) if case.filled == "target" else (leg, parent)
    assert (won.status, won.filled_qty, won.filled_avg_price) == ("filled", 10.0, case.price)
    assert won.filled_at is not None and abs(won.filled_at - case.at) < dt.timedelta(milliseconds=1)
    assert (lost.status, lost.filled_qty) == ("canceled", 0.0)
    assert desk.broker.positions() == []
    assert desk.broker.open_orders() == []


def test_replace_oco_leg_moves_the_stop_and_sends_only_the_price(exchange, desk) -> None:
    parent = desk.broker.submit_oco(exit_record(156.00, 150.00))
    old_leg = parent.legs[0]
    exchange.admin.set_clock(ny(8, 18))
    moved_cid = client_order_id("trend", "AAPL", dt.date(2017, 6, 8), "stop")
    new_leg = desk.broker.replace_oco_leg(old_leg.id, stop_price=153.00, client_order_id=moved_cid)
    assert desk.sent[-1] == ("PATCH", f"/orders/{old_leg.id}", {"stop_price": 153.0, "client_order_id": moved_cid})
    assert (new_leg.order_type, new_leg.stop_price, new_leg.status, new_leg.client_order_id) == (
        "stop", 153.0, "held", moved_cid)
    assert desk.broker.order(old_leg.id).replaced_by == new_leg.id
    assert [g.id for g in desk.broker.order_with_legs(parent.id).legs] == [new_leg.id]
    exchange.admin.set_clock(ny(9, 16))
    assert desk.broker.order(new_leg.id).filled_avg_price == 153.0
    assert desk.broker.order_with_legs(parent.id).status == "canceled"        # the parent alone
    folded = desk.broker.order(parent.id)                                       # the OCO as one order
    assert (folded.status, folded.filled_qty, folded.filled_avg_price) == ("filled", 10.0, 153.0)


def test_replace_oco_leg_moves_the_target(exchange, desk) -> None:
    parent = desk.broker.submit_oco(exit_record(156.00, 150.00))
    exchange.admin.set_clock(ny(5, 18))
    new_parent = desk.broker.replace_oco_leg(parent.id, limit_price=155.50)
    assert desk.sent[-1] == ("PATCH", f"/orders/{parent.id}", {"limit_price": 155.5})
    assert (new_parent.order_type, new_parent.limit_price, [g.id for g in new_parent.legs]) == (
        "limit", 155.5, [parent.legs[0].id])
    exchange.admin.set_clock(ny(6, 16))
    assert desk.broker.order(new_parent.id).filled_avg_price == 155.5
    assert desk.broker.order(parent.legs[0].id).status == "canceled"


def test_cancel_of_the_parent_cancels_both(exchange, desk) -> None:
    parent = desk.broker.submit_oco(exit_record(154.40, 153.50))
    assert desk.broker.cancel(parent.id) is True
    group = desk.broker.order_with_legs(parent.id)
    assert (group.status, group.legs[0].status) == ("canceled", "canceled")
    assert desk.broker.cancel(parent.legs[0].id) is False          # finished already
    exchange.admin.set_clock(ny(5, 16))
    assert desk.broker.positions()[0].qty == 10.0


def test_the_kill_switch_stops_an_oco_and_its_moves(desk) -> None:
    parent = desk.broker.submit_oco(exit_record(156.00, 150.00, qty=5))
    desk.switch.set("testing", who="me")
    desk.sent.clear()
    with pytest.raises(KillSwitchActive):
        desk.broker.submit_oco(exit_record(157.00, 151.00, qty=5, tag="oco-2"))
    with pytest.raises(KillSwitchActive):
        desk.broker.replace_oco_leg(parent.legs[0].id, stop_price=152.00)
    assert desk.sent == []
    assert desk.broker.cancel(parent.id) is True                  # canceling is never blocked


REFUSED = {
    "stop-over-the-market": (exit_record(156.00, 154.34), 422, "stop_loss.stop_price must be <= base_price - 0.01"),
    "more-shares-than-held": (exit_record(156.00, 150.00, qty=11), 403,
                              "insufficient qty available for order (requested: 11, available: 10)"),
}


@pytest.mark.parametrize(("record", "status", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_the_brokers_refusals_are_order_refused(desk, record: OrderRecord, status: int, message: str) -> None:
    with pytest.raises(OrderRefused) as refused:
        desk.broker.submit_oco(record)
    assert refused.value.status == status and message in str(refused.value)


def test_the_same_oco_twice_is_a_duplicate(desk) -> None:
    desk.broker.submit_oco(exit_record(156.00, 150.00))
    with pytest.raises(DuplicateOrder):
        desk.broker.submit_oco(exit_record(156.00, 150.00))


NOT_OCO = {
    "a-plain-limit-record": {"order_type": "limit"},
    "no-stop": {"stop_price": None},
    "no-target": {"limit_price": None},
    "stop-over-the-target": {"stop_price": 157.0},
    "ioc": {"time_in_force": "ioc"},
    "no-shares": {"qty": 0},
}


@pytest.mark.parametrize("changes", NOT_OCO.values(), ids=NOT_OCO.keys())
def test_a_record_that_is_no_oco_exit_is_never_sent(desk, changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        desk.broker.submit_oco(exit_record(156.00, 150.00, **changes))
    assert desk.sent == []


def test_replace_oco_leg_takes_one_price() -> None:
    broker = AlpacaBroker(None, None, KillSwitch(Path("/nonexistent/KILL")))
    with pytest.raises(ValueError):
        broker.replace_oco_leg("00000000-0000-4000-8000-000000000000")
    with pytest.raises(ValueError):
        broker.replace_oco_leg("00000000-0000-4000-8000-000000000000", stop_price=1.0, limit_price=2.0)


def test_broker_orders_built_the_old_way_have_no_legs() -> None:
    order = BrokerOrder("id", "cid", "KO", "buy", 5, 40.0, "filled", 5, 40.0, dt.datetime(2017, 6, 5, tzinfo=UTC))
    assert (order.order_class, order.legs) == ("simple", ())
