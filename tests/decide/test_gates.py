"""The entry gates as tables of cases, and the chain as one ordered list."""

from __future__ import annotations

import dataclasses

import pytest

from kobe.config.model import AdvancedRisk, CorrelationSettings, VaRSettings
from kobe.decide import gates
from kobe.decide.gates import (
    BACKTEST_OMITS,
    EntryContext,
    LiquidityGate,
    PolicyGate,
    PositionLimits,
    entry_chain,
    first_block,
)

POLICY = PolicyGate(per_order_usd=75, daily_usd=1000)

# (order $, spent today $, allowed, reason fragment)
POLICY_CASES = [
    (75.0, 0.0, True, "ok"),
    (75.01, 0.0, False, "per-order budget"),
    (50.0, 950.0, True, "ok"),
    (50.01, 950.0, False, "daily budget"),
    (1.0, 1000.0, False, "daily budget"),
    (0.0, 0.0, False, "not a positive amount"),
    (float("nan"), 0.0, False, "not a positive amount"),
]


@pytest.mark.parametrize(("order", "spent", "allowed", "reason"), POLICY_CASES,
                         ids=[f"{o}+{s}" for o, s, *_ in POLICY_CASES])
def test_policy_gate(order: float, spent: float, allowed: bool, reason: str) -> None:
    decision = POLICY.check(EntryContext("AAPL", order, spent))
    assert decision.allowed is allowed and reason in decision.reason and decision.gate == "policy"


LIQUIDITY = LiquidityGate(min_adv_usd=100_000, max_spread_pct=0.5, max_order_pct_adv=1.0)

# (order $, ADV $, bid, ask, allowed, reason fragment)
LIQUIDITY_CASES = [
    (75, 1e6, 99.9, 100.1, True, "ok"),                 # spread 0.2 %
    (75, 99_999, 99.9, 100.1, False, "below the minimum"),
    (75, 1e6, 99.0, 100.0, False, "spread 1.005%"),     # (1 / 99.5) = 1.005 %
    (75, 1e6, 99.75, 100.25, True, "ok"),               # exactly 0.5 %
    (1_500, 100_000, 99.9, 100.1, False, "exceeds 1.0% of ADV"),
    (1_000, 100_000, 99.9, 100.1, True, "ok"),          # exactly 1 % of ADV
    (75, None, 99.9, 100.1, False, "no average daily dollar volume"),
    (75, 1e6, None, 100.1, False, "no usable quote"),
    (75, 1e6, 100.2, 100.1, False, "no usable quote"),  # crossed
]


@pytest.mark.parametrize(("order", "adv", "bid", "ask", "allowed", "reason"), LIQUIDITY_CASES,
                         ids=[c[-1] + str(i) for i, c in enumerate(LIQUIDITY_CASES)])
def test_liquidity_gate(order, adv, bid, ask, allowed: bool, reason: str) -> None:
    decision = LIQUIDITY.check(EntryContext("AAPL", order, adv_usd=adv, bid=bid, ask=ask))
    assert decision.allowed is allowed and reason in decision.reason


@pytest.mark.parametrize(("symbol", "held", "pending", "allowed"), [
    ("AAPL", set(), set(), True),
    ("AAPL", {"AAPL"}, set(), False),
    ("AAPL", set(), {"AAPL"}, False),
    ("AAPL", {"MSFT", "KO"}, {"XOM"}, False),
    ("AAPL", {"MSFT", "KO"}, set(), True),
])
def test_position_limits(symbol: str, held: set, pending: set, allowed: bool) -> None:
    assert PositionLimits(max_open=3).check(EntryContext(symbol, 75.0, held=frozenset(held), pending=frozenset(pending))).allowed is allowed




def test_the_chain_is_one_ordered_list(risk_config) -> None:
    """Positions first, then correlation (when configured), policy, liquidity and VaR
    (when configured); the backtest asks the same list minus what it cannot feed."""
    assert [g.name for g in entry_chain(risk_config)] == ["positions", "policy", "liquidity"]
    advanced = AdvancedRisk(correlation=CorrelationSettings(max=0.8, lookback_days=60),
                            var=VaRSettings(max_usd=500))
    full = dataclasses.replace(risk_config, advanced=advanced)
    assert [g.name for g in entry_chain(full)] == ["positions", "correlation", "policy", "liquidity", "var"]
    assert [g.name for g in entry_chain(full, omit=BACKTEST_OMITS)] == ["policy", "liquidity"]


def test_first_block_names_the_first_gate_that_blocks(risk_config) -> None:
    chain = entry_chain(risk_config)
    # Over the per-order budget and without an ADV: the policy gate comes first and wins.
    blocked = first_block(chain, EntryContext("AAPL", 1e6, bid=99.9, ask=100.1))
    assert not blocked.allowed and blocked.gate == "policy"
    held = first_block(chain, EntryContext("AAPL", 1e6, held=frozenset({"AAPL"})))
    assert held.gate == "positions"
    passed = first_block(chain, EntryContext("AAPL", 50.0, adv_usd=1e9, bid=99.9, ask=100.1))
    assert passed.allowed


@pytest.mark.parametrize(("order", "spent", "code"), [
    (75.0, 0.0, gates.ALLOWED), (75.01, 0.0, gates.OVER_PER_ORDER), (50.01, 950.0, gates.OVER_DAILY),
    (0.0, 0.0, gates.NOT_POSITIVE), (float("nan"), 0.0, gates.NOT_POSITIVE), (float("inf"), 0.0, gates.NOT_POSITIVE)])
def test_policy_block_codes_the_test_that_blocks(order: float, spent: float, code: int) -> None:
    """The numeric test shared with the compiled loop; PolicyGate words its code."""
    assert gates.policy_block(order, spent, 75, 1000) == code


@pytest.mark.parametrize(("order", "adv", "bid", "ask", "code"), [
    (75, 1e6, 99.9, 100.1, gates.ALLOWED), (75, 99_999, 99.9, 100.1, gates.LOW_ADV),
    (75, 1e6, 99.0, 100.0, gates.WIDE_SPREAD), (1_500, 100_000, 99.9, 100.1, gates.OVER_ADV_SHARE),
    (75, float("nan"), 99.9, 100.1, gates.NO_ADV), (75, float("inf"), 99.9, 100.1, gates.NO_ADV),
    (75, 1e6, float("nan"), 100.1, gates.NO_QUOTE), (75, 1e6, 100.2, 100.1, gates.NO_QUOTE)])
def test_liquidity_block_codes_the_test_that_blocks(order: float, adv: float, bid: float, ask: float,
                                                   code: int) -> None:
    """A missing ADV or quote is NaN to the shared test (None to the gate)."""
    assert gates.liquidity_block(adv, bid, ask, order, 100_000, 0.5, 1.0) == code
