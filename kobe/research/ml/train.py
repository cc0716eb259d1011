"""Training the meta-model of a strategy: labels, features, walk-forward folds, figures.

- **Labels** are the strategy's own backtest trades, closed ones only (an open trade's
  outcome is not known): a win is a net P&L above zero. The strategy runs *without* its
  ``meta_prob`` filters (:meth:`~kobe.strategy.CheckedStrategy.primary`): the primary
  model proposes, the meta-model only filters, so its labels cannot depend on itself.
- **Features** are the feature definitions' values on each trade's signal bar
  (:mod:`kobe.research.ml.features`).
- **Folds** (:mod:`kobe.research.ml.folds`): fold k's model trains on the trades whose
  exits precede its test period less the embargo, and scores the trades signalled in
  its test period. Their probabilities, pooled, are the out-of-sample figures.
- The **final** model trains on every closed trade: the one the scan and live trading
  use, on bars after the data it was trained on.

Each fold's fit and the final fit is one :class:`~kobe.scale.Task` (:func:`fit_task`),
run by the executor (this process, or Ray with ``--ray``: docs/scale.md), as a pure
function of bytes to bytes: its inputs are pickled by the driver and unpickled by the
task, its result pickled by the task and unpickled by the driver, in both executors.
So a model is the same objects whichever process fitted it, and the model file the
same bytes. Pickle writes an object met twice once and then refers back to it, so the
bytes depend on which objects are shared, not only on their values: fitted in one
process, the folds' models share objects (numpy's dtype singletons, strings), and an
array that crossed a process boundary carries its own copy of its dtype (numpy
unpickles a dtype as a copy), which the fitted model's arrays inherit.
"""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from kobe.backtest.engine import resolve_settings, run_strategy, strategy_gates
from kobe.backtest.market import Market, scoped_market
from kobe.config.errors import Diagnostic, KobeError
from kobe.project import Project, shown
from kobe.research.library import Entry
from kobe.research.ml import model as mdl
from kobe.research.ml.features import check_features, default_features, feature_frame
from kobe.research.ml.folds import Fold, default_embargo, make_folds
from kobe.scale import Executor, LocalExecutor, Task
from kobe.strategy import compile_strategy

DEFAULT_FOLDS = 5
MIN_TRAIN = 40      # trades a fold's model needs at least (both classes among them)
MIN_TEST = 10       # trades a fold's test period needs at least


@dataclass
class Window:
    """Dates a model's probabilities are used for (``end`` None: on and on)."""

    start: dt.date
    end: dt.date | None
    model: Any


@dataclass
class TrainResult:
    strategy: str
    features: list[str]
    embargo: int
    folds: list[dict[str, Any]]        # per fold: dates, train trades, method, figures
    overall: dict[str, Any]            # the pooled out-of-sample figures
    oos: pl.DataFrame                  # the test trades: symbol, signal_date, exit_date, won, prob, fold
    final: Any
    windows: list[Window]
    trades: int
    wins: int
    first_signal: dt.date
    last_exit: dt.date
    data_end: dt.date
    market: Market = field(repr=False)


def labelled_trades(project: Project, name: str, bars: pl.LazyFrame | pl.DataFrame) -> tuple[Market, pl.DataFrame]:
    """The market of ``name``'s universe and the closed trades of its primary model
    (without the ``meta_prob`` filters), with ``won``."""
    checked = project.strategy(name)
    compiled = compile_strategy(checked.primary())
    symbols = project.universe(checked.config)
    market = scoped_market(bars, symbols)
    result = run_strategy(compiled, market, resolve_settings(project, name), symbols=symbols,
                          gates=strategy_gates(project, name, market, None))
    trades = result.trades.with_columns((pl.col("pnl") > 0).cast(pl.Int8).alias("won"))
    return market, trades.sort("signal_date", "symbol", maintain_order=True)


def resolve_features(project: Project, names: Sequence[str] | None) -> dict[str, Entry]:
    chosen = list(names) if names else default_features(project.definitions)
    return check_features(project.definitions, chosen)


