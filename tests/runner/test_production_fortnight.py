"""A production fortnight, end to end, with real processes and the real vendor clients.

`kobe exchange` runs as its own process and serves the S&P 500 file (the embedded sample,
the same bars for 40 of its symbols, when the shared data is not beside the checkout) for
both Polygon's aggregates and Alpaca's trading API, from Monday 2018-01-08, its clock at
2,400x while the market is open and 20,000x while it is closed (a night is three real
seconds: room for the settling cycle and the session's checks). A project configured
with ``data: provider: polygon`` and the stand-in's ``base_url`` runs ``kobe run
--paper`` across ten sessions (Martin Luther King day in between), the runner following
the exchange's clock, with scan times 09:35 and 14:00 (the last cycle of a session has two
market hours, three real seconds, before the close). Half way, at a seeded random moment,
the runner is killed -9 and started again.

Afterwards:

- the lake holds every closed session, bar for bar the served file's;
- each session's entries are what the backtest on the same bars decided, apart from
  skips that are named (the shadow reports: nothing unexpected, every expected entry
  not sent has its reason);
- every open position has exactly one resting stop at the exchange, for all its shares;
- ``kobe reconcile`` finds no difference, ``kobe audit verify`` passes.

During the restart the exchange's clock is held still: at 2,400x a restart of three real
seconds would be two market hours, which no real restart costs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest

from kobe.backtest.engine import run_backtest
from kobe.broker.exchange import ExchangeAdmin
from kobe.clients import trading_client
from kobe.config.pin import write_pin
from kobe.data import calendar
from kobe.data.bars import read_bars
from kobe.oms.store import OrderStore
from kobe.project import load_project

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data" / "sp500_5yr_2013_2018.parquet"
NY = ZoneInfo("America/New_York")
KEYS = {"ALPACA_API_KEY_ID": "PKFORTNIGHT", "ALPACA_API_SECRET_KEY": "fortnight-secret",
        "POLYGON_API_KEY": "polygon-fortnight"}
FIRST, LAST = dt.date(2018, 1, 8), dt.date(2018, 1, 22)
END = dt.datetime(2018, 1, 23, 12, 0, tzinfo=NY)    # well after the 23rd's first cycle fetched the 22nd
OPEN_SPEED, CLOSED_SPEED = 2400.0, 20_000.0


def _start_exchange(tmp: Path, data: Path | None) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "kobe.cli", "exchange", "--port", "0", "--json", "--state",
               str(tmp / "exchange.sqlite"), "--date", "2018-01-08T09:00", "--speed", "0",
               "--closed-speed", str(CLOSED_SPEED)]
    if data is not None:
        command += ["--data", str(data)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, process.stderr.read() if process.stderr else "the exchange printed nothing"
    return process, json.loads(line)["url"]


def _project(root: Path, url: str) -> Path:
    root.mkdir()
    for name in ("strategies.yaml", "risk.yaml"):
        shutil.copy(REPO / name, root / name)
    for folder in ("rules", "universe"):
        shutil.copytree(REPO / folder, root / folder)
    strategies = (root / "strategies.yaml").read_text()
    strategies = strategies.replace("amount_usd: 75", "amount_usd: 300")
    # The backtest's account as large as the paper account's cash: ten $300 slots do not
    # fit in the shipped $1,000 one, and live trading would not be short of cash.
    strategies, n = re.subn(r"initial_cash: \d+", "initial_cash: 100000", strategies)
    assert n == 1
    # One strategy in one account, as the backtest has it; budgets that do not bind, so the
    # two decide alike and any difference is the trading path's.
    strategies, n = re.subn(r"(name: ict_turtle_soup\n    enabled:) true", r"\1 false", strategies)
    assert n == 1
    # A stop from the signal bar, not from entry_price: a level from entry_price follows each
    # side's own fill (live the real one, the backtest the open), and a bar whose low falls
    # between the two would exit on different sessions. This test compares decisions;
    # tests/trade/test_exit_parity.py covers levels from entry_price.
    strategies, n = re.subn(r"stop: entry_price - stop_atr \* atr\(atr_bars\)",
                            "stop: close - stop_atr * atr(atr_bars)", strategies, count=1)
    assert n == 1
    strategies, n = re.subn(r"provider: embedded", f"provider: polygon\n  base_url: {url}", strategies)
    assert n == 1
    (root / "strategies.yaml").write_text(strategies)
    risk = (root / "risk.yaml").read_text()
    for key, value in (("per_order_budget_usd", 300), ("daily_budget_usd", 5000)):
        risk, n = re.subn(rf"^{key}: \S+", f"{key}: {value}", risk, flags=re.MULTILINE)
        assert n == 1, key
    (root / "risk.yaml").write_text(risk)
    write_pin(root, load_project(root / "strategies.yaml").fingerprint())
    return root / "strategies.yaml"


def _kobe(*args: str, env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kobe.cli", *args], check=False, env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def _runner(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kobe.cli", "run", "--paper", "--config", str(config),
                             "--health-port", "0", "--scan-times", "09:35,14:00", "--timeout", "10",
                             "--clock-poll", "0.2"],
                            env=env, cwd=config.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _clock(admin: ExchangeAdmin) -> dt.datetime:
    return dt.datetime.fromisoformat(admin.clock()["now"])


def _wait_for_the_runner(root: Path, runner: subprocess.Popen[str]) -> None:
    """Until this runner's heartbeat says it waits for a scan time (preflight passed)."""
    deadline = time.monotonic() + 180
    beat = root / "state" / "heartbeat.json"
    while time.monotonic() < deadline:
        assert runner.poll() is None, runner.stderr.read() if runner.stderr else "the runner died"
        if beat.exists():
            data = json.loads(beat.read_text())
            if data["pid"] == runner.pid and data["last_action"].startswith("waiting for"):
                return
        time.sleep(0.1)                    # waiting for a state, not measuring anything
    raise AssertionError("the runner never got past preflight")


