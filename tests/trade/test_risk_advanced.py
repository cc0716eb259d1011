"""The advanced risk pieces against hand computations: Monte Carlo VaR of the book, the
capped fractional Kelly sizer, the correlation limit."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from kobe.risk.advanced import (
    CorrelationLimit,
    KellySizer,
    daily_returns,
    kelly_fraction,
    kelly_from_returns,
    monte_carlo_var,
    pearson,
)

Z95, Z99 = 1.6448536, 2.3263479


def normal_returns(sigma: float, days: int = 4000, seed: int = 1) -> np.ndarray:
    draws = np.random.default_rng(seed).standard_normal(days)
    return (draws - draws.mean()) / draws.std(ddof=1) * sigma        # exactly mean 0, deviation sigma


def test_var_of_one_normal_position_is_z_sigma_value() -> None:
    # $10,000 with a 2% daily deviation: 1.645 x 0.02 x 10,000 = $329 at 95%; $465 at 99%.
    history = {"AAA": normal_returns(0.02)}
    var95 = monte_carlo_var({"AAA": 10_000}, history, simulations=200_000)
    var99 = monte_carlo_var({"AAA": 10_000}, history, simulations=200_000, confidence=0.99)
    assert var95.var == pytest.approx(Z95 * 0.02 * 10_000, rel=0.02)
    assert var99.var == pytest.approx(Z99 * 0.02 * 10_000, rel=0.02)
    # Expected shortfall of a normal at 95%: sigma x phi(z) / 0.05 = 2.0627 sigma.
    assert var95.cvar == pytest.approx(2.0627 * 0.02 * 10_000, rel=0.03)


def test_var_scales_with_the_square_root_of_the_horizon() -> None:
    history = {"AAA": normal_returns(0.01)}
    one = monte_carlo_var({"AAA": 5_000}, history, simulations=200_000)
    ten = monte_carlo_var({"AAA": 5_000}, history, simulations=200_000, horizon_days=10)
    assert ten.var / one.var == pytest.approx(math.sqrt(10), rel=0.03)


def test_correlation_decides_the_var_of_two_positions() -> None:
    a = normal_returns(0.02, seed=1)
    b_independent = normal_returns(0.02, seed=2)
    book = {"A": 10_000, "B": 10_000}
    same = monte_carlo_var(book, {"A": a, "B": a}, simulations=200_000)
    # independent (sample correlation ~0): sigma_p = 0.02 x sqrt(10k^2 + 10k^2)
    apart = monte_carlo_var(book, {"A": a, "B": b_independent}, simulations=200_000)
    hedged = monte_carlo_var(book, {"A": a, "B": -a}, simulations=200_000)
    r = float(np.corrcoef(a, b_independent)[0, 1])
    assert same.var == pytest.approx(Z95 * 0.02 * 20_000, rel=0.02)
    assert apart.var == pytest.approx(Z95 * 0.02 * 10_000 * math.sqrt(2 + 2 * r), rel=0.02)
    assert hedged.var == pytest.approx(0.0, abs=1e-6)


def test_bootstrap_var_of_a_two_point_history() -> None:
    # One day in ten loses 10%, the others gain 1%: a $1,000 position loses $100 with
    # probability 10% > 5%, so the 95% VaR is $100, and so is the shortfall.
    history = {"AAA": np.array([-0.10] + [0.01] * 9)}
    result = monte_carlo_var({"AAA": 1_000}, history, method="bootstrap", simulations=50_000)
    assert (result.var, result.cvar) == (pytest.approx(100.0), pytest.approx(100.0))
    # At 80% the 20% quantile is a gain: no VaR.
    assert monte_carlo_var({"AAA": 1_000}, history, method="bootstrap", confidence=0.8).var == 0.0


def test_an_empty_book_has_no_var_and_bad_input_is_refused() -> None:
    assert monte_carlo_var({}, {}).var == 0.0
    with pytest.raises(ValueError):
        monte_carlo_var({"A": 1.0}, {"A": np.array([0.01])})
    with pytest.raises(ValueError):
        monte_carlo_var({"A": 1.0}, {"A": np.array([0.01, 0.02])}, method="historic")


@pytest.mark.parametrize(("p", "b", "full"), [
    (0.6, 1.0, 0.2),          # 0.6 - 0.4 / 1
    (0.5, 2.0, 0.25),         # 0.5 - 0.5 / 2
    (0.4, 1.0, -0.2),         # no edge
    (0.55, 1.5, 0.25),        # 0.55 - 0.45 / 1.5
])
def test_kelly_fraction(p: float, b: float, full: float) -> None:
    assert kelly_fraction(p, b) == pytest.approx(full)


@pytest.mark.parametrize(("sizer", "p", "b", "share"), [
    (KellySizer(0.5, 0.10), 0.6, 1.0, 0.10),     # half of 0.2
    (KellySizer(0.5, 0.05), 0.6, 1.0, 0.05),     # capped
    (KellySizer(0.25, 0.10), 0.5, 2.0, 0.0625),  # a quarter of 0.25
    (KellySizer(0.5, 0.10), 0.4, 1.0, 0.0),      # no edge: nothing, never negative
])
def test_fractional_kelly_is_capped_and_never_negative(sizer: KellySizer, p: float, b: float, share: float) -> None:
    assert sizer.share_of_equity(p, b) == pytest.approx(share)
    assert sizer.dollars(20_000, p, b) == pytest.approx(20_000 * share)


def test_kelly_inputs_from_trade_returns() -> None:
    # wins 0.04, 0.02, 0.06 (mean 0.04); losses -0.02, -0.02 (mean 0.02); one flat trade
    p, b = kelly_from_returns([0.04, -0.02, 0.02, 0.0, -0.02, 0.06])
    assert (p, b) == (pytest.approx(3 / 5), pytest.approx(2.0))
    assert kelly_fraction(p, b) == pytest.approx(0.6 - 0.4 / 2)
    with pytest.raises(ValueError):
        kelly_from_returns([0.01, 0.02])


def test_pearson_by_hand() -> None:
    # x = 1..5, y = 2, 4, 5, 4, 5: means 3 and 4; sum dxdy = 6, sum dx2 = 10, sum dy2 = 6
    assert pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]) == pytest.approx(6 / math.sqrt(10 * 6))
    assert pearson([1, 2, 3], [5, 5, 5]) is None


def bars_of(series: dict[str, list[float]]) -> pl.DataFrame:
    start = dt.date(2020, 1, 1)
    rows = [{"symbol": s, "date": start + dt.timedelta(days=i), "close": c}
            for s, closes in series.items() for i, c in enumerate(closes)]
    return pl.DataFrame(rows)


def test_the_correlation_limit_blocks_a_twin_and_allows_a_hedge() -> None:
    rng = np.random.default_rng(3)
    moves = rng.normal(0, 0.01, 80)
    a = list(100 * np.cumprod(1 + moves))
    twin = list(50 * np.cumprod(1 + 2 * moves))          # returns exactly twice A's: r = 1
    hedge = list(80 * np.cumprod(1 - moves))             # r = -1
    other = list(30 * np.cumprod(1 + rng.normal(0, 0.01, 80)))
    bars = bars_of({"A": a, "TWIN": twin, "HEDGE": hedge, "OTHER": other})
    returns = daily_returns(bars, ["A", "TWIN", "HEDGE", "OTHER"], dt.date(2021, 1, 1), 60)
    limit = CorrelationLimit(max_correlation=0.8, window=60)
    blocked = limit.check("TWIN", {"A"}, returns)
    assert not blocked.allowed and "r = 1.00" in blocked.reason and blocked.gate == "correlation"
    assert limit.check("HEDGE", {"A"}, returns).allowed
    assert limit.check("OTHER", {"A"}, returns).allowed
    assert limit.check("TWIN", set(), returns).allowed
    assert CorrelationLimit(min_days=100).check("TWIN", {"A"}, returns).allowed   # too little history
