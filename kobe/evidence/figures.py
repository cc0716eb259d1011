"""The evidence gate's statistics, each from its paper (``docs/evidence.md``).

- :func:`probabilistic_sharpe`: the probability that the true Sharpe ratio exceeds a
  benchmark, given the estimate's sample length, skewness and kurtosis (Bailey & López
  de Prado 2012, "The Sharpe Ratio Efficient Frontier");
- :func:`expected_max_sharpe` and :func:`deflated_sharpe`: the same probability with
  the benchmark raised to the Sharpe ratio the best of N unskilled trials would show
  (Bailey & López de Prado 2014, "The Deflated Sharpe Ratio");
- :func:`pbo`: the probability of backtest overfitting by combinatorially symmetric
  cross-validation (Bailey, Borwein, López de Prado & Zhu 2015, "The Probability of
  Backtest Overfitting");
- :func:`param_stability`: how much of a point's Sharpe its neighbours keep.

Sharpe ratios here are per period (not annualised), as the papers write them: the
sample length T is the number of periods, and the variance of the trials' Sharpe ratios
is of per-period values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

EULER_GAMMA = float(np.euler_gamma)


def probabilistic_sharpe(sharpe: float, benchmark: float, periods: int, skew: float, kurtosis: float) -> float:
    """PSR(SR*) = Φ((SR − SR*) √(T − 1) / √(1 − γ₃ SR + (γ₄ − 1)/4 SR²)).

    ``sharpe`` (SR) and ``benchmark`` (SR*) per period, ``periods`` T, ``skew`` γ₃ and
    ``kurtosis`` γ₄ the returns' (Pearson's, not excess: 3 for a normal)."""
    if periods < 2:
        raise ValueError("the PSR needs at least two periods")
    spread = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe ** 2
    if spread <= 0:
        # Only for impossible moments (γ₄ < 1 + γ₃²): no standard error, no probability.
        raise ValueError("the skewness and kurtosis give the Sharpe ratio no variance")
    return float(stats.norm.cdf((sharpe - benchmark) * math.sqrt(periods - 1) / math.sqrt(spread)))


def expected_max_sharpe(trials: int, variance: float) -> float:
    """E[max SR] of ``trials`` unskilled trials whose Sharpe ratios vary with ``variance``:
    √V · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e))), γ Euler-Mascheroni's constant.
    One trial (or no variation) has nothing to deflate: 0."""
    if trials < 1:
        raise ValueError("trials must be at least 1")
    if trials == 1 or variance <= 0:
        return 0.0
    z = (1 - EULER_GAMMA) * stats.norm.ppf(1 - 1 / trials) + EULER_GAMMA * stats.norm.ppf(1 - 1 / (trials * math.e))
    return float(math.sqrt(variance) * z)


def deflated_sharpe(sharpe: float, trials: int, variance: float, periods: int, skew: float,
                    kurtosis: float) -> float:
    """DSR = PSR(E[max SR]): the probability that the true Sharpe ratio is above what
    the best of ``trials`` unskilled variants would show by luck (per-period values)."""
    return probabilistic_sharpe(sharpe, expected_max_sharpe(trials, variance), periods, skew, kurtosis)


def moments(returns: np.ndarray) -> tuple[float, float]:
    """The returns' skewness and Pearson kurtosis (3 for a normal), as the PSR wants
    them; (0, 3) when they are undefined (no variation)."""
    r = np.asarray(returns, dtype=float)
    if len(r) < 2 or float(np.std(r)) == 0.0:
        return 0.0, 3.0
    return float(stats.skew(r)), float(stats.kurtosis(r, fisher=False))


@dataclass(frozen=True)
class CSCV:
    """The result of :func:`pbo`: the PBO, every combination's logit λ, and how many
    combinations (C(S, S/2)) and splits S were used."""

    pbo: float
    logits: np.ndarray
    combinations: int
    splits: int


def _sharpe_columns(total: np.ndarray, squares: np.ndarray, count: int) -> np.ndarray:
    """Per-column Sharpe (ddof 1) from the sums and sums of squares of ``count`` rows; a
    column without variation scores 0 (it neither wins nor loses)."""
    mean = total / count
    var = (squares - count * mean ** 2) / (count - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(var > 1e-18 * np.maximum(1.0, squares / count), mean / np.sqrt(np.maximum(var, 0)), 0.0)
    return np.asarray(out, dtype=float)


def pbo(matrix: np.ndarray, splits: int = 16) -> CSCV:
    """The probability of backtest overfitting of choosing the best column of ``matrix``
    (T periods × N strategies of per-period returns) by its Sharpe ratio.

    CSCV: the rows are cut into ``splits`` (S, even) contiguous blocks of equal length
    (the last T mod S rows dropped). For each of the C(S, S/2) ways of taking half the
    blocks as in-sample (the rest out-of-sample), the strategy n* with the best
    in-sample Sharpe is chosen; ω = its out-of-sample rank among the N (1 the worst,
    ties averaged) / (N + 1), and λ = ln(ω / (1 − ω)). PBO is the share of combinations
    with λ ≤ 0: the chosen strategy did no better than the median out of sample.
    """
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError("CSCV needs a matrix of at least two strategies")
    if splits < 2 or splits % 2:
        raise ValueError("the number of splits must be even and at least 2")
    rows = m.shape[0] // splits
    if rows < 2:
        raise ValueError(f"{m.shape[0]} periods are too few for {splits} splits (at least 2 each)")
    blocks = m[: rows * splits].reshape(splits, rows, m.shape[1])
    # Sums per block, so each combination's Sharpe is a sum over blocks, not over rows.
    sums, squares = blocks.sum(axis=1), (blocks ** 2).sum(axis=1)
    everything, every_square = sums.sum(axis=0), squares.sum(axis=0)
    half = splits // 2
    n = m.shape[1]
    # Every combination at once: a 0/1 matrix (combinations x blocks) times the blocks' sums.
    chosen = np.zeros((math.comb(splits, half), splits))
    for row, pick in enumerate(combinations(range(splits), half)):
        chosen[row, list(pick)] = 1.0
    in_total, in_squares = chosen @ sums, chosen @ squares
    inside = _sharpe_columns(in_total, in_squares, half * rows)
    outside = _sharpe_columns(everything - in_total, every_square - in_squares, (splits - half) * rows)
    best = np.argmax(inside, axis=1)                  # the first of equals, as np.argmax
    mine = outside[np.arange(len(best)), best][:, None]
    # Its rank among the N out of sample, ties averaged (as scipy's rankdata): 1 the worst.
    rank = np.sum(outside < mine, axis=1) + (np.sum(outside == mine, axis=1) + 1) / 2
    omega = rank / (n + 1)
    lam = np.log(omega / (1 - omega))
    return CSCV(float(np.mean(lam <= 0)), lam, len(lam), splits)


def param_stability(point: float | None, neighbours: Sequence[float | None]) -> float | None:
    """The median over the neighbours of (neighbour's Sharpe / the point's Sharpe): 1
    when the neighbours do as well, 0.5 when the typical neighbour keeps half. A
    neighbour with no Sharpe (no trade) counts as 0; ``None`` when the point has no
    positive Sharpe (there is nothing to keep) or there is no neighbour."""
    if point is None or point <= 0 or not neighbours:
        return None
    return float(np.median([(s if s is not None else 0.0) / point for s in neighbours]))
