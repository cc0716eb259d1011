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

After each cycle the broker's equity, with the P&L at the last marks (the last close of
each held symbol in the bars the cycle read, up to the last session closed by the
broker's clock), is appended to ``logs/equity.jsonl``
(:data:`EQUITY_FILE`): the dashboard's equity and P&L over time. While the health server
serves, the backtest of the same strategies over the sessions of that history (from its
first session through the last closed one, by the broker's clock) is the expectation the
live P&L is drawn against; it is run again only when a session closes.

SIGTERM or SIGINT (Ctrl-C): no new work is taken; the order in flight is driven to a
known state (the executor never leaves one mid-way); a last heartbeat (``stopped``) and
an audit event are written; the process exits 0.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
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
from kobe.monitor.drift import DriftBounds, round_trips
from kobe.monitor.health import LOOPBACK, serve_health
from kobe.monitor.metrics import trading_metrics
from kobe.monitor.session import SessionMonitor, monitor_status
from kobe.monitor.shadow import ShadowBounds
from kobe.oms.store import OrderStore
from kobe.research.ml.live import calibration_metrics
from kobe.runner.heartbeat import INTERVAL, read_heartbeat, write_heartbeat
from kobe.runner.lock import InstanceLock
from kobe.runner.preflight import Preflight
from kobe.runner.schedule import Schedule
from kobe.trade.cycle import (
    LOGS,
    ORDERS_FILE,
    CycleReport,
    Trader,
    run_cycle,
    settle_resting,
)
from kobe.trade.holdings import holdings
from kobe.trade.protect import protected_symbols, resting_stop
from kobe.trade.reconcile import reconcile

LOCK_FILE = Path("state") / "kobe.lock"
HEARTBEAT_FILE = Path("state") / "heartbeat.json"
EQUITY_FILE = LOGS / "equity.jsonl"
"""One JSON line per cycle: ``time`` (the broker's), ``session``, ``equity`` (the
broker's), ``realized`` and ``unrealized`` P&L at the last marks."""
HISTORY_POINTS = 5000       # the newest equity points the status carries (years of cycles)
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
    marks: dict[str, float] = field(default_factory=dict)   # last close of each held symbol
    expected: dict[str, Any] | None = None # the backtest of the live period (the module doc)
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
    health_host: str = LOOPBACK
    dashboard_token: str | None = None     # required beyond loopback (kobe.monitor.health.check_exposure)
    heartbeat_interval: dt.timedelta = INTERVAL
    alerts: Alerts = field(default_factory=Alerts)
    on_cycle: Callable[[CycleReport], None] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    signalled: str | None = None   # the signal that asked it to stop (SIGTERM, SIGINT), recorded on the way out
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
        self._calibration: dict[str, Any] = {}     # the live meta_prob's, after each cycle
        self._expecting: threading.Thread | None = None   # the expectation's backtest, when one runs
        self._expect_failure: str | None = None            # its last failure, for the loop to record

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
        marks = dict(self.state.marks)
        return {
            "mode": self.mode, "preflight_ok": self.state.preflight_ok,
            "kill_switch": self.trader.kill_switch.info(), "heartbeat": beat.__dict__ if beat else None,
            "heartbeat_fresh": fresh, "trading_date": today.isoformat(), "now": now.isoformat(),
            "metrics": {**trading_metrics(store, self.trader.root / LOGS / EVENTS, today, marks, **checks),
                        **calibration_metrics(self._calibration)},
            "meta_calibration": self._calibration,
            "equity": self.state.equity, "spent_today_usd": store.spent(today),
            "daily_budget_usd": risk.daily_budget_usd, "cycles": self.state.cycles,
            "positions": positions_shown(store, marks),
            "strategies": strategy_pnl(store, marks),
            "orders": [{**o.__dict__, "status": o.status.value, "trading_date": o.trading_date.isoformat()}
                       for o in store.orders(today)],
            "alerts": [a.__dict__ for a in self.alerts.recent],
            "alerts_folded": [f.__dict__ for f in self.alerts.folded()],
            "equity_history": read_equity(self.trader.root / EQUITY_FILE)[-HISTORY_POINTS:],
            "expected": self.state.expected, "config_sha256": self.state.config_sha256,
            "last_report": self.state.last_report, "blocked": self.state.blocked, "data": self.state.data,
            **checks,
        }

    # -- equity over time and its expectation -----------------------------------------

    def _record_equity(self, equity: float) -> None:
        """Mark the held symbols at the bars' last close, and append the cycle's point."""
        store = self.trader.store
        positions = {s: p for s, p in store.positions().items() if p.qty}
        now = self.clock.now()
        self.state.marks = last_closes(self._bars, positions, calendar.last_closed_session(now)) \
            if self._bars is not None else {}
        point = {"time": now.isoformat(), "session": calendar.trading_date(now).isoformat(), "equity": equity,
                 "realized": round(sum(p.realized_pnl for p in store.positions().values()), 2),
                 "unrealized": round(sum(p.qty * (self.state.marks[s] - p.avg_cost)
                                         for s, p in positions.items() if s in self.state.marks), 2)}
        path = self.trader.root / EQUITY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(point) + "\n")

    def _expect_soon(self) -> None:
        """The expectation brought up to date in the background: a backtest takes seconds,
        and a cycle must never wait for a chart (a late cycle misses its scan time and
        exits a session late). One at a time; a cycle that finds one running leaves it."""
        self._record_expect_failure()
        if self._expecting is not None and self._expecting.is_alive():
            return
        self._expecting = threading.Thread(target=self._expect, name="kobe-expectation", daemon=True)
        self._expecting.start()

    def _record_expect_failure(self) -> None:
        """The expectation's failure, recorded from the loop's thread: the audit log
        anchors its head in the order store, whose connection belongs to this thread."""
        if self._expect_failure is not None:
            detail, self._expect_failure = self._expect_failure, None
            self.audit.event("monitor.failed", check="the expectation backtest", error=detail)

    def _complete_expectation(self) -> None:
        """A run that ends by itself leaves its expectation complete. A signal (even one
        that comes while waiting) or an error does not wait for a chart, and nothing here
        may keep the runner from recording its stop and releasing its lock."""
        try:
            deadline = time.monotonic() + 60
            while (self._expecting is not None and self._expecting.is_alive() and self.signalled is None
                   and time.monotonic() < deadline):
                self._expecting.join(0.5)
            if self.health_port is not None and self.signalled is None and \
                    not (self._expecting is not None and self._expecting.is_alive()):
                self._expect()
            self._record_expect_failure()
        except Exception as err:  # noqa: BLE001 - see the docstring
            self.alerts.send("warning", f"the dashboard's expectation could not be completed: {err}")

    def _expect(self) -> None:
        """The backtest of the history's sessions (the module doc); again only on a new bar.
        A failure leaves the chart without its expectation, never the runner without a cycle."""
        bars = self._bars      # the loop replaces it each cycle: read it once
        if bars is None:
            return
        history = read_equity(self.trader.root / EQUITY_FILE)
        if not history:
            return
        from kobe.backtest.engine import run_backtest

        try:
            start = dt.date.fromisoformat(str(history[0]["session"]))
            # Never past the broker's clock: a replay's bars run on beyond it.
            last_bar = bars.select(pl.col("date").max()).collect().item()
            through = min(last_bar, calendar.last_closed_session(self.clock.now())) if last_bar else None
            if through is None or through < start:
                return
            known = self.state.expected
            if known is not None and (known["start"], known["through"]) == (start.isoformat(), str(through)):
                return
            result = run_backtest(self.trader.project, bars, start=start, end=through)
        except Exception as err:  # noqa: BLE001 - see the docstring
            detail = err.diagnostics[0].message if isinstance(err, KobeError) else f"{type(err).__name__}: {err}"
            self._expect_failure = detail       # recorded by the loop (_record_expect_failure)
            return
        self.state.expected = expectation(result, start, through)

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
        equity = None                          # this cycle's: a failed read records no stale point
        try:
            equity = self.state.equity = self.trader.broker.equity()
            settle_resting(self.trader, report)
            differences = reconcile(self.trader.store, self.trader.broker, self.audit,
                                    protected_symbols(self.trader.store, self.trader.project))
        except Exception as err:  # noqa: BLE001 - the broker may be down; the next cycle retries
            self.alerts.send("warning", f"reconcile after the cycle failed: {type(err).__name__}")
        else:
            if differences:
                self.alerts.send("warning", f"{len(differences)} differences with the broker; see `kobe reconcile`")
        if equity is not None:
            try:
                self._record_equity(equity)
            except (OSError, KobeError) as err:   # the history is for reading: never a reason to stop
                self.alerts.send("warning", f"the equity history could not be written: {err}")
        if report.in_doubt:
            self.alerts.send("warning", f"{len(report.in_doubt)} orders still in doubt after the cycle")
        self._beat(f"no trading: {halt}" if halt is not None else
                   f"cycle done: {len(report.entries)} entries, {len(report.exits)} exits")
        if self.health_port is not None:      # only a served dashboard draws it
            self._expect_soon()
        self._calibrate()
        if self.on_cycle:
            self.on_cycle(report)

    def _calibrate(self) -> None:
        """The live meta_prob's calibration (:mod:`kobe.research.ml.live`), computed once
        per cycle, not per request: it evaluates the features. Nothing to do, and nothing
        imported, without a strategy filtering on meta_prob."""
        if not any(s.meta_filtered for s in self.trader.project.strategies):
            return
        from kobe.research.ml.live import live_calibration

        try:
            self._calibration = live_calibration(self.trader.project, self.trader.store, self._bars)
        except (KobeError, OSError, ValueError) as err:
            self.alerts.send("warning", f"meta_prob calibration not computed: {err}")

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
        ended = False                             # by itself: no signal, no exception
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
                with serve_health(self.status, host=self.health_host, port=self.health_port, dashboard=render,
                                  token=self.dashboard_token):
                    self._loop()
            ended = self.signalled is None
            return 0
        finally:
            self.stop.set()
            if ended:
                self._complete_expectation()
            self._beat("stopped", state="stopped")
            if self.signalled is not None:
                self.audit.event("runner.signal", signal=self.signalled)
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


