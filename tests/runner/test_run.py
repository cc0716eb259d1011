"""The runner end to end against an in-process kobe exchange: one cycle, a replay across a
holiday and a daylight-saving change, a refused second runner, SIGTERM mid-run, the
endpoints while running, and a soak with broker faults."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alpaca.trading.requests import GetOrdersRequest
from click.testing import CliRunner
from replay import passing_preflight, replay_runner

from kobe.audit.verify import verify_trail
from kobe.broker.exchange import ExchangeAdmin, ExchangeConfig, serve_exchange
from kobe.cli import main
from kobe.config.errors import KobeError
from kobe.oms.store import OrderStore
from kobe.runner.heartbeat import read_heartbeat
from kobe.runner.lock import InstanceLock
from kobe.runner.preflight import Check, Preflight
from kobe.trade.protect import unsettled

REPO = Path(__file__).resolve().parent.parent.parent
NY = ZoneInfo("America/New_York")


PASS = passing_preflight


def test_replay_trades_only_at_scan_times_on_sessions(pinned_project_dir: Path) -> None:
    # 2017-02-16 .. 2017-03-14: Presidents' Day (Monday 2017-02-20) is a holiday and
    # daylight saving began on Sunday 2017-03-12.
    start = dt.datetime(2017, 2, 16, 9, 0, tzinfo=NY)
    until = dt.datetime(2017, 3, 14, 16, 0, tzinfo=NY)
    seen: list[dt.datetime] = []
    with serve_exchange(ExchangeConfig(start=start, state=pinned_project_dir / "exchange.sqlite")) as url:
        runner = replay_runner(pinned_project_dir, url, until)
        runner.on_cycle = lambda report: seen.append(runner.clock.now())
        assert runner.run(PASS) == 0
    # Expected, independently: weekdays of the range but the holiday, at 09:35 and 15:55 New York.
    expected = []
    day = start.date()
    while day <= until.date():
        if day.weekday() < 5 and day != dt.date(2017, 2, 20):
            expected += [dt.datetime.combine(day, t, NY) for t in (dt.time(9, 35), dt.time(15, 55))]
        day += dt.timedelta(days=1)
    assert seen == expected
    utc_open = {s.astimezone(dt.UTC).time() for s in seen if s.astimezone(NY).hour == 9}
    assert utc_open == {dt.time(14, 35), dt.time(13, 35)}  # before and after the change
    assert runner.state.cycles == len(expected) == 36  # 18 sessions: 19 weekdays less the holiday
    report = verify_trail(pinned_project_dir / "logs")
    assert report.ok
    assert read_heartbeat(pinned_project_dir / "state" / "heartbeat.json").state == "stopped"
    # A clean replay: after every cycle the runner reconciled, and the broker never differed.
    events = [json.loads(line) for line in (pinned_project_dir / "logs" / "events.jsonl").read_text().splitlines()]
    assert [e["differences"] for e in events if e["kind"] == "reconcile.checked"] == [0] * 36
    trades = (pinned_project_dir / "logs" / "trades.jsonl").read_text().splitlines()
    assert sum(json.loads(line)["kind"] == "fill" for line in trades) > 0      # and it did trade


def test_a_second_runner_is_refused(pinned_project_dir: Path) -> None:
    with serve_exchange(ExchangeConfig(start=dt.date(2017, 6, 5), state=pinned_project_dir / "exchange.sqlite")) as url:
        first = InstanceLock(pinned_project_dir / "state" / "kobe.lock")
        first.acquire("paper")
        try:
            runner = replay_runner(pinned_project_dir, url, dt.datetime(2017, 6, 6, tzinfo=NY))
            with pytest.raises(KobeError, match="another Kobe runner"):
                runner.run(PASS)
        finally:
            first.release()


def test_preflight_failure_stops_before_any_order(pinned_project_dir: Path) -> None:
    with serve_exchange(ExchangeConfig(start=dt.date(2017, 6, 5), state=pinned_project_dir / "exchange.sqlite")) as url:
        runner = replay_runner(pinned_project_dir, url, dt.datetime(2017, 6, 9, 16, 0, tzinfo=NY))
        with pytest.raises(KobeError, match="preflight failed"):
            runner.run(lambda: Preflight((Check("broker account", False, "account status BLOCKED"),)))
    assert runner.state.cycles == 0 and OrderStore(pinned_project_dir / "state" / "orders.sqlite").orders() == []


def test_soak_with_broker_faults_keeps_budgets_and_loses_nothing(pinned_project_dir: Path) -> None:
    start = dt.datetime(2017, 10, 2, 9, 0, tzinfo=NY)
    until = dt.datetime(2017, 11, 30, 16, 0, tzinfo=NY)
    config = ExchangeConfig(start=start, state=pinned_project_dir / "exchange.sqlite", hang_seconds=0.3)
    with serve_exchange(config) as url:
        admin = ExchangeAdmin(url)
        admin.set_faults(error_rate=0.05, drop_rate=0.03, timeout_rate=0.02, fill_delay=30, seed=7)
        runner = replay_runner(pinned_project_dir, url, until)
        assert runner.run(PASS) == 0
        admin.clear_faults()
        # One quiet cycle more resolves whatever the last storm left in doubt.
        calm = replay_runner(pinned_project_dir, url, until + dt.timedelta(days=5), once=True)
        calm.run(PASS)
        broker_orders = calm.trader.broker.trading.get_orders(filter=GetOrdersRequest(status="all", limit=500))
    store = OrderStore(pinned_project_dir / "state" / "orders.sqlite")
    orders = store.orders()
    # 22 sessions in October 2017, 21 in November; the early close on the 24th (13:00) skips 15:55.
    assert runner.state.cycles == 22 * 2 + 20 * 2 + 1 and len(orders) > 10
    assert unsettled(store) == []          # every order reached a known state (resting stops are known: at the broker)
    ids = [o.client_order_id for o in broker_orders]
    assert len(ids) == len(set(ids))                               # nothing sent twice
    assert set(ids) <= {o.client_order_id for o in orders}         # nothing the store does not know
    for day in {o.trading_date for o in orders}:
        assert store.spent(day) <= 1000 + 1e-9
    assert all(o.notional <= 75 + 1e-9 for o in orders if o.side == "buy")
    assert verify_trail(pinned_project_dir / "logs").ok


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kobe_run_paper_once_with_no_keys(pinned_project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(pinned_project_dir)
    for name in ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY", "ALPACA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["run", "--paper", "--once", "--from", "2018-01-26", "--health-port", "0"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "preflight passed" in result.output and "stopped after 1 cycles" in result.output
    events_file = pinned_project_dir / "logs" / "events.jsonl"
    events = [json.loads(line)["kind"] for line in events_file.read_text().splitlines()]
    assert events.index("runner.preflight") < events.index("cycle.started") < events.index("cycle.finished") \
        < events.index("runner.stopped")
    status = CliRunner().invoke(main, ["status", "--json"])
    report = json.loads(status.output)
    assert report["running"] is False and report["heartbeat"]["state"] == "stopped"


def test_a_files_project_replays_its_own_bars_with_no_keys(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With `provider: files` and no keys, the local exchange serves the config's file (here
    the sample through 2016), the bars the runner scans: the cycle finds them fresh and
    quotes for its picks. Served the embedded sample instead, its clock would start in 2018
    and every cycle would refuse 2016's bars as stale."""
    import polars as pl

    from kobe.config.pin import write_pin
    from kobe.data.bars import read_bars
    from kobe.project import load_project

    read_bars(end=dt.date(2016, 12, 30)).collect().write_parquet(project_dir / "bars.parquet")
    config = project_dir / "strategies.yaml"
    config.write_text(config.read_text().replace("provider: embedded", "provider: files\n  path: bars.parquet"))
    write_pin(project_dir, load_project(config).fingerprint())
    monkeypatch.chdir(project_dir)
    for name in ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY", "ALPACA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["run", "--paper", "--once", "--health-port", "0"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in (project_dir / "logs" / "events.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    assert "cycle.finished" in kinds and "cycle.refused" not in kinds, kinds
    refreshed = [e for e in events if e["kind"] == "data.refreshed"]
    assert refreshed and refreshed[-1]["fresh"] is True and refreshed[-1]["session"].startswith("2016-")
    assert pl.read_parquet(project_dir / "bars.parquet")["date"].max() == dt.date(2016, 12, 30)


def test_sigterm_mid_run_exits_cleanly_with_nothing_unknown(pinned_project_dir: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPACA_")}
    proc = subprocess.Popen([sys.executable, "-m", "kobe.cli", "run", "--paper", "--from", "2017-10-02",
                             "--pace", "0.05", "--health-port", str(port)], cwd=pinned_project_dir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    health = json.loads(response.read())
                if health["cycles"] >= 3:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert health is not None and health["cycles"] >= 3
        for field in ("mode", "ready", "kill_switch", "heartbeat", "metrics", "positions", "orders", "spent_today_usd"):
            assert field in health
        assert set(health["metrics"]) >= {"ioc_submitted", "ioc_filled", "win_rate", "pnl_realized_usd"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readiness", timeout=2) as response:
            assert json.loads(response.read())["ready"] is True
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    store = OrderStore(pinned_project_dir / "state" / "orders.sqlite")
    assert unsettled(store) == []
    events = [json.loads(line) for line in (pinned_project_dir / "logs" / "events.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    assert "runner.signal" in kinds and kinds[-1] == "runner.stopped"
    assert read_heartbeat(pinned_project_dir / "state" / "heartbeat.json").state == "stopped"
    assert verify_trail(pinned_project_dir / "logs").ok
