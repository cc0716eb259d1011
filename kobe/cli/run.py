"""``kobe run``, ``kobe preflight``, ``kobe status`` and ``kobe shadow``: the runner's commands.

Thin: each parses options, calls the library (:mod:`kobe.runner.setup` for the mode guard
and the runner, :mod:`kobe.runner.preflight` for the checklists, :mod:`kobe.runner.status`
for the snapshot, :mod:`kobe.monitor.shadow`), prints.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kobe.cli.common import (
    CALL_SECONDS,
    config_option,
    config_options,
    fail_cleanly,
    parse_date,
    table,
)
from kobe.config.errors import Diagnostic, KobeError

if TYPE_CHECKING:
    from kobe.runner.preflight import Preflight


@click.command()
@config_option
@config_options
@click.option("--paper", is_flag=True, help="Paper trading: Alpaca's paper account with keys, else a local exchange.")
@click.option("--live", is_flag=True, help="Live trading: needs ALPACA_BASE_URL of the live host and --confirm-live.")
@click.option("--confirm-live", is_flag=True, help="Yes, this trades real money.")
@click.option("--cap", type=click.IntRange(min=1), default=None, help="At most this many new orders in this run "
              "(required with --live).")
@click.option("--once", is_flag=True, help="Run one cycle now and exit.")
@click.option("--data", default=None, help="Bars file, folder or lake (default: the config's data source).")
@click.option("--from", "replay_from", default=None,
              help="Local paper: replay from this session (default: 20 sessions before the data ends).")
@click.option("--until", "replay_until", default=None, help="Local paper: stop after this session.")
@click.option("--pace", type=float, default=1.0, show_default=True,
              help="Local paper: real seconds between replayed cycles, to watch the dashboard.")
@click.option("--scan-times", default="09:35,15:55", show_default=True,
              help="New York times of the cycles, comma-separated.")
@click.option("--health-port", type=int, default=8000, show_default=True, help="Health server port (0: any free).")
@click.option("--health-host", default="127.0.0.1", show_default=True,
              help="Address the health server and dashboard listen on; beyond loopback (e.g. 0.0.0.0) "
                   "KOBE_DASHBOARD_TOKEN must be set, and every request but /liveness must present it.")
@click.option("--timeout", type=CALL_SECONDS, default=10.0, show_default=True,
              help="Seconds per broker call.")
@click.option("--clock-poll", type=click.FloatRange(min=0.01), default=15.0, show_default=True,
              help="At most this many real seconds between readings of the broker's clock while waiting for a "
                   "scan time (a sped-up `kobe exchange` wants a fraction of a second).")
@fail_cleanly
def run(strategies: Path, risk_path: Path | None, paper: bool, live: bool, confirm_live: bool, cap: int | None,
        once: bool, data: str | None, replay_from: str | None, replay_until: str | None, pace: float,
        scan_times: str, health_port: int, health_host: str, timeout: float, clock_poll: float) -> None:
    """Trade at the scan times of every NYSE session until Ctrl-C (or once).

    Needs a pinned config (`kobe pin`). With no Alpaca keys, --paper starts a local
    `kobe exchange` and replays the data's last sessions through it.
    """
    from kobe.monitor.health import TOKEN_ENV, check_exposure
    from kobe.project import load_project
    from kobe.runner.run import install_signal_handlers
    from kobe.runner.setup import RunOptions, check_mode, open_runner
    from kobe.secrets import read_env

    env = read_env(strategies.parent / ".env")     # the project's folder: .env beside strategies.yaml
    token = env.get(TOKEN_ENV) or None
    check_exposure(health_host, token)             # before the lock, the broker and preflight: nothing started
    options = RunOptions(check_mode(paper, live, confirm_live, cap, env), cap=cap, once=once, data=data,
                         replay_from=parse_date(replay_from), replay_until=parse_date(replay_until), pace=pace,
                         scan_times=tuple(scan_times.split(",")), health_port=health_port, timeout=timeout,
                         clock_poll=clock_poll)
    project = load_project(strategies, risk_path)
    if options.mode == "live" or project.config.risk.evidence.require_evidence:
        # Before the broker or a local exchange starts: no strategy trades on a record that
        # fails, is of another pin or other bars, or was edited (docs/evidence.md).
        from kobe.evidence.record import require_evidence

        require_evidence(project, data=data)
    with open_runner(project, env, options) as setup:
        setup.runner.health_host, setup.runner.dashboard_token = health_host, token
        install_signal_handlers(setup.runner)
        if health_port:
            shown = f"[{health_host}]" if ":" in health_host else health_host
            click.echo(f"health and dashboard on http://{shown}:{health_port}/"
                       + (" (a token is needed: Authorization: Bearer, or ?token= in the browser)" if token else "")
                       + " (Ctrl-C stops)")
        code = setup.runner.run(lambda: _shown(setup.preflight()))
        click.echo(f"stopped after {setup.runner.state.cycles} cycles; `kobe status` and `kobe orders` show the result")
    raise SystemExit(code)


def _shown(result: Preflight) -> Preflight:
    click.echo(result.render())
    return result


@click.command()
@config_option
@config_options
@click.option("--data", default=None, help="Bars file or lake folder (default: the config's data source).")
@click.option("--at", "at", default=None, help="Judge data freshness as of this date (default: today).")
@fail_cleanly
def preflight(strategies: Path, risk_path: Path | None, data: str | None, at: str | None) -> None:
    """The checklist the runner runs before trading: keys, pin, kill switch, disk, broker, data."""
    from kobe.project import load_project
    from kobe.runner.preflight import offline_checks
    from kobe.secrets import read_env

    project = load_project(strategies, risk_path)
    result = offline_checks(project, read_env(project.root / ".env"), parse_date(at) or dt.date.today(), data)
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
    from kobe.runner.status import snapshot

    report = snapshot(strategies.parent, risk_path, dt.datetime.now(dt.UTC))
    document = report.to_dict()
    if as_json:
        click.echo(json.dumps(document, indent=2, default=str))
        return
    beat, metrics = report.heartbeat, report.metrics
    if beat:
        state = "running" if report.running else f"NOT running ({beat.state})"
        click.echo(f"runner: {state}; mode {beat.mode}; heartbeat {report.heartbeat_age_seconds} s ago; "
                   f"last action: {beat.last_action}")
    else:
        click.echo("runner: never started here")
    click.echo(f"kill switch: {'SET: ' + str(report.kill_switch.get('reason')) if report.kill_switch else 'off'}")
    click.echo(f"{document['trading_date']}: spent ${report.spent_usd:,.2f}; realized P&L "
               f"${metrics['pnl_realized_usd']:,.2f}; {metrics['ioc_submitted']} IOC sent, {metrics['ioc_filled']} "
               f"filled")
    if report.shadow:
        c = report.shadow["counts"]
        click.echo(f"shadow check of {report.shadow['session']}: {c['not_sent']} expected not sent, "
                   f"{c['missed']} missed, {c['unexpected']} unexpected; slippage {_bps(c['slippage_bps'])} against "
                   f"the backtest" + ("; OUTSIDE THE BOUNDS" if report.shadow["breaches"] else ""))
    if report.drift:
        verdicts = ", ".join(f"{n} {v['verdict']}" for n, v in report.drift["strategies"].items())
        click.echo(f"drift after {report.drift['session']}: {verdicts}")
    if report.positions:
        click.echo(table([(p.symbol, p.qty, p.avg_cost, p.realized_pnl) for p in report.positions],
                         ("symbol", "qty", "avg cost", "realized")))
    if document["last_orders"]:
        click.echo(table([tuple(o.values()) for o in document["last_orders"]],
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
    from kobe.audit.log import read_events
    from kobe.data import calendar
    from kobe.monitor.shadow import (
        ShadowBounds,
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
