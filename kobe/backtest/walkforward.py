"""Walk-forward analysis: choose the params on the past, measure them on what followed.

The period is cut into folds. Each fold has a **train** window, on which every point of
the strategy's grid (:mod:`kobe.backtest.sweep`) is backtested and the best by the
chosen metric is picked, and the **test** window right after it, on which only that
point runs. The test windows follow each other without gaps or overlaps, so together
they are one out-of-sample period, measured by stitching their equity curves.

- **Rolling** splits slide both windows forward by the test length: every train window
  is ``train_months`` long. **Anchored** splits keep the train start fixed and grow the
  train window instead.
- **No lookahead**: a train run reads bars up to the train window's last session only
  (its open trades are marked there), a test run bars up to the test window's last
  session only. Bars *before* a window warm its indicators up, exactly as ``--start``
  does in ``kobe backtest``; they are the past, known at the window's start.
- **Stitching**: fold k's test account starts with the cash fold k-1's ended with
  (positions still held at a test window's end are marked at its last close, as a
  backtest's open trades; the next window starts flat). The out-of-sample metrics are
  those of the stitched curve and of all test trades; the benchmark is one equal-weight
  buy-and-hold over the whole out-of-sample period.
- Ties between points go to the earlier grid point; a metric that is undefined on the
  train window (no trade) ranks last.
- With ``--ray`` (:mod:`kobe.scale`) the folds' train sweeps, cut into blocks of points,
  run as Ray tasks; the test runs chain their cash, so they run here, in fold order.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import polars as pl

from kobe.backtest.benchmark import buy_and_hold
from kobe.backtest.engine import resolve_settings, run_strategy, strategy_gates
from kobe.backtest.market import Market, load_market, scoped_market
from kobe.backtest.metrics import Number, benchmark_metrics, compute_metrics
from kobe.backtest.sweep import (
    COMPILED_FROM,
    Grid,
    Progress,
    block_label,
    compile_grid,
    ranking,
    sweep_block,
)
from kobe.config.errors import Diagnostic, KobeError
from kobe.config.model import BacktestSettings
from kobe.project import Project
from kobe.scale import Executor, LocalExecutor, Task, split


@dataclass(frozen=True)
class Fold:
    """One split: the train window's first and last sessions, then the test window's."""

    index: int
    train_start: dt.date
    train_end: dt.date
    test_start: dt.date
    test_end: dt.date


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole calendar months, clipped to the month's end (Jan 31 + 1 = Feb 28)."""
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def make_folds(sessions: Sequence[dt.date], first: int, *, train_months: int, test_months: int,
               anchored: bool = False) -> list[Fold]:
    """The folds over ``sessions[first:]``: calendar windows, each kept to the sessions
    inside it. The last test window may be shorter than ``test_months`` (the data ends)."""
    if train_months < 1 or test_months < 1:
        raise ValueError("train_months and test_months must be at least 1")
    days = list(sessions[first:])
    folds: list[Fold] = []
    if not days:
        return folds
    origin = days[0]
    k = 0
    while True:
        train_from = origin if anchored else add_months(origin, k * test_months)
        test_from = add_months(origin, train_months + k * test_months)
        test_to = add_months(test_from, test_months)
        train = [d for d in days if train_from <= d < test_from]
        test = [d for d in days if test_from <= d < test_to]
        if not test or not train:
            return folds
        folds.append(Fold(k + 1, train[0], train[-1], test[0], test[-1]))
        k += 1


@dataclass(frozen=True)
class WalkForwardResult:
    """The folds (each with the point chosen, its train score and its test metrics),
    the stitched out-of-sample ``equity`` (``date, fold, cash, equity, positions,
    benchmark``), all test ``trades`` and ``open_trades`` (with their ``fold``)."""

    strategy: str
    metric: str
    anchored: bool
    params: list[str]
    folds: list[dict[str, object]]
    equity: pl.DataFrame
    trades: pl.DataFrame
    open_trades: pl.DataFrame
    initial_cash: float
    market: Market
    gated: bool

    def metrics(self) -> dict[str, Number]:
        return compute_metrics(self.trades, self.equity, self.initial_cash, self.open_trades)

    def benchmark_metrics(self) -> dict[str, Number]:
        return benchmark_metrics(self.equity.select("date", pl.col("benchmark").alias("equity")), self.initial_cash)


