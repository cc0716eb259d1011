"""Risk gates as tables of cases, and the kill switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobe.risk.gates import LiquidityGate, PolicyGate, PositionLimits
from kobe.risk.killswitch import KillSwitch, KillSwitchActive

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
    decision = POLICY.check(order, spent)
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
    decision = LIQUIDITY.check(order, adv, bid, ask)
    assert decision.allowed is allowed and reason in decision.reason


@pytest.mark.parametrize(("symbol", "held", "pending", "allowed"), [
    ("AAPL", set(), set(), True),
    ("AAPL", {"AAPL"}, set(), False),
    ("AAPL", set(), {"AAPL"}, False),
    ("AAPL", {"MSFT", "KO"}, {"XOM"}, False),
    ("AAPL", {"MSFT", "KO"}, set(), True),
])
def test_position_limits(symbol: str, held: set, pending: set, allowed: bool) -> None:
    assert PositionLimits(max_open=3).check(symbol, held, pending).allowed is allowed


def test_kill_switch_guard_checks_at_call_time(tmp_path: Path) -> None:
    switch = KillSwitch(tmp_path / "KILL_SWITCH")
    sent = []

    @switch.guard
    def submit(order: str) -> str:
        sent.append(order)
        return order

    assert submit("a") == "a"
    switch.set("broker is acting up", who="tester")
    with pytest.raises(KillSwitchActive, match="broker is acting up"):
        submit("b")
    assert switch.info()["who"] == "tester"
    switch.clear()
    submit("c")
    assert sent == ["a", "c"]


def test_kill_switch_file_written_by_hand_counts(tmp_path: Path) -> None:
    path = tmp_path / "KILL_SWITCH"
    path.write_text("stop everything\n")
    switch = KillSwitch(path)
    assert switch.active() and switch.info() == {"reason": "stop everything"}
    with pytest.raises(KillSwitchActive):
        switch.check()
