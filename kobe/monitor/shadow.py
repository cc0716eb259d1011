"""The shadow check: did a live (or paper) session do what the backtest says it should?

After a session the backtester runs that session again, on the same bars and config,
and its entries are laid beside what the trading path decided, sent and got filled:

- **expected, filled**: the entry the backtest took, filled live; the fill's slippage
  against the order's limit and against the backtest's assumed fill (the session's open
  with the backtest's ``slippage_bps``), in basis points, positive when the fill paid
  more than the reference (a buy filled below its limit shows a negative figure);
- **expected, not sent**: why, from the audit trail: blocked by a gate (which one),
  skipped (no quote, one share over the budget, the run's cap), stopped by the kill
  switch, a halted or failed cycle, a symbol the scan did not pick;
- **sent, missed**: an IOC that filled nothing (canceled, expired, rejected);
- **unexpected**: an order sent that the backtest did not expect.

"Re-run that session" means: :func:`~kobe.backtest.engine.run_backtest` over the bars up
to and including the session (its open is the backtest's fill), with signals counted
from the session before it (the scan the cycle traded on) in a fresh account. Slots
and symbols the live account already held are therefore not in the backtest: a pick
live trading refused because the symbol was held shows as expected, not sent, blocked
by the ``positions`` gate, which is what happened. Only entries (buys) are compared.

The report carries the backtest's receipt (config and data hashes) and the config hash
the runner traded under (from ``runner.started``), and goes to
``logs/shadow/<session>.json``, written atomically.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.config.model import MonitoringBounds
from kobe.files import write_atomic
from kobe.oms.orders import OrderRecord, OrderStatus
from kobe.project import Project

SHADOW_DIR = Path("logs") / "shadow"
SENT = ("filled", "partial", "missed", "in_doubt")
Key = tuple[str, str]                  # (strategy, symbol)


@dataclass(frozen=True)
class ShadowBounds:
    """When a report is worth an alert: more unexpected orders than ``max_unexpected``,
    a share of the IOCs sent that filled nothing above ``max_missed_share``, or a mean
    slippage against the backtest's fills above ``max_slippage_bps``."""

    max_unexpected: int = 0
    max_missed_share: float = 0.2
    max_slippage_bps: float = 50.0

    @classmethod
    def from_config(cls, bounds: MonitoringBounds) -> ShadowBounds:
        """The bounds of ``risk.yaml``'s ``monitoring.shadow``."""
        return cls(bounds.shadow_max_unexpected, bounds.shadow_max_missed_share, bounds.shadow_max_slippage_bps)


@dataclass(frozen=True)
class Expected:
    """An entry the backtest takes on the session: ``quantity`` shares at ``fill`` (the
    session's ``open`` with its slippage)."""

    strategy: str
    symbol: str
    quantity: int
    fill: float
    open: float


@dataclass(frozen=True)
class Why:
    """Why a pick was not sent. ``cause``: ``blocked`` (by ``gate``), ``skipped``,
    ``kill_switch``, ``shutdown``, ``market_closed``, ``cycle_failed``, ``data_quality``,
    ``not_in_scan``, ``no_cycle``, ``no_decision``, or ``never_sent`` (an order recorded
    but found, once its session had passed, never to have reached the broker)."""

    cause: str
    reason: str
    gate: str | None = None


@dataclass
class SessionLog:
    """What the audit trail says about one session's entries: the last pick-level event
    of each (strategy, symbol), the reasons whole cycles stopped deciding, the number of
    cycles that started, and the config hash the runner traded under."""

    picks: dict[Key, Why] = field(default_factory=dict)
    cycle_reasons: list[Why] = field(default_factory=list)
    cycles: int = 0
    config_sha256: str | None = None


@dataclass(frozen=True)
class Scanned:
    """The live scan of the signal session: its picks and the symbols the data-quality
    gate excluded."""

    picks: frozenset[Key]
    excluded: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ShadowRow:
    strategy: str
    symbol: str
    expected: bool
    outcome: str                     # filled | partial | missed | in_doubt | not_sent
    client_order_id: str | None = None
    backtest_qty: int | None = None
    qty: int | None = None
    filled_qty: float = 0.0
    limit_price: float | None = None
    fill_price: float | None = None
    backtest_fill: float | None = None
    open: float | None = None
    slippage_limit_bps: float | None = None
    slippage_backtest_bps: float | None = None
    cause: str | None = None
    gate: str | None = None
    reason: str = ""