def read_equity(path: Path) -> list[dict[str, Any]]:
    """The points of ``path`` (:data:`EQUITY_FILE`) in order; a line cut short by a crash,
    or otherwise unreadable, is skipped: the history is for reading, not for trading."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    points = []
    for line in lines:
        try:
            point = json.loads(line)
        except ValueError:
            continue
        if isinstance(point, dict) and isinstance(point.get("equity"), int | float) and point.get("time"):
            points.append(point)
    return points


def last_closes(bars: pl.LazyFrame, symbols: Iterable[str], through: dt.date) -> dict[str, float]:
    """The last close on or before ``through`` of each of ``symbols`` in ``bars``: the
    marks of the P&L. ``through`` is the last session the broker's clock has closed: a
    replay's bars run on past it, and a mark from the future is no mark."""
    wanted = list(symbols)
    if not wanted:
        return {}
    frame = (bars.filter(pl.col("symbol").is_in(wanted) & (pl.col("date") <= through)).sort("date")
             .group_by("symbol").agg(pl.col("close").last()).collect())
    return {str(r["symbol"]): float(r["close"]) for r in frame.iter_rows(named=True)}


def positions_shown(store: OrderStore, marks: Mapping[str, float]) -> list[dict[str, Any]]:
    """The open positions with what a person checks: the strategy that opened each, the
    last price, the unrealized P&L, the resting stop and how far the price is from it (in
    percent of the price, positive while the stop is not reached)."""
    positions = store.positions()
    out = []
    for h in holdings(store):
        last = marks.get(h.symbol)
        stop = resting_stop(store, h.symbol)
        level = stop.stop_price if stop is not None else None
        out.append({
            "symbol": h.symbol, "strategy": h.strategy, "qty": h.qty, "avg_cost": h.avg_cost,
            "realized_pnl": positions[h.symbol].realized_pnl, "last_price": last,
            "unrealized_pnl": None if last is None else round(h.qty * (last - h.avg_cost), 2),
            "stop_price": level,
            "stop_distance_pct": None if last is None or level is None or not last
            else round(100 * h.side * (last - level) / last, 2),
        })
    return out


