"""Drift: are live (or paper) trades still drawn from what the backtest promised?

For one strategy, the backtest's per-trade returns are the reference and the live ones
the sample. Four checks, each with a bound:

- **win rate**: the live wins against a binomial with the backtest's win rate; an alert
  when the two-sided p-value falls below ``alpha``;
- **mean return**: Welch's t-test of the two means (unequal variances);
- **distribution**: the two-sample Kolmogorov-Smirnov test;
- **CUSUM**: a one-sided lower CUSUM of the live returns standardised by the backtest's
  mean and standard deviation (slack ``k``, threshold ``h``, in standard deviations);
  it catches a slow decay the tests above need many trades to see.

The statistics come from SciPy; nothing here trades. Too few live trades (fewer than
``min_trades``) give no verdict rather than a noisy one.

The samples: :func:`backtest_returns` takes the closed trades' ``return`` of each
strategy of a backtest; :func:`round_trips` rebuilds the live ones from the order
store's fills (a position opened from flat by a strategy's buy and closed when it is
flat again is one trade; its return is what the sells brought over what the buys
cost, the backtest's ``pnl / (shares x entry fill)`` without commissions, which Alpaca
does not charge).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from kobe.config.model import MonitoringBounds
from kobe.risk.ledger import Ledger


@dataclass(frozen=True)
class DriftBounds:
    """The bounds of :func:`check_drift`, as the runner applies them: ``alpha`` for the
    three tests, the CUSUM's slack ``k`` and threshold ``h`` (in standard deviations), and
    the live trades needed before any verdict."""

    alpha: float = 0.01
    k: float = 0.5
    h: float = 5.0
    min_trades: int = 10

    @classmethod
    def from_config(cls, bounds: MonitoringBounds) -> "DriftBounds":
        """The bounds of ``risk.yaml``'s ``monitoring.drift``."""
        return cls(bounds.drift_alpha, bounds.drift_cusum_k, bounds.drift_cusum_h, bounds.drift_min_trades)


@dataclass(frozen=True)
class DriftCheck:
    name: str
    statistic: float
    p_value: float | None
    alarm: bool
    detail: str


@dataclass(frozen=True)
class DriftReport:
    strategy: str
    live_trades: int
    checks: tuple[DriftCheck, ...]

    @property
    def alarm(self) -> bool:
        return any(c.alarm for c in self.checks)

    @property
    def verdict(self) -> str:
        """``alarm``, ``ok``, or ``too few trades`` (no checks ran)."""
        if not self.checks:
            return "too few trades"
        return "alarm" if self.alarm else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "live_trades": self.live_trades, "verdict": self.verdict,
                "alarm": self.alarm, "checks": [asdict(c) for c in self.checks]}

    def summary(self) -> str:
        """One line naming the checks in alarm, for an alert."""
        failed = [c for c in self.checks if c.alarm]
        return "; ".join(f"{c.name}: {c.detail}" + (f" (p={c.p_value:.2g})" if c.p_value is not None else "")
                         for c in failed)


def cusum_lower(returns: Sequence[float], mean: float, std: float, k: float = 0.5) -> np.ndarray:
    """S_t = max(0, S_{t-1} - z_t - k) with z the standardised returns: grows while
    returns run below the reference mean."""
    z = (np.asarray(returns, dtype=float) - mean) / std
    out = np.zeros(len(z))
    s = 0.0
    for i, value in enumerate(z):
        s = max(0.0, s - value - k)
        out[i] = s
    return out


