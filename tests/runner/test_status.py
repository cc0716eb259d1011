"""The status snapshot (kobe.runner.status.snapshot), called directly: the runner's state
from its heartbeat, the trading date, spend, positions and last orders from the store,
the kill switch from risk.yaml alone, and ``to_dict`` as ``kobe status --json`` prints it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kobe.cli import main
from kobe.oms.orders import OrderRecord
from kobe.oms.store import OrderStore
from kobe.risk.killswitch import KillSwitch
from kobe.runner.heartbeat import write_heartbeat
from kobe.runner.status import snapshot

NOW = dt.datetime(2017, 6, 7, 15, 0, tzinfo=dt.UTC)          # 11:00 in New York, a Wednesday
KEYS = ["heartbeat", "heartbeat_age_seconds", "running", "kill_switch", "trading_date", "spent_usd", "metrics",
        "positions", "last_orders", "shadow", "drift"]


def _order(n: int, day: dt.date, side: str = "buy", qty: int = 2, price: float = 10.0) -> OrderRecord:
    return OrderRecord(f"kb-{day:%Y%m%d}-{n:02d}", "donchian_breakout", f"S{n:02d}", side, qty, price, day)


HEARTBEATS = [
    # id, the heartbeat (seconds before NOW, state) or None: heartbeat_age_seconds, running
    ("never-started", None, None, False),
    ("running", (60, "running"), 60, True),
    ("running-but-stale", (301, "running"), 301, False),
    ("stopped", (10, "stopped"), 10, False),
]


@pytest.mark.parametrize(("beat", "age", "running"), [c[1:] for c in HEARTBEATS], ids=[c[0] for c in HEARTBEATS])
def test_the_runner_state_comes_from_the_heartbeat(tmp_path: Path, beat: tuple[int, str] | None, age: int | None,
                                                    running: bool) -> None:
    if beat is not None:
        write_heartbeat(tmp_path / "state" / "heartbeat.json", "paper", "waiting for 09:35", "abc",
                        now=NOW - dt.timedelta(seconds=beat[0]), state=beat[1])
    report = snapshot(tmp_path, None, NOW)
    assert (report.heartbeat_age_seconds, report.running) == (age, running)
    assert (report.heartbeat is None) == (beat is None)
    if report.heartbeat is not None:
        assert (report.heartbeat.mode, report.heartbeat.last_action) == ("paper", "waiting for 09:35")


def test_an_empty_project(tmp_path: Path) -> None:
    report = snapshot(tmp_path, None, NOW)
    assert (report.trading_date, report.spent_usd, report.positions, report.last_orders) == \
        (dt.date(2017, 6, 7), 0, [], [])
    assert (report.kill_switch, report.shadow, report.drift) == ({}, None, None)
    assert report.metrics["ioc_submitted"] == 0 and report.metrics["pnl_realized_usd"] == 0
    assert list(report.to_dict()) == KEYS


@pytest.fixture
def traded(tmp_path: Path) -> Path:
    """Twelve orders: one on Monday 2017-06-05, eleven on Tuesday (ten buys of $20, a sell);
    positions: 3 KO held, MSFT bought and sold out."""
    store = OrderStore(tmp_path / "state" / "orders.sqlite")
    store.add(_order(0, dt.date(2017, 6, 5), price=500.0))
    for n in range(1, 11):
        store.add(_order(n, dt.date(2017, 6, 6)))
    store.add(_order(11, dt.date(2017, 6, 6), side="sell", price=1.0))
    store.add_adjustment("adj-ko", "KO", "buy", 3, 45.0, "2017-06-06T15:00:00+00:00")
    store.add_adjustment("adj-msft-buy", "MSFT", "buy", 2, 70.0, "2017-06-06T15:00:00+00:00")
    store.add_adjustment("adj-msft-sell", "MSFT", "sell", 2, 71.0, "2017-06-06T16:00:00+00:00")
    return tmp_path


def test_the_store_gives_the_day_its_spend_the_positions_and_the_last_orders(traded: Path) -> None:
    report = snapshot(traded, None, NOW)
    assert report.trading_date == dt.date(2017, 6, 6)         # the newest order's, not today's
    assert report.spent_usd == pytest.approx(10 * 2 * 10.0)    # the day's buys; Monday's $1,000 and the sell not
    assert [(p.symbol, p.qty) for p in report.positions] == [("KO", 3)]
    assert [o.client_order_id for o in report.last_orders] == [f"kb-20170606-{n:02d}" for n in range(2, 12)]
    assert report.metrics["pnl_realized_usd"] == pytest.approx(2.0)
    last = report.to_dict()["last_orders"][-1]
    assert last == {"client_order_id": "kb-20170606-11", "symbol": "S11", "side": "sell", "qty": 2, "status": "new",
                    "filled_qty": 0.0}


KILL_SWITCHES = [
    # id, risk.yaml (None: none), the switch file set (None: none): whose reason shows
    ("off", None, None, None),
    ("default-file", None, "state/KILL_SWITCH", "maintenance"),
    ("custom-file", "kill_switch_file: ops/STOP\n", "ops/STOP", "maintenance"),
    ("the-default-is-not-the-custom", "kill_switch_file: ops/STOP\n", "state/KILL_SWITCH", None),
    ("broken-risk-file", "kill_switch_file: [\n", "state/KILL_SWITCH", "maintenance"),
]


@pytest.mark.parametrize(("risk", "switch", "reason"), [c[1:] for c in KILL_SWITCHES],
                         ids=[c[0] for c in KILL_SWITCHES])
def test_the_kill_switch_is_risk_yamls(tmp_path: Path, risk: str | None, switch: str | None,
                                       reason: str | None) -> None:
    if risk is not None:
        (tmp_path / "risk.yaml").write_text(risk)
    if switch is not None:
        KillSwitch(tmp_path / switch).set("maintenance", who="carol")
    info = snapshot(tmp_path, None, NOW).kill_switch
    assert info.get("reason") == reason and (info.get("who") == "carol") == (reason is not None)


def test_a_risk_file_elsewhere(tmp_path: Path) -> None:
    other = tmp_path / "other-risk.yaml"
    other.write_text("kill_switch_file: ops/STOP\n")
    KillSwitch(tmp_path / "project" / "ops" / "STOP").set("elsewhere", who="dan")
    assert snapshot(tmp_path / "project", other, NOW).kill_switch["reason"] == "elsewhere"
    assert snapshot(tmp_path / "project", None, NOW).kill_switch == {}


def test_the_last_drift_verdicts_are_carried(tmp_path: Path) -> None:
    drift = {"session": "2017-06-06", "strategies": {"donchian_breakout": {"verdict": "ok"}}}
    (tmp_path / "logs" / "drift").mkdir(parents=True)
    (tmp_path / "logs" / "drift" / "2017-06-05.json").write_text(json.dumps({**drift, "session": "2017-06-05"}))
    (tmp_path / "logs" / "drift" / "2017-06-06.json").write_text(json.dumps(drift))
    assert snapshot(tmp_path, None, NOW).drift == drift


def test_kobe_status_json_is_the_snapshots_dict(traded: Path) -> None:
    (traded / "strategies.yaml").write_text("strategies: [not loaded by status\n")
    result = CliRunner().invoke(main, ["status", "--json", "--config", str(traded / "strategies.yaml")])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert list(printed) == KEYS
    expected = json.loads(json.dumps(snapshot(traded, None, dt.datetime.now(dt.UTC)).to_dict(), default=str))
    assert printed == expected
    human = CliRunner().invoke(main, ["status", "--config", str(traded / "strategies.yaml")])
    assert human.exit_code == 0 and "2017-06-06: spent $200.00" in human.output and "kb-20170606-11" in human.output
