"""A fractional Kelly sizer, capped: how much of equity one trade may risk.

For a bet won with probability ``p`` paying ``b`` times what is lost otherwise, the
Kelly fraction of capital that maximises long-run growth is

    f* = p - (1 - p) / b

Full Kelly is famously violent (a 50% drawdown is likely on the way), and ``p`` and
``b`` are estimates; so the sizer uses a *fraction* of it (half Kelly by default) and
never more than ``cap`` of equity, and nothing when the edge is not positive.

``kelly_from_returns`` estimates ``p`` and ``b`` from a strategy's trade returns:
``p`` = winners / trades, ``b`` = mean winning return / mean losing return (in absolute
value).

Live, :class:`KellyCap` (``risk.yaml`` ``advanced.kelly``) takes those returns from the
strategy's own closed trades in the order store (:func:`closed_trade_returns`), not from
a backtest: what the strategy has really done, costs and slippage included. Until it has
``min_trades`` of them the estimate is noise and no cap is applied (the per-order budget
and the strategy's sizing still are).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kobe.config.model import KellySettings
from kobe.risk.ledger import Ledger


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


def closed_trade_returns(fills: Iterable[Mapping[str, Any]], strategy_of: Mapping[str, str]) -> dict[str, list[float]]:
    """Per strategy, the return of each closing order against the average cost of the
    shares it closed: a sell of a long ``proceeds / cost - 1``, a buy back of a short
    ``1 - paid / proceeds of the short``.

    ``fills`` are the order store's rows in the order they happened (``client_order_id``,
    ``symbol``, ``side``, ``qty``, ``price``); ``strategy_of`` maps a client order id to its
    strategy. The average cost is the store's (all entries of the symbol, whichever
    strategy; :class:`kobe.risk.ledger.Ledger`, as the order store's), so the returns agree with its
    realized P&L. An order filled in parts is one trade (its fills weighted by
    quantity); fills of no known order (broker adjustments) move the position but are no
    strategy's trade.
    """
    closed: dict[str, list[float]] = {}    # closing order -> [side closed, dollars, cost of those shares]
    for fill, shut, _ in Ledger().walk(fills):
        cid = fill.get("client_order_id")
        if shut is not None and cid is not None and shut.cost > 0:
            trade = closed.setdefault(str(cid), [float(shut.side), 0.0, 0.0])
            trade[1], trade[2] = trade[1] + shut.shares * shut.price, trade[2] + shut.shares * shut.cost
    out: dict[str, list[float]] = {}
    for cid, (side, dollars, basis) in closed.items():
        strategy = strategy_of.get(cid)
        if strategy is not None:
            out.setdefault(strategy, []).append(side * (dollars / basis - 1.0))
    return out


@dataclass(frozen=True)
class KellyCap:
    """The Kelly cap on an entry's budget (``advanced.kelly``): :class:`KellySizer` dollars
    from the strategy's closed trades, once it has ``min_trades`` decided ones."""

    sizer: KellySizer
    min_trades: int = 20

    @classmethod
    def from_config(cls, settings: KellySettings) -> KellyCap:
        return cls(KellySizer(settings.fraction, settings.cap_pct / 100), settings.min_trades)

    def estimate(self, returns: Sequence[float]) -> tuple[float, float] | None:
        """(win rate, payoff), or None when fewer than ``min_trades`` trades won or lost.
        Without a loser the payoff is unknown but irrelevant (p = 1 gives f* = 1); without
        a winner f* = 0; both are returned as payoff 1."""
        wins = sum(1 for r in returns if r > 0)
        losses = sum(1 for r in returns if r < 0)
        if wins + losses < self.min_trades:
            return None
        if not wins or not losses:
            return (1.0 if wins else 0.0), 1.0
        return kelly_from_returns(returns)

    def budget_usd(self, equity: float, returns: Sequence[float]) -> float | None:
        """Most dollars the entry may use, or None when the cap does not apply yet."""
        estimate = self.estimate(returns)
        return None if estimate is None else self.sizer.dollars(equity, *estimate)
