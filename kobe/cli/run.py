"""``kobe run``, ``kobe preflight``, ``kobe status`` and ``kobe shadow``: the runner's commands."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from kobe.cli.common import config_options, fail_cleanly, parse_date, table
from kobe.config.errors import Diagnostic, KobeError

config_option = click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml",
                             show_default=True, help="The strategies file; its folder holds state/ and logs/.")
LIVE_URL = "https://api.alpaca.markets"


@contextlib.contextmanager
def _broker_env(root: Path, paper: bool, data: str | None, start: dt.date | None,
                env: Mapping[str, str]) -> Iterator[tuple[Mapping[str, str], Any]]:
    """The broker environment: Alpaca's (keys given) or an in-process ``kobe exchange``
    replaying the data (paper without keys). Yields (env, exchange admin or None)."""
    if env.get("ALPACA_API_KEY_ID") or not paper:
        yield env, None
        return
    from kobe.broker.exchange import ExchangeAdmin, ExchangeConfig, serve_exchange
    from kobe.runner.run import paper_env

    state = root / "state" / "exchange.sqlite"
    config = ExchangeConfig(data=data, start=None if state.exists() else start, state=state, speed=0.0)
    with serve_exchange(config) as url:
        yield {**env, **paper_env(url)}, ExchangeAdmin(url)


def _first_session(bars: Any, sessions_back: int) -> dt.date:
    import polars as pl

    from kobe.data import calendar

    last = bars.select(pl.col("date").max()).collect().item()
    day = last
    for _ in range(sessions_back):
        day = calendar.previous_session(day)
    return day


@click.command()
@config_option
@config_options
@click.option("--paper", is_flag=True, help="Paper trading: Alpaca's paper account with keys, else a local exchange.")
@click.option("--live", is_flag=True, help="Live trading: needs ALPACA_BASE_URL of the live host and --confirm-live.")
@click.option("--confirm-live", is_flag=True, help="Yes, this trades real money.")
@click.option("--cap", type=click.IntRange(min=1), default=None, help="At most this many new orders in this run "
              "(required with --live).")
@click.option("--once", is_flag=True, help="Run one cycle now and exit.")
@click.option("--data", default=None, help="Bars file or lake folder (default: the embedded sample).")
@click.option("--from", "replay_from", default=None,
              help="Local paper: replay from this session (default: 20 sessions before the data ends).")
@click.option("--until", "replay_until", default=None, help="Local paper: stop after this session.")
@click.option("--pace", type=float, default=1.0, show_default=True,
              help="Local paper: real seconds between replayed cycles, to watch the dashboard.")
@click.option("--scan-times", default="09:35,15:55", show_default=True,
              help="New York times of the cycles, comma-separated.")
@click.option("--health-port", type=int, default=8000, show_default=True, help="Health server port (0: any free).")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per broker call.")
@fail_cleanly
def run(strategies: Path, risk_path: Path | None, paper: bool, live: bool, confirm_live: bool, cap: int | None,
        once: bool, data: str | None, replay_from: str | None, replay_until: str | None, pace: float,
        scan_times: str, health_port: int, timeout: float) -> None:
    """Trade at the scan times of every NYSE session until Ctrl-C (or once).

    Needs a pinned config (`kobe pin`). With no Alpaca keys, --paper starts a local
    `kobe exchange` and replays the data's last sessions through it.
    """
    import polars as pl

    from kobe.data import calendar
    from kobe.data.bars import read_bars
    from kobe.data.refresh import refresh
    from kobe.monitor.alerts import Alerts, TelegramNotifier
    from kobe.project import load_project
    from kobe.runner.run import (
        BrokerClock,
        ReplayClock,
        Runner,
        RunnerClock,
        install_signal_handlers,
    )
    from kobe.runner.schedule import Schedule, parse_times
    from kobe.secrets import read_env
    from kobe.trade.cycle import open_trader

    if paper == live:
        raise KobeError(Diagnostic("choose --paper or --live"))
    project = load_project(strategies, risk_path)
    env = read_env(project.root / ".env")
    if live:
        if not confirm_live or cap is None:
            raise KobeError(Diagnostic("live trading needs --confirm-live and --cap N",
                                       hint="start with a tiny cap and the micro budget of risk.yaml"))
        if (env.get("ALPACA_BASE_URL") or "").rstrip("/") != LIVE_URL:
            raise KobeError(Diagnostic(f"live trading needs ALPACA_BASE_URL={LIVE_URL}"))
    bars = read_bars(data) if data is not None or project.config.data.provider not in ("polygon", "alpaca") \
        else None
    start = parse_date(replay_from) or _first_session(bars if bars is not None else read_bars(data), 20)
    until = parse_date(replay_until)
    with _broker_env(project.root, paper, data, start, env) as (broker_env, admin):
        # Replaying through a local exchange, the executor's waits pass exchange time, not real time.
        trader = open_trader(project, broker_env, paper=paper, timeout=timeout,
                             **({"sleep": admin.advance} if admin is not None else {}))
        trader.entry_cap = cap
        if admin is not None:
            served = read_bars(data)           # what the local exchange replays
            last = until or served.select(pl.col("date").max()).collect().item()
            clock: RunnerClock = ReplayClock(admin.set_clock, lambda: dt.datetime.fromisoformat(
                admin.clock()["now"].replace("Z", "+00:00")), pace=pace,
                end=calendar.session_open_close(last)[1])
        else:
            clock = BrokerClock(lambda: trader.broker.clock().now)
        # Alerts reach Telegram when TELEGRAM_TOKEN and TELEGRAM_CHAT_ID are set, and the audit trail always.
        telegram = TelegramNotifier.from_env(env)
        alerts = Alerts([telegram] if telegram else [], record=trader.audit.event, secrets=trader.broker.secrets)
        # Before each cycle the configured provider brings the bars up to the broker's now
        # (nothing to fetch for embedded or files; their freshness is judged all the same).
        runner = Runner(trader, lambda: project.bars(data), Schedule(parse_times(scan_times.split(","))), clock,
                        mode="live" if live else "paper", once=once, health_port=health_port, alerts=alerts,
                        refresh=None if data is not None else (lambda now: refresh(project, now, env=env)))
        if runner.monitor is not None and data is not None:
            runner.monitor.data_source = data      # named in the shadow reports' receipts
        install_signal_handlers(runner)
        universe = project.universe(project.enabled()[0].config) if project.enabled() else ["SPY"]
        if health_port:
            click.echo(f"health and dashboard on http://127.0.0.1:{health_port}/ (Ctrl-C stops)")
        code = runner.run(lambda: _preflight(project, trader, broker_env, universe[0], data, clock.now(), env))
        click.echo(f"stopped after {runner.state.cycles} cycles; `kobe status` and `kobe orders` show the result")
    raise SystemExit(code)


def _preflight(project: Any, trader: Any, env: Mapping[str, str], symbol: str, data: str | None, now: dt.datetime,
               project_env: Mapping[str, str]):
    import polars as pl

    from kobe.data import calendar
    from kobe.data.refresh import refresh

    if data is None:
        refresh(project, now, env=project_env)      # the lake up to the broker's now before it is judged
    bars = project.bars(data)
    from kobe.runner.preflight import (
        broker_checks,
        check_disk,
        check_freshness,
        check_keys,
        check_kill_switch,
        check_pin,
        run_preflight,
    )

    today = calendar.trading_date(now)
    checks = [check_keys(env, ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY")), check_pin(project),
              check_kill_switch(trader.kill_switch), check_disk(project.root / "state"),
              *broker_checks(trader.broker.trading, trader.broker.data, symbol, env),
              check_freshness(bars.filter(pl.col("date") < today), today)]
    result = run_preflight(checks)
    click.echo(result.render())
    return result


@click.command()
@config_option
@config_options
@click.option("--data", default=None, help="Bars file or lake folder (default: the embedded sample).")
@click.option("--at", "at", default=None, help="Judge data freshness as of this date (default: today).")
@fail_cleanly
def preflight(strategies: Path, risk_path: Path | None, data: str | None, at: str | None) -> None:
    """The checklist the runner runs before trading: keys, pin, kill switch, disk, broker, data."""
    from kobe.data.bars import read_bars
    from kobe.project import load_project
    from kobe.runner.preflight import (
        check_disk,
        check_freshness,
        check_keys,
        check_kill_switch,
        check_pin,
        run_preflight,
    )
    from kobe.secrets import read_env
    from kobe.trade.cycle import kill_switch_of

    project = load_project(strategies, risk_path)
    env = read_env(project.root / ".env")
    today = parse_date(at) or dt.date.today()
    checks = [check_keys(env, ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY")), check_pin(project),
              check_kill_switch(kill_switch_of(project.root, project.config.risk)),
              check_disk(project.root / "state"), check_freshness(read_bars(data), today)]
    result = run_preflight(checks)
    click.echo(result.render())
    if not result.passed:
        raise SystemExit(1)


@click.command()
@config_option
@config_options
@click.option("--json", "as_json", is_flag=True)
@fail_cleanly
def status(strategies: Path, risk_path: Path | None, as_json: bool) -> None:
    """Heartbeat age, mode, kill switch, positions, today's spend, P&L and the last orders."""
    from kobe.cli.trade import _kill_switch
    from kobe.data import calendar
    from kobe.monitor.metrics import trading_metrics
    from kobe.monitor.session import monitor_status
    from kobe.oms.store import OrderStore
    from kobe.runner.heartbeat import read_heartbeat
    from kobe.runner.run import HEARTBEAT_FILE
    from kobe.trade.cycle import ORDERS_FILE

    root = strategies.parent
    beat = read_heartbeat(root / HEARTBEAT_FILE)
    now = dt.datetime.now(dt.UTC)
    store = OrderStore(root / ORDERS_FILE)
    orders = store.orders()
    day = orders[-1].trading_date if orders else calendar.trading_date(now)
    risk_switch = _kill_switch(strategies, risk_path)  # reads only risk.yaml's kill_switch_file
    checks = monitor_status(root)
    metrics = trading_metrics(store, root / "logs" / "events.jsonl", day, **checks)
    positions = [p for p in store.positions().values() if p.qty]
    report = {
        "heartbeat": beat.__dict__ if beat else None,
        "heartbeat_age_seconds": round(beat.age(now).total_seconds()) if beat else None,
        "running": bool(beat and not beat.stale(now)), "kill_switch": risk_switch.info(),
        "trading_date": day.isoformat(), "spent_usd": store.spent(day), "metrics": metrics,
        "positions": [p.__dict__ for p in positions],
        "last_orders": [{"client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side, "qty": o.qty,
                         "status": o.status.value, "filled_qty": o.filled_qty} for o in orders[-10:]],
        **checks,
    }
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    if beat:
        state = "running" if report["running"] else f"NOT running ({beat.state})"
        click.echo(f"runner: {state}; mode {beat.mode}; heartbeat {report['heartbeat_age_seconds']} s ago; "
                   f"last action: {beat.last_action}")
    else:
        click.echo("runner: never started here")
    click.echo(f"kill switch: {'SET: ' + str(report['kill_switch'].get('reason')) if report['kill_switch'] else 'off'}")
    click.echo(f"{day.isoformat()}: spent ${report['spent_usd']:,.2f}; realized P&L "
               f"${metrics['pnl_realized_usd']:,.2f}; {metrics['ioc_submitted']} IOC sent, {metrics['ioc_filled']} "
               f"filled")
    if checks["shadow"]:
        c = checks["shadow"]["counts"]
        click.echo(f"shadow check of {checks['shadow']['session']}: {c['not_sent']} expected not sent, "
                   f"{c['missed']} missed, {c['unexpected']} unexpected; slippage {_bps(c['slippage_bps'])} against "
                   f"the backtest" + ("; OUTSIDE THE BOUNDS" if checks["shadow"]["breaches"] else ""))
    if checks["drift"]:
        verdicts = ", ".join(f"{n} {v['verdict']}" for n, v in checks["drift"]["strategies"].items())
        click.echo(f"drift after {checks['drift']['session']}: {verdicts}")
    if positions:
        click.echo(table([(p.symbol, p.qty, p.avg_cost, p.realized_pnl) for p in positions],
                         ("symbol", "qty", "avg cost", "realized")))
    if report["last_orders"]:
        click.echo(table([tuple(o.values()) for o in report["last_orders"]],
                         ("client_order_id", "symbol", "side", "qty", "status", "filled")))


