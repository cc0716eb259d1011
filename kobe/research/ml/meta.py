"""``meta_prob`` on bars: the probability the meta-model gives each bar's signal.

One rule for every date, in the backtest and the scan alike: a date inside a fold's
test period gets that fold's model (trained on earlier trades only), a date after the
training data gets the final model, and a date before the first test period gets null,
so no signal passes a ``meta_prob`` filter there. The backtest's probabilities are thus
out of sample, and a scan of a past date reads what the backtest read on it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl

from kobe.backtest.market import Market
from kobe.project import Project
from kobe.research.ml import store
from kobe.research.ml.features import check_features, feature_frame
from kobe.research.ml.model import win_probability
from kobe.strategy import META_PROB


def probabilities(bundle: dict[str, Any], X: np.ndarray, dates: pl.Series) -> np.ndarray:
    """Each row's probability by its date (the module doc); NaN where no model speaks."""
    prob = np.full(len(dates), np.nan)
    for start, end, model in bundle["windows"]:
        inside = (dates >= start) if end is None else dates.is_between(start, end)
        rows = np.flatnonzero(inside.to_numpy())
        if len(rows):
            prob[rows] = win_probability(model, X[rows])
    return prob


def _values(project: Project, bundle: dict[str, Any], bars: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    features = check_features(project.definitions, bundle["features"])
    return feature_frame(bars, features, presorted=True).collect()


def with_meta_prob(project: Project, name: str, market: Market, symbols: Sequence[str]) -> Market:
    """``market`` with ``name``'s ``meta_prob`` column (its out-of-sample probabilities)
    on the rows of ``symbols``, its universe: the features are computed over those
    symbols only, as in training (a cross-sectional feature ranks within them)."""
    bundle, _ = store.load(project, name, trading=False)
    own = market.bars.filter(pl.col("symbol").cast(pl.String).is_in(list(symbols)))
    values = _values(project, bundle, own)
    prob = probabilities(bundle, values.select(bundle["features"]).to_numpy().astype(float), values["date"])
    column = own.select("_row").with_columns(pl.Series(META_PROB, prob, dtype=pl.Float64, nan_to_null=True))
    bars = market.bars.join(column, on="_row", how="left", maintain_order="left")
    return replace(market, bars=bars)


def scan_meta_prob(project: Project, name: str, bars: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """``symbol``, ``date`` and ``meta_prob`` of ``name`` on ``day``, from the bars up to
    it (sorted by symbol and date), by the pinned model (:func:`~kobe.research.ml.store.load`
    with ``trading``)."""
    bundle, _ = store.load(project, name, trading=True)
    values = _values(project, bundle, bars).filter(pl.col("date") == day)
    prob = probabilities(bundle, values.select(bundle["features"]).to_numpy().astype(float), values["date"])
    return values.select("symbol", "date").with_columns(pl.Series(META_PROB, prob, dtype=pl.Float64,
                                                                  nan_to_null=True))


def bar_meta_prob(project: Project, name: str, bars: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """``symbol``, ``date`` and ``meta_prob`` of ``name`` on ``day`` as the backtest reads
    it (the model of the fold whose test period holds ``day``, not the pin's): what
    ``kobe explain`` shows for a past bar."""
    bundle, _ = store.load(project, name, trading=False)
    values = _values(project, bundle, bars).filter(pl.col("date") == day)
    prob = probabilities(bundle, values.select(bundle["features"]).to_numpy().astype(float), values["date"])
    return values.select("symbol", "date").with_columns(pl.Series(META_PROB, prob, dtype=pl.Float64,
                                                                  nan_to_null=True))