def run_walkforward(project: Project, bars: pl.LazyFrame | pl.DataFrame, name: str, *, train_months: int,
                    test_months: int, anchored: bool = False, metric: str = "sharpe",
                    universe: Sequence[str] | None = None, start: dt.date | None = None,
                    end: dt.date | None = None, gates: bool | None = None,
                    progress: Progress | None = None, executor: Executor | None = None) -> WalkForwardResult:
    """Walk ``name``'s grid forward over ``bars`` (the module doc). ``start`` is the
    first train window's start (earlier bars warm up only); ``end`` the last bar read.
    ``executor`` (:mod:`kobe.scale`) runs the train sweeps, in this process by default."""
    grid = compile_grid(project, name)
    symbols = list(universe) if universe is not None else project.universe(project.strategy(name).config)
    full = scoped_market(bars, symbols, end)
    first = full.session_index(start)
    folds = make_folds(full.sessions, first, train_months=train_months, test_months=test_months,
                       anchored=anchored)
    if not folds:
        span = f"{full.sessions[min(first, len(full.sessions) - 1)]} .. {full.sessions[-1]}"
        raise KobeError(Diagnostic(f"the period {span} is shorter than one train window and a test window",
                                   hint=f"{train_months} + {test_months} months are needed: use shorter windows "
                                        f"or an earlier --start"))
    settings = resolve_settings(project, name)
    total = len(folds) * (len(grid) + 1)
    executor = executor or LocalExecutor()
    # The train sweeps do not depend on each other (only the test runs chain their cash):
    # all of them first, as (fold, block of points) tasks, then the tests in fold order.
    shared = executor.share(project), executor.share(full), executor.share(grid)
    compiled_loop = len(grid) >= COMPILED_FROM
    tasks = [Task(train_block, (*shared, name, symbols, fold.train_start, fold.train_end, gates, settings, points,
                                compiled_loop), f"fold {fold.index}'s {block_label(grid, points)}",
                  weight=len(points))
             for fold in folds for points in split(executor, len(grid))]
    blocks = iter(executor.map(tasks, None if progress is None else lambda done, _: progress(done, total)))
    train_scores = [[score for _ in split(executor, len(grid)) for score in next(blocks)] for _ in folds]
    step = None if progress is None else _steps(progress, len(folds) * len(grid), total)
    cash = settings.initial_cash
    rows: list[dict[str, object]] = []
    equities, trades, held = [], [], []
    gated = False
    for fold, scores in zip(folds, train_scores):
        best = ranking(scores, metric)[0]
        test = _until(full, fold.test_end)
        test_gates = strategy_gates(project, name, test, gates)
        gated = test_gates is not None
        outcome = run_strategy(grid.standalone(best), test, replace(settings, initial_cash=cash), symbols=symbols,
                               first_session=test.session_index(fold.test_start), gates=test_gates)
        if step is not None:
            step()
        measured = outcome.metrics()
        rows.append({
            "fold": fold.index, "train_start": fold.train_start.isoformat(), "train_end": fold.train_end.isoformat(),
            "test_start": fold.test_start.isoformat(), "test_end": fold.test_end.isoformat(),
            **grid.points[best], "point": best, f"train_{metric}": scores[best].get(metric),
            "test_total_return": measured["total_return"], "test_sharpe": measured["sharpe"],
            "test_max_drawdown": measured["max_drawdown"], "test_trades": measured["trades"],
            "test_final_equity": measured["final_equity"],
        })
        tag = pl.lit(fold.index, dtype=pl.Int64).alias("fold")
        equities.append(outcome.equity.select("date", tag, "cash", "equity", "positions"))
        trades.append(outcome.trades.with_columns(tag))
        held.append(outcome.open_trades.with_columns(tag))
        cash = float(outcome.equity["equity"][-1])
    equity = pl.concat(equities)
    oos_first = full.session_index(folds[0].test_start)
    oos_last = full.session_index(folds[-1].test_end, after=False)
    benchmark = buy_and_hold(full, symbols, settings.initial_cash, oos_first)[: oos_last - oos_first + 1]
    equity = equity.with_columns(pl.Series("benchmark", benchmark))
    return WalkForwardResult(name, metric, anchored, grid.params, rows, equity, pl.concat(trades),
                             pl.concat(held), settings.initial_cash, full, gated)


def train_block(project: Project, full: Market, grid: Grid, name: str, symbols: Sequence[str], train_start: dt.date,
                train_end: dt.date, gates: bool | None, settings: BacktestSettings, points: range,
                compiled_loop: bool, *, step: Callable[[], None] | None) -> list[dict[str, Number]]:
    """The metrics of ``points`` of the grid over one fold's train window: one task of
    a walk-forward (:mod:`kobe.scale`). The window's market and gates are derived here
    from the full market, which reaches a worker once."""
    train = _until(full, train_end)
    train_gates = strategy_gates(project, name, train, gates)
    summaries = sweep_block(grid, train, settings, symbols, train.session_index(train_start), train_gates, points,
                            compiled_loop, step=step)
    return [metrics for metrics, _, _ in summaries]


def _steps(progress: Progress, done: int, total: int) -> Callable[[], None]:
    """A step callback counting on from ``done`` of ``total``."""
    count = [done]

    def step() -> None:
        count[0] += 1
        progress(count[0], total)

    return step


def _until(market: Market, last: dt.date) -> Market:
    """``market`` without the bars after ``last``: what a run ending there may read."""
    return load_market(market.bars.lazy().filter(pl.col("date") <= last))