def slippage_bps(fill: float, reference: float, side: str = "buy") -> float:
    """What a fill paid beyond ``reference``, in basis points of it: positive is worse
    (a buy above, a sell below the reference)."""
    sign = 1.0 if side == "buy" else -1.0
    return sign * (fill / reference - 1.0) * 10_000


def _mean(values: Iterable[float | None]) -> float | None:
    numbers = [v for v in values if v is not None]
    return sum(numbers) / len(numbers) if numbers else None


@dataclass(frozen=True)
class ShadowReport:
    session: dt.date
    signal_date: dt.date
    rows: tuple[ShadowRow, ...]
    receipt: Mapping[str, Any] = field(default_factory=dict)
    live_config_sha256: str | None = None

    def counts(self) -> dict[str, Any]:
        """The figures of the report (and of ``/metrics``): entries expected, sent,
        filled in full or in part, missed, in doubt, expected but not sent (and by
        cause), sent but not expected; the missed share of the sent; the mean slippages."""
        rows = self.rows
        sent = [r for r in rows if r.outcome in SENT]
        missed = sum(r.outcome == "missed" for r in rows)
        causes: dict[str, int] = {}
        for r in rows:
            if r.expected and r.outcome == "not_sent":
                causes[str(r.cause)] = causes.get(str(r.cause), 0) + 1
        return {
            "expected": sum(r.expected for r in rows), "sent": len(sent),
            "filled": sum(r.outcome == "filled" for r in rows), "partial": sum(r.outcome == "partial" for r in rows),
            "missed": missed, "in_doubt": sum(r.outcome == "in_doubt" for r in rows),
            "not_sent": sum(causes.values()), "not_sent_by_cause": dict(sorted(causes.items())),
            "unexpected": sum(not r.expected for r in sent),
            "missed_share": missed / len(sent) if sent else None,
            "slippage_limit_bps": _mean(r.slippage_limit_bps for r in rows),
            "slippage_bps": _mean(r.slippage_backtest_bps for r in rows),
        }

    def breaches(self, bounds: ShadowBounds = ShadowBounds()) -> list[str]:
        """The bounds this session broke, as sentences for an alert (none: empty)."""
        counts, out = self.counts(), []
        unexpected = [r for r in self.rows if not r.expected and r.outcome in SENT]
        if len(unexpected) > bounds.max_unexpected:
            names = ", ".join(f"{r.symbol} ({r.strategy})" for r in unexpected)
            out.append(f"{len(unexpected)} orders the backtest did not expect: {names}")
        share = counts["missed_share"]
        if share is not None and share > bounds.max_missed_share:
            out.append(f"{counts['missed']} of {counts['sent']} IOCs sent filled nothing "
                       f"({share:.0%} > {bounds.max_missed_share:.0%})")
        slip = counts["slippage_bps"]
        if slip is not None and slip > bounds.max_slippage_bps:
            out.append(f"fills paid {slip:.1f} bps over the backtest's on average (> {bounds.max_slippage_bps:g})")
        if self.live_config_sha256 and self.receipt.get("config_sha256") not in (None, self.live_config_sha256):
            out.append("the config changed since the session traded: the backtest ran another config")
        return out

    def to_dict(self, bounds: ShadowBounds = ShadowBounds()) -> dict[str, Any]:
        return {"session": self.session.isoformat(), "signal_date": self.signal_date.isoformat(),
                "counts": self.counts(), "bounds": asdict(bounds), "breaches": self.breaches(bounds),
                "live_config_sha256": self.live_config_sha256, "receipt": dict(self.receipt),
                "rows": [asdict(r) for r in self.rows]}


# -- the audit trail --------------------------------------------------------------------


def _cycle_why(kind: str, reason: str) -> Why:
    if kind == "cycle.failed":
        return Why("cycle_failed", f"the cycle failed: {reason}")
    if reason.startswith("kill switch"):
        return Why("kill_switch", reason)
    if reason.startswith("shutting down"):
        return Why("shutdown", reason)
    return Why("market_closed" if "market closed" in reason else "skipped", reason)


