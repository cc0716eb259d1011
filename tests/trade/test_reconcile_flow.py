"""The reconcile flow (kobe.trade.reconcile.reconcile_trader and reconcile_project),
called directly against the stand-in exchange: what is found, what adopting changes,
what is left, and what ``kobe reconcile --json`` prints of it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest
from click.testing import CliRunner
from trade_desk import DAY, Desk, picks

from kobe.cli import main
from kobe.data.bars import read_bars
from kobe.oms.orders import OrderRecord, client_order_id
from kobe.oms.store import OrderStore
from kobe.project import load_project
from kobe.trade.cycle import run_cycle
from kobe.trade.reconcile import ReconcileReport, reconcile_project, reconcile_trader


class Crash(BaseException):
    """Stands for the process stopping dead at a checkpoint (in-process)."""


def in_agreement(desk: Desk) -> None:
    run_cycle(desk.trader(), read_bars(), picks("MSFT", "KO"))


def a_fill_kobe_missed(desk: Desk) -> None:
    def crash(name: str) -> None:
        if name == "send.recorded":
            raise Crash()

    with pytest.raises(Crash):
        run_cycle(desk.trader(checkpoint=crash), read_bars(), picks("MSFT"))


def an_order_the_broker_never_saw(desk: Desk) -> None:
    past = DAY - dt.timedelta(days=3)
    OrderStore(desk.root / "state" / "orders.sqlite").add(
        OrderRecord(client_order_id("donchian_breakout", "KO", past, "buy"), "donchian_breakout", "KO", "buy", 2,
                    45.0, past))


def shares_bought_by_hand(desk: Desk) -> None:
    run_cycle(desk.trader(), read_bars(), picks("MSFT"))
    desk.client().submit_order(LimitOrderRequest(symbol="KO", qty=3, side=OrderSide.BUY, limit_price=60,
                                                 time_in_force=TimeInForce.IOC, client_order_id="by-hand-1"))


def a_resting_order_by_hand(desk: Desk) -> None:
    desk.client().submit_order(LimitOrderRequest(symbol="KO", qty=1, side=OrderSide.BUY, limit_price=1.0,
                                                 time_in_force=TimeInForce.DAY, client_order_id="resting-by-hand"))


SCENARIOS: list[tuple[str, Callable[[Desk], None], list[tuple[str, str]], int, list[tuple[str, str]]]] = [
    # id, what happened, the differences found, the changes adopting makes, the differences left after
    ("in-agreement", in_agreement, [], 0, []),
    ("a-fill-kobe-missed", a_fill_kobe_missed, [("order_state", "MSFT"), ("position_qty", "MSFT")], 1,
     [("position_without_stop", "MSFT")]),        # the stop the crash never placed: the next cycle's job
    ("an-order-the-broker-never-saw", an_order_the_broker_never_saw, [("order_unknown_to_broker", "KO")], 1, []),
    ("shares-bought-by-hand", shares_bought_by_hand, [("position_qty", "KO")], 1, []),
    ("a-resting-order-by-hand", a_resting_order_by_hand, [("order_missing_in_kobe", "KO")], 0,
     [("order_missing_in_kobe", "KO")]),           # reported, never canceled by Kobe
]


def kinds(differences: list[Any]) -> list[tuple[str, str]]:
    return sorted((d.kind, d.symbol) for d in differences)


def events(desk: Desk, kind: str) -> list[dict[str, Any]]:
    lines = (desk.root / "logs" / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] == kind]


@pytest.mark.parametrize(("happened", "found", "changes", "left"), [s[1:] for s in SCENARIOS],
                         ids=[s[0] for s in SCENARIOS])
def test_reconcile_only_reports(desk: Desk, happened: Callable[[Desk], None], found: list[tuple[str, str]],
                                changes: int, left: list[tuple[str, str]]) -> None:
    happened(desk)
    report = reconcile_trader(desk.trader())
    assert kinds(report.differences) == found and report.adopted == [] and report.left == report.differences
    assert len(events(desk, "reconcile.difference")) == len(found) and events(desk, "reconcile.adopted") == []


@pytest.mark.parametrize(("happened", "found", "changes", "left"), [s[1:] for s in SCENARIOS],
                         ids=[s[0] for s in SCENARIOS])
def test_reconcile_and_adopt(desk: Desk, happened: Callable[[Desk], None], found: list[tuple[str, str]],
                             changes: int, left: list[tuple[str, str]]) -> None:
    happened(desk)
    positions_file = desk.root / "state" / "positions.json"
    positions_file.unlink(missing_ok=True)
    report = reconcile_trader(desk.trader(), adopt_view=True)
    assert kinds(report.differences) == found and len(report.adopted) == changes and kinds(report.left) == left
    assert len(events(desk, "reconcile.adopted")) == changes
    assert len(events(desk, "reconcile.checked")) == (2 if found else 1)      # reconciled again after adopting
    # positions.json is rewritten from the adopted book (only when there was something to adopt).
    assert positions_file.exists() == bool(found)
    if found:
        store = OrderStore(desk.root / "state" / "orders.sqlite")
        written = {p["symbol"]: p["qty"] for p in json.loads(positions_file.read_text())["positions"]}
        assert written == {s: p.qty for s, p in store.positions().items() if p.qty}


def test_the_report_as_json() -> None:
    from kobe.trade.reconcile import Difference

    found = Difference("order_state", "MSFT", "submitted 0/3", "filled 3/3", "kb-1")
    report = ReconcileReport([found], ["kb-1: submitted 0/3 -> filled 3/3"], [])
    assert report.to_dict() == {"differences": [{"kind": "order_state", "symbol": "MSFT", "kobe": "submitted 0/3",
                                                 "broker": "filled 3/3", "client_order_id": "kb-1"}],
                                "adopted": ["kb-1: submitted 0/3 -> filled 3/3"], "left": []}


def test_reconcile_project_needs_no_pin_and_is_what_the_cli_prints(desk: Desk) -> None:
    a_fill_kobe_missed(desk)
    (desk.root / "state" / "config.lock").unlink()          # reconciling sends nothing: no pin needed
    risk = desk.root / "risk.yaml"
    risk.write_text(risk.read_text().replace("max_open_positions: 10", "max_open_positions: 11"))
    project = load_project(desk.root / "strategies.yaml")
    report = reconcile_project(project, desk.env, timeout=5)
    assert kinds(report.differences) == [("order_state", "MSFT"), ("position_qty", "MSFT")]
    printed = CliRunner().invoke(main, ["reconcile", "--json", "--config", str(desk.root / "strategies.yaml")],
                                 env=desk.env)
    assert printed.exit_code == 1 and json.loads(printed.output) == report.to_dict()
    adopted = reconcile_project(project, desk.env, adopt_view=True, timeout=5)
    assert len(adopted.adopted) == 1 and kinds(adopted.left) == [("position_without_stop", "MSFT")]
