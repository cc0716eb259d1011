"""The entry gates: every entry must pass all of them, in the order of :func:`entry_chain`.

Each gate is a small frozen class configured from ``risk.yaml`` whose
``check(context) -> Decision`` reads only the :class:`EntryContext`: state (what was spent
today, what is held, the ADV, the quote) is gathered by the caller, the live cycle from
the order store and the broker, the backtest from its account, so the gates are pure and
a table of cases tests them.

The chain, in order (cheapest and most fundamental first; the first block wins):

1. ``positions``: at most ``max_open_positions`` positions, one per symbol;
2. ``correlation`` (``advanced.correlation``): not too correlated with what is held;
3. ``policy``: the per-order and per-trading-day dollar budgets;
4. ``liquidity``: enough ADV, a tight quote, an order small against the ADV;
5. ``var`` (``advanced.var``): the book's Monte Carlo VaR with the new position.

The backtest asks the same chain, minus the gates its daily bars cannot feed
(:data:`BACKTEST_OMITS`, with the reason for each).

The numeric tests of the budget and liquidity gates are plain scalar functions,
:func:`policy_block` and :func:`liquidity_block`, returning which test blocks (a code, 0
when none): the gates turn the code into their :class:`Decision` and its reason, and the
compiled account loop (:mod:`kobe.backtest.loop`) compiles the same functions. This module
never imports numba.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from kobe.config.model import RiskConfig
from kobe.decide.decision import Decision
from kobe.risk.advanced import CorrelationLimit, VaRLimit

__all__ = ["BACKTEST_OMITS", "CorrelationGate", "Decision", "EntryContext", "Gate", "LiquidityGate", "PolicyGate",
           "PositionLimits", "VaRGate", "entry_chain", "first_block"]


@dataclass(frozen=True, slots=True)
class EntryContext:
    """Everything a gate may look at for one entry about to be sent.

    ``order_usd`` is shares x the price the order pays (live: the limit; backtest: the
    fill after slippage); ``spent_today_usd`` the entries already sent on the trading
    date (an order whose fate is unknown still counts); ``held``/``pending`` the symbols
    held and with an open entry; ``returns`` daily returns by symbol (the advanced gates);
    ``book_usd`` the dollars held per symbol.
    """

    symbol: str
    order_usd: float
    spent_today_usd: float = 0.0
    adv_usd: float | None = None
    bid: float | None = None
    ask: float | None = None
    held: frozenset[str] = frozenset()
    pending: frozenset[str] = frozenset()
    returns: pl.DataFrame | None = None
    book_usd: Mapping[str, float] | None = None


ALLOWED = 0
# policy_block's codes
NOT_POSITIVE, OVER_PER_ORDER, OVER_DAILY = 1, 2, 3
# liquidity_block's codes
NO_ADV, LOW_ADV, NO_QUOTE, WIDE_SPREAD, OVER_ADV_SHARE = 1, 2, 3, 4, 5


def policy_block(order_usd: float, spent: float, per_order_usd: float, daily_usd: float) -> int:
    """Which test of :class:`PolicyGate` blocks an order of ``order_usd`` after ``spent``
    today, or :data:`ALLOWED`."""
    if not (math.isfinite(order_usd) and order_usd > 0):
        return NOT_POSITIVE
    if order_usd > per_order_usd + 1e-9:
        return OVER_PER_ORDER
    if spent + order_usd > daily_usd + 1e-9:
        return OVER_DAILY
    return ALLOWED


def spread_pct(bid: float, ask: float) -> float:
    """The quoted spread in percent of the mid."""
    return (ask - bid) / ((ask + bid) / 2) * 100


def liquidity_block(adv: float, bid: float, ask: float, order_usd: float, min_adv_usd: float,
                    max_spread_pct: float, max_order_pct_adv: float) -> int:
    """Which test of :class:`LiquidityGate` blocks, or :data:`ALLOWED`; a missing ``adv``,
    ``bid`` or ``ask`` is NaN."""
    if not math.isfinite(adv):
        return NO_ADV
    if adv < min_adv_usd:
        return LOW_ADV
    if not (bid > 0 and ask >= bid):
        return NO_QUOTE
    if spread_pct(bid, ask) > max_spread_pct + 1e-12:
        return WIDE_SPREAD
    if order_usd > adv * max_order_pct_adv / 100 + 1e-9:
        return OVER_ADV_SHARE
    return ALLOWED


class Gate(Protocol):
    @property
    def name(self) -> str: ...

    def check(self, ctx: EntryContext) -> Decision: ...


@dataclass(frozen=True)
class PositionLimits:
    """At most ``max_open`` positions, and one position per symbol."""

    max_open: int
    name: str = "positions"

    @classmethod
    def from_config(cls, risk: RiskConfig) -> PositionLimits:
        return cls(risk.max_open_positions)

    def check(self, ctx: EntryContext) -> Decision:
        if ctx.symbol in ctx.held or ctx.symbol in ctx.pending:
            return Decision.block(self.name, f"{ctx.symbol} is already held or has an open order")
        if len(ctx.held | ctx.pending) >= self.max_open:
            return Decision.block(self.name, f"{self.max_open} positions are open, the maximum")
        return Decision.allow(self.name)


@dataclass(frozen=True)
class PolicyGate:
    """Per-order and per-trading-day dollar budgets.

    ``spent_today_usd`` is every dollar sent on the trading date (America/New_York),
    filled or not, until an order is known to have been canceled unfilled: an order
    whose fate is unknown still counts.
    """

    per_order_usd: float
    daily_usd: float
    name: str = "policy"

    @classmethod
    def from_config(cls, risk: RiskConfig) -> PolicyGate:
        return cls(risk.per_order_budget_usd, risk.daily_budget_usd)

    def check(self, ctx: EntryContext) -> Decision:
        order_usd, spent = ctx.order_usd, ctx.spent_today_usd
        code = policy_block(order_usd, spent, self.per_order_usd, self.daily_usd)
        if code == ALLOWED:
            return Decision.allow(self.name)
        if code == NOT_POSITIVE:
            return Decision.block(self.name, f"order value {order_usd} is not a positive amount")
        if code == OVER_PER_ORDER:
            return Decision.block(self.name, f"order ${order_usd:,.2f} exceeds the per-order budget "
                                             f"${self.per_order_usd:,.2f}")
        return Decision.block(self.name, f"${spent:,.2f} sent today + ${order_usd:,.2f} exceeds the "
                                         f"daily budget ${self.daily_usd:,.2f}")


@dataclass(frozen=True)
class LiquidityGate:
    """Enough trading in the name, a tight enough quote, and an order small against both."""

    min_adv_usd: float
    max_spread_pct: float
    max_order_pct_adv: float
    name: str = "liquidity"

    @classmethod
    def from_config(cls, risk: RiskConfig) -> LiquidityGate:
        return cls(risk.min_adv_usd, risk.max_spread_pct, risk.max_order_pct_adv)

    def check(self, ctx: EntryContext) -> Decision:
        adv, bid, ask, order_usd = ctx.adv_usd, ctx.bid, ctx.ask, ctx.order_usd
        # A missing number is NaN to the shared test, which blocks on it as on any unusable one.
        quote_bid, quote_ask = math.nan if bid is None else bid, math.nan if ask is None else ask
        code = liquidity_block(math.nan if adv is None else adv, quote_bid, quote_ask, order_usd, self.min_adv_usd,
                               self.max_spread_pct, self.max_order_pct_adv)
        if code == ALLOWED:
            return Decision.allow(self.name)
        if code == NO_ADV:
            return Decision.block(self.name, "no average daily dollar volume for the symbol")
        if code == LOW_ADV:
            return Decision.block(self.name, f"ADV ${adv:,.0f} is below the minimum ${self.min_adv_usd:,.0f}")
        if code == NO_QUOTE:
            return Decision.block(self.name, f"no usable quote (bid {bid}, ask {ask})")
        if code == WIDE_SPREAD:
            return Decision.block(self.name, f"spread {spread_pct(quote_bid, quote_ask):.3f}% exceeds {self.max_spread_pct}%")
        return Decision.block(self.name, f"order ${order_usd:,.2f} exceeds {self.max_order_pct_adv}% of ADV "
                                         f"${adv:,.0f}")


@dataclass(frozen=True)
class CorrelationGate:
    """:class:`~kobe.risk.advanced.CorrelationLimit` against what is held and pending."""

    limit: CorrelationLimit
    name: str = "correlation"

    def check(self, ctx: EntryContext) -> Decision:
        returns = ctx.returns if ctx.returns is not None else pl.DataFrame()
        return self.limit.check(ctx.symbol, ctx.held | ctx.pending, returns)


@dataclass(frozen=True)
class VaRGate:
    """:class:`~kobe.risk.advanced.VaRLimit` of the book with the new position."""

    limit: VaRLimit
    name: str = "var"

    def check(self, ctx: EntryContext) -> Decision:
        returns = ctx.returns if ctx.returns is not None else pl.DataFrame()
        return self.limit.check(ctx.symbol, ctx.order_usd, ctx.book_usd or {}, returns)


def entry_chain(risk: RiskConfig, *, omit: Mapping[str, str] | None = None) -> tuple[Gate, ...]:
    """The gates of ``risk`` in the order they are asked (the module doc). ``omit``
    names gates left out, each with why (the backtest's :data:`BACKTEST_OMITS`)."""
    advanced = risk.advanced
    chain: list[Gate] = [PositionLimits.from_config(risk)]
    if advanced.correlation:
        chain.append(CorrelationGate(CorrelationLimit.from_config(advanced.correlation)))
    chain += [PolicyGate.from_config(risk), LiquidityGate.from_config(risk)]
    if advanced.var:
        chain.append(VaRGate(VaRLimit.from_config(advanced.var)))
    return tuple(g for g in chain if g.name not in (omit or {}))


BACKTEST_OMITS: Mapping[str, str] = {
    "positions": "the account loop holds the slots itself (the backtest's max_open_positions, one per symbol)",
    "correlation": "not simulated: it needs the live book across strategies",
    "var": "not simulated: it needs the live book across strategies",
}
"""The gates the backtest does not ask, and why (docs/backtest.md)."""


def first_block(chain: Sequence[Gate], ctx: EntryContext) -> Decision:
    """The first gate of ``chain`` that blocks ``ctx``, or an allow."""
    for gate in chain:
        decision = gate.check(ctx)
        if not decision.allowed:
            return decision
    return Decision.allow("all")
