"""The evidence gate: every figure of a strategy against risk.yaml's ``evidence:``.

:func:`evaluate` runs what the figures need over the project's bars with the backtest's
own library (``docs/evidence.md``):

1. the **neighbourhood**: the strategy at its ``params`` (point 0), then each numeric
   param moved one step down and one step up, the others kept (``±neighbour_step_pct``
   percent of the value, at least 1 for a whole number: ``trend_bars: 200`` gives 180
   and 220, ``hold_bars: 5`` gives 4 and 6). A neighbour the checker refuses (a window
   of 0) is left out. Every point is backtested in its own account over the whole data
   (one :func:`~kobe.backtest.sweep.run_grid`, as ``kobe sweep``);
2. from point 0's run: its closed **trades**, the **Monte Carlo** 5th percentile of the
   bootstrapped maximum drawdown (:func:`~kobe.backtest.montecarlo.monte_carlo`), and
   the **deflated Sharpe ratio** of its daily returns, the number of variants tried
   being the neighbourhood's points unless the caller says more were tried;
3. the **walk-forward** out-of-sample Sharpe (:func:`~kobe.backtest.walkforward.run_walkforward`
   over the strategy's own grid: for a strategy without swept params, its stitched
   test windows, nothing chosen on them);
4. **CSCV** over the neighbourhood's daily returns (sessions × points), and the
   **parameter stability** of point 0 among its neighbours.

A figure that cannot be computed (no trade, too few sessions) is ``None`` and fails.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from kobe.backtest.engine import StrategyResult, resolve_settings, strategy_gates
from kobe.backtest.market import Market, scoped_market
from kobe.backtest.metrics import returns, sharpe_per_period
from kobe.backtest.montecarlo import monte_carlo
from kobe.backtest.receipt import data_sha256, kobe_version
from kobe.backtest.sweep import Grid, point_text, run_grid
from kobe.backtest.walkforward import run_walkforward
from kobe.config.errors import Diagnostic, KobeError
from kobe.config.model import EvidenceSettings
from kobe.dsl.compile import Compiler
from kobe.evidence import figures
from kobe.project import Project
from kobe.strategy import (
    CheckedStrategy,
    CompiledStrategy,
    check_strategy,
    compile_strategy,
)

Progress = Callable[[str], None]
"""Told the name of each stage as it starts (for a terminal's progress line)."""


@dataclass(frozen=True)
class Figure:
    """One figure against its threshold: ``value`` (``None``: not computable, a fail),
    ``op`` ``>=`` or ``<=`` (the value must be at least / at most the threshold)."""

    name: str
    key: str            # the threshold's key in risk.yaml's evidence: section
    value: float | None
    threshold: float
    op: str
    detail: str = ""

    @property
    def passed(self) -> bool:
        if self.value is None or not math.isfinite(self.value):
            return False
        return self.value >= self.threshold if self.op == ">=" else self.value <= self.threshold

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "key": self.key, "value": self.value, "threshold": self.threshold,
                "op": self.op, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class EvidenceReport:
    """Every figure of one strategy, what they were computed from, and what binds them
    to the config, the data and the code (:mod:`kobe.evidence.record` writes it)."""

    strategy: str
    figures: tuple[Figure, ...]
    inputs: dict[str, object]
    binding: dict[str, object]
    evaluated_at: str
    neighbourhood: list[dict[str, object]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.figures)

    def failing(self) -> list[Figure]:
        return [f for f in self.figures if not f.passed]

    def to_dict(self) -> dict[str, object]:
        return {"strategy": self.strategy, "passed": self.passed, "evaluated_at": self.evaluated_at,
                "figures": [f.to_dict() for f in self.figures], "inputs": self.inputs,
                "neighbourhood": self.neighbourhood, "binding": self.binding}


def step_of(value: float, pct: float) -> float:
    """One neighbourhood step of a param at ``value``: ``pct`` percent of it, rounded to
    a whole number (at least 1) when the value is one (windows, bar counts)."""
    if float(value).is_integer():
        return float(max(1, round(abs(value) * pct / 100)))
    return abs(value) * pct / 100 if value != 0 else pct / 100


def neighbourhood(params: dict[str, float], pct: float) -> list[dict[str, float]]:
    """Point 0 (``params``), then each param one step down and one step up, in the order
    the params are written; duplicates left out."""
    points = [dict(params)]
    for name, value in params.items():
        step = step_of(value, pct)
        for moved in (value - step, value + step):
            point = {**params, name: float(moved)}
            if point not in points:
                points.append(point)
    return points


def neighbourhood_grid(project: Project, name: str, pct: float) -> tuple[Grid, list[dict[str, float]]]:
    """The neighbourhood compiled as a sweep grid (one shared compiler), and the points
    the checker refused (left out). Point 0 must check: it is the strategy itself."""
    config = project.strategy(name).config
    compiler = Compiler()
    kept: list[dict[str, float]] = []
    checked: list[CheckedStrategy] = []
    compiled: list[CompiledStrategy] = []
    refused: list[dict[str, float]] = []
    for point in neighbourhood(dict(config.params), pct):
        found: list[Diagnostic] = []
        one = check_strategy(config.with_params(point), project.definitions, found)
        if one is None or found:
            refused.append(point)
            continue
        kept.append(point)
        checked.append(one)
        compiled.append(compile_strategy(one, compiler))
    if not kept or kept[0] != dict(config.params):
        raise KobeError(Diagnostic(f"strategy {name!r} does not check at its own params",
                                   hint="run `kobe validate`"))
    return Grid(name, tuple(kept), tuple(checked), tuple(compiled), compiler), refused


def _daily(result: StrategyResult) -> np.ndarray:
    return returns(result.equity["equity"].to_numpy(), result.settings.initial_cash)


def returns_matrix(results: Sequence[StrategyResult]) -> np.ndarray:
    """Sessions × points of daily returns, from the first session on which any point's
    equity moved: the indicators' warm-up, flat for all, would only add ties to CSCV."""
    matrix = np.column_stack([_daily(r) for r in results])
    moved = np.flatnonzero(np.any(matrix != 0, axis=1))
    return matrix[moved[0]:] if len(moved) else matrix[:0]


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def evaluate(project: Project, strategy: str, variants_tried: int | None = None, *,
             bars: pl.LazyFrame | pl.DataFrame | None = None, data: str | None = None,
             settings: EvidenceSettings | None = None,
             now: dt.datetime | None = None, progress: Progress | None = None) -> EvidenceReport:
    """Every figure of ``strategy`` against the thresholds (risk.yaml's ``evidence:``,
    or ``settings``), over ``bars``, else the bars of ``data`` (a path, as ``--data``),
    else the config's data source.

    ``variants_tried``: how many variants were tried on the way to this one, for the
    deflated Sharpe ratio; at least the neighbourhood's points (the default), which are
    also where the variance of the trials' Sharpe ratios comes from.
    """
    rules = settings if settings is not None else project.config.risk.evidence
    say = progress if progress is not None else (lambda _stage: None)
    source = bars if bars is not None else project.bars(data)
    label = "bars given by the caller" if bars is not None else f"files:{data}" if data is not None \
        else data_source(project)
    symbols = project.universe(project.strategy(strategy).config)
    market = scoped_market(source, symbols)
    backtest = resolve_settings(project, strategy)

    say("neighbourhood")
    grid, refused = neighbourhood_grid(project, strategy, rules.neighbour_step_pct)
    gates = strategy_gates(project, strategy, market, None)
    results = run_grid(grid, market, backtest, symbols=symbols, gates=gates)
    metrics = [r.metrics() for r in results]
    own = results[0]
    trades = int(metrics[0]["trades"] or 0)

    say("monte carlo")
    carlo = monte_carlo(own.trades, backtest.initial_cash, runs=rules.monte_carlo_runs, seed=1,
                        methods=("bootstrap",))
    drawdown_p5 = -100 * carlo.methods["bootstrap"]["max_drawdown"]["p5"] if trades else None

    say("deflated sharpe")
    daily = _daily(own)
    tried = max(len(grid), variants_tried or 0)
    per_period = [sharpe_per_period(_daily(r)) for r in results]
    sharpes = [s for s in per_period if s is not None]
    variance = float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0
    skew, kurtosis = figures.moments(daily)
    sr = per_period[0]
    dsr: float | None = None
    if sr is not None:
        try:
            dsr = figures.deflated_sharpe(sr, tried, variance, len(daily), skew, kurtosis)
        except ValueError:
            dsr = None

    say("walk-forward")
    oos_sharpe: float | None
    folds = 0
    try:
        walk = run_walkforward(project, source, strategy, train_months=rules.walkforward_train_months,
                               test_months=rules.walkforward_test_months)
        oos_sharpe = _as_float(walk.metrics()["sharpe"])
        folds = len(walk.folds)
    except KobeError:
        oos_sharpe = None        # the data is shorter than one train and one test window

    say("cscv")
    matrix = returns_matrix(results)
    pbo: float | None = None
    combinations = 0
    if matrix.shape[1] >= 2 and matrix.shape[0] >= 2 * rules.cscv_splits:
        cscv = figures.pbo(matrix, rules.cscv_splits)
        pbo, combinations = cscv.pbo, cscv.combinations
    stability = figures.param_stability(_as_float(metrics[0]["sharpe"]),
                                        [_as_float(m["sharpe"]) for m in metrics[1:]])

    found = (
        Figure("closed trades", "min_trades", float(trades), rules.min_trades, ">=", "the backtest over all the data"),
        Figure("walk-forward out-of-sample Sharpe", "min_oos_sharpe", _round(oos_sharpe, 4), rules.min_oos_sharpe,
               ">=", f"annualised, {folds} folds of {rules.walkforward_train_months}+"
                     f"{rules.walkforward_test_months} months"),
        Figure("Monte Carlo 5th-percentile max drawdown, %", "max_drawdown_p5_pct", _round(drawdown_p5, 3),
               rules.max_drawdown_p5_pct, "<=", f"{rules.monte_carlo_runs} bootstrap paths of the trades"),
        Figure("deflated Sharpe ratio", "min_deflated_sharpe", _round(dsr, 4), rules.min_deflated_sharpe, ">=",
               f"{tried} variants tried, {len(daily)} sessions"),
        Figure("probability of backtest overfitting", "max_pbo", _round(pbo, 4), rules.max_pbo, "<=",
               f"CSCV, {len(grid)} points, {rules.cscv_splits} splits"),
        Figure("parameter stability", "min_param_stability", _round(stability, 4), rules.min_param_stability, ">=",
               "median neighbour's Sharpe / the strategy's"),
    )
    inputs: dict[str, object] = {
        "variants_tried": tried, "neighbourhood_points": len(grid), "sessions": len(daily),
        "sharpe_annualised": _round(_as_float(metrics[0]["sharpe"]), 6), "sharpe_per_session": _round(sr),
        "trials_sharpe_variance": _round(variance, 10), "expected_max_sharpe": _round(
            figures.expected_max_sharpe(tried, variance), 8),
        "skew": _round(skew), "kurtosis": _round(kurtosis), "cscv_combinations": combinations,
        "cscv_periods": int(matrix.shape[0]), "walkforward_folds": folds, "monte_carlo_seed": 1,
        "refused_points": [point_text(p) for p in refused],
        "thresholds": {k: getattr(rules, k) for k in EvidenceSettings.__dataclass_fields__},
    }
    rows: list[dict[str, object]] = [{"point": k, "params": {n: _plain(v) for n, v in grid.points[k].items()}, "sharpe": _round(_as_float(m["sharpe"]), 6),
             "trades": m["trades"], "total_return": _round(_as_float(m["total_return"]), 6)}
            for k, m in enumerate(metrics)]
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
    return EvidenceReport(strategy, found, inputs, binding(project, market, label), when, rows)


def _plain(value: float) -> float | int:
    """A param as written: a whole number as an int (``20``, not ``20.0``)."""
    return int(value) if float(value).is_integer() else float(value)


def _as_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def data_source(project: Project) -> str:
    """The config's data source as a record names it: ``embedded``, ``files:<path>``,
    ``<provider>:<lake>``."""
    data = project.config.data
    if data.provider == "embedded":
        return "embedded"
    if data.provider == "files":
        return f"files:{data.path}"
    return f"{data.provider}:{data.lake}"


def binding(project: Project, market: Market, source: str) -> dict[str, object]:
    """What the figures are bound to: the config's SHA256 (the pin's), the SHA256 of the
    bars the strategy read (its universe only, :func:`~kobe.backtest.receipt.data_sha256`),
    their source and span, and the code's version."""
    return {
        "config_sha256": project.fingerprint().sha256,
        "data_sha256": data_sha256(market.bars.drop("_row")),
        "data_source": source,
        "data_first_date": market.sessions[0].isoformat(), "data_last_date": market.sessions[-1].isoformat(),
        "kobe_version": kobe_version(),
    }


def market_sha256(project: Project, strategy: str) -> str:
    """The SHA256 of the bars ``strategy`` reads now from the config's data source, as
    :func:`binding` computes it."""
    market = scoped_market(project.bars(), project.universe(project.strategy(strategy).config))
    return data_sha256(market.bars.drop("_row"))
