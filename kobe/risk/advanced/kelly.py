"""A fractional Kelly sizer, capped: how much of equity one trade may risk.

For a bet won with probability ``p`` paying ``b`` times what is lost otherwise, the
Kelly fraction of capital that maximises long-run growth is

    f* = p - (1 - p) / b

Full Kelly is famously violent (a 50% drawdown is likely on the way), and ``p`` and
``b`` are estimates; so the sizer uses a *fraction* of it (half Kelly by default) and
never more than ``cap`` of equity, and nothing when the edge is not positive.

``kelly_from_returns`` estimates ``p`` and ``b`` from a strategy's trade returns (the
backtest's): ``p`` = winners / trades, ``b`` = mean winning return / mean losing return
(in absolute value).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def kelly_fraction(win_rate: float, payoff: float) -> float:
    """Full Kelly ``p - (1 - p) / b`` (may be negative: no edge)."""
    if not 0 <= win_rate <= 1 or payoff <= 0:
        raise ValueError("win_rate in [0, 1] and payoff > 0")
    return win_rate - (1.0 - win_rate) / payoff


def kelly_from_returns(returns: Sequence[float]) -> tuple[float, float]:
    """(win rate, payoff) of trade returns; a flat trade counts as neither."""
    wins = [r for r in returns if r > 0]
    losses = [-r for r in returns if r < 0]
    decided = len(wins) + len(losses)
    if not wins or not losses:
        raise ValueError("need at least one winning and one losing trade")
    return len(wins) / decided, (sum(wins) / len(wins)) / (sum(losses) / len(losses))


@dataclass(frozen=True)
class KellySizer:
    """``fraction`` of full Kelly, at most ``cap`` of equity, never negative."""

    fraction: float = 0.5
    cap: float = 0.10

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1 or not 0 < self.cap <= 1:
            raise ValueError("fraction and cap are in (0, 1]")

    def share_of_equity(self, win_rate: float, payoff: float) -> float:
        return min(self.cap, max(0.0, self.fraction * kelly_fraction(win_rate, payoff)))

    def dollars(self, equity: float, win_rate: float, payoff: float) -> float:
        """Dollars to put in the trade (before the per-order budget, which still applies)."""
        return max(0.0, equity) * self.share_of_equity(win_rate, payoff)
