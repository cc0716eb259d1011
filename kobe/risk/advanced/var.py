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

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from kobe.config.model import VaRSettings
from kobe.decide.decision import Decision


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


# risk.yaml's words for the simulation methods: "historical" is the bootstrap of whole days.
METHODS = {"normal": "normal", "historical": "bootstrap"}


def last_closes(bars: pl.LazyFrame | pl.DataFrame, symbols: Collection[str], before: dt.date) -> dict[str, float]:
    """Each symbol's last close before ``before``: what a position held is worth for the
    VaR (the bars of today are not complete yet)."""
    frame = bars.lazy() if isinstance(bars, pl.DataFrame) else bars
    rows = (frame.filter(pl.col("symbol").is_in(list(symbols)) & (pl.col("date") < before))
            .sort("symbol", "date").group_by("symbol").agg(pl.col("close").last()).collect())
    return {r["symbol"]: float(r["close"]) for r in rows.iter_rows(named=True) if r["close"] is not None}


@dataclass(frozen=True)
class VaRLimit:
    """The VaR gate: the book with the new position may lose at most ``max_usd`` at
    ``confidence`` over ``horizon_days`` (:func:`monte_carlo_var`, a fixed seed so the
    same book and history always give the same decision).

    The returns used are the last ``lookback_days`` sessions on which every symbol of
    the book and the candidate traded. With fewer than ``min_days`` such sessions the
    risk cannot be measured, and the entry is blocked: unlike the correlation limit,
    this is a cap on dollars at risk, so it fails closed.
    """

    max_usd: float
    confidence: float = 0.95
    horizon_days: int = 1
    lookback_days: int = 250
    method: str = "normal"
    simulations: int = 20_000
    min_days: int = 20

    @classmethod
    def from_config(cls, settings: VaRSettings) -> "VaRLimit":
        return cls(settings.max_usd, settings.confidence, settings.horizon_days, settings.lookback_days,
                   METHODS[settings.method])

    def check(self, symbol: str, order_usd: float, book: Mapping[str, float], returns: pl.DataFrame) -> Decision:
        """``book``: dollars held per symbol (market value); ``returns`` as
        :func:`kobe.risk.advanced.correlation.daily_returns` makes it."""
        after = dict(book)
        after[symbol] = after.get(symbol, 0.0) + order_usd
        names = sorted(s for s, usd in after.items() if abs(usd) > 1e-12)
        missing = [s for s in names if s not in returns.columns]
        history = returns.select(names).drop_nulls().tail(self.lookback_days) if not missing else None
        if history is None or history.height < self.min_days:
            days = 0 if history is None else history.height
            return Decision.block("var", f"not enough common history to measure the VaR of the book with {symbol} "
                                         f"({days} sessions, at least {self.min_days})")
        result = monte_carlo_var(after, history.to_numpy(), names, confidence=self.confidence,
                                 horizon_days=self.horizon_days, simulations=self.simulations, method=self.method)
        if result.var > self.max_usd + 1e-9:
            return Decision.block("var", f"{self.confidence * 100:g}% {self.horizon_days}-day VaR of the book with "
                                         f"{symbol} would be ${result.var:,.2f}, above ${self.max_usd:,.2f}")
        return Decision.allow("var")
