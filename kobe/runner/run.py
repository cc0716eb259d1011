"""The runner: ``kobe run --paper|--live``, around the clock.

At each scan time of each NYSE session (:mod:`kobe.runner.schedule`) it runs one cycle
(:func:`kobe.trade.cycle.run_cycle`: recover, exits, quality gate and scan, gates, orders),
then reconciles with the broker and reports. Before it starts it takes the instance
lock (one runner only) and runs preflight; trading does not start on a failure. While
it lives it keeps the heartbeat fresh and serves the health endpoints and dashboard.

Before every cycle the bars are refreshed through the configured provider
(:func:`kobe.data.refresh.refresh`, with the broker's ``now``): the sessions closed since
the lake's last bar, nothing else. Bars that lack the last closed session, or a vendor
answer refused as short, empty, duplicated, out of order or unclosed, stop the cycle
before any order: an alert, the heartbeat and ``/readiness`` say why, and only the
recovery of orders already sent runs (the resting stops keep protecting).

Time comes from a :class:`RunnerClock`, always the broker's clock, never the machine's:

- :class:`BrokerClock`: the broker's ``GET /v2/clock``, waited on in real time at the
  pace the broker's clock moves (Alpaca in real time; ``kobe exchange --speed 3600``
  runs a trading day in under 30 s);
- :class:`ReplayClock`: the clock of an in-process ``kobe exchange``, moved straight to each scan time
  (``kobe run --paper`` with no keys replays the data's last sessions this way, and the
  tests replay weeks in seconds).

After the last cycle of each session the :class:`~kobe.monitor.session.SessionMonitor`
runs the drift check and, once the session's bar is in, the shadow check (the session
re-run in the backtester and diffed with what was sent and filled); their reports are
in ``logs/drift`` and ``logs/shadow``, their figures in the status and ``/metrics``.

SIGTERM or SIGINT (Ctrl-C): no new work is taken; the order in flight is driven to a
known state (the executor never leaves one mid-way); a last heartbeat (``stopped``) and
an audit event are written; the process exits 0.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from kobe.audit.log import EVENTS, AuditLog
from kobe.config.errors import Diagnostic, KobeError
from kobe.data import calendar
from kobe.data.refresh import RefreshReport
from kobe.monitor.alerts import Alerts
from kobe.monitor.dashboard import render
from kobe.monitor.drift import DriftBounds
from kobe.monitor.health import serve_health
from kobe.monitor.metrics import trading_metrics
from kobe.monitor.session import SessionMonitor, monitor_status
from kobe.monitor.shadow import ShadowBounds
from kobe.oms.store import OrderStore
from kobe.runner.heartbeat import INTERVAL, read_heartbeat, write_heartbeat
from kobe.runner.lock import InstanceLock
from kobe.runner.preflight import Preflight
from kobe.runner.schedule import Schedule
from kobe.trade.cycle import LOGS, ORDERS_FILE, CycleReport, Trader, run_cycle
from kobe.trade.protect import protected_symbols
from kobe.trade.reconcile import reconcile

LOCK_FILE = Path("state") / "kobe.lock"
HEARTBEAT_FILE = Path("state") / "heartbeat.json"
DEFAULT_SCAN_TIMES = ("09:35", "15:55")
SETTLE_AFTER_CLOSE = dt.timedelta(minutes=10)
"""The settling cycle after each close: the day's bar, the stops' fills, trailing stops moved."""


class RunnerClock(Protocol):
    def now(self) -> dt.datetime: ...

    def wait_until(self, instant: dt.datetime, stop: threading.Event) -> bool:
        """Return at ``instant`` (True) or as soon as ``stop`` is set (False)."""
        ...


@dataclass
class BrokerClock:
    """The broker's clock (``GET /v2/clock``), waited on in real time.

    The waiting adapts to the broker's pace, measured from the last two readings: it
    sleeps half the real time the broker's clock should take to reach the instant, then
    looks again, so it never overshoots by more than a reading. While the pace is not
    known (the first reading, or a clock standing still) it looks every ``probe``
    seconds; never more seldom than every ``max_poll`` seconds. Against Alpaca's real
    clock that is a few requests a minute; against ``kobe exchange --speed 3600`` a few
    a second."""

    read: Callable[[], dt.datetime]
    max_poll: float = 15.0
    min_poll: float = 0.02
    probe: float = 0.25

    def now(self) -> dt.datetime:
        return self.read()

    def wait_until(self, instant: dt.datetime, stop: threading.Event) -> bool:
        import time

        last_real, last_broker = time.monotonic(), self.read()
        pace: float | None = None                # broker seconds per real second
        while not stop.is_set():
            if last_broker >= instant:
                return True
            left = (instant - last_broker).total_seconds()
            wait = self.probe if pace is None else min(self.max_poll, max(self.min_poll, left / pace / 2))
            if stop.wait(wait):
                return False
            real, broker = time.monotonic(), self.read()
            pace = (broker - last_broker).total_seconds() / (real - last_real) \
                if broker > last_broker and real > last_real else None
            last_real, last_broker = real, broker
        return False


@dataclass
class ReplayClock:
    """The exchange's clock, jumped to each scan time; ``pace`` real seconds between
    cycles let a person watch the dashboard."""

    set_clock: Callable[[dt.datetime], Any]
    read_clock: Callable[[], dt.datetime]
    pace: float = 0.0
    end: dt.datetime | None = None

    def now(self) -> dt.datetime:
        return self.read_clock()

    def wait_until(self, instant: dt.datetime, stop: threading.Event) -> bool:
        if self.end is not None and instant > self.end:
            return False
        if self.pace and stop.wait(self.pace):
            return False
        if stop.is_set():
            return False
        self.set_clock(instant)
        return True


@dataclass
class RunnerState:
    """What the health server and ``kobe status`` show; updated by the runner."""

    mode: str
    config_sha256: str
    preflight_ok: bool = False
    last_action: str = "starting"
    equity: float | None = None
    cycles: int = 0
    last_report: dict[str, Any] | None = None
    blocked: str | None = None             # why the last cycle traded nothing (stale bars, clock)
    data: dict[str, Any] | None = None     # the last refresh's report
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Runner:
    trader: Trader
    bars: Callable[[], pl.LazyFrame]       # fresh bars for each cycle (refresh happens here)
    schedule: Schedule
    clock: RunnerClock
    mode: str = "paper"
    once: bool = False
    health_port: int | None = 8000
    heartbeat_interval: dt.timedelta = INTERVAL
    alerts: Alerts = field(default_factory=Alerts)
    on_cycle: Callable[[CycleReport], None] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    monitoring: bool = True                # the after-session shadow and drift checks
    refresh: Callable[[dt.datetime], RefreshReport] | None = None   # bars brought up to date before each cycle

    def __post_init__(self) -> None:
        root = self.trader.root
        self.state = RunnerState(self.mode, self.trader.project.fingerprint().sha256)
        self.heartbeat_path = root / HEARTBEAT_FILE
        self.audit: AuditLog = self.trader.audit
        self.trader.stop_requested = self.stop.is_set
        bounds = self.trader.risk.monitoring
        self.monitor = SessionMonitor(self.trader.project, self.trader.store, self.audit, self.alerts,
                                      shadow_bounds=ShadowBounds.from_config(bounds),
                                      drift_bounds=DriftBounds.from_config(bounds)) if self.monitoring else None
        self._bars: pl.LazyFrame | None = None     # what the last cycle read
        self._latest: dt.datetime | None = None    # the broker's latest time seen: it never goes back

    # -- what the endpoints show ------------------------------------------------------

    def status(self) -> dict[str, Any]:
        # The health server asks from its own threads; SQLite connections belong to the
        # thread that made them, so each request reads through a connection of its own.
        store, risk = OrderStore(self.trader.root / ORDERS_FILE), self.trader.risk
        now = self.clock.now()
        today = calendar.trading_date(now)
        beat = read_heartbeat(self.heartbeat_path)
        fresh = beat is not None and not beat.stale(dt.datetime.now(dt.UTC))
        checks = monitor_status(self.trader.root)
        return {
            "mode": self.mode, "preflight_ok": self.state.preflight_ok,
            "kill_switch": self.trader.kill_switch.info(), "heartbeat": beat.__dict__ if beat else None,
            "heartbeat_fresh": fresh, "trading_date": today.isoformat(), "now": now.isoformat(),
            "metrics": trading_metrics(store, self.trader.root / LOGS / EVENTS, today, **checks),
            "equity": self.state.equity, "spent_today_usd": store.spent(today),
            "daily_budget_usd": risk.daily_budget_usd, "cycles": self.state.cycles,
            "positions": [p.__dict__ for p in store.positions().values() if p.qty],
            "orders": [{**o.__dict__, "status": o.status.value, "trading_date": o.trading_date.isoformat()}
                       for o in store.orders(today)],
            "alerts": [a.__dict__ for a in self.alerts.recent], "config_sha256": self.state.config_sha256,
            "last_report": self.state.last_report, "blocked": self.state.blocked, "data": self.state.data,
            **checks,
        }

    # -- the loop ---------------------------------------------------------------------

    def _beat(self, action: str, state: str = "running") -> None:
        self.state.last_action = action
        write_heartbeat(self.heartbeat_path, self.mode, action, self.state.config_sha256, state=state,
                        audit_head=self.audit.head())

    def _heartbeat_loop(self) -> None:
        while not self.stop.wait(self.heartbeat_interval.total_seconds()):
            self._beat(self.state.last_action)

    def _block(self, reason: str) -> None:
        """Trade nothing this cycle, and say why everywhere a person looks."""
        self.state.blocked = reason
        self.audit.event("cycle.refused", reason=reason)
        self.alerts.send("error", f"no trading: {reason}")
        self._beat(f"no trading: {reason}")

    def _ready_to_trade(self, slot: dt.datetime) -> str | None:
        """Why this cycle must not trade (the broker's clock went back, the bars are not
        fresh), or None."""
        now = self.clock.now()
        if self._latest is not None and now < self._latest - dt.timedelta(seconds=1):
            return (f"the broker's clock went back from {self._latest.isoformat()} to {now.isoformat()}; "
                    f"nothing is decided until it passes that time again")
        self._latest = max(now, self._latest or now)
        if self.refresh is None:
            return None
        try:
            report = self.refresh(now)
        except KobeError as err:
            return f"the bars could not be refreshed: {err.diagnostics[0].message}"
        self.state.data = report.to_dict()
        data = self.state.data
        self.audit.event("data.refreshed", provider=data["provider"], as_of=data["now"], session=data["session"],
                         action=data["action"], fresh=data["fresh"], stale=data["stale"],
                         requested=len(data["requested"]), fetched_rows=data["fetched_rows"],
                         failed=data["failed"], refused=data["refused"])
        return None if report.fresh else f"the bars are not fresh: {report.message}"

    def _cycle(self, slot: dt.datetime) -> None:
        self._beat(f"cycle at {slot.isoformat()}")
        self._bars = None
        try:
            halt = self._ready_to_trade(slot)
            self._bars = self.bars()
            last = None if self.once else self.schedule.last_trading_slot(slot)
            report = run_cycle(self.trader, self._bars, halt=halt, closing=last)
        except KobeError as err:
            message = err.diagnostics[0].message
            self.audit.event("cycle.failed", reason=message)
            self.alerts.send("error", f"cycle at {slot.isoformat()} failed: {message}")
            self.state.blocked = message
            return
        if halt is not None:
            self._block(halt)
        elif report.market_open and not report.killed:
            self.state.blocked = None
        self.state.cycles += 1
        self.state.last_report = report.to_dict()
        try:
            self.state.equity = self.trader.broker.equity()
            differences = reconcile(self.trader.store, self.trader.broker, self.audit,
                                    protected_symbols(self.trader.store, self.trader.project))
        except Exception as err:  # noqa: BLE001 - the broker may be down; the next cycle retries
            self.alerts.send("warning", f"reconcile after the cycle failed: {type(err).__name__}")
        else:
            if differences:
                self.alerts.send("warning", f"{len(differences)} differences with the broker; see `kobe reconcile`")
        if report.in_doubt:
            self.alerts.send("warning", f"{len(report.in_doubt)} orders still in doubt after the cycle")
        self._beat(f"no trading: {halt}" if halt is not None else
                   f"cycle done: {len(report.entries)} entries, {len(report.exits)} exits")
        if self.on_cycle:
            self.on_cycle(report)

    def _after_cycle(self, slot: dt.datetime) -> None:
        """The session's checks, once its last scan time has passed (the schedule's next
        slot falls on another trading date). Not while shutting down: no new work."""
        if self.monitor is None or self.stop.is_set():
            return
        session = calendar.trading_date(slot)
        last = calendar.trading_date(self.schedule.next_after(slot)) != session
        self.monitor.after_cycle(session, last, self._bars)

    def run(self, preflight: Callable[[], Preflight]) -> int:
        """Lock, preflight, then cycles until stopped; returns the exit code."""
        lock = InstanceLock(self.trader.root / LOCK_FILE)
        lock.acquire(self.mode)
        try:
            self._beat("preflight")
            result = preflight()
            self.state.preflight_ok = result.passed
            self.audit.event("runner.preflight", passed=result.passed,
                             checks=[{"name": c.name, "passed": c.passed, "detail": c.detail} for c in result.checks])
            if not result.passed:
                self._beat("preflight failed", state="stopped")
                raise KobeError(Diagnostic("preflight failed: trading does not start",
                                           hint=result.render().replace("\n", "; ")))
            self.audit.event("runner.started", mode=self.mode, config_sha256=self.state.config_sha256)
            if self.monitor is not None and not self.once:
                self.monitor.start(self.bars, calendar.trading_date(self.clock.now()))
            beats = threading.Thread(target=self._heartbeat_loop, name="kobe-heartbeat", daemon=True)
            beats.start()
            if self.health_port is None:
                self._loop()
            else:
                with serve_health(self.status, port=self.health_port, dashboard=render):
                    self._loop()
            return 0
        finally:
            self.stop.set()
            self._beat("stopped", state="stopped")
            self.audit.event("runner.stopped", cycles=self.state.cycles, mode=self.mode)
            lock.release()

    def _loop(self) -> None:
        now = self.clock.now()
        if self.once:
            self._cycle(now)
            return
        while not self.stop.is_set():
            slot = self.schedule.next_after(now)
            self._beat(f"waiting for {slot.isoformat()}")
            if not self.clock.wait_until(slot, self.stop):
                return
            self._cycle(slot)
            self._after_cycle(slot)
            now = slot


def install_signal_handlers(runner: Runner) -> None:
    """SIGTERM and SIGINT ask the runner to stop after the order in flight."""
    def handler(signum: int, frame: object) -> None:
        runner.audit.event("runner.signal", signal=signal.Signals(signum).name)
        runner.stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def paper_env(url: str) -> Mapping[str, str]:
    """The environment that points the broker at a local exchange (any keys pass there)."""
    return {"ALPACA_BASE_URL": url, "ALPACA_API_KEY_ID": "PKLOCALPAPER", "ALPACA_API_SECRET_KEY": "local-paper"}