def strategy_pnl(store: OrderStore, marks: Mapping[str, float]) -> dict[str, dict[str, Any]]:
    """Per strategy: realized P&L of its closed trades, unrealized of its open positions
    at the marks, closed trades and wins."""
    strategy_of = {o.client_order_id: o.strategy for o in store.orders()}
    out: dict[str, dict[str, Any]] = {}

    def book(name: str) -> dict[str, Any]:
        return out.setdefault(name, {"realized": 0.0, "unrealized": 0.0, "trades": 0, "wins": 0})

    for trip in round_trips(store.fills(), strategy_of):
        entry = book(trip.strategy)
        entry["realized"] = round(entry["realized"] + trip.pnl, 2)
        entry["trades"] += 1
        entry["wins"] += trip.pnl > 0
    for h in holdings(store):
        if h.symbol in marks:
            entry = book(h.strategy or "adopted")
            entry["unrealized"] = round(entry["unrealized"] + h.qty * (marks[h.symbol] - h.avg_cost), 2)
    return out


def expectation(result: Any, start: dt.date, through: dt.date) -> dict[str, Any]:
    """The backtest's P&L over the live period (a :class:`~kobe.backtest.engine.BacktestResult`
    from ``start``): each session's combined equity less the starting cash, at the
    session's close, and each strategy's P&L at the end. In dollars, like the live P&L,
    not scaled: the backtest's cash is the config's, which the live account may not be."""
    initial = sum(r.settings.initial_cash for r in result.strategies)
    points = [{"session": day.isoformat(), "time": calendar.session_open_close(day)[1].isoformat(),
               "pnl": round(float(equity) - initial, 2)}
              for day, equity in zip(result.combined.equity["date"].to_list(),
                                     result.combined.equity["equity"].to_list(), strict=True)]
    return {"start": start.isoformat(), "through": str(through), "initial_cash": initial, "points": points,
            "strategies": {r.name: round(float(r.equity["equity"][-1]) - r.settings.initial_cash, 2)
                           for r in result.strategies if r.equity.height}}


def install_signal_handlers(runner: Runner) -> None:
    """SIGTERM and SIGINT ask the runner to stop after the order in flight."""
    def handler(signum: int, frame: object) -> None:
        # Only flags: the handler runs on the main thread between two of its bytecodes,
        # perhaps inside the audit chain's lock, so writing the event here deadlocked.
        # The runner records it on its way out (Runner.run).
        runner.signalled = signal.Signals(signum).name
        runner.stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def paper_env(url: str) -> Mapping[str, str]:
    """The environment that points the broker at a local exchange (any keys pass there)."""
    return {"ALPACA_BASE_URL": url, "ALPACA_API_KEY_ID": "PKLOCALPAPER", "ALPACA_API_SECRET_KEY": "local-paper"}
