"""Preflight: the checklist that must pass before the runner may trade.

Each check returns a :class:`Check` (name, passed, detail); :func:`run_preflight` runs
them all (it does not stop at the first failure, so the trader sees everything) and the
verdict is the conjunction. Keys are reported as present or missing, never shown.

The two lists: :func:`runner_checks`, what ``kobe run`` checks against the broker before
its first cycle, and :func:`offline_checks`, what ``kobe preflight`` checks without one.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from kobe.config.errors import KobeError
from kobe.config.pin import pin_status
from kobe.data import calendar
from kobe.data.refresh import refresh
from kobe.risk.killswitch import KillSwitch
from kobe.secrets import redact, secret_values
from kobe.trade.cycle import kill_switch_of

if TYPE_CHECKING:
    from kobe.project import Project
    from kobe.trade.cycle import Trader

MIN_FREE_BYTES = 500 * 1024 * 1024


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Preflight:
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def render(self) -> str:
        lines = [f"  [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.detail}" for c in self.checks]
        verdict = "preflight passed" if self.passed else "preflight FAILED: trading will not start"
        return "\n".join(lines + [verdict])


def check_keys(env: Mapping[str, str], needed: tuple[str, ...]) -> Check:
    missing = [k for k in needed if not env.get(k)]
    if missing:
        return Check("keys", False, f"missing {', '.join(missing)}")
    return Check("keys", True, f"{', '.join(needed)} present" if needed else "none needed (local exchange)")


def check_pin(project: Any) -> Check:
    status = pin_status(project.root, project.fingerprint())
    return Check("config pin", status.pinned and status.matches, status.describe())


def check_disk(folder: Path, minimum: int = MIN_FREE_BYTES) -> Check:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    return Check("disk space", free >= minimum, f"{free / 2**30:.1f} GiB free in {folder}")


def check_kill_switch(switch: KillSwitch) -> Check:
    if switch.active():
        return Check("kill switch", False, f"set: {switch.info().get('reason', '')}")
    return Check("kill switch", True, "off")


def check_freshness(bars: pl.LazyFrame, today: dt.date) -> Check:
    """The newest bar must be the last session before ``today`` (or today's, after its close)."""
    newest = bars.select(pl.col("date").max()).collect().item()
    expected = calendar.previous_session(today)
    if newest is None:
        return Check("data fresh", False, "no bars")
    ok = newest >= expected
    return Check("data fresh", ok, f"newest bar {newest.isoformat()}, expected {expected.isoformat()}")


def check_call(name: str, call: Callable[[], str], secrets: list[str]) -> Check:
    """Run a broker call; any failure is a failed check with the error (keys scrubbed)."""
    try:
        return Check(name, True, call())
    except KobeError as err:
        return Check(name, False, redact(err.diagnostics[0].message, secrets))
    except Exception as err:  # noqa: BLE001 - every broker failure is a failed check
        return Check(name, False, redact(f"{type(err).__name__}: {err}"[:300], secrets))


def broker_checks(trading: Any, data: Any, symbol: str, env: Mapping[str, str]) -> list[Check]:
    """The account is active, the clock answers, and a quote comes back for ``symbol``."""
    from alpaca.data.requests import StockLatestQuoteRequest

    secrets = secret_values(env)

    def account() -> str:
        acct = trading.get_account()
        status = str(getattr(acct.status, "value", acct.status))
        if status != "ACTIVE":
            raise RuntimeError(f"account status {status}")
        return f"account active, buying power {acct.buying_power}"

    def quote() -> str:
        q = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=symbol))[symbol]
        if not (q.ask_price and q.bid_price):
            raise RuntimeError(f"empty quote for {symbol}")
        return f"{symbol} bid {q.bid_price} ask {q.ask_price}"

    def clock() -> str:
        c = trading.get_clock()
        return f"market {'open' if c.is_open else 'closed'}, next open {c.next_open}"

    return [check_call("broker account", account, secrets), check_call("broker clock", clock, secrets),
            check_call("quotes", quote, secrets)]


def run_preflight(checks: list[Check]) -> Preflight:
    return Preflight(tuple(checks))


KEYS = ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY")


def quote_symbol(project: Project) -> str:
    """The symbol the quote check asks for: the first of the first enabled strategy's universe."""
    enabled = project.enabled()
    return project.universe(enabled[0].config)[0] if enabled else "SPY"


def offline_checks(project: Project, env: Mapping[str, str], today: dt.date, data: str | None = None) -> Preflight:
    """``kobe preflight``: keys, pin, kill switch, disk and the freshness of the bars as of
    ``today``: ``data`` (a file or lake folder), else the config's data source, the one
    the runner trades on; no broker call."""
    try:
        fresh = check_freshness(project.bars(data), today)
    except KobeError as err:          # an empty lake, say: a failed check, with the others still shown
        fresh = Check("data fresh", False, err.diagnostics[0].message)
    return run_preflight([check_keys(env, KEYS), check_pin(project),
                          check_kill_switch(kill_switch_of(project.root, project.config.risk)),
                          check_disk(project.root / "state"), fresh])


def runner_checks(project: Project, trader: Trader, broker_env: Mapping[str, str], *, now: dt.datetime,
                  data: str | None = None, env: Mapping[str, str] | None = None) -> Preflight:
    """``kobe run``'s preflight at the broker's ``now``: the keys of ``broker_env``, pin,
    kill switch, disk, the broker's account, clock and a quote (:func:`broker_checks`),
    then the freshness of the bars before today's session. Without ``data`` the lake is
    first brought up to ``now`` through the configured provider (vendor keys from
    ``env``), so what is judged is what the first cycle would read."""
    if data is None:
        refresh(project, now, env=env)
    bars = project.bars(data)
    today = calendar.trading_date(now)
    broker: Any = trader.broker          # the Alpaca broker: its alpaca-py clients answer the checks
    return run_preflight([check_keys(broker_env, KEYS), check_pin(project), check_kill_switch(trader.kill_switch),
                          check_disk(project.root / "state"),
                          *broker_checks(broker.trading, broker.data, quote_symbol(project), broker_env),
                          check_freshness(bars.filter(pl.col("date") < today), today)])
