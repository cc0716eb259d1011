"""The kill switch: no order leaves while it is set, even when it appears between the
gate check and the submit; one choke point sends every order; `kobe kill` and
`kobe resume` record who and why in the audit trail."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from trade_desk import DAY, picks

from kobe.audit.verify import verify_trail
from kobe.cli import main
from kobe.data.bars import read_bars
from kobe.oms.orders import OrderRecord, OrderStatus, client_order_id
from kobe.risk.killswitch import KillSwitch, KillSwitchActive
from kobe.trade.cycle import run_cycle

KOBE = Path(__file__).resolve().parents[2] / "kobe"


def events(root: Path, kind: str) -> list[dict]:
    lines = (root / "logs" / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] == kind]


def test_a_switch_set_after_the_gates_passed_stops_the_order_at_the_choke_point(desk) -> None:
    switch = KillSwitch(desk.root / "state" / "KILL_SWITCH")

    def set_it_after_the_gates(name: str) -> None:
        if name == "order.recorded":          # gates passed, order recorded, the submit is next
            switch.set("trader saw something odd", who="alice")

    report = run_cycle(desk.trader(checkpoint=set_it_after_the_gates), read_bars(), picks("MSFT", "KO"))
    (order,) = report.entries                  # KO was never decided: the cycle saw the switch
    assert order.status is OrderStatus.CANCELED and order.filled_qty == 0
    assert "kill switch" in order.reason
    assert "send.before" not in desk.checkpoints
    assert desk.posts() == [] and desk.exchange_orders() == []
    assert report.killed and ("donchian_breakout", "KO", "kill switch set during the cycle") in report.skipped
    assert desk.trader().store.spent(DAY) == 0


def test_the_choke_point_reads_the_switch_at_call_time(desk) -> None:
    trader = desk.trader()
    order = OrderRecord(client_order_id("manual", "MSFT", DAY, "buy"), "manual", "MSFT", "buy", 1, 80.0, DAY)
    trader.kill_switch.set("stop", who="bob")
    with pytest.raises(KillSwitchActive, match="stop"):
        trader.broker.submit(order)
    trader.kill_switch.clear()
    assert trader.broker.submit(order).client_order_id == order.client_order_id
    assert len(desk.posts()) == 1


def test_a_cycle_under_the_switch_sends_nothing_but_still_recovers(desk) -> None:
    trader = desk.trader()
    trader.kill_switch.set("maintenance", who="carol")
    report = run_cycle(trader, read_bars(), picks("MSFT"))
    assert report.killed and report.entries == [] and desk.posts() == []
    assert events(desk.root, "cycle.halted")[0]["reason"].startswith("kill switch set")


def test_only_the_broker_module_submits_orders() -> None:
    """One choke point: no other module of Kobe calls alpaca-py's order-sending methods
    (the stand-in exchange's own code, which receives orders, aside)."""
    senders = re.compile(r"\.(submit_order|close_position|close_all_positions|replace_order_by_id)\(")
    offenders = [str(p.relative_to(KOBE)) for p in KOBE.rglob("*.py")
                 if "exchange" not in p.relative_to(KOBE).parts and senders.search(p.read_text())]
    assert offenders == ["broker/alpaca.py"]
    # submit_order (new orders) and replace_order_by_id (a trailing stop moved), each behind the guard.
    assert len(senders.findall((KOBE / "broker" / "alpaca.py").read_text())) == 2


def test_kill_and_resume_record_who_and_why(desk) -> None:
    runner = CliRunner()
    config = str(desk.root / "strategies.yaml")
    env = desk.env
    killed = runner.invoke(main, ["kill", "--config", config, "--reason", "broker acting up", "--who", "alice"])
    assert killed.exit_code == 0, killed.output
    traded = runner.invoke(main, ["trade", "--paper", "--once", "--config", config], env=env)
    assert traded.exit_code == 0, traded.output
    assert "KILL SWITCH SET" in traded.output and desk.posts() == []
    refused = runner.invoke(main, ["resume", "--config", config, "--who", "bob"], input="n\n")
    assert refused.exit_code == 1 and (desk.root / "state" / "KILL_SWITCH").exists()
    resumed = runner.invoke(main, ["resume", "--config", config, "--who", "bob", "--reason", "fixed"], input="y\n")
    assert resumed.exit_code == 0 and not (desk.root / "state" / "KILL_SWITCH").exists()
    (set_,) = events(desk.root, "killswitch.set")
    (cleared,) = events(desk.root, "killswitch.cleared")
    assert (set_["who"], set_["reason"]) == ("alice", "broker acting up")
    assert (cleared["who"], cleared["reason"], cleared["was"]["who"]) == ("bob", "fixed", "alice")
    assert verify_trail(desk.root / "logs").ok


def test_kill_works_even_when_the_config_is_broken(desk) -> None:
    (desk.root / "strategies.yaml").write_text("strategies: [this is not valid\n")
    result = CliRunner().invoke(main, ["kill", "--config", str(desk.root / "strategies.yaml"), "--reason", "x"])
    assert result.exit_code == 0 and (desk.root / "state" / "KILL_SWITCH").exists()
