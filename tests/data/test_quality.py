"""The data-quality gate: every rule on tiny hand-made frames, and the known faults of
the real shared data (a slice of it in tests/data/quality_faults.parquet)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from kobe.data.quality import DEFAULT_ACTIONS, RULES, QualityPolicy, check_bars

DATA = Path(__file__).resolve().parent
D = [dt.date(2020, 1, d) for d in (2, 3, 6, 7, 8, 9, 10)]  # seven sessions


def frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"symbol": pl.String, "date": pl.Date, "open": pl.Float64,
                                      "high": pl.Float64, "low": pl.Float64, "close": pl.Float64,
                                      "volume": pl.Float64}, orient="row")


def clean(symbol: str = "AAA", days: list[dt.date] = D) -> list[tuple]:
    return [(symbol, d, 10.0, 11.0, 9.0, 10.0, 1000.0) for d in days]


def test_clean_data_has_no_findings() -> None:
    report = check_bars(frame(clean() + clean("BBB")))
    assert report.findings == () and report.verdict() == "ok"


# (rows replacing day 4 of AAA, the rule expected, on which date)
CASES = [
    ([("AAA", D[3], 10.0, 11.0, 9.0, None, 1000.0)], "null_value", D[3]),
    ([("AAA", D[3], 10.0, 11.0, 0.0, 10.0, 1000.0)], "non_positive_price", D[3]),
    ([("AAA", D[3], 10.0, 9.5, 9.0, 10.0, 1000.0)], "ohlc_inconsistent", D[3]),      # high below open
    ([("AAA", D[3], 10.0, 11.0, 10.5, 10.6, 1000.0)], "ohlc_inconsistent", D[3]),    # low above open
    ([("AAA", D[3], 10.0, 11.0, 9.0, 10.0, 0.0)], "zero_volume", D[3]),
    ([("AAA", D[3], 10.0, 11.0, 9.0, 10.0, 1000.0)] * 2, "duplicate_date", D[3]),
    ([("AAA", D[3], 5.0, 5.5, 4.5, 5.0, 1000.0)], "suspicious_jump", D[3]),          # the whole bar halves
    ([], "missing_session", D[3]),
]


@pytest.mark.parametrize(("rows", "rule", "day"), CASES, ids=[c[1] + str(i) for i, c in enumerate(CASES)])
def test_each_rule(rows: list[tuple], rule: str, day: dt.date) -> None:
    bars = [r for r in clean() if r[1] != D[3]] + rows + clean("BBB") + clean("CCC")
    report = check_bars(frame(bars))
    hits = [(f.rule, f.symbol, f.date) for f in report.findings if f.rule == rule]
    assert (rule, "AAA", day) in hits
    assert all(f.symbol == "AAA" for f in report.findings)
    assert report.findings[0].action == DEFAULT_ACTIONS[rule] or rule == "missing_session"


def test_jump_threshold_and_reversal() -> None:
    rows = clean()[:3] + [("AAA", d, 7.6, 7.8, 7.4, 7.6, 1000.0) for d in D[3:]]  # -24 %, and it stays
    assert check_bars(frame(rows)).findings == ()                                  # under the 25 % default
    assert [f.date for f in check_bars(frame(rows), QualityPolicy(jump_pct=20)).findings] == [D[3]]
    rows[3] = ("AAA", D[3], 7.0, 7.2, 6.9, 7.0, 1000.0)   # -30 %, then +8.6 % back: only the drop
    assert [f.date for f in check_bars(frame(rows)).findings] == [D[3]]


def test_stale_last_bar_against_calendar() -> None:
    bars = frame(clean() + clean("BBB", D[:5]))
    report = check_bars(bars, sessions=D)
    (finding,) = report.findings
    assert (finding.rule, finding.symbol, finding.date, finding.action) == ("stale_last_bar", "BBB", D[4], "exclude")
    assert report.excluded == {"BBB"} and not report.stop


def test_old_findings_only_warn() -> None:
    rows = clean()
    rows[1] = ("AAA", D[1], 10.0, 11.0, 9.0, 10.0, 0.0)
    rows[2] = ("AAA", D[2], 10.0, 9.0, 9.5, 10.0, 1000.0)
    policy = QualityPolicy(lookback_sessions=3)
    actions = {f.rule: f.action for f in check_bars(frame(rows), policy).findings}
    assert actions == {"zero_volume": "warn", "ohlc_inconsistent": "warn"}
    assert check_bars(frame(rows)).excluded == {"AAA"}


def test_policy_can_stop_and_broken_feed_stops() -> None:
    rows = clean() + clean("BBB")
    rows[3] = ("AAA", D[3], 10.0, 11.0, 9.0, 10.0, 0.0)
    report = check_bars(frame(rows), QualityPolicy(actions={**DEFAULT_ACTIONS, "zero_volume": "stop"}))
    assert report.stop and report.verdict().startswith("STOP")
    # Two of three symbols stale: more than half excluded means the feed is broken.
    stale = frame(clean() + clean("BBB", D[:4]) + clean("CCC", D[:4]))
    report = check_bars(stale, sessions=D)
    assert report.stop and any(f.rule == "feed_broken" for f in report.findings)


def test_every_rule_has_a_default_action() -> None:
    assert set(DEFAULT_ACTIONS) == set(RULES)


# The faults that SOURCES.md of the shared data lists, found in the real bars.
KNOWN = [
    ("NWL", "2017-09-14", "suspicious_jump"),     # bad print: the whole bar about 31 instead of 44
    ("NWL", "2017-09-15", "suspicious_jump"),     # and back
    ("LNT", "2016-05-19", "suspicious_jump"),     # close 17.87, half the real value
    ("LNT", "2016-05-19", "ohlc_inconsistent"),
    ("DISCA", "2014-08-07", "suspicious_jump"),   # share dividend, not adjusted
    ("DISCK", "2014-08-07", "suspicious_jump"),
    ("BAX", "2015-07-01", "suspicious_jump"),     # spin-offs, not adjusted
    ("EBAY", "2015-07-20", "suspicious_jump"),
    ("NI", "2015-07-02", "suspicious_jump"),
    ("CHD", "2014-05-19", "ohlc_inconsistent"),   # open 18.77
    ("AOS", "2014-05-19", "ohlc_inconsistent"),
    ("DHR", "2015-07-17", "missing_session"),     # a dropped NaN row
    ("O", "2015-07-17", "missing_session"),
    ("AAPL_1990", "2010-04-26", "zero_volume"),   # the source's zero-volume glitch
    ("IBM_1990", "2010-04-26", "zero_volume"),
]


@pytest.fixture(scope="module")
def real_report():
    return check_bars(pl.read_parquet(DATA / "quality_faults.parquet"))


@pytest.mark.parametrize(("symbol", "day", "rule"), KNOWN, ids=[f"{s}-{d}-{r}" for s, d, r in KNOWN])
def test_known_faults_of_the_shared_data_are_found(real_report, symbol: str, day: str, rule: str) -> None:
    found = {(f.symbol, f.date, f.rule) for f in real_report.findings}
    assert (symbol, dt.date.fromisoformat(day), rule) in found


def test_a_session_missing_for_every_symbol_is_found_by_the_calendar() -> None:
    days = [d for d in D if d != D[2]]  # 2020-01-06, a Monday session, missing everywhere
    report = check_bars(frame(clean("AAA", days) + clean("BBB", days)))
    assert {(f.symbol, f.date, f.rule) for f in report.findings} == {
        ("AAA", D[2], "missing_session"), ("BBB", D[2], "missing_session")}
    # Without the calendar (the data's own dates stand in) nothing could be seen.
    assert check_bars(frame(clean("AAA", days) + clean("BBB", days)), sessions=days).findings == ()
