"""The shadow check's parts against hand-made inputs: the slippage formula, the audit
trail folded into reasons, the diff table, the counts and bounds, the report files, and
the after-session monitor waiting for a session's bar."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from kobe.audit.log import AuditLog
from kobe.data.bars import read_bars
from kobe.monitor.alerts import Alerts
from kobe.monitor.metrics import check_metrics
from kobe.monitor.session import MAX_PENDING, SessionMonitor, monitor_status
from kobe.monitor.shadow import (
    Expected,
    Scanned,
    SessionLog,
    ShadowBounds,
    ShadowReport,
    ShadowRow,
    Why,
    diff_session,
    latest_report,
    read_session_log,
    slippage_bps,
    write_report,
)
from kobe.oms.orders import OrderRecord, OrderStatus, client_order_id
from kobe.oms.store import OrderStore
from kobe.project import load_project

DAY, SIGNAL = dt.date(2017, 6, 5), dt.date(2017, 6, 2)
S = OrderStatus


@pytest.mark.parametrize(("fill", "reference", "side", "bps"), [
    (100.10, 100.20, "buy", -9.98004),    # a buy 10 cents under its limit: better, so negative
    (100.10, 100.05, "buy", 4.99750),     # 5 cents over the backtest's fill: worse, positive
    (99.90, 100.00, "sell", 10.0),        # a sell 10 cents under: worse, positive
], ids=["buy-under-limit", "buy-over-backtest", "sell-under"])
def test_slippage_by_hand(fill: float, reference: float, side: str, bps: float) -> None:
    assert slippage_bps(fill, reference, side) == pytest.approx(bps, abs=1e-5)


def test_the_audit_trail_folds_into_reasons() -> None:
    day = DAY.isoformat()
    events = [
        {"kind": "runner.started", "config_sha256": "aaa"},
        {"kind": "cycle.started", "trading_date": "2017-06-02"},
        {"kind": "gate.blocked", "trading_date": "2017-06-02", "strategy": "s", "symbol": "OLD", "gate": "policy",
         "reason": "yesterday's"},
        {"kind": "cycle.halted", "reason": "market closed"},               # the 2nd's cycle
        {"kind": "cycle.finished", "trading_date": "2017-06-02"},
        {"kind": "runner.started", "config_sha256": "bbb"},
        {"kind": "cycle.started", "trading_date": day},
        {"kind": "gate.blocked", "trading_date": day, "strategy": "s", "symbol": "AAA", "gate": "liquidity",
         "reason": "ADV $50,000 is below the minimum $100,000"},
        {"kind": "pick.skipped", "trading_date": day, "strategy": "s", "symbol": "BBB", "reason": "no quote"},
        {"kind": "gate.blocked", "trading_date": day, "strategy": "s", "symbol": "AAA", "gate": "policy",
         "reason": "daily budget"},                                        # a later cycle's word is the last
        {"kind": "pick.skipped", "trading_date": day, "strategy": "s", "symbol": "CCC",
         "reason": "kill switch set during the cycle"},
        {"kind": "cycle.finished", "trading_date": day},
        {"kind": "cycle.failed", "reason": "the broker's clock is unavailable"},   # no cycle in progress
        {"kind": "cycle.started", "trading_date": day},
        {"kind": "cycle.halted", "reason": "kill switch set: manual"},
        {"kind": "cycle.finished", "trading_date": day},
    ]
    log = read_session_log(events, DAY)
    assert log.picks == {("s", "AAA"): Why("blocked", "daily budget", "policy"),
                         ("s", "BBB"): Why("skipped", "no quote"),
                         ("s", "CCC"): Why("kill_switch", "kill switch set during the cycle")}
    assert log.cycle_reasons == [Why("kill_switch", "kill switch set during the cycle"),
                                 Why("kill_switch", "kill switch set: manual")]
    assert (log.cycles, log.config_sha256) == (2, "bbb")
    failed = read_session_log([{"kind": "cycle.started", "trading_date": day},
                               {"kind": "cycle.failed", "reason": "stale bars"}], DAY)
    assert failed.cycle_reasons == [Why("cycle_failed", "the cycle failed: stale bars")]


def entry(symbol: str = "X") -> Expected:
    return Expected("s", symbol, 2, 50.025, 50.0)


def order(status: OrderStatus = S.FILLED, filled: float = 2, price: float | None = 50.05, symbol: str = "X",
          side: str = "buy", reason: str = "entry: signal of 2017-06-02; broker: filled",
          day: dt.date = DAY) -> OrderRecord:
    return OrderRecord(client_order_id("s", symbol, day, side), "s", symbol, side, 2, 50.10, day, status,
                       filled_qty=filled, filled_avg_price=price if filled else None, reason=reason)


RAN = SessionLog(cycles=2)
IN_SCAN = Scanned(frozenset({("s", "X")}))


# (expected entries, orders, log, scan) -> (outcome, expected, cause, gate, reason contains)
CASES = {
    "filled": ([entry()], [order()], RAN, None, ("filled", True, None, None, "filled 2 of 2")),
    "partial": ([entry()], [order(S.CANCELED, 1)], RAN, None, ("partial", True, None, None, "filled 1 of 2")),
    "missed": ([entry()], [order(S.CANCELED, 0)], RAN, None, ("missed", True, None, None, "canceled with nothing")),
    "expired": ([entry()], [order(S.EXPIRED, 0)], RAN, None, ("missed", True, None, None, "expired")),
    "rejected": ([entry()], [order(S.REJECTED, 0, reason="entry: x; refused: insufficient buying power")], RAN,
                 None, ("missed", True, None, None, "rejected by the broker (insufficient buying power)")),
    "in-doubt": ([entry()], [order(S.UNKNOWN, 0)], RAN, None, ("in_doubt", True, None, None, "still unknown")),
    "choke-point": ([entry()], [order(S.CANCELED, 0, reason="entry: x; kill switch")], RAN, None,
                    ("not_sent", True, "kill_switch", None, "choke point")),
    "never-reached": ([entry()], [order(S.CANCELED, 0, reason="entry: x; never reached the broker")], RAN, None,
                      ("not_sent", True, "never_sent", None, "never to have reached")),
    "blocked": ([entry()], [], SessionLog({("s", "X"): Why("blocked", "spread 0.8% exceeds 0.5%", "liquidity")},
                                          cycles=1), None,
                ("not_sent", True, "blocked", "liquidity", "spread")),
    "not-in-scan": ([entry()], [], RAN, Scanned(frozenset()), ("not_sent", True, "not_in_scan", None, "scan")),
    "data-quality": ([entry()], [], RAN, Scanned(frozenset(), frozenset({"X"})),
                     ("not_sent", True, "data_quality", None, "data-quality gate")),
    "halted": ([entry()], [], SessionLog(cycle_reasons=[Why("kill_switch", "kill switch set: manual")], cycles=1),
               IN_SCAN, ("not_sent", True, "kill_switch", None, "manual")),
    "no-cycle": ([entry()], [], SessionLog(), IN_SCAN, ("not_sent", True, "no_cycle", None, "runner running")),
    "no-decision": ([entry()], [], RAN, IN_SCAN, ("not_sent", True, "no_decision", None, "no decision")),
    "unexpected": ([], [order()], RAN, None, ("filled", False, None, None, "not among the backtest's entries")),
    "unexpected-missed": ([], [order(S.CANCELED, 0)], RAN, None, ("missed", False, None, None, "not among")),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_diff_table(case: str) -> None:
    expected, orders, log, scanned, (outcome, is_expected, cause, gate, text) = CASES[case]
    # Sells and orders of other dates are never part of the entries' diff.
    noise = [order(symbol="X", side="sell"), order(symbol="Y", day=DAY - dt.timedelta(days=3))]
    rows = diff_session(DAY, SIGNAL, expected, orders + noise, log, {"X": 50.0}, scanned)
    assert len(rows) == 1
    row = rows[0]
    assert (row.outcome, row.expected, row.cause, row.gate) == (outcome, is_expected, cause, gate)
    assert text in row.reason


def test_slippages_of_a_fill_by_hand() -> None:
    (row,) = diff_session(DAY, SIGNAL, [entry()], [order()], RAN, {"X": 50.0})
    # Filled at 50.05 against a limit of 50.10 and the backtest's 50.025 (the open 50.00 + 5 bps).
    assert (row.fill_price, row.limit_price, row.backtest_fill, row.open) == (50.05, 50.10, 50.025, 50.0)
    assert row.slippage_limit_bps == pytest.approx(-9.98004, abs=1e-5)       # (50.05 / 50.10 - 1) x 1e4
    assert row.slippage_backtest_bps == pytest.approx(4.99750, abs=1e-5)     # (50.05 / 50.025 - 1) x 1e4
    assert (row.backtest_qty, row.qty, row.filled_qty) == (2, 2, 2)


def sample_report(live_config: str | None = "cfg") -> ShadowReport:
    rows = (
        ShadowRow("s", "A", True, "filled", slippage_limit_bps=-10.0, slippage_backtest_bps=60.0),
        ShadowRow("s", "B", True, "missed"),
        ShadowRow("s", "C", True, "not_sent", cause="blocked", gate="positions"),
        ShadowRow("t", "D", True, "not_sent", cause="kill_switch"),
        ShadowRow("s", "E", False, "filled", slippage_limit_bps=-6.0),
        ShadowRow("s", "F", False, "not_sent", cause="kill_switch"),   # an unexpected order never sent
    )
    return ShadowReport(DAY, SIGNAL, rows, {"config_sha256": "cfg"}, live_config)


def test_counts_and_bounds() -> None:
    report = sample_report()
    assert report.counts() == {
        "expected": 4, "sent": 3, "filled": 2, "partial": 0, "missed": 1, "in_doubt": 0, "not_sent": 2,
        "not_sent_by_cause": {"blocked": 1, "kill_switch": 1}, "unexpected": 1, "missed_share": 1 / 3,
        "slippage_limit_bps": -8.0, "slippage_bps": 60.0}
    assert report.breaches() == ["1 orders the backtest did not expect: E (s)",
                                 "1 of 3 IOCs sent filled nothing (33% > 20%)",
                                 "fills paid 60.0 bps over the backtest's on average (> 50)"]
    assert report.breaches(ShadowBounds(max_unexpected=1, max_missed_share=0.5, max_slippage_bps=60.0)) == []
    changed = sample_report(live_config="another")
    assert changed.breaches(ShadowBounds(1, 0.5, 60.0)) == [
        "the config changed since the session traded: the backtest ran another config"]
    empty = ShadowReport(DAY, SIGNAL, ())
    assert empty.counts()["missed_share"] is None and empty.breaches() == []


def test_reports_are_written_atomically_and_the_newest_is_read(tmp_path: Path) -> None:
    assert latest_report(tmp_path) is None
    later = ShadowReport(dt.date(2017, 6, 9), dt.date(2017, 6, 8), ())
    path = write_report(tmp_path, later)
    write_report(tmp_path, sample_report())              # an older session written after
    assert path == tmp_path / "logs" / "shadow" / "2017-06-09.json"
    assert sorted(p.name for p in path.parent.iterdir()) == ["2017-06-05.json", "2017-06-09.json"]  # no temp files
    assert latest_report(tmp_path)["session"] == "2017-06-09"
    document = json.loads((path.parent / "2017-06-05.json").read_text())
    assert document["counts"]["unexpected"] == 1 and document["rows"][2]["gate"] == "positions"
    assert check_metrics(document, None) == {"shadow_not_sent": 2, "shadow_missed": 1, "shadow_unexpected": 1,
                                             "shadow_slippage_bps": 60.0, "drift_alarms": None}
    status = monitor_status(tmp_path)
    assert status["shadow"]["session"] == "2017-06-09" and status["drift"] is None


def test_check_metrics_before_any_check_and_with_drift() -> None:
    assert set(check_metrics(None, None).values()) == {None}
    drift = {"strategies": {"a": {"alarm": True}, "b": {"alarm": False}, "c": {"alarm": True}}}
    assert check_metrics(None, drift)["drift_alarms"] == 2


@pytest.fixture
def monitor(project_dir: Path) -> SessionMonitor:
    project = load_project(project_dir / "strategies.yaml")
    audit = AuditLog(project_dir / "logs")
    return SessionMonitor(project, OrderStore(project_dir / "state" / "orders.sqlite"), audit,
                          Alerts(record=audit.event))


def test_the_shadow_check_waits_for_the_sessions_bar(monitor: SessionMonitor) -> None:
    """As with a vendor's data: after the last cycle of the 5th the bars end on the 2nd;
    the check runs after the next cycle whose bars contain the 5th."""
    bars = read_bars()
    monitor.after_cycle(DAY, True, bars.filter(pl.col("date") < DAY))
    shadow = monitor.root / "logs" / "shadow" / "2017-06-05.json"
    assert monitor.pending == [DAY] and not shadow.exists()
    monitor.after_cycle(DAY + dt.timedelta(days=1), False, bars.filter(pl.col("date") <= DAY))
    assert monitor.pending == [] and shadow.exists()
    report = json.loads(shadow.read_text())
    # Nothing ran on the 5th, so the backtest's entries are all unexplained by a decision.
    assert {(r["symbol"], r["cause"]) for r in report["rows"]} == {("KO", "no_cycle"), ("MSFT", "no_cycle")}
    assert report["receipt"]["data_last_date"] == "2017-06-05"


def test_sessions_whose_bar_never_comes_are_given_up_with_an_alert(monitor: SessionMonitor) -> None:
    old = read_bars().filter(pl.col("date") < dt.date(2017, 5, 1))
    days = [dt.date(2017, 6, d) for d in (5, 6, 7, 8, 9, 12)]
    for day in days:
        monitor.after_cycle(day, True, old)
    assert monitor.pending == days[1:] and len(monitor.pending) == MAX_PENDING
    assert [a.message for a in monitor.alerts.recent][0].startswith("no bars of 2017-06-05 arrived")


def test_a_failing_check_is_alerted_and_recorded_never_raised(monitor: SessionMonitor) -> None:
    broken = pl.LazyFrame({"date": [DAY], "symbol": ["KO"]})      # the session is there, its opens are not
    monitor.after_cycle(DAY, True, broken)
    assert monitor.pending == []
    assert monitor.alerts.recent[0].message.startswith("the shadow check of 2017-06-05 failed:")
    kinds = [json.loads(line)["kind"] for line in (monitor.root / "logs" / "events.jsonl").read_text().splitlines()]
    assert "monitor.failed" in kinds
