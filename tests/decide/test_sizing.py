"""The one sizing function, as live trading calls it (the limit as the price, the broker
holding the cash, the per-order budget as the cap) and as the backtest does (cash-bound)."""

from __future__ import annotations

import math

import pytest

from kobe.config.model import Sizing
from kobe.decide.sizing import (
    NEAR_WHOLE,
    floor_shares,
    shares,
    sized_count,
    whole_shares,
)

# sizing, cap $, stop, shares at $50 with $10,000 of equity (cash unbounded, as live)
LIVE = [
    pytest.param(Sizing("fixed_dollars", amount_usd=300), 75, None, 1, id="fixed-capped"),
    pytest.param(Sizing("fixed_dollars", amount_usd=50), 75, None, 1, id="fixed-smaller"),
    pytest.param(Sizing("percent_equity", percent=1), 75, None, 1, id="percent-capped"),   # $100, capped at $75
    pytest.param(Sizing("percent_equity", percent=1), 400, None, 2, id="percent"),
    pytest.param(Sizing("risk_per_trade", percent=1), 10_000, 48.0, 50, id="risk"),          # $100 / $2 a share
    pytest.param(Sizing("risk_per_trade", percent=1), 400, 48.0, 8, id="risk-capped"),
    pytest.param(Sizing("risk_per_trade", percent=1), 400, None, 0, id="risk-no-stop"),
    pytest.param(Sizing("all_cash"), 75, None, 1, id="all-cash-is-the-budget"),
]


@pytest.mark.parametrize(("sizing", "cap", "stop", "expected"), LIVE)
def test_live_sizing(sizing: Sizing, cap: float, stop: float | None, expected: int) -> None:
    assert shares(sizing, price=50.0, fill=50.0, stop=stop, equity=10_000.0, cash=math.inf, unit_cost=50.0,
                  cap_usd=cap) == expected


def test_the_cash_bounds_the_backtest() -> None:
    assert shares(Sizing("fixed_dollars", amount_usd=1_000), price=50.0, fill=50.0, stop=None, equity=0.0,
                  cash=120.0, unit_cost=50.0) == 2
    assert shares(Sizing("all_cash"), price=50.0, fill=50.0, stop=None, equity=0.0, cash=120.0, unit_cost=50.0) == 2


@pytest.mark.parametrize(("dollars", "price", "expected"), [
    (75, 25.0, 3), (75, 25.01, 2), (0.3, 0.1, 3), (75, 76.0, 0), (float("nan"), 1.0, 0), (10, 0.0, 0)])
def test_whole_shares_divides_exactly(dollars: float, price: float, expected: int) -> None:
    """0.3 / 0.1 is 2.9999... in floats: the cap divides in decimals."""
    assert whole_shares(dollars, price) == expected


@pytest.mark.parametrize(("dollars", "price", "expected"), [
    (75, 25.0, NEAR_WHOLE), (0.3, 0.1, NEAR_WHOLE), (75, 25.01, 2), (75, 76.0, 0), (float("nan"), 1.0, 0),
    (10, 0.0, 0), (-5, 1.0, 0), (float("inf"), 1.0, 0)])
def test_floor_shares_defers_near_whole_numbers_to_the_exact_division(dollars: float, price: float,
                                                                      expected: int) -> None:
    """The float division shared with the compiled loop says NEAR_WHOLE where only decimals can tell."""
    assert floor_shares(dollars, price) == expected


@pytest.mark.parametrize(("wanted", "cash", "unit", "cap", "expected"), [
    (10.0, 120.0, 50.0, None, 2.0),              # the cash bounds
    (1.0, 120.0, 50.0, None, 1.0),               # the wanted shares bound
    (10.0, 1e6, 25.0, 75.0, 3),                  # the cap, divided exactly
    (10.0, 0.0, 25.0, None, 0.0),                # no cash
    (float("nan"), 1e6, 25.0, None, float("nan")),   # a NaN wanted (a null stop) stays NaN
])
def test_sized_count_bounds_by_cash_then_cap(wanted: float, cash: float, unit: float, cap: float | None,
                                             expected: float) -> None:
    got = sized_count(wanted, cash, unit, cap is not None, cap or 0.0)
    assert got == expected or (math.isnan(got) and math.isnan(expected))