def _run_until(admin: ExchangeAdmin, runner: subprocess.Popen[str], instant: dt.datetime) -> None:
    deadline = time.monotonic() + 600
    while _clock(admin) < instant:
        assert runner.poll() is None, runner.stderr.read() if runner.stderr else "the runner died"
        assert time.monotonic() < deadline, "the fortnight did not end in time"
        time.sleep(0.1)


def test_a_production_fortnight_with_a_kill_in_the_middle(tmp_path: Path) -> None:
    data = SHARED if SHARED.exists() else None
    exchange, url = _start_exchange(tmp_path, data)
    runner: subprocess.Popen[str] | None = None
    try:
        admin = ExchangeAdmin(url)
        config = _project(tmp_path / "project", url)
        root = config.parent
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "POLYGON_", "TELEGRAM_"))}
        env.update(KEYS, ALPACA_BASE_URL=url, NO_PROXY="127.0.0.1,localhost")
        # The history before the fortnight, fetched once (the runner would do the same, slower).
        fetched = _kobe("data", "fetch", "--config", str(config), "--start", "2013-01-01", "--now",
                        "2018-01-08T09:00", env=env, cwd=root, timeout=300)
        assert fetched.returncode == 0, fetched.stdout + fetched.stderr

        runner = _runner(config, env)
        _wait_for_the_runner(root, runner)
        admin.set_speed(OPEN_SPEED)
        kill_at = dt.datetime.combine(dt.date(2018, 1, 11), dt.time(9, 30), NY) + \
            dt.timedelta(minutes=random.Random(10).randint(0, 3 * 24 * 60))
        _run_until(admin, runner, kill_at)
        runner.send_signal(signal.SIGKILL)
        runner.wait(30)
        admin.set_speed(0)                 # the restart costs no market time (module doc)
        runner = _runner(config, env)
        _wait_for_the_runner(root, runner)
        admin.set_speed(OPEN_SPEED)
        _run_until(admin, runner, END)
        admin.set_speed(0)
        runner.send_signal(signal.SIGTERM)
        _, err = runner.communicate(timeout=120)
        assert runner.returncode == 0, err

        # The lake holds every closed session, bar for bar what the exchange serves.
        project = load_project(config)
        universe = project.universe(project.enabled()[0].config)
        lake = read_bars(str(root / "state" / "lake")).filter(pl.col("date") >= FIRST).collect()
        served = read_bars(str(data) if data else None).filter(
            pl.col("symbol").is_in(universe) & pl.col("date").is_between(FIRST, LAST)).collect()
        sessions = calendar.sessions(FIRST, LAST)
        assert len(sessions) == 10                        # Martin Luther King day, the 15th, is none
        assert sorted(lake["date"].unique()) == sorted(served["date"].unique()) == sessions
        joined = lake.join(served, on=["symbol", "date"], how="full", suffix="_served", coalesce=True)
        assert joined.height == served.height == lake.height
        for column in ("open", "high", "low", "close", "volume"):
            assert (joined[column] - joined[f"{column}_served"]).abs().max() < 1e-9, column

        # Each session's orders are what `kobe backtest` on the same bars decided: the same
        # entries (a backtest entry live did not make must have a named skip) and, for the
        # trades both made, the exit on the same session.
        lake_bars = read_bars(str(root / "state" / "lake"))
        result = run_backtest(project, lake_bars, start=calendar.previous_session(FIRST), end=LAST).strategies[0]
        trades = pl.concat([result.trades, result.open_trades])
        bt_entries = {(d, s) for d, s in trades.select("entry_date", "symbol").iter_rows() if FIRST <= d <= LAST}
        bt_exits = {(s, e): x for e, s, x, why in trades.select("entry_date", "symbol", "exit_date", "exit_reason")
                    .iter_rows() if why != "open"}
        store = OrderStore(root / "state" / "orders.sqlite")
        live_entries = {(o.trading_date, o.symbol) for o in store.orders()
                        if o.side == "buy" and o.filled_qty > 0 and o.trading_date <= LAST}
        sold = {}
        for fill in store.fills():
            if fill["side"] == "sell":
                sold.setdefault(str(fill["symbol"]), []).append(
                    calendar.trading_date(dt.datetime.fromisoformat(str(fill["at"]))))
        events = [json.loads(line) for line in (root / "logs" / "events.jsonl").read_text().splitlines()]
        named = {(e["trading_date"], e["symbol"]): e["reason"] for e in events
                 if e["kind"] in ("gate.blocked", "pick.skipped")}
        assert live_entries, "the fortnight traded nothing"
        assert live_entries <= bt_entries, sorted(live_entries - bt_entries)
        for day, symbol in sorted(bt_entries - live_entries):
            assert (day.isoformat(), symbol) in named, f"{symbol} on {day}: the backtest entered, live gave no reason"
        for day, symbol in sorted(live_entries):
            expected_exit = bt_exits.get((symbol, day))
            later = [d for d in sold.get(symbol, []) if d >= day]
            if expected_exit is not None and expected_exit <= LAST:
                assert later and later[0] == expected_exit, (symbol, day, expected_exit, later)
            else:
                assert not later or later[0] > LAST, (symbol, day, later)

        # Every open position rests with exactly one stop for all its shares.
        client = trading_client(KEYS["ALPACA_API_KEY_ID"], KEYS["ALPACA_API_SECRET_KEY"], base_url=url)
        positions = {p.symbol: float(p.qty) for p in client.get_all_positions()}
        stops: dict[str, list[float]] = {}
        for order in client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500)):
            assert order.order_type.value == "stop" and order.side.value == "sell", order
            stops.setdefault(order.symbol, []).append(float(order.qty))
        assert positions, "no position was open at the end"
        assert stops == {s: [q] for s, q in positions.items()}

        # No difference with the broker; the audit trail is whole.
        reconciled = _kobe("reconcile", "--json", "--config", str(config), env=env, cwd=root)
        assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
        assert json.loads(reconciled.stdout)["differences"] == []
        verified = _kobe("audit", "verify", "--logs", str(root / "logs"), env=env, cwd=root)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        kinds = [e["kind"] for e in events]
        assert kinds.count("runner.started") == 2 and "data.refreshed" in kinds
        assert not [e for e in events if e["kind"] in ("cycle.failed", "cycle.refused")]
        # After every cycle the runner reconciled: the dashboard never showed a difference.
        assert kinds.count("reconcile.checked") >= 20
        assert not [e for e in events if e["kind"] == "reconcile.difference"], \
            [e for e in events if e["kind"] == "reconcile.difference"][:5]
    finally:
        if runner is not None and runner.poll() is None:
            runner.kill()
        exchange.send_signal(signal.SIGINT)
        try:
            exchange.wait(30)
        except subprocess.TimeoutExpired:
            exchange.kill()
