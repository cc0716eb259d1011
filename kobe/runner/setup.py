"""Setting up ``kobe run``: the mode guard, the broker it trades through, its clock, the runner.

- :func:`check_mode`: paper or live, and live only on purpose: ``--confirm-live``, a cap
  on the new orders of the run, and ``ALPACA_BASE_URL`` naming Alpaca's live host;
- :func:`broker_env`: the broker environment; with Alpaca keys (or live) the given one,
  for paper without keys an in-process ``kobe exchange`` replaying the data (its state in
  ``state/exchange.sqlite``, so a second run goes on where the first stopped);
- :func:`runner_clock`: the exchange's clock jumped to each scan time when replaying
  locally (:class:`~kobe.runner.run.ReplayClock`), else the broker's clock waited on in
  real time (:class:`~kobe.runner.run.BrokerClock`);
- :func:`open_runner`: all of it, and the trader, the alerts and the schedule, wired into
  a :class:`~kobe.runner.run.Runner` with its preflight
  (:func:`kobe.runner.preflight.runner_checks`).

Installing the signal handlers is left to the caller: it belongs to the process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.data import calendar
from kobe.data.bars import read_bars
from kobe.data.refresh import refresh
from kobe.monitor.alerts import Alerts, TelegramNotifier
from kobe.runner.preflight import Preflight, runner_checks
from kobe.runner.run import (
    DEFAULT_SCAN_TIMES,
    SETTLE_AFTER_CLOSE,
    BrokerClock,
    ReplayClock,
    Runner,
    RunnerClock,
    paper_env,
)
from kobe.runner.schedule import Schedule, parse_times
from kobe.trade.cycle import open_trader

if TYPE_CHECKING:
    from kobe.broker.exchange import ExchangeAdmin
    from kobe.project import Project
    from kobe.trade.cycle import Trader

LIVE_URL = "https://api.alpaca.markets"
REPLAY_SESSIONS = 20        # a local replay starts this many sessions before the data ends
EXCHANGE_STATE = Path("state") / "exchange.sqlite"


def check_mode(paper: bool, live: bool, confirm_live: bool, cap: int | None, env: Mapping[str, str]) -> str:
    """``"paper"`` or ``"live"``; a :class:`KobeError` unless exactly one is chosen and,
    for live, ``confirm_live``, a ``cap`` and ``ALPACA_BASE_URL`` of the live host."""
    if paper == live:
        raise KobeError(Diagnostic("choose --paper or --live"))
    if paper:
        return "paper"
    if not confirm_live or cap is None:
        raise KobeError(Diagnostic("live trading needs --confirm-live and --cap N",
                                   hint="start with a tiny cap and the micro budget of risk.yaml"))
    if (env.get("ALPACA_BASE_URL") or "").rstrip("/") != LIVE_URL:
        raise KobeError(Diagnostic(f"live trading needs ALPACA_BASE_URL={LIVE_URL}"))
    return "live"


def first_session(bars: pl.LazyFrame, sessions_back: int) -> dt.date:
    """The NYSE session ``sessions_back`` sessions before the last date of ``bars``."""
    day: dt.date = bars.select(pl.col("date").max()).collect().item()
    for _ in range(sessions_back):
        day = calendar.previous_session(day)
    return day


def replay_start(data: str | None, given: dt.date | None = None) -> dt.date:
    """Where a local replay starts: ``given``, else :data:`REPLAY_SESSIONS` sessions
    before the end of the bars of ``data`` (a file or lake folder; None: the embedded sample)."""
    return given or first_session(read_bars(data), REPLAY_SESSIONS)


@contextlib.contextmanager
def broker_env(root: Path, paper: bool, data: str | None, start: dt.date | None,
               env: Mapping[str, str]) -> Iterator[tuple[Mapping[str, str], ExchangeAdmin | None]]:
    """The broker environment for the ``with`` block, and the local exchange's admin.

    With ``ALPACA_API_KEY_ID`` set, or not ``paper``: ``(env, None)``, Alpaca's. Paper
    without keys: an exchange in this process replaying ``data`` from ``start`` (only
    when its state file under ``root`` is new; an existing one goes on from its own
    clock), and ``env`` pointed at it."""
    if env.get("ALPACA_API_KEY_ID") or not paper:
        yield env, None
        return
    from kobe.broker.exchange import ExchangeAdmin, ExchangeConfig, serve_exchange

    state = root / EXCHANGE_STATE
    config = ExchangeConfig(data=data, start=None if state.exists() else start, state=state, speed=0.0)
    with serve_exchange(config) as url:
        yield {**env, **paper_env(url)}, ExchangeAdmin(url)


def runner_clock(trader: Trader, admin: ExchangeAdmin | None, *, data: str | None = None,
                 until: dt.date | None = None, pace: float = 0.0, max_poll: float = 15.0) -> RunnerClock:
    """The local exchange's clock, jumped to each scan time ``pace`` real seconds apart
    and ending at the close of ``until`` (default: the last session of ``data``); with no
    local exchange, the broker's clock, read at least every ``max_poll`` real seconds
    while waiting."""
    if admin is None:
        return BrokerClock(lambda: trader.broker.clock().now, max_poll=max_poll)
    last = until or read_bars(data).select(pl.col("date").max()).collect().item()
    return ReplayClock(admin.set_clock,
                       lambda: dt.datetime.fromisoformat(admin.clock()["now"]),
                       pace=pace, end=calendar.session_open_close(last)[1])


def _exchange_time(admin: ExchangeAdmin) -> Callable[[float], None]:
    """The executor's waits, replaying through a local exchange: its clock moves, no real time passes."""
    def sleep(seconds: float) -> None:
        admin.advance(seconds)
    return sleep


