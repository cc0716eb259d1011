"""Backtest-live parity: risk.yaml's budget and liquidity gates applied to simulated entries.

Live trading sends an order only when :class:`~kobe.risk.gates.PolicyGate` (the
per-order and per-day dollar budgets) and :class:`~kobe.risk.gates.LiquidityGate` (a
minimum average daily dollar volume, an order small against it, a tight quote) allow
it. A backtest that ignores them may count trades live trading would never have made:
a $75 order in a stock that trades $20,000 a day, the fifteenth order of a day whose
budget allows thirteen. With the gates on, the portfolio pass asks the same two gate
classes about every entry it is about to take and skips the ones they block, counting
them (``blocked_budget``, ``blocked_liquidity``).

What each gate is given, from daily bars alone (``docs/backtest.md``):

- the **order value**: shares x the fill price after slippage, the dollars the order
  spends;
- **spent today**: the value of the entries already taken on that session (opening
  orders only: exits reduce exposure and live trading does not budget them);
- the **ADV**: the mean of close x volume over the ``adv_window_days`` bars of the
  symbol up to and including the signal bar, the bars live trading has when it sends
  the order. Fewer bars than that: no ADV, and the gate blocks, as live;
- the **quote**: daily bars have no bid and ask, so the spread cannot be known. The
  backtest assumes the spread passed (it hands the gate a quote of zero width at the
  fill price) and leaves the spread's cost to ``slippage_bps``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from kobe.backtest.market import Market
from kobe.config.model import RiskConfig
from kobe.risk.gates import Decision, LiquidityGate, PolicyGate

BLOCKED = {"policy": "blocked_budget", "liquidity": "blocked_liquidity"}
"""The ``skipped`` counter of each gate."""


@dataclass(frozen=True)
class EntryGates:
    """The live gates with what they need per market row (the ADV of the signal bar)."""

    policy: PolicyGate
    liquidity: LiquidityGate
    adv: np.ndarray         # per market row; NaN where the window is not full

    def check(self, signal_row: int, order_usd: float, fill: float, spent_today_usd: float) -> Decision:
        """The first gate that blocks this entry, or an allow."""
        decision = self.policy.check(order_usd, spent_today_usd)
        if not decision.allowed:
            return decision
        adv = float(self.adv[signal_row])
        return self.liquidity.check(order_usd, None if np.isnan(adv) else adv, bid=fill, ask=fill)


def adv_by_row(market: Market, window: int) -> np.ndarray:
    """Mean dollar volume (close x volume) of each symbol's ``window`` bars up to and
    including each row; NaN until a symbol has ``window`` bars."""
    dollars = (pl.col("close") * pl.col("volume")).rolling_mean(window, min_samples=window).over("symbol")
    return market.bars.select(dollars.fill_null(np.nan).alias("adv"))["adv"].to_numpy()


def entry_gates(risk: RiskConfig, market: Market, adv: np.ndarray | None = None) -> EntryGates:
    """The gates of ``risk`` for entries on ``market``; ``adv`` when already computed
    (:func:`adv_by_row` with ``risk.adv_window_days``)."""
    return EntryGates(PolicyGate.from_config(risk), LiquidityGate.from_config(risk),
                      adv if adv is not None else adv_by_row(market, risk.adv_window_days))
