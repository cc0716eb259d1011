"""Hypotheses: variants of a strategy proposed from its journal, each put to the evidence gate.

Two kinds of variant are proposed, in this order, up to ``--max``:

1. **a filter on a feature**: the features whose quintiles (of the feature's values on
   the strategy's backtest trades, as ``kobe reflect`` cuts them) best separate winners
   from losers, by the absolute difference of the mean return of Q5 and Q1. For each of
   the two best, the filter that drops the worse quintile (``feature > q20`` when Q1 is
   the worse, ``feature < q80`` when Q5 is) and the one that drops the worse two
   quintiles (``q40`` / ``q60``). The threshold is read from the same trades the
   variant is then backtested on: in sample, which is why the evidence gate, and its
   count of the variants tried, has the last word;
2. **parameter neighbours**: the evidence gate's neighbourhood, each numeric param one
   step down and one step up (risk.yaml's ``evidence.neighbour_step_pct`` percent of it,
   at least 1 for a whole number), the others kept.

Each variant is backtested over the project's bars (its Sharpe, trades, return, drawdown)
and then run through the evidence gate (:func:`kobe.evidence.gate.evaluate`) with
``variants_tried`` = the variants proposed plus the strategy itself, so the deflated
Sharpe ratio is deflated by the whole search. The ranked table lists them by Sharpe;
a variant that passes the gate is printed as a ready-to-paste YAML entry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.config.model import ExprSource
from kobe.journal.reflect import MIN_TRADES
from kobe.journal.store import FEATURE_PREFIX
from kobe.project import Project

MIN_JOURNAL_TRADES = 30
"""Fewer backtest trades than this rank no feature by quintile (6 a quintile): then only
the parameter neighbours are proposed."""

Progress = Callable[[str], None]


@dataclass
class Variant:
    """One proposal: the params it sets and the filters it adds, and what it did."""

    label: str
    kind: str                                    # current | filter | neighbour
    change: str
    params: dict[str, float]
    filters: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] | None = None       # passed, deflated_sharpe, failing
    error: str | None = None

    @property
    def passed(self) -> bool:
        return bool(self.evidence and self.evidence.get("passed"))

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.kind, "change": self.change, "params": self.params,
                "filters": list(self.filters), "metrics": self.metrics, "evidence": self.evidence,
                "error": self.error}


def _number(value: float) -> str:
    """A threshold as a filter writes it: four significant digits."""
    return f"{value:.4g}"


def feature_separation(trades: pl.DataFrame, context: dict[str, str]) -> list[tuple[str, float, tuple[float, ...]]]:
    """Per feature: (column, Q5 mean return - Q1 mean return, its q20, q40, q60, q80),
    best separating first; a feature with too few trades in Q1 or Q5 is left out."""
    out: list[tuple[str, float, tuple[float, ...]]] = []
    for column, kind in context.items():
        if kind != "feature":
            continue
        values = trades.select(pl.col(column), pl.col("return")).drop_nulls()
        if values.height < MIN_JOURNAL_TRADES or values[column].n_unique() < 5:
            continue
        labels = values[column].bin_quantiles(5, labels=["1", "2", "3", "4", "5"])
        means = values.with_columns(labels.alias("q")).group_by("q").agg(pl.col("return").mean(), pl.len())
        by = {r["q"]: r for r in means.iter_rows(named=True)}
        if "1" not in by or "5" not in by or min(by["1"]["len"], by["5"]["len"]) < MIN_TRADES // 2:
            continue
        cuts = tuple(float(values[column].quantile(p) or 0.0) for p in (0.2, 0.4, 0.6, 0.8))
        out.append((column, float(by["5"]["return"] - by["1"]["return"]), cuts))
    out.sort(key=lambda r: -abs(r[1]))
    return out


def neighbours(project: Project, params: dict[str, float]) -> list[tuple[str, dict[str, float]]]:
    """The evidence gate's neighbourhood of ``params`` without point 0 (each param one
    step of risk.yaml's ``evidence.neighbour_step_pct`` down and up, at least 1 for a
    whole number; :func:`kobe.evidence.gate.neighbourhood`): (change, params). A step
    that leaves a whole-number param below 1 (a window of 0) is left out."""
    from kobe.evidence.gate import neighbourhood

    out: list[tuple[str, dict[str, float]]] = []
    for point in neighbourhood(params, project.config.risk.evidence.neighbour_step_pct)[1:]:
        name = next(k for k in params if point[k] != params[k])
        if float(params[name]).is_integer() and point[name] < 1:
            continue
        out.append((f"{name}: {_number(params[name])} -> {_number(point[name])}", point))
    return out


def propose(project: Project, strategy: str, trades: pl.DataFrame, context: dict[str, str],
            limit: int) -> list[Variant]:
    """The variants, the current strategy first (not counted in ``limit``)."""
    config = project.strategy(strategy).config
    params = dict(config.params)
    base = Variant("current", "current", "as configured", params)
    proposals: list[Variant] = []
    # Under MIN_JOURNAL_TRADES trades no feature is ranked (feature_separation): only neighbours.
    for column, diff, (q20, q40, q60, q80) in feature_separation(trades, context)[:2]:
        name = column.removeprefix(FEATURE_PREFIX)
        cuts = [(f"{name} > {_number(q20)}", "drops Q1"), (f"{name} > {_number(q40)}", "drops Q1-Q2")] \
            if diff > 0 else [(f"{name} < {_number(q80)}", "drops Q5"), (f"{name} < {_number(q60)}", "drops Q4-Q5")]
        for text, what in cuts:
            proposals.append(Variant(f"filter {len(proposals) + 1}", "filter", f"filter: {text} ({what})",
                                     params, (text,)))
    for change, point in neighbours(project, params):
        proposals.append(Variant(f"neighbour {len(proposals) + 1}", "neighbour", change, point))
    return [base, *proposals[:limit]]


def variant_project(project: Project, strategy: str, variant: Variant) -> Project:
    """``project`` with ``strategy`` replaced by the variant, checked as any strategy."""
    from kobe.strategy import check_strategy

    config = project.strategy(strategy).config.with_params(variant.params)
    extra = tuple(ExprSource.inline(text, file=f"<{variant.label}>") for text in variant.filters)
    config = replace(config, filters=(*config.filters, *extra))
    problems: list[Diagnostic] = []
    checked = check_strategy(config, project.definitions, problems)
    if checked is None or problems:
        raise KobeError(problems or [Diagnostic(f"{variant.change}: does not check")])
    strategies = tuple(checked if s.name == strategy else s for s in project.strategies)
    return replace(project, strategies=strategies, _compiled={})


def _metrics(project: Project, bars: pl.LazyFrame | pl.DataFrame, strategy: str) -> dict[str, Any]:
    from kobe.backtest import run_backtest

    result = run_backtest(project, bars, strategy=strategy)
    m = result.strategies[0].metrics()
    return {k: (None if isinstance(m.get(k), float) and not math.isfinite(m[k]) else m.get(k))  # type: ignore[arg-type]
            for k in ("sharpe", "trades", "total_return", "max_drawdown", "win_rate")}


def _gate() -> Callable[..., Any]:
    """The evidence gate's ``evaluate`` (a seam for the tests)."""
    from kobe.evidence.gate import evaluate

    return evaluate


