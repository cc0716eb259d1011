"""Risk gates: every order must pass all of them before it may leave.

Each gate is a small frozen class configured from ``risk.yaml`` whose ``check`` takes
plain values and returns a :class:`Decision`; state (what was spent today, what is
held) is read by the caller from the order store and passed in, so the gates are pure
and a table of cases tests them.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from kobe.config.model import RiskConfig


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    gate: str = ""

    @classmethod
    def allow(cls, gate: str) -> "Decision":
        return cls(True, "ok", gate)

    @classmethod
    def block(cls, gate: str, reason: str) -> "Decision":
        return cls(False, reason, gate)


@dataclass(frozen=True)
class PolicyGate:
    """Per-order and per-trading-day dollar budgets.

    ``spent_today_usd`` is every dollar sent on the trading date (America/New_York),
    filled or not, until an order is known to have been canceled unfilled: an order
    whose fate is unknown still counts.
    """

    per_order_usd: float
    daily_usd: float

    @classmethod
    def from_config(cls, risk: RiskConfig) -> "PolicyGate":
        return cls(risk.per_order_budget_usd, risk.daily_budget_usd)

    def check(self, order_usd: float, spent_today_usd: float) -> Decision:
        if not (math.isfinite(order_usd) and order_usd > 0):
            return Decision.block("policy", f"order value {order_usd} is not a positive amount")
        if order_usd > self.per_order_usd + 1e-9:
            return Decision.block("policy", f"order ${order_usd:,.2f} exceeds the per-order budget "
                                            f"${self.per_order_usd:,.2f}")
        if spent_today_usd + order_usd > self.daily_usd + 1e-9:
            return Decision.block("policy", f"${spent_today_usd:,.2f} sent today + ${order_usd:,.2f} exceeds the "
                                            f"daily budget ${self.daily_usd:,.2f}")
        return Decision.allow("policy")


@dataclass(frozen=True)
class LiquidityGate:
    """Enough trading in the name, a tight enough quote, and an order small against both."""

    min_adv_usd: float
    max_spread_pct: float
    max_order_pct_adv: float

    @classmethod
    def from_config(cls, risk: RiskConfig) -> "LiquidityGate":
        return cls(risk.min_adv_usd, risk.max_spread_pct, risk.max_order_pct_adv)

    def check(self, order_usd: float, adv_usd: float | None, bid: float | None, ask: float | None) -> Decision:
        if adv_usd is None or not math.isfinite(adv_usd):
            return Decision.block("liquidity", "no average daily dollar volume for the symbol")
        if adv_usd < self.min_adv_usd:
            return Decision.block("liquidity", f"ADV ${adv_usd:,.0f} is below the minimum ${self.min_adv_usd:,.0f}")
        if bid is None or ask is None or not (bid > 0 and ask >= bid):
            return Decision.block("liquidity", f"no usable quote (bid {bid}, ask {ask})")
        spread_pct = (ask - bid) / ((ask + bid) / 2) * 100
        if spread_pct > self.max_spread_pct + 1e-12:
            return Decision.block("liquidity", f"spread {spread_pct:.3f}% exceeds {self.max_spread_pct}%")
        if order_usd > adv_usd * self.max_order_pct_adv / 100 + 1e-9:
            return Decision.block("liquidity", f"order ${order_usd:,.2f} exceeds {self.max_order_pct_adv}% of ADV "
                                               f"${adv_usd:,.0f}")
        return Decision.allow("liquidity")


@dataclass(frozen=True)
class PositionLimits:
    """At most ``max_open`` positions, and one position per symbol."""

    max_open: int

    @classmethod
    def from_config(cls, risk: RiskConfig) -> "PositionLimits":
        return cls(risk.max_open_positions)

    def check(self, symbol: str, held: Collection[str], pending: Collection[str] = ()) -> Decision:
        if symbol in held or symbol in pending:
            return Decision.block("positions", f"{symbol} is already held or has an open order")
        if len(set(held) | set(pending)) >= self.max_open:
            return Decision.block("positions", f"{self.max_open} positions are open, the maximum")
        return Decision.allow("positions")