def check_drift(strategy: str, backtest_returns: Sequence[float], live_returns: Sequence[float], *,
                alpha: float = 0.01, k: float = 0.5, h: float = 5.0, min_trades: int = 10) -> DriftReport:
    ref = np.asarray(backtest_returns, dtype=float)
    live = np.asarray(live_returns, dtype=float)
    if len(live) < min_trades or len(ref) < 2:
        return DriftReport(strategy, len(live), ())
    p_win = float(np.mean(ref > 0))
    wins = int(np.sum(live > 0))
    binom = stats.binomtest(wins, len(live), p_win) if 0 < p_win < 1 else None
    welch = stats.ttest_ind(live, ref, equal_var=False)
    ks = stats.ks_2samp(live, ref)
    std = float(np.std(ref, ddof=1)) or 1e-12
    path = cusum_lower(live, float(np.mean(ref)), std, k)
    checks = []
    if binom is not None:
        checks.append(DriftCheck("win_rate", wins / len(live), float(binom.pvalue), bool(binom.pvalue < alpha),
                                 f"live {wins}/{len(live)} wins against the backtest's {p_win:.1%}"))
    checks += [
        DriftCheck("mean_return", float(welch.statistic), float(welch.pvalue), bool(welch.pvalue < alpha),
                   f"live mean {live.mean():.4%} against the backtest's {ref.mean():.4%}"),
        DriftCheck("distribution", float(ks.statistic), float(ks.pvalue), bool(ks.pvalue < alpha),
                   "two-sample Kolmogorov-Smirnov"),
        DriftCheck("cusum", float(path.max()), None, bool(path.max() > h),
                   f"lower CUSUM peak {path.max():.2f} against the threshold {h}"),
    ]
    return DriftReport(strategy, len(live), tuple(checks))


@dataclass(frozen=True)
class RoundTrip:
    """One live trade: a position in ``symbol`` opened from flat by ``strategy``'s entry
    and closed when flat again (or past it). ``cost`` is what its buys paid, ``proceeds``
    what its sells brought (a short sells first); ``closed_at`` is the time of the last
    closing fill (UTC, ISO 8601); ``side`` +1 long, -1 short. Its return is on the
    entry's dollars, as the backtest's is."""

    strategy: str
    symbol: str
    cost: float
    proceeds: float
    closed_at: str
    side: int = 1

    @property
    def pnl(self) -> float:
        return self.proceeds - self.cost

    @property
    def ret(self) -> float:
        entered = self.cost if self.side > 0 else self.proceeds
        return self.pnl / entered if entered else 0.0


def round_trips(fills: Iterable[Mapping[str, Any]], strategy_of: Mapping[str, str]) -> list[RoundTrip]:
    """The closed trades in ``fills`` (rows of the order store's ``fills`` table, in the
    order they happened; booked by :class:`kobe.risk.ledger.Ledger`), each attributed to
    the strategy of the order that opened it (``strategy_of``: client_order_id ->
    strategy; an adjustment fill of ``kobe reconcile --adopt`` that opens a position
    makes it ``adopted``). Positions still open are not trades yet."""
    open_: dict[str, list[Any]] = {}          # symbol -> [strategy, side, bought, sold]
    closed: list[RoundTrip] = []
    ledger = Ledger()
    for fill, shut, opened in ledger.walk(fills):
        symbol, price = str(fill["symbol"]), float(fill["price"])
        buy = fill["side"] == "buy"
        if shut is not None:
            trip = open_.pop(symbol)
            trip[2 if buy else 3] += shut.shares * price
            if ledger.books[symbol].qty == 0 or opened:
                closed.append(RoundTrip(trip[0], symbol, trip[2], trip[3], str(fill["at"]), trip[1]))
            else:
                open_[symbol] = trip
        if opened:
            new = float(fill["qty"]) - (shut.shares if shut is not None else 0.0)
            trip = open_.setdefault(symbol, [strategy_of.get(str(fill["client_order_id"]), "adopted"),
                                             1 if buy else -1, 0.0, 0.0])
            trip[2 if buy else 3] += new * price
    return closed


def live_returns(trips: Iterable[RoundTrip]) -> dict[str, list[float]]:
    """Per strategy, the returns of its closed live trades in the order they closed."""
    out: dict[str, list[float]] = {}
    for trip in sorted(trips, key=lambda t: t.closed_at):
        out.setdefault(trip.strategy, []).append(trip.ret)
    return out


def backtest_returns(results: Iterable[Any]) -> dict[str, list[float]]:
    """Per strategy, the ``return`` of each closed trade of a backtest's
    :class:`~kobe.backtest.engine.StrategyResult` values (open trades are not outcomes)."""
    return {r.name: [float(x) for x in r.trades["return"].to_list()] for r in results}