def read_session_log(events: Iterable[Mapping[str, Any]], session: dt.date) -> SessionLog:
    """Fold the audit events (``logs/events.jsonl``, in order) into what they say about
    ``session``'s entries. ``cycle.halted`` and ``cycle.failed`` carry no date: they
    belong to the cycle started last and not finished yet."""
    day, log = session.isoformat(), SessionLog()
    current: str | None = None          # trading date of the cycle in progress
    config: str | None = None
    for event in events:
        kind = event.get("kind")
        if kind == "runner.started":
            config = event.get("config_sha256")
        elif kind == "cycle.started":
            current = str(event.get("trading_date"))
            if current == day:
                log.cycles += 1
                log.config_sha256 = config
        elif kind == "cycle.finished":
            current = None
        elif kind in ("cycle.halted", "cycle.failed") and current == day:
            log.cycle_reasons.append(_cycle_why(str(kind), str(event.get("reason", ""))))
        elif kind in ("gate.blocked", "pick.skipped") and str(event.get("trading_date")) == day:
            reason = str(event.get("reason", ""))
            why = Why("blocked", reason, event.get("gate")) if kind == "gate.blocked" else _cycle_why(kind, reason)
            log.picks[(str(event.get("strategy")), str(event.get("symbol")))] = why
            if why.cause in ("kill_switch", "shutdown"):
                log.cycle_reasons.append(why)   # the cycle decided nothing after this pick
    return log


# -- the diff (pure) --------------------------------------------------------------------


def _why_not_sent(key: Key, log: SessionLog, scanned: Scanned | None, session: dt.date) -> Why:
    if key in log.picks:
        return log.picks[key]
    if scanned is not None and key not in scanned.picks:
        if key[1] in scanned.excluded:
            return Why("data_quality", f"{key[1]} was excluded by the data-quality gate")
        return Why("not_in_scan", "not among the live scan's picks")
    if log.cycle_reasons:
        return log.cycle_reasons[-1]
    if not log.cycles:
        return Why("no_cycle", f"no cycle ran on {session.isoformat()}: was the runner running?")
    return Why("no_decision", "the session's cycles recorded no decision about it")


def _order_row(order: OrderRecord, expected: Expected | None, opens: Mapping[str, float]) -> ShadowRow:
    base = {"strategy": order.strategy, "symbol": order.symbol, "expected": expected is not None,
                "client_order_id": order.client_order_id, "backtest_qty": expected.quantity if expected else None,
                "qty": order.qty, "filled_qty": order.filled_qty, "limit_price": order.limit_price,
                "backtest_fill": expected.fill if expected else None, "open": opens.get(order.symbol)}
    note = "" if expected else "not among the backtest's entries"
    if order.filled_qty > 0 and order.filled_avg_price is not None:
        price = order.filled_avg_price
        return ShadowRow(**base, outcome="filled" if order.filled_qty >= order.qty else "partial",
                         fill_price=price,
                         slippage_limit_bps=(slippage_bps(price, order.limit_price, order.side)
                                             if order.limit_price else None),
                         slippage_backtest_bps=slippage_bps(price, expected.fill, order.side) if expected else None,
                         reason=note or f"filled {order.filled_qty:g} of {order.qty}")
    if not order.status.terminal:
        return ShadowRow(**base, outcome="in_doubt", reason=f"still {order.status.value}: the next cycle looks it up")
    if order.status is OrderStatus.CANCELED and order.reason.endswith("; kill switch"):
        return ShadowRow(**base, outcome="not_sent", cause="kill_switch",
                         reason="stopped at the choke point by the kill switch")
    if order.status is OrderStatus.CANCELED and order.reason.endswith("; never reached the broker"):
        return ShadowRow(**base, outcome="not_sent", cause="never_sent",
                         reason="in doubt, then found never to have reached the broker before its session ended")
    why = {OrderStatus.REJECTED: f"rejected by the broker ({order.reason.split('refused: ', 1)[-1]})",
           OrderStatus.EXPIRED: "expired with nothing filled"}.get(order.status, "canceled with nothing filled")
    return ShadowRow(**base, outcome="missed", reason=f"{note}; {why}" if note else why)


def diff_session(session: dt.date, signal_date: dt.date, expected: Sequence[Expected],
                 orders: Sequence[OrderRecord], log: SessionLog, opens: Mapping[str, float],
                 scanned: Scanned | None = None) -> tuple[ShadowRow, ...]:
    """Lay the backtest's entries beside the session's entry orders (buys, sells short). Expected rows come
    first in the backtest's order, then the orders it did not expect in the order sent.
    ``scanned`` (the live scan) explains expected picks the audit trail says nothing of."""
    buys = {(o.strategy, o.symbol): o for o in orders if o.opens and o.trading_date == session}
    rows: list[ShadowRow] = []
    for entry in expected:
        key = (entry.strategy, entry.symbol)
        if key in buys:
            rows.append(_order_row(buys.pop(key), entry, opens))
            continue
        why = _why_not_sent(key, log, scanned, session)
        rows.append(ShadowRow(entry.strategy, entry.symbol, True, "not_sent", backtest_qty=entry.quantity,
                              backtest_fill=entry.fill, open=entry.open, cause=why.cause, gate=why.gate,
                              reason=why.reason))
    rows += [_order_row(order, None, opens) for order in buys.values()]
    return tuple(rows)