def _evidence(report: Any) -> dict[str, Any]:
    figures = list(getattr(report, "figures", ()))
    dsr = next((f.value for f in figures if f.key == "min_deflated_sharpe"), None)
    return {"passed": bool(report.passed), "deflated_sharpe": dsr,
            "failing": [f.key for f in figures if not f.passed]}


def hypothesize(project: Project, strategy: str, trades: pl.DataFrame, context: dict[str, str], *,
                bars: pl.LazyFrame | pl.DataFrame | None = None, limit: int = 6, gate: bool = True,
                progress: Progress | None = None) -> tuple[list[Variant], bool]:
    """The variants with their metrics and evidence, ranked by Sharpe (the current
    strategy among them), and whether the evidence gate ran."""
    say = progress if progress is not None else (lambda _what: None)
    source = bars if bars is not None else project.bars()
    variants = propose(project, strategy, trades, context, limit)
    evaluate = _gate() if gate else None
    tried = len(variants)
    for variant in variants:
        say(variant.change)
        try:
            candidate = variant_project(project, strategy, variant) if variant.kind != "current" else project
            variant.metrics = _metrics(candidate, source, strategy)
            if evaluate is not None and variant.kind != "current":
                variant.evidence = _evidence(evaluate(candidate, strategy, variants_tried=tried, bars=source))
        except KobeError as err:
            variant.error = err.diagnostics[0].message if err.diagnostics else str(err)
    ranked = sorted(variants, key=lambda v: (v.metrics.get("sharpe") is None, -(v.metrics.get("sharpe") or 0.0)))
    return ranked, evaluate is not None


def variant_yaml(project: Project, strategy: str, variant: Variant, number: int) -> str:
    """The variant as an entry of strategies.yaml's ``strategies:``, ready to paste
    (disabled: a variant trades only once a person enables it)."""
    import yaml

    raw = yaml.safe_load(project.config.strategies_file.read_text(encoding="utf-8"))
    entry = next(s for s in raw["strategies"] if s.get("name") == strategy)
    entry = {**entry, "name": f"{strategy}_v{number}", "enabled": False}
    entry["params"] = {k: (int(v) if float(v).is_integer() else v) for k, v in variant.params.items()}
    if variant.filters:
        entry["filters"] = [*(entry.get("filters") or []), *variant.filters]
    text: str = yaml.safe_dump([entry], sort_keys=False, width=100)
    return f"  # {variant.change}\n" + "".join(f"  {line}\n" for line in text.splitlines())

