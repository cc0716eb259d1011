"""kobe reflect's statistics: a planted regime effect is found, noise gives nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from journal_synthetic import synthetic_project, trend_bars

from kobe.journal.reflect import reflect
from kobe.journal.store import Journal, record_backtest
from kobe.project import load_project

START = dt.date(2015, 11, 2)       # after the 200 sessions the trend regime needs


def _reflection(tmp_path: Path, effect: float):
    project = load_project(synthetic_project(tmp_path, trend_bars(symbols=10, effect=effect)))
    journal = Journal(tmp_path / "journal.sqlite")
    record_backtest(project, project.bars(), start=START, journal=journal)
    return reflect(journal.trades("up_close"), journal.context_columns(), strategy="up_close", seed=3)


def test_a_planted_trend_effect_is_a_finding(tmp_path: Path) -> None:
    result = _reflection(tmp_path, effect=0.004)
    trend = [c for c in result.comparisons if c.factor == "trend_regime"]
    assert len(trend) == 1 and trend[0].group == "-1" and trend[0].other == "1"
    # Planted: a drift of -0.4% a session below the average, +0.4% above, three sessions held.
    assert trend[0].supported and trend[0].family_high is not None and trend[0].family_high < -0.015
    assert trend[0] in result.findings()
    # The Bonferroni interval is the wider one, at 1 - 0.05 / m.
    assert result.family_level == pytest.approx(1 - 0.05 / result.tested)
    assert trend[0].family_low < trend[0].low < trend[0].high < trend[0].family_high  # type: ignore[operator]


def test_noise_gives_no_finding(tmp_path: Path) -> None:
    result = _reflection(tmp_path, effect=0.0)
    assert result.tested > 30
    assert result.findings() == []


def test_the_intervals_are_seeded() -> None:
    rng = np.random.default_rng(1)
    trades = pl.DataFrame({
        "return": rng.normal(0, 0.02, 80), "pnl": rng.normal(0, 1, 80),
        "exit_reason": ["time_stop"] * 60 + ["stop"] * 20,
        "entry_date": [dt.date(2020, 1, 6) + dt.timedelta(days=i % 5) for i in range(80)],
        "exit_date": [dt.date(2020, 2, 6)] * 80, "trend_regime": [1.0, -1.0] * 40})
    one = reflect(trades, {"trend_regime": "regime"}, strategy="s", seed=5)
    two = reflect(trades, {"trend_regime": "regime"}, strategy="s", seed=5)
    assert one.to_dict() == two.to_dict()
    assert {c.section for c in one.comparisons} == {"regime", "exit_reason", "weekday"}


def test_a_group_of_few_trades_is_shown_but_not_tested() -> None:
    trades = pl.DataFrame({
        "return": [0.01, -0.02, 0.03, 0.0, 0.02, -0.01] * 3, "pnl": [1.0] * 18,
        "exit_reason": ["time_stop"] * 15 + ["stop"] * 3,
        "entry_date": [dt.date(2020, 1, 6)] * 18, "exit_date": [dt.date(2020, 1, 9)] * 18})
    result = reflect(trades, {}, strategy="s")
    stop = next(c for c in result.comparisons if c.section == "exit_reason")
    assert not stop.tested and not stop.supported and result.tested == 0
    assert any(g.level == "stop" and g.trades == 3 for g in result.groups)


def test_live_against_backtest_on_the_same_trades() -> None:
    from kobe.journal.reflect import live_pairs

    rng = np.random.default_rng(2)
    backtest = rng.normal(0.002, 0.02, 60)
    live = backtest - 0.003 + rng.normal(0, 0.0005, 60)      # 30 bps a trade lost to fills
    rows = pl.DataFrame({
        "source": ["live"] * 60 + ["live"], "return": [*live, 0.01], "backtest_return": [*backtest, None],
        "pnl": [1.0] * 61, "exit_reason": ["time_stop"] * 61,
        "entry_date": [dt.date(2021, 3, 1)] * 61, "exit_date": [dt.date(2021, 3, 8)] * 61})
    paired = live_pairs(rows)
    assert paired.height == 60                   # the trade the backtest did not take is not paired
    result = reflect(rows, {}, strategy="s", source="live", paired=paired)
    (gap,) = [c for c in result.comparisons if c.section == "live_vs_backtest"]
    assert gap.n == 60 and gap.difference == pytest.approx(-0.003, abs=3e-4)
    assert gap.supported and gap in result.findings()