# -- the session re-run (I/O) -------------------------------------------------------------


def expected_entries(project: Project, bars: pl.LazyFrame | pl.DataFrame, session: dt.date,
                     data_source: str = "runner") -> tuple[list[Expected], dict[str, Any], dict[str, float]]:
    """The backtest of ``session`` alone: its entries, its receipt (as a dict) and the
    session's opens. Raises :class:`KobeError` when the bars do not reach the session yet
    (its open is the backtest's fill)."""
    from kobe.backtest.engine import run_backtest
    from kobe.backtest.receipt import make_receipt
    from kobe.data import calendar

    signal = calendar.previous_session(session)
    upto = bars.lazy().filter(pl.col("date") <= session)
    opens_frame = upto.filter(pl.col("date") == session).select("symbol", "open").collect()
    if opens_frame.is_empty():
        raise KobeError(Diagnostic(f"no bars of {session.isoformat()} yet: the shadow check needs its opens",
                                   hint="run it once the session's bars are in (`kobe data fetch`)"))
    result = run_backtest(project, upto, start=signal, end=session)
    opens = dict(zip(opens_frame["symbol"].to_list(), opens_frame["open"].to_list()))
    entries = []
    for strategy in result.strategies:
        taken = pl.concat([strategy.trades, strategy.open_trades]).filter(pl.col("signal_date") == signal)
        for row in taken.sort("entry_date", "symbol").iter_rows(named=True):
            entries.append(Expected(strategy.name, row["symbol"], int(row["quantity"]), float(row["entry_price"]),
                                    float(opens.get(row["symbol"], float("nan")))))
    receipt = make_receipt(command=f"kobe shadow {session.isoformat()}", config_sha256=project.fingerprint().sha256,
                           bars=result.market.bars, data_source=data_source)
    return entries, receipt.to_dict(), opens


def live_scan(project: Project, bars: pl.LazyFrame | pl.DataFrame, session: dt.date) -> Scanned | None:
    """The scan the session's cycles traded on (the bars before it), or ``None`` when it
    cannot be run again (then the audit trail alone explains the picks)."""
    from kobe.scan import scan

    try:
        result = scan(project, bars.lazy().filter(pl.col("date") < session))
    except KobeError:
        return None
    picks = frozenset(zip(result.picks["strategy"].to_list(), result.picks["symbol"].to_list()))
    return Scanned(picks, frozenset(result.quality.excluded))


def shadow_session(project: Project, bars: pl.LazyFrame | pl.DataFrame, orders: Sequence[OrderRecord],
                   events: Iterable[Mapping[str, Any]], session: dt.date, data_source: str = "runner") -> ShadowReport:
    """The shadow report of ``session``: the backtest re-run, the session's ``orders``
    (from the order store) and the audit ``events``."""
    from kobe.data import calendar

    expected, receipt, opens = expected_entries(project, bars, session, data_source)
    log = read_session_log(events, session)
    explained = {(o.strategy, o.symbol) for o in orders if o.opens and o.trading_date == session}
    explained |= set(log.picks)
    unexplained = [e for e in expected if (e.strategy, e.symbol) not in explained]
    scanned = live_scan(project, bars, session) if unexplained else None
    rows = diff_session(session, calendar.previous_session(session), expected, orders, log, opens, scanned)
    return ShadowReport(session, calendar.previous_session(session), rows, receipt, log.config_sha256)


def report_path(root: Path, session: dt.date) -> Path:
    return root / SHADOW_DIR / f"{session.isoformat()}.json"


def write_report(root: Path, report: ShadowReport, bounds: ShadowBounds = ShadowBounds()) -> Path:
    """``logs/shadow/<session>.json`` under ``root``, written atomically (a re-run replaces it)."""
    path = report_path(root, report.session)
    write_atomic(path, json.dumps(report.to_dict(bounds), indent=1, default=str) + "\n")
    return path


def latest_report(root: Path) -> dict[str, Any] | None:
    """The newest session's report under ``root`` (by date), or ``None``."""
    folder = root / SHADOW_DIR
    files = sorted(folder.glob("????-??-??.json")) if folder.exists() else []
    for path in reversed(files):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(report, dict):
            return report
    return None