@dataclass(frozen=True)
class RunOptions:
    """The options of ``kobe run`` past the mode (their meaning is the CLI's help)."""

    mode: str = "paper"
    cap: int | None = None
    once: bool = False
    data: str | None = None
    replay_from: dt.date | None = None
    replay_until: dt.date | None = None
    pace: float = 1.0
    scan_times: tuple[str, ...] = DEFAULT_SCAN_TIMES
    health_port: int | None = 8000      # None: no health server (0: any free port)
    timeout: float = 10.0
    clock_poll: float = 15.0


@dataclass
class RunnerSetup:
    """A runner ready to run, and the preflight it runs first."""

    runner: Runner
    preflight: Callable[[], Preflight]
    broker_env: Mapping[str, str]


def _source_of(project: Project) -> str | None:
    """The config's bars as a source a local exchange can serve: a files path, a lake
    folder that has been filled, or None (the embedded sample)."""
    data = project.config.data
    if data.provider == "files" and data.path:
        return str(project.root / str(data.path))
    lake = project.lake_dir()
    if data.provider != "embedded" and (lake / "manifest.json").exists():
        return str(lake)
    return None


@contextlib.contextmanager
def open_runner(project: Project, env: Mapping[str, str], options: RunOptions) -> Iterator[RunnerSetup]:
    """The runner of ``project`` for the ``with`` block (module doc); ``env``: the
    environment with the project's ``.env`` (keys, Telegram, data vendors)."""
    data, paper = options.data, options.mode == "paper"
    # A local exchange replays the bars the runner scans: --data, else the config's source.
    replayed = data if data is not None else _source_of(project)
    # Only a local replay (paper, no keys: broker_env's rule) reads the bars for its start.
    replaying = paper and not env.get("ALPACA_API_KEY_ID")
    start = replay_start(replayed, options.replay_from) if replaying else None
    with broker_env(project.root, paper, replayed, start, env) as (trading_env, admin):
        trader = open_trader(project, trading_env, paper=paper, timeout=options.timeout,
                             sleep=time.sleep if admin is None else _exchange_time(admin))
        trader.entry_cap = options.cap
        clock = runner_clock(trader, admin, data=replayed, until=options.replay_until, pace=options.pace,
                             max_poll=options.clock_poll)
        # Alerts reach Telegram when TELEGRAM_TOKEN and TELEGRAM_CHAT_ID are set, and the audit trail always.
        telegram = TelegramNotifier.from_env(env)
        broker: Any = trader.broker        # the Alpaca broker: its secrets are scrubbed from alerts
        alerts = Alerts([telegram] if telegram else [], record=trader.audit.event, secrets=broker.secrets)
        # Before each cycle the configured provider brings the bars up to the broker's now
        # (nothing to fetch for embedded or files; their freshness is judged all the same).
        runner = Runner(trader, lambda: project.bars(data), Schedule(parse_times(list(options.scan_times)), settle=SETTLE_AFTER_CLOSE), clock,
                        mode=options.mode, once=options.once, health_port=options.health_port, alerts=alerts,
                        refresh=None if data is not None else (lambda now: refresh(project, now, env=env)))
        if runner.monitor is not None and data is not None:
            runner.monitor.data_source = data      # named in the shadow reports' receipts
        yield RunnerSetup(runner, lambda: runner_checks(project, trader, trading_env, now=clock.now(), data=data,
                                                        env=env), trading_env)