SHADOW_HEADER = ("strategy", "symbol", "expected", "outcome", "bt qty", "qty", "limit", "fill", "bt fill",
                 "vs limit bps", "vs bt bps", "reason")


@click.command()
@click.argument("session")
@config_option
@config_options
@click.option("--data", default=None, help="Bars file or lake folder (default: the config's data source).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@fail_cleanly
def shadow(session: str, strategies: Path, risk_path: Path | None, data: str | None, as_json: bool) -> None:
    """Re-run SESSION (YYYY-MM-DD) in the backtester and diff its entries with what was sent and filled.

    Writes logs/shadow/SESSION.json (the runner does the same after each session) and
    exits 1 when the report breaks its bounds (unexpected orders, missed IOCs, slippage).
    """
    from kobe.data import calendar
    from kobe.monitor.shadow import (
        ShadowBounds,
        read_events,
        shadow_session,
        write_report,
    )
    from kobe.oms.store import OrderStore
    from kobe.project import load_project
    from kobe.trade.cycle import LOGS, ORDERS_FILE

    day = parse_date(session)
    assert day is not None
    if not calendar.is_session(day):
        raise KobeError(Diagnostic(f"{day.isoformat()} is not an NYSE session", hint="give a trading day"))
    project = load_project(strategies, risk_path)
    store = OrderStore(project.root / ORDERS_FILE)
    report = shadow_session(project, project.bars(data), store.orders(day),
                            read_events(project.root / LOGS / "events.jsonl"), day,
                            data_source=data or project.config.data.provider)
    bounds = ShadowBounds.from_config(project.config.risk.monitoring)
    path = write_report(project.root, report, bounds)
    document = report.to_dict(bounds)
    if as_json:
        click.echo(json.dumps(document, indent=2, default=str))
    else:
        c = document["counts"]
        click.echo(f"session {day.isoformat()} (signals of {report.signal_date.isoformat()}); config "
                   f"{report.receipt['config_sha256'][:12]}, data {report.receipt['data_sha256'][:12]}")
        click.echo(f"{c['expected']} expected, {c['sent']} sent, {c['filled']} filled, {c['partial']} in part, "
                   f"{c['missed']} missed, {c['not_sent']} not sent, {c['unexpected']} unexpected; slippage "
                   f"{_bps(c['slippage_limit_bps'])} against the limits, {_bps(c['slippage_bps'])} against the "
                   f"backtest")
        if report.rows:
            click.echo(table([(r.strategy, r.symbol, "yes" if r.expected else "no", r.outcome, r.backtest_qty, r.qty,
                               r.limit_price, r.fill_price, r.backtest_fill, r.slippage_limit_bps,
                               r.slippage_backtest_bps, r.reason) for r in report.rows], SHADOW_HEADER))
        for breach in document["breaches"]:
            click.echo(f"outside the bounds: {breach}")
        click.echo(f"report: {path.relative_to(project.root)}")
    if document["breaches"]:
        raise SystemExit(1)


def _bps(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f} bps"


COMMANDS: list[click.Command] = [run, preflight, status, shadow]
