"""Bad input reaching the runner: a vendor's bad answer, stale bars, the broker's clock
going back. Each refuses the cycle before any order, says why (an alert, the audit
trail, the heartbeat, ``/readiness``), and loses nothing: the lake keeps its bars and
the next good cycle trades.

The runner is driven against the stand-in exchange in this process, with
``data: provider: polygon`` and the real ``massive`` client; the faults are the stand-in's
(:class:`~kobe.broker.exchange.faults.DataFault`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from kobe.broker.exchange import ExchangeAdmin, ExchangeConfig, serve_exchange
from kobe.broker.exchange.faults import DataFault
from kobe.config.pin import write_pin
from kobe.data.calendar import NEW_YORK
from kobe.data.refresh import refresh
from kobe.monitor.health import readiness
from kobe.project import Project, load_project
from kobe.runner.run import ReplayClock, Runner, paper_env
from kobe.runner.schedule import Schedule, parse_times
from kobe.trade.cycle import open_trader

REPO = Path(__file__).resolve().parents[2]
ENV = {"POLYGON_API_KEY": "polygon-test"}
MONDAY = dt.datetime(2017, 6, 5, 9, 0, tzinfo=NEW_YORK)       # the lake ends on Friday 2017-06-02
TUESDAY_SCAN = dt.datetime(2017, 6, 6, 9, 35, tzinfo=NEW_YORK)  # needs Monday's bar
WEDNESDAY_SCAN = dt.datetime(2017, 6, 7, 9, 35, tzinfo=NEW_YORK)  # needs Monday's and Tuesday's


@dataclass
class Stand:
    root: Path
    project: Project
    admin: ExchangeAdmin
    runner: Runner

    def events(self, kind: str) -> list[dict]:
        lines = (self.root / "logs" / "events.jsonl").read_text().splitlines()
        return [e for e in map(json.loads, lines) if e["kind"] == kind]

    def lake_end(self, symbol: str) -> dt.date:
        return pl.read_parquet(self.root / "state" / "lake" / "bars" / f"{symbol}.parquet")["date"].max()


@pytest.fixture
def stand(tmp_path: Path) -> Iterator[Stand]:
    with serve_exchange(ExchangeConfig(start=MONDAY, state=tmp_path / "exchange.sqlite", speed=0.0)) as url:
        root = tmp_path / "project"
        root.mkdir()
        for name in ("strategies.yaml", "risk.yaml"):
            shutil.copy(REPO / name, root / name)
        for folder in ("rules", "universe"):
            shutil.copytree(REPO / folder, root / folder)
        text = (root / "strategies.yaml").read_text().replace("amount_usd: 75", "amount_usd: 300")
        (root / "strategies.yaml").write_text(re.sub(r"provider: embedded", f"provider: polygon\n  base_url: {url}",
                                                     text))
        risk = re.sub(r"^per_order_budget_usd: \S+", "per_order_budget_usd: 300", (root / "risk.yaml").read_text(),
                      flags=re.MULTILINE)
        (root / "risk.yaml").write_text(risk)
        project = load_project(root / "strategies.yaml")
        write_pin(root, project.fingerprint())
        assert refresh(project, MONDAY, env=ENV, start=dt.date(2016, 1, 1)).fresh
        admin = ExchangeAdmin(url)
        trader = open_trader(project, paper_env(url), paper=True, timeout=5, retry_wait=0, sleep=admin.advance)
        clock = ReplayClock(admin.set_clock,
                            lambda: dt.datetime.fromisoformat(admin.clock()["now"]))
        runner = Runner(trader, lambda: project.bars(), Schedule(parse_times(["09:35", "15:55"])), clock,
                        health_port=None, monitoring=False,
                        refresh=lambda now: refresh(project, now, env=ENV))
        runner.state.preflight_ok = True
        yield Stand(root, project, admin, runner)


FAULTS = [
    pytest.param(DataFault("empty", symbol="AAPL"), "AAPL", "empty", TUESDAY_SCAN, id="an-empty-day"),
    pytest.param(DataFault("short", symbol="AAPL", bars=1), "AAPL", "short", WEDNESDAY_SCAN, id="a-short-page"),
    pytest.param(DataFault("partial", symbol="MSFT"), "MSFT", "unclosed", TUESDAY_SCAN,
                 id="a-bar-of-a-session-not-closed"),
    pytest.param(DataFault("duplicate", symbol="KO"), "KO", "duplicate", TUESDAY_SCAN, id="duplicated-bars"),
    pytest.param(DataFault("out_of_order", symbol="KO", day="2017-06-06"), "KO", "out_of_order", WEDNESDAY_SCAN,
                 id="bars-out-of-order"),
]


@pytest.mark.parametrize(("fault", "symbol", "named", "scan"), FAULTS)
def test_a_bad_vendor_answer_trades_nothing_says_why_and_loses_nothing(stand: Stand, fault: DataFault,
                                                                      symbol: str, named: str,
                                                                      scan: dt.datetime) -> None:
    stand.admin.set_faults(data=[fault])
    stand.admin.set_clock(scan)
    stand.runner._cycle(scan)
    (refused,) = stand.events("cycle.refused")
    assert symbol in refused["reason"] and "not fresh" in refused["reason"]
    assert stand.runner.state.data is not None and stand.runner.state.data["refused"] == {symbol: named}
    assert stand.runner.trader.store.orders() == []                       # nothing was traded on it
    assert stand.events("order.decided") == []
    assert [a.level for a in stand.runner.alerts.recent] == ["error"] and symbol in stand.runner.alerts.recent[0].message
    ready, reasons = readiness({**stand.runner.status(), "heartbeat_fresh": True})
    assert not ready and any(symbol in r for r in reasons)
    assert stand.lake_end(symbol) == dt.date(2017, 6, 2)                  # the lake kept what it had
    heartbeat = json.loads((stand.root / "state" / "heartbeat.json").read_text())
    assert heartbeat["last_action"].startswith("no trading: the bars are not fresh")

    # The vendor is well again: the next cycle fetches what is missing and trades.
    stand.admin.clear_faults()
    later = scan + dt.timedelta(hours=6, minutes=20)
    stand.admin.set_clock(later)
    stand.runner._cycle(later)
    assert stand.runner.state.blocked is None
    assert stand.lake_end(symbol) == scan.date() - dt.timedelta(days=1)   # every closed session, now
    assert len(stand.events("cycle.refused")) == 1
    assert stand.events("cycle.finished")[-1]["trading_date"] == scan.date().isoformat()
    assert readiness({**stand.runner.status(), "heartbeat_fresh": True})[0]


def test_the_brokers_clock_going_back_refuses_the_cycle(stand: Stand) -> None:
    stand.admin.set_clock(TUESDAY_SCAN)
    stand.runner._cycle(TUESDAY_SCAN)
    assert stand.events("cycle.refused") == [] and stand.events("cycle.finished")
    sent = len(stand.runner.trader.store.orders())
    earlier = TUESDAY_SCAN - dt.timedelta(hours=2)
    stand.runner.clock = ReplayClock(stand.admin.set_clock, lambda: earlier.astimezone(dt.UTC))
    stand.runner._cycle(TUESDAY_SCAN + dt.timedelta(hours=6))
    (refused,) = stand.events("cycle.refused")
    assert refused["reason"].startswith("the broker's clock went back from 2017-06-06T13:35")
    assert len(stand.runner.trader.store.orders()) == sent                # nothing new was decided
    assert "went back" in stand.runner.alerts.recent[0].message
