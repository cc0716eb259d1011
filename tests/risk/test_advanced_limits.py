"""The advanced limits as the cycle uses them (risk.yaml ``advanced:``): the VaR gate on
the book plus a new position, the Kelly cap from closed trades, and their config."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from kobe.config.model import CorrelationSettings, KellySettings, VaRSettings
from kobe.risk.advanced import (
    CorrelationLimit,
    KellyCap,
    KellySizer,
    VaRLimit,
    closed_trade_returns,
)

Z95 = 1.6448536


def normal_returns(sigma: float, days: int = 250, seed: int = 1) -> np.ndarray:
    draws = np.random.default_rng(seed).standard_normal(days)
    return (draws - draws.mean()) / draws.std(ddof=1) * sigma        # exactly mean 0, deviation sigma


# 250 sessions: the default lookback sees exactly these moments.
A, B = normal_returns(0.02, seed=1), normal_returns(0.02, seed=2)
RETURNS = pl.DataFrame({"A": A, "B": B, "HEDGE": -A, "SHORT": [None] * 240 + list(B[:10])})
R_AB = float(np.corrcoef(A, B)[0, 1])

# A $10,000 position with a 2% daily deviation: 95% 1-day VaR = 1.645 x 0.02 x 10,000 = $329.
# A and B together (r ~ 0): 329 x sqrt(2 + 2r) ~ $465. A with its mirror image: $0.
# (candidate, order $, book, max $, allowed, reason fragment)
VAR_CASES = [
    ("A", 10_000, {}, 400, True, "ok"),
    ("A", 10_000, {}, 300, False, "VaR of the book with A would be $3"),
    ("B", 10_000, {"A": 10_000}, 400, False, "above $400.00"),
    ("B", 10_000, {"A": 10_000}, 500, True, "ok"),
    ("HEDGE", 10_000, {"A": 10_000}, 1, True, "ok"),
    ("SHORT", 10_000, {}, 1e9, False, "not enough common history"),   # 10 sessions < 20
    ("NEW", 10_000, {"A": 10_000}, 1e9, False, "not enough common history"),
]


@pytest.mark.parametrize(("symbol", "order", "book", "most", "allowed", "reason"), VAR_CASES,
                         ids=["alone-within", "alone-above", "book-above", "book-within", "hedge", "short-history",
                              "no-history"])
def test_var_gate_weighs_the_book_with_the_new_position(symbol: str, order: float, book: dict[str, float],
                                                        most: float, allowed: bool, reason: str) -> None:
    decision = VaRLimit(max_usd=most, simulations=100_000).check(symbol, order, book, RETURNS)
    assert decision.allowed is allowed and reason in decision.reason and decision.gate == "var"


def test_the_book_with_a_second_position_is_the_two_position_var() -> None:
    # Just above and just below the analytic VaR of A + B: the gate sits on the formula.
    expected = Z95 * 0.02 * 10_000 * math.sqrt(2 + 2 * R_AB)
    assert VaRLimit(expected * 1.03, simulations=100_000).check("B", 10_000, {"A": 10_000}, RETURNS).allowed
    assert not VaRLimit(expected * 0.97, simulations=100_000).check("B", 10_000, {"A": 10_000}, RETURNS).allowed


def test_historical_method_and_the_lookback() -> None:
    # 30 sessions losing 50%, then 20 gaining 1%. Over the last 20 sessions nothing is
    # lost: no VaR. Over all 50, 60% of days lose $500 of $1,000: the 95% VaR is $500.
    history = pl.DataFrame({"X": [-0.5] * 30 + [0.01] * 20})
    calm = VaRLimit.from_config(VaRSettings(max_usd=1, lookback_days=20, method="historical"))
    assert calm.method == "bootstrap" and calm.check("X", 1_000, {}, history).allowed
    wild = VaRLimit.from_config(VaRSettings(max_usd=499, lookback_days=50, method="historical"))
    decision = wild.check("X", 1_000, {}, history)
    assert not decision.allowed and "$500.00, above $499.00" in decision.reason
    assert VaRLimit.from_config(VaRSettings(max_usd=500, lookback_days=50, method="historical")).check(
        "X", 1_000, {}, history).allowed


def test_var_settings_reach_the_gate() -> None:
    limit = VaRLimit.from_config(VaRSettings(max_usd=50, confidence=0.99, horizon_days=5, lookback_days=100))
    assert (limit.max_usd, limit.confidence, limit.horizon_days, limit.lookback_days, limit.method) == \
        (50, 0.99, 5, 100, "normal")
    assert "99% 5-day VaR" in limit.check("A", 10_000, {}, RETURNS).reason


def fill(cid: str | None, symbol: str, side: str, qty: float, price: float) -> dict[str, object]:
    return {"client_order_id": cid, "symbol": symbol, "side": side, "qty": qty, "price": price}


def test_closed_trade_returns_by_hand() -> None:
    fills = [
        fill("b1", "A", "buy", 10, 100.0), fill("b2", "A", "buy", 10, 110.0),   # average cost 105
        fill("x1", "A", "sell", 10, 115.5),                                     # 1155 / 1050 - 1 = +10%
        fill("x2", "A", "sell", 5, 100.8), fill("x2", "A", "sell", 5, 88.2),    # one trade: 945 / 1050 - 1 = -10%
        fill("b3", "B", "buy", 4, 50.0), fill("y1", "B", "sell", 4, 55.0),      # +10%
        fill(None, "C", "buy", 1, 10.0), fill(None, "C", "sell", 1, 20.0),      # a broker adjustment: no trade
        fill("b4", "D", "buy", 1, 10.0), fill("lost", "D", "sell", 1, 5.0),     # an order of no known strategy
    ]
    strategies = {"b1": "s1", "b2": "s1", "x1": "s1", "x2": "s1", "b3": "s2", "y1": "s2", "b4": "s2"}
    returns = closed_trade_returns(fills, strategies)
    assert list(returns) == ["s1", "s2"]
    assert returns["s1"] == [pytest.approx(0.10), pytest.approx(-0.10)]
    assert returns["s2"] == [pytest.approx(0.10)]


def test_closed_trade_returns_of_shorts_by_hand() -> None:
    fills = [
        fill("o1", "A", "sell", 10, 100.0), fill("c1", "A", "buy", 10, 90.0),   # short at 100, covered at 90: +10%
        fill("o2", "B", "sell", 4, 50.0), fill("c2", "B", "buy", 2, 55.0),      # covered at 55: -10% ...
        fill("c2", "B", "buy", 2, 55.0),                                        # ... one trade of two fills
        fill("o3", "C", "buy", 2, 10.0), fill("c3", "C", "sell", 5, 11.0),      # long +10%, past zero: short 3 at 11
        fill("c4", "C", "buy", 3, 9.9),                                         # covered: +10%
    ]
    strategies = {cid: "s" for cid in ("o1", "c1", "o2", "c2", "o3", "c3", "c4")}
    assert closed_trade_returns(fills, strategies)["s"] == [pytest.approx(0.10), pytest.approx(-0.10),
                                                             pytest.approx(0.10), pytest.approx(0.10)]


WINS_AND_LOSSES = [0.02] * 12 + [-0.02] * 8            # p = 0.6, b = 1: full Kelly 0.2


# (closed trade returns, min trades, fraction, cap, (p, b) or None, dollars of $100,000 or None)
KELLY_CASES = [
    (WINS_AND_LOSSES, 20, 0.5, 0.10, (0.6, 1.0), 10_000.0),           # half of 0.2
    (WINS_AND_LOSSES, 20, 0.01, 0.10, (0.6, 1.0), 200.0),             # 1% of 0.2
    (WINS_AND_LOSSES, 20, 1.0, 0.05, (0.6, 1.0), 5_000.0),            # capped at 5%
    (WINS_AND_LOSSES, 21, 0.5, 0.10, None, None),                     # too few trades: no cap
    (WINS_AND_LOSSES + [0.0] * 5, 21, 0.5, 0.10, None, None),         # flat trades do not count
    ([0.01] * 20, 20, 0.5, 0.10, (1.0, 1.0), 10_000.0),               # never lost: p = 1, the cap
    ([-0.01] * 20, 20, 0.5, 0.10, (0.0, 1.0), 0.0),                   # never won: nothing
    ([0.03] * 8 + [-0.01] * 12, 20, 0.25, 0.10, (0.4, 3.0), 5_000.0),  # 0.25 x (0.4 - 0.6 / 3) = 0.05
]


@pytest.mark.parametrize(("returns", "min_trades", "fraction", "cap", "estimate", "dollars"), KELLY_CASES,
                         ids=["half", "small-fraction", "capped", "too-few", "flat-ignored", "no-loser", "no-winner",
                              "payoff-3"])
def test_kelly_cap_from_closed_trades(returns: list[float], min_trades: int, fraction: float, cap: float,
                                      estimate: tuple[float, float] | None, dollars: float | None) -> None:
    kelly = KellyCap(KellySizer(fraction, cap), min_trades)
    got = kelly.estimate(returns)
    assert got == (None if estimate is None else (pytest.approx(estimate[0]), pytest.approx(estimate[1])))
    assert kelly.budget_usd(100_000, returns) == (None if dollars is None else pytest.approx(dollars))


def test_kelly_and_correlation_settings_reach_the_limits() -> None:
    assert KellyCap.from_config(KellySettings(fraction=0.25, cap_pct=4, min_trades=30)) == \
        KellyCap(KellySizer(0.25, 0.04), 30)
    assert CorrelationLimit.from_config(CorrelationSettings(max=0.6, lookback_days=40)) == CorrelationLimit(0.6, 40)
