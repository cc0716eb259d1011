"""Backtest-live parity: risk.yaml's budget and liquidity gates applied to simulated entries.

Live trading sends an order only when the entry gates of :mod:`kobe.decide.gates` allow
it: among them the policy gate (the per-order and per-day dollar budgets) and the
liquidity gate (a minimum average daily dollar volume, an order small against it, a
tight quote). A backtest that ignores them may count trades live trading would never have made:
a $75 order in a stock that trades $20,000 a day, the fifteenth order of a day whose
budget allows thirteen. With the gates on, the portfolio pass asks the same chain
(:func:`~kobe.decide.gates.entry_chain`, minus the gates of
:data:`~kobe.decide.gates.BACKTEST_OMITS`) about every entry it is about to take, sized
by the same function with the same per-order cap (:func:`kobe.decide.sizing.shares`),
and skips the ones they block, counting them (``blocked_budget``, ``blocked_liquidity``).

What each gate is given, from daily bars alone (``docs/backtest.md``):

- the **order value**: shares x the fill price after the spread and slippage, the
  dollars the order spends;
- **spent today**: the value of the entries already taken on that session (opening
  orders only: exits reduce exposure and live trading does not budget them);
- the **ADV**: :mod:`kobe.decide.adv`, the mean of close x volume over the
  ``adv_window_days`` bars of the symbol up to and including the signal bar, the bars
  live trading has when it sends the order. Fewer bars than that: no ADV, and the gate
  blocks, as live;
- the **quote**: daily bars have no bid and ask, so the spread cannot be known. The
  backtest hands the gate the quote its cost model assumes around the bar's price
  (:meth:`~kobe.backtest.costs.Costs.quote`): ``spread_bps`` wide, so a modelled spread
  wider than ``max_spread_pct`` blocks every entry, as such quotes would live; with no
  ``spread_bps``, a quote of zero width, which always passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kobe.backtest.market import Market
from kobe.config.model import RiskConfig
from kobe.decide import adv as advs
from kobe.decide.gates import (
    BACKTEST_OMITS,
    Decision,
    EntryContext,
    Gate,
    entry_chain,
    first_block,
)

BLOCKED = {"policy": "blocked_budget", "liquidity": "blocked_liquidity"}
"""The ``skipped`` counter of each gate the backtest asks."""


@dataclass(frozen=True)
class EntryGates:
    """Live trading's entry chain with what it needs per market row (the ADV of the
    signal bar), and the per-order cap the sizing applies."""

    chain: Sequence[Gate]
    adv: np.ndarray         # per market row; NaN where the window is not full
    cap_usd: float | None = None

    def check(self, signal_row: int, symbol: str, order_usd: float, spent_today_usd: float,
              bid: float, ask: float) -> Decision:
        """The first gate that blocks this entry, or an allow. Daily bars have no quote:
        ``bid`` and ``ask`` are the cost model's (the module doc)."""
        adv = float(self.adv[signal_row])
        return first_block(self.chain, EntryContext(symbol, order_usd, spent_today_usd,
                                                    None if np.isnan(adv) else adv, bid=bid, ask=ask))


def adv_by_row(market: Market, window: int) -> np.ndarray:
    """:func:`kobe.decide.adv.adv_by_row` over the market's bars."""
    return advs.adv_by_row(market.bars, window)


def entry_gates(risk: RiskConfig, market: Market, adv: np.ndarray | None = None) -> EntryGates:
    """The gates of ``risk`` for entries on ``market``; ``adv`` when already computed
    (:func:`adv_by_row` with ``risk.adv_window_days``)."""
    return EntryGates(entry_chain(risk, omit=BACKTEST_OMITS),
                      adv if adv is not None else adv_by_row(market, risk.adv_window_days),
                      risk.per_order_budget_usd)
