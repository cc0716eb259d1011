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
(numpy's PCG64, drawn in fixed batches whatever the machine). Each batch of
:data:`BATCH` paths has its own stream (:func:`batch_rng`), so the numbers are the same
whether one process draws every batch or Ray tasks draw them (``--ray``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from kobe.scale import Executor, LocalExecutor, Task, split

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
    done = [0]

    def batch_done(size: int) -> None:
        done[0] += size
        if step is not None:
            step(done[0])

    return resample_batches(pnl, initial_cash, method=method, runs=runs, seed=seed,
                            batches=range(batches(runs)), step=batch_done)


def batches(runs: int) -> int:
    """How many :data:`BATCH` batches ``runs`` paths take (the last may be short)."""
    return -(-runs // BATCH)


def batch_rng(seed: int, method: str, batch: int) -> np.random.Generator:
    """The generator of one batch of one method: its own stream, so a batch draws the
    same paths whichever process draws it and whichever batches run before it (the Ray
    run splits a method's batches across tasks, docs/scale.md). One stream per method,
    so adding runs of one never changes the other's; batch 0's stream is the method's
    stream of before per-batch streams, so runs up to :data:`BATCH` keep their numbers."""
    key = [seed, METHODS.index(method)] + ([batch] if batch else [])
    return np.random.default_rng(key)


def resample_batches(pnl: np.ndarray, initial_cash: float, *, method: str, runs: int, seed: int,
                     batches: range, step: Callable[[int], None] | None = None) -> Paths:
    """The paths of ``batches`` (indices of :data:`BATCH` batches) of ``runs`` paths:
    one task of a Monte Carlo run; ``step(paths)`` after each batch."""
    parts: list[Paths] = []
    n = len(pnl)
    for batch in batches:
        size = min(BATCH, runs - batch * BATCH)
        rng = batch_rng(seed, method, batch)
        if n == 0:
            drawn = np.zeros((size, 0))
        elif method == "bootstrap":
            drawn = pnl[rng.integers(0, n, size=(size, n))]
        else:
            drawn = rng.permuted(np.broadcast_to(pnl, (size, n)), axis=1)
        parts.append(path_stats(drawn, initial_cash))
        if step is not None:
            step(size)
    return Paths(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("final_return", "max_drawdown", "low")))


def _resample_task(pnl: np.ndarray, initial_cash: float, method: str, runs: int, seed: int, batches: range, *,
                   step: Callable[[int], None] | None) -> Paths:
    """:func:`resample_batches` as a :class:`kobe.scale.Task` (its ``step`` counts paths)."""
    return resample_batches(pnl, initial_cash, method=method, runs=runs, seed=seed, batches=batches, step=step)


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


def _parts(executor: Executor, count: int) -> list[range]:
    """A method's batches as the executor's tasks take them: all in one locally."""
    return split(executor, count)


def _label(p: float) -> str:
    return f"p{p:g}"


def monte_carlo(trades: pl.DataFrame, initial_cash: float, *, runs: int = 1_000, seed: int = 1,
                methods: Sequence[str] = METHODS, percentiles: Sequence[float] = PERCENTILES,
                ruin_levels: Sequence[float] = RUIN_LEVELS,
                progress: Callable[[int, int], None] | None = None,
                executor: Executor | None = None) -> MonteCarloResult:
    """Resample the closed ``trades`` (a backtest's trades table) ``runs`` times per method;
    ``executor`` (:mod:`kobe.scale`) draws the batches, in this process by default."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    pnl = trade_sequence(trades)
    real = path_stats(pnl[None, :], initial_cash)
    actual = {"final_return": float(real.final_return[0]), "max_drawdown": float(real.max_drawdown[0])}
    out: dict[str, dict[str, dict[str, float]]] = {}
    frames = []
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}")
    executor = executor or LocalExecutor()
    shared = executor.share(pnl)
    tasks = [Task(_resample_task, (shared, initial_cash, method, runs, seed, part),
                  f"{method} paths {part[0] * BATCH + 1}..{min(runs, (part[-1] + 1) * BATCH)}",
                  weight=min(runs, (part[-1] + 1) * BATCH) - part[0] * BATCH)
             for method in methods for part in _parts(executor, batches(runs))]
    drawn = iter(executor.map(tasks, progress))
    for method in methods:
        parts = [next(drawn) for _ in _parts(executor, batches(runs))]
        paths = Paths(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("final_return", "max_drawdown",
                                                                                 "low")))
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
