"""Reflection: where a strategy's journal says it makes and loses money, with statistics.

The unit is the closed trade and the figure its ``return`` (P&L over the entry's cost).
Trades are grouped four ways:

- by **regime** (each column of ``rules/regimes.kobe``): each level against the rest
  (a regime of two levels: the first against the second, once);
- by **feature quintile** (each feature of ``rules/features.kobe``): the quintiles of the
  feature's values on the strategy's own trades; the comparison is Q5 against Q1;
- by **exit reason** and by **weekday** of the entry: each against the rest;
- **live against backtest**: the live trades the backtest also took (same strategy,
  symbol and entry date), the mean of the paired difference of their returns.

Each comparison is a difference of mean returns with a bootstrap confidence interval
(:func:`scipy.stats.bootstrap`, BCa, 9,999 resamples, seeded: the same journal gives the
same intervals). A group of fewer than :data:`MIN_TRADES` trades is shown but not tested.

**Multiple comparisons.** Dozens of comparisons at 95% would find a "significant" one
by chance about every twenty. A finding is kept only when its **Bonferroni** interval,
at confidence 1 - 0.05 / m (m: the comparisons tested), excludes 0; the same bootstrap
distribution gives both intervals. Bonferroni controls the chance of any false finding
at 5% whatever the dependence between comparisons (the features are correlated), at
the cost of power: a small real effect may be missed, a finding listed is not luck.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

MIN_TRADES = 10
ALPHA = 0.05
RESAMPLES = 9_999
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Group:
    """One group of trades: its size, mean return, win rate and total P&L."""

    section: str
    factor: str
    level: str
    trades: int
    mean_return: float
    win_rate: float
    pnl: float


@dataclass(frozen=True)
class Comparison:
    """A difference of mean returns (``group`` minus ``other``) with its 95% interval
    and its Bonferroni interval (``family_low``, ``family_high``)."""

    section: str
    factor: str
    group: str
    other: str
    n: int
    n_other: int
    difference: float
    mean: float = 0.0                # the group's mean return
    mean_other: float = 0.0
    low: float | None = None
    high: float | None = None
    family_low: float | None = None
    family_high: float | None = None

    @property
    def tested(self) -> bool:
        return self.low is not None

    @property
    def supported(self) -> bool:
        lo, hi = self.family_low, self.family_high
        return lo is not None and hi is not None and (lo > 0 or hi < 0)

    def sentence(self) -> str:
        other = f" than {self.other}" if self.other else ""
        word = "more" if self.difference > 0 else "less"
        return (f"{self.factor} {self.group}: {100 * abs(self.difference):.2f}% {word} a trade{other} "
                f"({self.n} vs {self.n_other} trades; Bonferroni CI {100 * (self.family_low or 0):+.2f}% .. "
                f"{100 * (self.family_high or 0):+.2f}%)")


@dataclass
class Reflection:
    strategy: str
    source: str
    trades: int
    first: dt.date | None
    last: dt.date | None
    seed: int
    groups: list[Group] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def tested(self) -> int:
        return sum(c.tested for c in self.comparisons)

    @property
    def family_level(self) -> float:
        return 1 - ALPHA / max(self.tested, 1)

    def findings(self) -> list[Comparison]:
        """The supported comparisons, largest effect first."""
        return sorted((c for c in self.comparisons if c.supported), key=lambda c: -abs(c.difference))

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "source": self.source, "trades": self.trades,
                "first": self.first.isoformat() if self.first else None,
                "last": self.last.isoformat() if self.last else None, "seed": self.seed,
                "comparisons_tested": self.tested, "family_confidence": self.family_level,
                "correction": "bonferroni", "groups": [asdict(g) for g in self.groups],
                "comparisons": [{**asdict(c), "supported": c.supported} for c in self.comparisons],
                "findings": [c.sentence() for c in self.findings()]}


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _intervals(samples: tuple[np.ndarray, ...], levels: Sequence[float], seed: int) -> list[tuple[float, float]]:
    """The BCa intervals of the mean (one sample) or of the difference of means (two) at
    each confidence level, from one bootstrap distribution (scipy reuses it)."""
    from scipy.stats import bootstrap  # type: ignore[import-untyped]

    statistic = _mean if len(samples) == 1 else _mean_difference
    first = bootstrap(samples, statistic, n_resamples=RESAMPLES, confidence_level=levels[0],
                      rng=np.random.default_rng(seed), vectorized=True)
    out = [(float(first.confidence_interval.low), float(first.confidence_interval.high))]
    for level in levels[1:]:
        again = bootstrap(samples, statistic, n_resamples=0, confidence_level=level, bootstrap_result=first,
                          rng=np.random.default_rng(seed), vectorized=True)
        out.append((float(again.confidence_interval.low), float(again.confidence_interval.high)))
    return out


def _group(section: str, factor: str, level: str, frame: pl.DataFrame) -> Group:
    r = frame["return"]
    return Group(section, factor, level, frame.height, float(r.mean() or 0.0),  # type: ignore[arg-type]
                 float((r > 0).mean() or 0.0), float(frame["pnl"].sum()))  # type: ignore[arg-type]


def _label(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _factor_sections(trades: pl.DataFrame, context: dict[str, str]) -> list[tuple[str, str, pl.Series]]:
    """(section, factor, a label per trade) for every grouping; null labels are left out."""
    out: list[tuple[str, str, pl.Series]] = []
    for name, kind in context.items():
        if kind == "regime":
            out.append(("regime", name, trades[name].map_elements(_label, return_dtype=pl.String)
                        if trades[name].null_count() < trades.height else trades[name].cast(pl.String)))
    for name, kind in context.items():
        if kind == "feature":
            values = trades[name]
            if values.drop_nulls().n_unique() < 5:
                continue
            labels = values.bin_quantiles(5, labels=["Q1", "Q2", "Q3", "Q4", "Q5"])
            out.append(("feature", name.removeprefix("feature_"), labels.cast(pl.String)))
    out.append(("exit_reason", "exit_reason", trades["exit_reason"]))
    out.append(("weekday", "weekday",
                trades["entry_date"].dt.weekday().map_elements(lambda d: WEEKDAYS[d - 1], return_dtype=pl.String)))
    return out


def reflect(trades: pl.DataFrame, context: dict[str, str], *, strategy: str, source: str = "backtest",
            seed: int = 0, paired: pl.DataFrame | None = None) -> Reflection:
    """The groups and comparisons of ``trades`` (one strategy's journal rows of one
    source). ``context``: the journal's context columns (name -> ``feature``/``regime``).
    ``paired``: the live rows with the backtest's return of the same trade."""
    trades = trades.filter(pl.col("return").is_not_null())
    result = Reflection(strategy, source, trades.height,
                        trades["entry_date"].min() if trades.height else None,  # type: ignore[arg-type]
                        trades["exit_date"].max() if trades.height else None, seed)  # type: ignore[arg-type]
    pending: list[tuple[Comparison, tuple[np.ndarray, ...]]] = []
    for section, factor, labels in _factor_sections(trades, context):
        frame = trades.with_columns(labels.alias("_level")).filter(pl.col("_level").is_not_null())
        levels = sorted(frame["_level"].unique().to_list(), key=_order)
        for level in levels:
            result.groups.append(_group(section, factor, level, frame.filter(pl.col("_level") == level)))
        if len(levels) < 2:
            continue
        if section == "feature":
            pairs = [("Q5", "Q1")] if {"Q1", "Q5"} <= set(levels) else []
        elif len(levels) == 2:
            pairs = [(levels[0], levels[1])]
        else:
            pairs = [(level, "") for level in levels]
        for level, other in pairs:
            x = frame.filter(pl.col("_level") == level)["return"].to_numpy()
            rest = frame.filter(pl.col("_level") == other) if other else frame.filter(pl.col("_level") != level)
            y = rest["return"].to_numpy()
            comparison = Comparison(section, factor, level, other or "the rest", len(x), len(y),
                                    float(x.mean() - y.mean()), float(x.mean()), float(y.mean()))
            pending.append((comparison, (x, y)))
    if paired is not None and paired.height:
        diff = (paired["return"] - paired["backtest_return"]).to_numpy()
        pending.append((Comparison("live_vs_backtest", "live - backtest", "live", "backtest, same trades",
                                   len(diff), len(diff), float(diff.mean()), float(paired["return"].mean()),  # type: ignore[arg-type]
                                   float(paired["backtest_return"].mean())), (diff,)))  # type: ignore[arg-type]
    testable = [(c, s) for c, s in pending if min(len(a) for a in s) >= MIN_TRADES and _varies(s)]
    family = 1 - ALPHA / max(len(testable), 1)
    tested = {id(c) for c, _ in testable}
    for index, (comparison, samples) in enumerate(pending):
        if id(comparison) not in tested:
            result.comparisons.append(comparison)
            continue
        # Each comparison its own seeded stream: its interval does not depend on the others.
        (low, high), (f_low, f_high) = _intervals(samples, (1 - ALPHA, family), seed + index)
        result.comparisons.append(Comparison(**{**asdict(comparison), "low": low, "high": high,
                                                "family_low": f_low, "family_high": f_high}))
    return result


def _varies(samples: tuple[np.ndarray, ...]) -> bool:
    """A sample of one repeated value has no interval (BCa divides by its spread)."""
    return all(np.ptp(s) > 0 for s in samples)


def _order(level: str) -> tuple[int, float | str]:
    """Levels in a reading order: numbers numerically, weekdays Monday first, else by name."""
    if level in WEEKDAYS:
        return (0, WEEKDAYS.index(level))
    try:
        return (0, float(level))
    except ValueError:
        return (1, level)


def live_pairs(trades: pl.DataFrame) -> pl.DataFrame:
    """The live rows whose trade the backtest also took (its return recorded)."""
    return trades.filter((pl.col("source") == "live") & pl.col("backtest_return").is_not_null()
                         & pl.col("return").is_not_null())
