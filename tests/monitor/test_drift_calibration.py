"""Drift and calibration statistics against hand computations and seeded samples."""

from __future__ import annotations

import numpy as np
import pytest

from kobe.monitor.calibration import brier_over_time, brier_score, reliability
from kobe.monitor.drift import check_drift, cusum_lower, round_trips


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


def test_round_trips_by_hand() -> None:
    """Live trades rebuilt from fills: a position is one trade from flat to flat, owned
    by the strategy whose buy opened it."""
    from kobe.monitor.drift import live_returns, round_trips

    fills = [
        {"client_order_id": "a1", "symbol": "AAA", "side": "buy", "qty": 10, "price": 10.0, "at": "t01"},
        {"client_order_id": "b1", "symbol": "BBB", "side": "buy", "qty": 4, "price": 25.0, "at": "t02"},
        {"client_order_id": "a2", "symbol": "AAA", "side": "buy", "qty": 10, "price": 12.0, "at": "t03"},
        {"client_order_id": "a3", "symbol": "AAA", "side": "sell", "qty": 5, "price": 13.0, "at": "t04"},
        {"client_order_id": "x1", "symbol": "CCC", "side": "sell", "qty": 1, "price": 5.0, "at": "t05"},
        {"client_order_id": None, "symbol": "DDD", "side": "buy", "qty": 2, "price": 10.0, "at": "t06"},
        {"client_order_id": "b2", "symbol": "BBB", "side": "sell", "qty": 4, "price": 30.0, "at": "t07"},
        {"client_order_id": "a4", "symbol": "AAA", "side": "sell", "qty": 15, "price": 9.0, "at": "t08"},
        {"client_order_id": "d1", "symbol": "DDD", "side": "sell", "qty": 2, "price": 11.0, "at": "t09"},
        {"client_order_id": "e1", "symbol": "EEE", "side": "buy", "qty": 1, "price": 50.0, "at": "t10"},
    ]
    owners = {"a1": "s1", "a2": "s2", "a3": "s1", "a4": "s1", "b1": "s2", "b2": "s2", "e1": "s1", "x1": "s1"}
    trips = round_trips(fills, owners)
    # BBB: 4 at 25 -> 4 at 30: +20%. AAA (opened by s1; s2's buy adds to it): paid 100 + 120
    # = 220, got 5 x 13 + 15 x 9 = 200: -20 / 220. DDD, an adjustment fill: adopted, +10%.
    # CCC (a sell with nothing held) and EEE (still open) are no trades.
    assert [(t.strategy, t.symbol, t.cost, t.proceeds, t.closed_at) for t in trips] == [
        ("s2", "BBB", 100.0, 120.0, "t07"), ("s1", "AAA", 220.0, 200.0, "t08"), ("adopted", "DDD", 20.0, 22.0, "t09")]
    returns = live_returns(trips)
    assert returns.keys() == {"s1", "s2", "adopted"}
    assert returns["s1"] == pytest.approx([-20 / 220]) and returns["s2"] == pytest.approx([0.2])
    assert returns["adopted"] == pytest.approx([0.1])


def test_round_trips_of_shorts_return_on_the_sale_as_the_backtest() -> None:
    fills = [
        {"client_order_id": "o1", "symbol": "AAA", "side": "sell", "qty": 10, "price": 50.0, "at": "t01"},
        {"client_order_id": "c1", "symbol": "AAA", "side": "buy", "qty": 10, "price": 45.0, "at": "t02"},
        # A long of 2 at 10, then a sell of 5 at 12: the long closes (+4), a short of 3 at 12 opens ...
        {"client_order_id": "b1", "symbol": "BBB", "side": "buy", "qty": 2, "price": 10.0, "at": "t03"},
        {"client_order_id": "x1", "symbol": "BBB", "side": "sell", "qty": 5, "price": 12.0, "at": "t04"},
        # ... and is covered at 13: -3 on 36.
        {"client_order_id": "c2", "symbol": "BBB", "side": "buy", "qty": 3, "price": 13.0, "at": "t05"},
    ]
    owners = {"o1": "s", "c1": "s", "b1": "s", "x1": "s", "c2": "s"}
    trips = round_trips(fills, owners)
    assert [(t.symbol, t.side, t.cost, t.proceeds, t.closed_at) for t in trips] == [
        ("AAA", -1, 450.0, 500.0, "t02"), ("BBB", 1, 20.0, 24.0, "t04"), ("BBB", -1, 39.0, 36.0, "t05")]
    assert [t.ret for t in trips] == pytest.approx([50 / 500, 4 / 20, -3 / 36])


def test_the_drift_report_reads_as_a_verdict() -> None:
    rng = np.random.default_rng(2)
    bad = check_drift("s", rng.normal(0.004, 0.02, 2000), rng.normal(-0.02, 0.02, 60))
    assert bad.verdict == "alarm" and bad.to_dict()["alarm"] is True
    assert "cusum: lower CUSUM peak" in bad.summary() and "mean_return: live mean" in bad.summary()
    assert check_drift("s", [0.01, -0.01, 0.02], [0.01] * 5).verdict == "too few trades"
