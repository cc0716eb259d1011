"""The gate's ``recent`` mode (the daily scan's): it checks only the bars within the
lookback of the as-of date, and must report exactly the full check's findings from the
cutoff on (and every stale_last_bar and feed_broken), with the same verdict and the same
excluded symbols, whatever the order of the rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from kobe.data import calendar
from kobe.data.quality import QualityPolicy, QualityReport, check_bars

DATA = Path(__file__).resolve().parent
SESSIONS = calendar.sessions(dt.date(2019, 1, 2), dt.date(2019, 3, 29))
LOOKBACK = 10
AS_OF = SESSIONS[-1]
CUTOFF = SESSIONS[-1 - LOOKBACK]
POLICY = QualityPolicy(lookback_sessions=LOOKBACK)


def bars(symbol: str, days: list[dt.date], close: float = 10.0) -> list[tuple]:
    return [(symbol, d, close, close + 1, close - 1, close, 1000.0) for d in days]


def frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"symbol": pl.String, "date": pl.Date, "open": pl.Float64,
                                      "high": pl.Float64, "low": pl.Float64, "close": pl.Float64,
                                      "volume": pl.Float64}, orient="row")


def faulty() -> pl.DataFrame:
    """Faults on both sides of the cutoff, and on it."""
    at = SESSIONS.index(CUTOFF)
    rows = bars("AAA", SESSIONS)
    # JMP: its first bar from the cutoff on halves against the bar before it (before the cutoff).
    rows += bars("JMP", SESSIONS[:at]) + bars("JMP", SESSIONS[at:], close=5.0)
    # GAP: a gap across the cutoff, then its last bar before the cutoff far back (a jump at the cutoff).
    rows += bars("GAP", SESSIONS[:at - 3]) + bars("GAP", SESSIONS[at + 2:], close=20.0)
    # OLD: an old jump and an old zero volume (only warn), a recent missing session.
    rows += bars("OLD", SESSIONS[:5]) + bars("OLD", [d for d in SESSIONS[5:] if d != SESSIONS[-3]], close=30.0)
    rows.append(("OLD", SESSIONS[2], 10.0, 11.0, 9.0, 10.0, 0.0))
    # DUP: a duplicate on the cutoff, one before it.
    rows += bars("DUP", SESSIONS) + bars("DUP", [CUTOFF, SESSIONS[at - 4]])
    # STALE: ends before the cutoff (no bar in the window at all).
    rows += bars("STALE", SESSIONS[:at - 5])
    # BAD: an inconsistent bar on the day before the cutoff and on the as-of date.
    rows += [r for r in bars("BAD", SESSIONS) if r[1] not in (SESSIONS[at - 1], AS_OF)]
    rows += [("BAD", SESSIONS[at - 1], 10.0, 9.0, 9.5, 10.0, 1000.0), ("BAD", AS_OF, 10.0, 9.0, 9.5, 10.0, 1000.0)]
    return frame(rows)


def kept(report: QualityReport, cutoff: dt.date) -> tuple:
    return tuple(f for f in report.findings
                 if f.rule in ("stale_last_bar", "feed_broken") or (f.date is not None and f.date >= cutoff))


@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("lazy", [False, True])
def test_recent_findings_are_the_full_checks_from_the_cutoff_on(shuffled: bool, lazy: bool) -> None:
    data = faulty()
    if shuffled:
        data = data.sample(fraction=1.0, shuffle=True, seed=3)
    given = data.lazy() if lazy else data
    full = check_bars(data, POLICY, as_of=AS_OF)
    recent = check_bars(given, POLICY, as_of=AS_OF, recent=True)
    assert recent.findings == kept(full, CUTOFF)
    assert recent.excluded == full.excluded and recent.stop == full.stop and recent.symbols == full.symbols
    rules = {(f.rule, f.symbol) for f in recent.findings}
    # The cases above are really exercised: the jumps at the cutoff need the bar before it.
    assert {("suspicious_jump", "JMP"), ("suspicious_jump", "GAP"), ("duplicate_date", "DUP"),
            ("missing_session", "OLD"), ("stale_last_bar", "STALE"), ("ohlc_inconsistent", "BAD")} <= rules
    assert len(full.findings) > len(recent.findings)      # old ones were left out


def test_recent_on_the_real_faults_at_several_dates() -> None:
    data = pl.read_parquet(DATA / "quality_faults.parquet")
    days = data["date"].unique().sort()
    policy = QualityPolicy(lookback_sessions=40)    # the slice holds about a year of sessions
    for as_of in (days[-1], days[len(days) // 2], days[60]):
        scoped = data.filter(pl.col("date") <= as_of)
        sessions = calendar.sessions(scoped["date"].min(), as_of)
        latest = max(d for d in sessions if d <= as_of)
        cutoff = sessions[max(0, sessions.index(latest) - policy.lookback_sessions)]
        full = check_bars(scoped, policy, as_of=as_of)
        recent = check_bars(scoped, policy, as_of=as_of, recent=True)
        assert recent.findings == kept(full, cutoff), as_of
        assert recent.excluded == full.excluded and recent.verdict() == full.verdict()
        assert len(recent.findings) < len(full.findings), as_of   # the slice's faults span the year
