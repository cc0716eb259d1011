"""Monte Carlo value at risk of the book: how much the positions held could lose.

The book is dollars per symbol (positive long). Daily returns of the same symbols
(rows = days, columns = symbols, simple returns) describe how they move together.
Two ways to draw ``simulations`` scenarios of the next ``horizon_days``:

``normal``
    multivariate normal with the returns' mean vector and covariance matrix (via a
    Cholesky factor, so correlations are kept); the horizon's return is the sum of
    ``horizon_days`` independent daily draws (mean × h, covariance × h);
``bootstrap``
    whole historical days drawn with replacement (each draw keeps that day's joint
    move of every symbol, fat tails included), compounded over the horizon.

The scenario P&L is ``Σ dollars_i × r_i``. **VaR** at confidence ``c`` is the loss not
exceeded with probability ``c``: ``-quantile(P&L, 1 - c)`` (never negative). **CVaR**
(expected shortfall) is the mean loss in the scenarios at or beyond the VaR.

For one position of $V with normal daily returns of mean 0 and deviation σ, the
1-day 95% VaR is ``1.645 σ V`` (z of 0.95); the tests hold the simulation to that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VaR:
    var: float              # dollars
    cvar: float             # dollars, ≥ var
    confidence: float
    horizon_days: int
    simulations: int


def monte_carlo_var(book: Mapping[str, float], returns: Mapping[str, np.ndarray] | np.ndarray,
                    symbols: list[str] | None = None, *, confidence: float = 0.95, horizon_days: int = 1,
                    simulations: int = 20_000, method: str = "normal", seed: int = 0) -> VaR:
    """The VaR and CVaR of ``book`` (module doc). ``returns`` is a mapping symbol → daily
    returns (equal lengths, aligned by day) or a days × symbols array in ``symbols`` order."""
    if not 0 < confidence < 1 or horizon_days < 1 or simulations < 1:
        raise ValueError("confidence in (0, 1), horizon_days ≥ 1, simulations ≥ 1")
    names = list(symbols) if symbols is not None else sorted(book)
    if not names or all(abs(book.get(s, 0.0)) < 1e-12 for s in names):
        return VaR(0.0, 0.0, confidence, horizon_days, simulations)
    if isinstance(returns, np.ndarray):
        matrix = np.asarray(returns, dtype=float)
    else:
        matrix = np.column_stack([np.asarray(returns[s], dtype=float) for s in names])
    if matrix.ndim != 2 or matrix.shape[1] != len(names) or matrix.shape[0] < 2:
        raise ValueError("returns must be days × symbols with at least two days")
    dollars = np.array([book.get(s, 0.0) for s in names], dtype=float)
    rng = np.random.default_rng(seed)
    if method == "normal":
        mean = matrix.mean(axis=0) * horizon_days
        cov = np.atleast_2d(np.cov(matrix, rowvar=False)) * horizon_days
        # eigh tolerates the singular matrices of perfectly correlated names (Cholesky does not)
        values, vectors = np.linalg.eigh(cov)
        factor = vectors * np.sqrt(np.clip(values, 0.0, None))
        scenarios = mean + rng.standard_normal((simulations, len(names))) @ factor.T
    elif method == "bootstrap":
        days = rng.integers(0, matrix.shape[0], size=(simulations, horizon_days))
        scenarios = np.prod(1.0 + matrix[days], axis=1) - 1.0
    else:
        raise ValueError(f"method is 'normal' or 'bootstrap', not {method!r}")
    pnl = scenarios @ dollars
    cut = np.quantile(pnl, 1.0 - confidence)
    var = max(0.0, -float(cut))
    tail = pnl[pnl <= cut]
    cvar = max(var, -float(tail.mean())) if tail.size else var
    return VaR(var, cvar, confidence, horizon_days, simulations)
