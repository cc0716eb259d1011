"""Trading commands: ``kobe trade``, ``orders``, ``positions``, ``kill``, ``resume``, ``reconcile``.

Thin: each parses options, calls :mod:`kobe.trade.cycle`, :mod:`kobe.trade.reconcile`,
:mod:`kobe.oms` or the kill switch (found by :meth:`KillSwitch.of_project`, which works
even when the config is broken), prints. Paths are the project's (the folder of
``strategies.yaml``): ``state/`` for the order store, ``positions.json`` and the kill
switch, ``logs/`` for the audit trail. The broker comes from ``ALPACA_BASE_URL`` and the
key variables (environment or ``.env``); no key is ever printed, logged or put in ``--json``.
A damaged order store stops each of them with the file named (:class:`StoreCorrupt
<kobe.oms.store.StoreCorrupt>`); ``reconcile --rebuild`` is its remedy.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kobe.cli.common import (
    CALL_SECONDS,
    FiniteRange,
    cell,
    config_option,
    config_options,
    fail_cleanly,
    parse_date,
    table,
)
from kobe.config.errors import Diagnostic, KobeError
from kobe.risk.killswitch import KillSwitch

if TYPE_CHECKING:
    from kobe.audit.log import AuditLog
    from kobe.oms.store import OrderStore


"""``--timeout``: seconds per broker call."""
POLL_SECONDS = FiniteRange(0, 3600, what="number of seconds")
"""``--poll-timeout``: seconds an order may work before what is left is canceled."""


def _env(root: Path) -> dict[str, str]:
    from kobe.secrets import read_env

    return read_env(root / ".env")


def _store(root: Path) -> OrderStore:
    from kobe.oms.store import OrderStore
    from kobe.trade.cycle import ORDERS_FILE

    store = OrderStore.existing(root / ORDERS_FILE)    # never created here; one deleted is damage
    if store is None:
        raise KobeError(Diagnostic("no orders yet", file=str(ORDERS_FILE), hint="`kobe trade --paper --once` trades"))
    return store


def _audit(root: Path) -> AuditLog:
    from kobe.audit.log import AuditLog
    from kobe.secrets import secret_values
    from kobe.trade.cycle import LOGS

    return AuditLog(root / LOGS, secret_values(_env(root)))


def _order_rows(orders: list[Any]) -> list[tuple[object, ...]]:
    return [(o.trading_date.isoformat(), o.client_order_id, o.strategy, o.symbol, o.side, o.qty, o.limit_price,
             o.status.value, o.filled_qty, o.filled_avg_price, o.reason) for o in orders]


ORDER_HEADER = ("date", "client_order_id", "strategy", "symbol", "side", "qty", "limit", "status", "filled",
                "avg price", "reason")


def _order_dict(o: Any) -> dict[str, object]:
    return dict(zip(("trading_date", "client_order_id", "strategy", "symbol", "side", "qty", "limit_price",
                     "status", "filled_qty", "filled_avg_price", "reason"), _order_rows([o])[0]))


@click.command()
@config_option
@config_options
@click.option("--paper", is_flag=True, help="Trade the paper account (required: `kobe trade` trades paper only; live trading is `kobe run --live`).")
@click.option("--once", is_flag=True, help="Run one cycle and exit (scheduling is the runner's job).")
@click.option("--data", "data", default=None, help="Bars file, folder or lake; default: the config's data source.")
@click.option("--timeout", type=CALL_SECONDS, default=10.0, show_default=True,
              help="Seconds per broker call (above 0, at most 600).")
@click.option("--poll-timeout", type=POLL_SECONDS, default=10.0, show_default=True,
              help="Seconds to wait for an order's final state before canceling what still works (0 to 3600).")
@click.option("--json", "as_json", is_flag=True, help="Print the cycle report as JSON.")
@fail_cleanly
def trade(strategies: Path, risk_path: Path | None, paper: bool, once: bool, data: str | None, timeout: float,
          poll_timeout: float, as_json: bool) -> None:
    """One cycle: recover open orders, exits, scan, gates, IOC orders; needs a pinned config.

    The broker is ALPACA_BASE_URL (default: Alpaca's paper host) with ALPACA_API_KEY_ID
    and ALPACA_API_SECRET_KEY; point it at a running `kobe exchange` to trade offline.
    Exits 1 when an order is still in doubt afterwards (the next cycle resolves it).
    """
    from kobe.project import load_project
    from kobe.trade.cycle import open_trader, run_cycle
    from kobe.trade.executor import ExecutionPolicy

    if not paper:
        raise KobeError(Diagnostic("`kobe trade` trades the paper account only: pass --paper",
                                   hint="live trading is `kobe run --live` (docs/runner.md)"))
    if not once:
        raise KobeError(Diagnostic("continuous trading is the runner's job", hint="use `kobe trade --paper --once`"))
    project = load_project(strategies, risk_path)
    if project.config.risk.evidence.require_evidence:      # paper only here: evidence.require_evidence
        from kobe.evidence.record import require_evidence

        require_evidence(project, data=data)
    trader = open_trader(project, _env(project.root), paper=True, timeout=timeout,
                         policy=ExecutionPolicy(poll_timeout=poll_timeout))
    report = run_cycle(trader, project.bars(data))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        if report.in_doubt:
            raise SystemExit(1)
        return
    state = "open" if report.market_open else "closed"
    click.echo(f"trading date {report.trading_date} (market {state}); scan of {report.scan_date or '-'}")
    if report.killed:
        click.echo(f"KILL SWITCH SET: no orders ({trader.kill_switch.info().get('reason', '')})")
    for title, items in (("recovered", report.recovered), ("exits", report.exits), ("entries", report.entries),
                         ("protective orders resting at the broker", report.stops)):
        if items:
            click.echo(f"{title}:")
            click.echo(table(_order_rows(items), ORDER_HEADER))
    for strategy, symbol, why in report.skipped:
        click.echo(f"skipped {strategy} {symbol}: {why}")
    click.echo(f"sent today: ${report.spent_usd:,.2f} of ${trader.risk.daily_budget_usd:,.2f}")
    if report.in_doubt:
        click.echo(f"{len(report.in_doubt)} order(s) still in doubt (the next cycle looks them up first; "
                   "`kobe reconcile` shows them):")
        click.echo(table(_order_rows(report.in_doubt), ORDER_HEADER))
        raise SystemExit(1)


@click.command()
@config_option
@click.option("--date", "date", default=None, help="Trading date (default: the latest with orders).")
@click.option("--all", "show_all", is_flag=True, help="Every order, all dates.")
@click.option("--json", "as_json", is_flag=True)
@fail_cleanly
def orders(strategies: Path, date: str | None, show_all: bool, as_json: bool) -> None:
    """List Kobe's orders from the store (state/orders.sqlite) with their states."""
    store = _store(strategies.parent)
    items = store.orders()
    if not show_all:
        day = parse_date(date) or max((o.trading_date for o in items), default=None)
        items = [o for o in items if o.trading_date == day]
    if as_json:
        click.echo(json.dumps([_order_dict(o) for o in items], indent=2, default=str))
        return
    click.echo(table(_order_rows(items), ORDER_HEADER) if items else "no orders")


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
@fail_cleanly
def positions(strategies: Path, as_json: bool) -> None:
    """Positions and realized P&L from Kobe's fills; rewrites state/positions.json."""
    from kobe.oms.views import POSITIONS_FILE, write_positions

    view = write_positions(_store(strategies.parent), strategies.parent / POSITIONS_FILE)
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    rows = [(p["symbol"], p["qty"], p["avg_cost"], p["cost_basis"], p["realized_pnl"]) for p in view["positions"]]
    click.echo(table(rows, ("symbol", "qty", "avg cost", "cost basis", "realized P&L")) if rows else "no positions")
    click.echo(f"realized P&L: {cell(view['realized_pnl'])}")


@click.command()
@config_option
@config_options
@click.option("--reason", required=True, help="Why trading stops (recorded in the audit trail).")
@click.option("--who", default=None, help="Who stops it (default: the login name).")
@fail_cleanly
def kill(strategies: Path, risk_path: Path | None, reason: str, who: str | None) -> None:
    """Set the kill switch: no order leaves until `kobe resume`."""
    switch = KillSwitch.of_project(strategies.parent, risk_path)
    record = switch.set(reason, who=who)
    _audit(strategies.parent).event("killswitch.set", who=record["who"], reason=reason, path=str(switch.path))
    click.echo(f"kill switch set by {record['who']} at {record['at']}: {reason}")


@click.command()
@config_option
@config_options
@click.option("--reason", default="", help="Why trading may resume (recorded in the audit trail).")
@click.option("--who", default=None, help="Who resumes it (default: the login name).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@fail_cleanly
def resume(strategies: Path, risk_path: Path | None, reason: str, who: str | None, yes: bool) -> None:
    """Clear the kill switch after confirming; records who and why in the audit trail."""
    switch = KillSwitch.of_project(strategies.parent, risk_path)
    if not switch.active():
        click.echo("the kill switch is not set")
        return
    info = switch.info()
    click.echo(f"kill switch set by {info.get('who', '?')} at {info.get('at', '?')}: {info.get('reason', '')}")
    if not yes and not click.confirm("Resume trading?", default=False):
        click.echo("still killed")
        raise SystemExit(1)
    who = who or getpass.getuser()
    switch.clear()
    _audit(strategies.parent).event("killswitch.cleared", who=who, reason=reason, was=info)
    click.echo(f"kill switch cleared by {who}")


@click.command()
@config_option
@config_options
@click.option("--adopt", is_flag=True, help="Take the broker's view: update Kobe's orders and positions.")
@click.option("--rebuild", is_flag=True,
              help="Rebuild a damaged (or missing) order store from the broker's orders and the audit trail, "
                   "keeping the damaged file aside; then reconcile.")
@click.option("--timeout", type=CALL_SECONDS, default=10.0, show_default=True,
              help="Seconds per broker call (above 0, at most 600).")
@click.option("--json", "as_json", is_flag=True)
@fail_cleanly
def reconcile(strategies: Path, risk_path: Path | None, adopt: bool, rebuild: bool, timeout: float,
              as_json: bool) -> None:
    """Compare Kobe's positions and open orders with the broker's; exit 1 on differences
    (after --adopt: on differences left).

    With --rebuild, first rebuild state/orders.sqlite when it is damaged (as `kobe trade`
    reports it) or missing: every order the broker holds and every order of the audit
    trail, the damaged file kept as orders.sqlite.corrupt-<time>. Refused while a runner
    holds the project, or when the store is sound.
    """
    from kobe.project import load_project
    from kobe.runner.lock import InstanceLock
    from kobe.runner.run import LOCK_FILE
    from kobe.trade.reconcile import rebuild_project, reconcile_project

    project = load_project(strategies, risk_path)
    env = _env(project.root)
    rebuilt = None
    if rebuild:
        # No runner may trade while its store is swapped under it.
        with InstanceLock(project.root / LOCK_FILE) as lock:
            lock.acquire("rebuild")
            rebuilt = rebuild_project(project, env, timeout=timeout)
    report = reconcile_project(project, env, adopt_view=adopt, timeout=timeout)
    if as_json:
        click.echo(json.dumps({**({"rebuilt": rebuilt.to_dict()} if rebuilt else {}), **report.to_dict()},
                              indent=2))
    else:
        if rebuilt is not None:
            click.echo(f"order store rebuilt: {rebuilt.orders} orders ({rebuilt.from_broker} from the broker, "
                       f"{rebuilt.from_audit_only} from the audit trail alone), {rebuilt.fills} fills, "
                       f"{rebuilt.adjustments} adjustments")
            if rebuilt.kept_aside:
                click.echo(f"the damaged store is kept as {rebuilt.kept_aside}")
            for notice in rebuilt.notices:
                click.echo(f"notice: {notice}")
        for d in report.differences:
            click.echo(d.describe())
        for change in report.adopted:
            click.echo(f"adopted: {change}")
        click.echo("in agreement with the broker" if not report.left else f"{len(report.left)} difference(s)")
    if report.left:
        raise SystemExit(1)


COMMANDS: list[click.Command] = [trade, orders, positions, kill, resume, reconcile]
