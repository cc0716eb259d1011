"""Realized volatility and its cone, computed by the rule language's own estimators.

The estimators are the building blocks of ``rules/features.kobe`` (``cc_vol(n)``,
``parkinson_var(n)``, ``garman_klass_var(n)``, ``rogers_satchell_var(n)``,
``yang_zhang_var(n)``), per session. Nothing here re-implements them: for each window
``n`` an entry ``<estimator>(n)`` is written in the rule language, checked by
:func:`kobe.research.library.check_entries` against the project's definitions and
evaluated by :func:`kobe.research.library.evaluate`, as the screener's alphas are. A
project whose rules lack one gets the checker's located error.

Annualised by sqrt(252) sessions a year (Hull ch. 15). The volatility cone (Burghardt and
Lane, "How to tell if options are cheap", 1990) is, for each window, percentiles of the
rolling realized volatility over the history: where today's implied volatility sits in
the cone says whether options are dear or cheap for that horizon.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kobe.config.errors import Diagnostic, KobeError

if TYPE_CHECKING:
    import polars as pl

    from kobe.dsl import ast

SESSIONS_PER_YEAR = 252
WINDOWS = (10, 20, 60, 120, 252)
PERCENTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
ESTIMATORS: dict[str, str] = {
    "close": "cc_vol({n})",                          # close-to-close: sample stdev of log returns
    "parkinson": "sqrt(parkinson_var({n}))",
    "garman_klass": "sqrt(garman_klass_var({n}))",
    "rogers_satchell": "sqrt(rogers_satchell_var({n}))",
    "yang_zhang": "sqrt(yang_zhang_var({n}))",
}
"""Each estimator as a rule-language expression of the window ``n`` (per session)."""
SOURCE = "<kobe options: realized volatility>"


@dataclass(frozen=True)
class ConeRow:
    """One window of the cone: annualised percentiles, the latest value, and how many
    rolling values they were taken over."""

    window: int
    percentiles: dict[float, float]
    latest: float | None
    count: int


def _name(estimator: str, window: int) -> str:
    return f"options_vol_{estimator}_{window}"


def _entries(definitions: Mapping[str, ast.Definition], estimator: str, windows: Sequence[int]) -> list:
    """One checked library entry per window: ``options_vol_<estimator>_<n> = <expr>``,
    parsed and checked with the project's definitions."""
    from kobe.dsl.parse import parse_rules
    from kobe.research.library import check_entries

    if estimator not in ESTIMATORS:
        raise KobeError(Diagnostic(f"unknown volatility estimator {estimator!r}", file="--estimator",
                                   hint=f"one of {', '.join(ESTIMATORS)}"))
    bad = [w for w in windows if not 2 <= w <= 10_000]
    if bad or not windows:
        raise KobeError(Diagnostic(f"windows must be from 2 to 10000 sessions, not {bad or 'none'}", file="--windows"))
    text = "\n".join(f"{_name(estimator, w)} = {ESTIMATORS[estimator].format(n=w)}" for w in windows)
    table = dict(definitions)
    for definition in parse_rules(text, SOURCE):
        table[definition.name] = definition
    return check_entries(table, [_name(estimator, w) for w in windows])


def realized(bars: pl.LazyFrame, symbol: str, definitions: Mapping[str, ast.Definition], *,
             estimator: str = "close", windows: Sequence[int] = WINDOWS, end: dt.date | None = None) -> pl.DataFrame:
    """``date`` and one column of annualised realized volatility per window for
    ``symbol``, from its bars up to ``end``; null during a window's warm-up."""
    import polars as pl

    from kobe.research.library import evaluate

    items = _entries(definitions, estimator, windows)
    lazy = bars.filter(pl.col("symbol") == symbol)
    if end is not None:
        lazy = lazy.filter(pl.col("date") <= end)
    frame = evaluate(lazy, items).collect()
    if frame.height == 0:
        raise KobeError(Diagnostic(f"no bars for {symbol}" + (f" up to {end}" if end else ""),
                                   hint="a symbol of the data, or a later --date"))
    scale = math.sqrt(SESSIONS_PER_YEAR)
    return frame.select("date", *((pl.col(item.name) * scale).alias(str(w)) for item, w in zip(items, windows)))


def cone(series: pl.DataFrame, windows: Sequence[int] = WINDOWS,
         percentiles: Sequence[float] = PERCENTILES) -> list[ConeRow]:
    """Percentiles (linear interpolation) of each window's rolling values in ``series``
    (as :func:`realized` returns it); a window longer than the history has none."""
    rows = []
    for w in windows:
        values = series[str(w)].drop_nulls()
        latest = series[str(w)][-1] if series.height else None
        # quantile() is None only for an empty series, which has no percentiles at all.
        levels = {p: float(values.quantile(p, "linear") or 0.0) for p in percentiles} if len(values) else {}
        rows.append(ConeRow(w, levels, None if latest is None else float(latest), len(values)))
    return rows


def latest_vol(bars: pl.LazyFrame, symbol: str, definitions: Mapping[str, ast.Definition], *, window: int = 20,
               estimator: str = "close", end: dt.date | None = None) -> float:
    """The annualised realized volatility of ``symbol`` over the last ``window`` sessions
    up to ``end``; a :class:`KobeError` when there are too few bars."""
    series = realized(bars, symbol, definitions, estimator=estimator, windows=[window], end=end)
    value = series[str(window)][-1]
    if value is None:
        raise KobeError(Diagnostic(f"{symbol} has {series.height} bars up to {series['date'][-1]}: too few for a "
                                   f"{window}-session volatility", hint="a later --date, or a shorter --vol-window"))
    return float(value)
