"""Monte Carlo of a backtest's trades: how much of its result was the order of its luck.

A backtest gives one sequence of trades. Reordering them (or drawing them again) asks
what else the same edge could have produced: the final return may be similar, while the
drawdown on the way, the thing that makes a trader stop, may be much deeper.

The model (``docs/backtest.md``): the closed trades' dollar P&L, in the order they
closed (exit date, then entry date, then symbol), is applied one trade after another to
the initial cash; the account's value after each trade is the path. Each run builds one
path:

- **shuffle**: the same trades in a random order (a permutation). The final return is
  always the backtest's; only the path, so the drawdown, changes;
- **bootstrap**: as many trades as the backtest had, drawn with replacement, so some
  repeat and some are left out: the final return varies too.

Reported per method, over ``runs`` paths: percentiles of the final return (final value /
initial cash - 1) and of the maximum drawdown (the deepest fall from a running peak of
the path, the initial cash being the first peak, as a negative fraction, as in
:func:`kobe.backtest.metrics.max_drawdown`), and the **risk of ruin** at each level L:
the share of paths whose value falls to ``(1 - L)`` x the initial cash or below at some
point (L = 0.5: half the account lost).

Dollar P&L adds up rather than compounds: right for fixed-dollar sizing (the seed
strategies), an approximation when positions were sized in percent of a changing
equity. Trades still open at the end are left out (their P&L is not realised).

Seeded and reproducible: the same trades, ``runs`` and ``seed`` give the same numbers
(numpy's PCG64, drawn in fixed batches whatever the machine).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

METHODS = ("bootstrap", "shuffle")
PERCENTILES = (5.0, 25.0, 50.0, 75.0, 95.0)
RUIN_LEVELS = (0.1, 0.25, 0.5)
BATCH = 1_000    # paths drawn at once: memory is BATCH x trades floats; fixed, so results never depend on it


@dataclass(frozen=True)
class Paths:
    """Per run: the final return, the maximum drawdown, the lowest value over the
    initial cash (for the risk of ruin)."""

    final_return: np.ndarray
    max_drawdown: np.ndarray
    low: np.ndarray


def path_stats(pnl: np.ndarray, initial_cash: float) -> Paths:
    """The statistics of paths given as rows of P&L (one row per run, trades in order)."""
    values = initial_cash + np.cumsum(pnl, axis=1)
    start = np.full((values.shape[0], 1), float(initial_cash))
    path = np.concatenate([start, values], axis=1)
    peaks = np.maximum.accumulate(path, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(peaks > 0, path / peaks - 1, -1.0)
    return Paths(final_return=path[:, -1] / initial_cash - 1,
                 max_drawdown=np.maximum(depth.min(axis=1), -1.0),
                 low=path.min(axis=1) / initial_cash)


def resample(pnl: np.ndarray, initial_cash: float, *, method: str, runs: int, seed: int,
             step: Callable[[int], None] | None = None) -> Paths:
    """``runs`` paths of ``method`` (``bootstrap`` or ``shuffle``) over the trades' P&L;
    ``step(paths done)`` after each batch."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    # One stream per method, so adding runs of one never changes the other's.
    rng = np.random.default_rng([seed, METHODS.index(method)])
    parts: list[Paths] = []
    n = len(pnl)
    for done in range(0, runs, BATCH):
        size = min(BATCH, runs - done)
        if n == 0:
            drawn = np.zeros((size, 0))
        elif method == "bootstrap":
            drawn = pnl[rng.integers(0, n, size=(size, n))]
        else:
            drawn = rng.permuted(np.broadcast_to(pnl, (size, n)), axis=1)
        parts.append(path_stats(drawn, initial_cash))
        if step is not None:
            step(done + size)
    return Paths(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("final_return", "max_drawdown", "low")))


def trade_sequence(trades: pl.DataFrame) -> np.ndarray:
    """The closed trades' P&L in the order they closed: exit date, entry date, symbol."""
    if trades.is_empty():
        return np.zeros(0)
    return trades.sort("exit_date", "entry_date", "symbol", "strategy", maintain_order=True)["pnl"].to_numpy()


@dataclass(frozen=True)
class MonteCarloResult:
    """Per method: percentiles of the final return and the maximum drawdown, and the
    risk of ruin per level; ``actual``: the same figures of the trades in their real
    order; ``paths``: every run (``method, run, final_return, max_drawdown``)."""

    runs: int
    seed: int
    trades: int
    initial_cash: float
    percentiles: tuple[float, ...]
    ruin_levels: tuple[float, ...]
    actual: dict[str, float]
    methods: dict[str, dict[str, dict[str, float]]]
    paths: pl.DataFrame

    def to_dict(self) -> dict[str, object]:
        return {"runs": self.runs, "seed": self.seed, "trades": self.trades, "initial_cash": self.initial_cash,
                "actual": self.actual, "methods": self.methods}


def _label(p: float) -> str:
    return f"p{p:g}"


def monte_carlo(trades: pl.DataFrame, initial_cash: float, *, runs: int = 1_000, seed: int = 1,
                methods: Sequence[str] = METHODS, percentiles: Sequence[float] = PERCENTILES,
                ruin_levels: Sequence[float] = RUIN_LEVELS,
                progress: Callable[[int, int], None] | None = None) -> MonteCarloResult:
    """Resample the closed ``trades`` (a backtest's trades table) ``runs`` times per method."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    pnl = trade_sequence(trades)
    real = path_stats(pnl[None, :], initial_cash)
    actual = {"final_return": float(real.final_return[0]), "max_drawdown": float(real.max_drawdown[0])}
    out: dict[str, dict[str, dict[str, float]]] = {}
    frames = []
    for k, method in enumerate(methods):
        def step(done: int, k: int = k) -> None:
            if progress is not None:
                progress(k * runs + done, len(methods) * runs)

        paths = resample(pnl, initial_cash, method=method, runs=runs, seed=seed, step=step)
        out[method] = {
            "final_return": {_label(p): float(v) for p, v in zip(percentiles, np.percentile(paths.final_return,
                                                                                            percentiles))},
            "max_drawdown": {_label(p): float(v) for p, v in zip(percentiles, np.percentile(paths.max_drawdown,
                                                                                            percentiles))},
            "risk_of_ruin": {f"{level:g}": float(np.mean(paths.low <= 1 - level + 1e-12)) for level in ruin_levels},
        }
        frames.append(pl.DataFrame({"method": [method] * runs, "run": np.arange(1, runs + 1),
                                    "final_return": paths.final_return, "max_drawdown": paths.max_drawdown}))
    return MonteCarloResult(runs, seed, len(pnl), float(initial_cash), tuple(percentiles), tuple(ruin_levels),
                            actual, out, pl.concat(frames) if frames else pl.DataFrame())
