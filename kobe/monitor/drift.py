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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


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
