"""Drift and calibration statistics against hand computations and seeded samples."""

from __future__ import annotations

import numpy as np
import pytest

from kobe.monitor.calibration import brier_over_time, brier_score, reliability
from kobe.monitor.drift import check_drift, cusum_lower


def test_cusum_by_hand() -> None:
    # mean 0, std 1, k 0.5: z = [-1, -1, 2, -3] -> S = 0.5, 1.0, 0 (max(0, 1 - 2 - .5)), 2.5
    assert list(cusum_lower([-1, -1, 2, -3], 0.0, 1.0)) == [0.5, 1.0, 0.0, 2.5]


def test_same_distribution_raises_no_alarm() -> None:
    rng = np.random.default_rng(1)
    backtest = rng.normal(0.004, 0.02, 2000)
    live = rng.normal(0.004, 0.02, 60)
    report = check_drift("s", backtest, live)
    assert [c.name for c in report.checks] == ["win_rate", "mean_return", "distribution", "cusum"]
    assert not report.alarm


def test_a_broken_edge_is_caught() -> None:
    rng = np.random.default_rng(2)
    backtest = rng.normal(0.004, 0.02, 2000)
    live = rng.normal(-0.02, 0.02, 60)  # the edge is gone: a loss of one standard deviation a trade
    report = check_drift("s", backtest, live)
    alarms = {c.name for c in report.checks if c.alarm}
    assert {"mean_return", "cusum", "win_rate"} <= alarms


def test_too_few_trades_gives_no_verdict() -> None:
    report = check_drift("s", [0.01, -0.01, 0.02], [0.01] * 5)
    assert report.checks == () and not report.alarm


def test_brier_by_hand() -> None:
    # (0.9-1)^2 + (0.2-0)^2 + (0.6-0)^2 + (0.5-1)^2 = .01 + .04 + .36 + .25 = .66 / 4
    assert brier_score([0.9, 0.2, 0.6, 0.5], [1, 0, 0, 1]) == pytest.approx(0.165)
    assert brier_score([0.5] * 10, [1, 0] * 5) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        brier_score([1.2], [1])


def test_reliability_bins() -> None:
    bins = reliability([0.05, 0.15, 0.15, 0.95, 1.0], [0, 0, 1, 1, 1], bins=10)
    assert [b.count for b in bins] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert bins[1].observed == 0.5 and bins[1].mean_forecast == pytest.approx(0.15)
    assert bins[9].mean_forecast == pytest.approx(0.975) and bins[9].observed == 1.0
    assert bins[2].observed is None


def test_a_calibrated_forecaster_is_reliable() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 20000)
    outcomes = rng.uniform(0, 1, 20000) < p
    for b in reliability(p, outcomes):
        assert abs(b.observed - b.mean_forecast) < 0.03


def test_brier_over_time() -> None:
    series = brier_over_time([1, 1, 0, 0], [1, 0, 0, 0], window=2)
    assert series == [0.5, 0.5, 0.0]