def train(project: Project, name: str, bars: pl.LazyFrame | pl.DataFrame, *, features: Sequence[str] | None = None,
          folds: int = DEFAULT_FOLDS, embargo: int | None = None, executor: Executor | None = None) -> TrainResult:
    """Train ``name``'s meta-model over ``bars`` (the module doc); ``executor``
    (:mod:`kobe.scale`) runs the fits, in this process by default."""
    checked = resolve_features(project, features)
    project.strategy(name)
    market, trades = labelled_trades(project, name, bars)
    location = project.strategy(name).config.location
    where = shown(project.config.strategies_file)

    def at(message: str, hint: str | None = None) -> Diagnostic:
        # At the strategy's entry in strategies.yaml: the trades are its.
        return location.diagnostic(message, hint=hint) if location is not None else \
            Diagnostic(message, file=where, hint=hint)
    if trades.height < MIN_TRAIN + MIN_TEST:
        raise KobeError(at(f"strategy {name!r} has {trades.height} closed trades in the data; the meta-model "
                           f"needs at least {MIN_TRAIN + MIN_TEST}",
                           hint="use more data (--data) or a strategy that trades more"))
    values = feature_frame(market.bars, checked, presorted=True).collect()
    table = trades.join(values, left_on=["symbol", "signal_date"], right_on=["symbol", "date"], how="left")
    X = table.select(list(checked)).to_numpy().astype(float)
    y = table["won"].to_numpy().astype(int)
    signal = table["signal_date"].to_numpy().astype("datetime64[D]")
    exit_ = table["exit_date"].to_numpy().astype("datetime64[D]")
    first_signal: dt.date = table["signal_date"][0]
    span = len(market.sessions) - market.session_index(first_signal)
    embargo = default_embargo(span) if embargo is None else embargo
    # The inner folds' embargo in calendar days: sessions are about 5 in 7.
    inner_embargo = np.timedelta64(embargo * 7 // 5 + 1, "D")
    plan = make_folds(market.sessions, first_signal, folds, embargo)
    _check_sizes(name, at, folds, plan, signal, exit_, y)
    # One task per fold, then the final model's on every trade: pickled in, pickled out
    # (the module doc); the trades go to the workers once.
    chosen = executor or LocalExecutor()
    trades_ = chosen.share(_pickled((X, y, signal, exit_)))
    tasks = [Task(fit_task, (trades_, _pickled((np.flatnonzero(fold.trains(exit_)), np.flatnonzero(fold.tests(signal)),
                                                inner_embargo))), f"fold {fold.index} of {name!r}") for fold in plan]
    tasks.append(Task(fit_task, (trades_, _pickled((np.arange(len(y)), np.arange(0), inner_embargo))),
                      f"the final model of {name!r}"))
    fits = [_unpickle(blob) for blob in chosen.map(tasks)]
    rows: list[dict[str, Any]] = []
    windows: list[Window] = []
    tested = []
    for fold, fitted_fold in zip(plan, fits):
        if isinstance(fitted_fold, str):
            raise KobeError(at(f"fold {fold.index} of {name!r} cannot be trained: {fitted_fold}",
                               hint=f"ask fewer folds (--folds {max(1, folds - 1)}) or use more data"))
        fitted, method, holdout, p = fitted_fold
        test_rows = np.flatnonzero(fold.tests(signal))
        figures = mdl.scores(y[test_rows], p)
        rows.append({"fold": fold.index, "train_trades": int(fold.trains(exit_).sum()),
                     "train_before": fold.train_before.isoformat(), "test_start": fold.test_start.isoformat(),
                     "test_end": fold.test_end.isoformat(), "calibration": method,
                     "holdout_brier": holdout, **figures})
        windows.append(Window(fold.test_start, fold.test_end, fitted))
        tested.append(table[test_rows].select("symbol", "signal_date", "exit_date", "won").with_columns(
            pl.Series("prob", p), pl.lit(fold.index).alias("fold")))
    oos = pl.concat(tested)
    overall = mdl.scores(oos["won"].to_numpy(), oos["prob"].to_numpy())
    if isinstance(fits[-1], str):
        raise KobeError(at(f"the final model of {name!r} cannot be trained: {fits[-1]}"))
    final, method, _holdout, _p = fits[-1]
    overall["final_calibration"] = method
    data_end = market.sessions[-1]
    windows.append(Window(data_end + dt.timedelta(days=1), None, final))
    return TrainResult(name, list(checked), embargo, rows, overall, oos, final, windows, len(y),
                       int(y.sum()), first_signal, max(table["exit_date"]), data_end, market)


def fit_task(trades: bytes, rows: bytes, *, step: Callable[..., None] | None) -> bytes:
    """One fit, a :class:`~kobe.scale.Task`, bytes to bytes (the module doc): ``trades``
    (features, wins, signal and exit dates) and ``rows`` (the training rows, the test
    rows and the calibration embargo) pickled; returns the model fitted on the training
    rows, its calibration method, held-out Brier scores and win probabilities of the
    test rows, pickled; or the reason it cannot be fitted
    (:class:`~kobe.research.ml.model.FitError`), pickled."""
    X, y, signal, exit_ = _unpickle(trades)
    train_rows, test_rows, embargo = _unpickle(rows)
    try:
        fitted, method, holdout = mdl.fit(X[train_rows], y[train_rows], signal[train_rows], exit_[train_rows],
                                          embargo)
    except mdl.FitError as err:
        result: Any = str(err)
    else:
        p = mdl.win_probability(fitted, X[test_rows]) if len(test_rows) else np.zeros(0)
        result = (fitted, method, holdout, p)
    if step is not None:
        step()
    return _pickled(result)


def _pickled(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _unpickle(blob: bytes) -> Any:
    # Only this command's own bytes: what train() and fit_task pickled.
    return pickle.loads(blob)


def _check_sizes(name: str, at: Callable[..., Diagnostic], asked: int, plan: list[Fold], signal: np.ndarray,
                 exit_: np.ndarray, y: np.ndarray) -> None:
    """Every fold has enough training trades of both classes and enough test trades."""
    problems = []
    for fold in plan:
        train = fold.trains(exit_)
        test = int(fold.tests(signal).sum())
        classes = len(np.unique(y[train]))
        if train.sum() < MIN_TRAIN or classes < 2 or test < MIN_TEST:
            problems.append(f"fold {fold.index} ({fold.test_start} .. {fold.test_end}) would train on "
                            f"{int(train.sum())} trades and test {test}")
    if len(plan) < asked:
        problems.append(f"the data has sessions for {len(plan)} test periods only")
    if problems:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise KobeError(at(
            f"strategy {name!r} has too few trades ({len(y)}) for {asked} folds: {'; '.join(problems[:3])}{more}",
            hint=f"each fold needs {MIN_TRAIN} training trades (wins and losses) and {MIN_TEST} test trades: "
                 f"ask fewer --folds or use more data"))
