"""The runner's after-session checks: the shadow check and drift, reported and alerted.

:class:`SessionMonitor` is what :class:`~kobe.runner.run.Runner` calls after each cycle:

- at start (:meth:`SessionMonitor.start`), each enabled strategy's backtest over the bars
  available then (those before the first trading date) gives the reference per-trade
  returns, once;
- after the last cycle of a session (:meth:`SessionMonitor.after_cycle` with
  ``last=True``), the live closed trades per strategy (round trips rebuilt from the
  order store's fills) are compared with that reference (:func:`~kobe.monitor.drift.check_drift`);
  the verdicts go to ``logs/drift/<session>.json`` and a strategy entering alarm raises
  an alert (once: it alerts again only after a verdict out of alarm);
- the session is then due for the shadow check (:mod:`kobe.monitor.shadow`), which needs
  the session's own bar (its open is the backtest's fill): it runs as soon as the bars
  a cycle reads contain it, right away in a replay, at the next session's first cycle
  when the bars come from a vendor. A report that breaks the bounds raises an alert.

Nothing here may stop trading: a failing check is recorded in the audit trail and
alerted, and the runner goes on. The figures the endpoints show are read back from the
report files (:func:`monitor_status`), so they survive a restart.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from kobe.audit.log import EVENTS, AuditLog, read_events
from kobe.files import write_atomic
from kobe.monitor.alerts import Alerts
from kobe.monitor.drift import (
    DriftBounds,
    backtest_returns,
    check_drift,
    live_returns,
    round_trips,
)
from kobe.monitor.shadow import (
    SHADOW_DIR,
    ShadowBounds,
    ShadowReport,
    latest_report,
    shadow_session,
    write_report,
)
from kobe.oms.store import OrderStore
from kobe.project import Project

DRIFT_DIR = Path("logs") / "drift"
MAX_PENDING = 5        # sessions waiting for their bar; older ones are given up (and alerted)
PROBLEM_ROWS = 20      # rows of the last shadow report the status carries


def live_strategy_returns(store: OrderStore) -> dict[str, list[float]]:
    """Per strategy, the returns of the closed live trades in the store."""
    strategy_of = {o.client_order_id: o.strategy for o in store.orders()}
    return live_returns(round_trips(store.fills(), strategy_of))


@dataclass
class SessionMonitor:
    project: Project
    store: OrderStore
    audit: AuditLog
    alerts: Alerts
    shadow_bounds: ShadowBounds = field(default_factory=ShadowBounds)
    drift_bounds: DriftBounds = field(default_factory=DriftBounds)
    reference: dict[str, list[float]] = field(default_factory=dict)
    reference_through: dt.date | None = None
    pending: list[dt.date] = field(default_factory=list)
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_source: str | None = None       # for the receipts (default: the config's data provider)

    @property
    def root(self) -> Path:
        return self.project.root

    def _failed(self, what: str, err: Exception) -> None:
        detail = err.diagnostics[0].message if hasattr(err, "diagnostics") else f"{type(err).__name__}: {err}"
        self.audit.event("monitor.failed", check=what, error=detail)
        self.alerts.send("warning", f"{what} failed: {detail}")

    def start(self, bars: Callable[[], pl.LazyFrame | pl.DataFrame], today: dt.date) -> None:
        """The reference: every enabled strategy's closed backtest trades on the bars
        (``bars()``) before ``today``, what was known when the runner started."""
        from kobe.backtest.engine import run_backtest

        try:
            result = run_backtest(self.project, bars().lazy().filter(pl.col("date") < today))
        except Exception as err:  # noqa: BLE001 - no reference means no drift check, never no trading
            self._failed("the drift reference backtest", err)
            return
        self.reference = backtest_returns(result.strategies)
        self.reference_through = result.end
        self.audit.event("drift.reference", through=result.end,
                         trades={name: len(r) for name, r in self.reference.items()})

    def after_cycle(self, session: dt.date, last: bool, bars: pl.LazyFrame | pl.DataFrame | None) -> None:
        """Called after every cycle; ``last``: it was the session's last scan time."""
        if last:
            try:
                self.check_drift(session)
            except Exception as err:  # noqa: BLE001 - see the module doc
                self._failed(f"the drift check of {session.isoformat()}", err)
            if session not in self.pending:
                self.pending.append(session)
        if bars is not None and self.pending:
            self.catch_up(bars)

    # -- drift ------------------------------------------------------------------------

    def check_drift(self, session: dt.date) -> dict[str, dict[str, Any]]:
        """Each strategy's live trades against its reference; writes ``logs/drift/<session>.json``."""
        if not self.reference:
            return {}
        live = live_strategy_returns(self.store)
        verdicts: dict[str, dict[str, Any]] = {}
        for name, reference in self.reference.items():
            report = check_drift(name, reference, live.get(name, []), **asdict(self.drift_bounds))
            verdicts[name] = {**report.to_dict(), "backtest_trades": len(reference)}
            was_alarm = self.verdicts.get(name, {}).get("verdict") == "alarm"
            if report.alarm and not was_alarm:
                self.alerts.send("warning", f"drift: {name}'s {report.live_trades} live trades left the backtest's "
                                            f"distribution: {report.summary()}")
        self.verdicts = verdicts
        document = {"session": session.isoformat(), "reference_through": str(self.reference_through),
                    "bounds": asdict(self.drift_bounds), "strategies": verdicts}
        write_atomic(self.root / DRIFT_DIR / f"{session.isoformat()}.json",
                     json.dumps(document, indent=1, default=str) + "\n")
        self.audit.event("drift.checked", session=session, verdicts={n: v["verdict"] for n, v in verdicts.items()})
        return verdicts

    # -- the shadow check -----------------------------------------------------------------

    def catch_up(self, bars: pl.LazyFrame | pl.DataFrame) -> None:
        """Run the shadow check of every pending session whose bar is in ``bars``."""
        for session in list(self.pending):
            has_bar = bars.lazy().filter(pl.col("date") == session).select(pl.len()).collect().item()
            if not has_bar:
                continue
            self.pending.remove(session)
            try:
                self.shadow(session, bars)
            except Exception as err:  # noqa: BLE001 - see the module doc
                self._failed(f"the shadow check of {session.isoformat()}", err)
        while len(self.pending) > MAX_PENDING:
            dropped = self.pending.pop(0)
            self.alerts.send("warning", f"no bars of {dropped.isoformat()} arrived: its shadow check is skipped; "
                                        f"run `kobe shadow {dropped.isoformat()}` once they are in")

    def shadow(self, session: dt.date, bars: pl.LazyFrame | pl.DataFrame) -> ShadowReport:
        report = shadow_session(self.project, bars, self.store.orders(session),
                                read_events(self.audit.folder / EVENTS), session,
                                data_source=self.data_source or self.project.config.data.provider)
        path = write_report(self.root, report, self.shadow_bounds)
        breaches = report.breaches(self.shadow_bounds)
        self.audit.event("shadow.report", session=session, path=str(path.relative_to(self.root)),
                         counts=report.counts(), breaches=breaches)
        if breaches:
            self.alerts.send("warning", f"shadow check of {session.isoformat()}: {'; '.join(breaches)}")
        return report


def latest_drift(root: Path) -> dict[str, Any] | None:
    """The newest ``logs/drift/<session>.json`` under ``root``, or ``None``."""
    folder = root / DRIFT_DIR
    for path in sorted(folder.glob("????-??-??.json"), reverse=True) if folder.exists() else []:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(report, dict):
            return report
    return None


def monitor_status(root: Path) -> dict[str, Any]:
    """What the status shows of the checks: the last shadow report (its counts, breaches
    and its first rows, those that were not clean expected fills first) and the last
    drift verdicts."""
    shadow = latest_report(root)
    if shadow is not None:
        rows = shadow.get("rows", [])
        clean = [r for r in rows if r.get("expected") and r.get("outcome") == "filled"]
        problems = [r for r in rows if r not in clean] + clean      # what needs a look first
        shadow = {k: shadow.get(k) for k in ("session", "counts", "breaches", "live_config_sha256")} | {
            "config_sha256": shadow.get("receipt", {}).get("config_sha256"),
            "data_sha256": shadow.get("receipt", {}).get("data_sha256"),
            "rows": problems[:PROBLEM_ROWS], "path": str(SHADOW_DIR / f"{shadow.get('session')}.json")}
    return {"shadow": shadow, "drift": latest_drift(root)}
