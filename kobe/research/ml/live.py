"""The calibration of the live ``meta_prob``: were the live trades the meta-model gave
0.6 won six times in ten?

For each strategy that filters on ``meta_prob``, its closed live trades (round trips
rebuilt from the order store's fills, :func:`~kobe.monitor.drift.round_trips`) are paired
with their entry orders in order, per symbol (a symbol is held by one position at a
time); each entry's signal bar is the session before its trading date, and its
``meta_prob`` the pinned model's on that bar (:func:`~kobe.research.ml.meta.probabilities`,
the rule of dates the scan used). The runner's calibration code
(:mod:`kobe.monitor.calibration`) then scores them: the Brier score, its value over the
last :data:`WINDOW` trades, and the reliability bins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from kobe.config.errors import KobeError
from kobe.monitor.calibration import brier_over_time, brier_score, reliability
from kobe.monitor.drift import round_trips
from kobe.oms.store import OrderStore
from kobe.project import Project

WINDOW = 20


def live_outcomes(project: Project, store: OrderStore, name: str, sessions: list[dt.date]
                  ) -> list[tuple[str, dt.date, int]]:
    """``name``'s closed live trades: (symbol, signal session, won), in entry order."""
    orders = store.orders()
    strategy_of = {o.client_order_id: o.strategy for o in orders}
    entries: dict[str, list[dt.date]] = {}
    for o in sorted((o for o in orders if o.strategy == name and o.opens and o.filled_qty > 0),
                    key=lambda o: o.trading_date):
        entries.setdefault(o.symbol, []).append(o.trading_date)
    days = np.array(sessions, dtype="datetime64[D]")
    out = []
    seen: dict[str, int] = {}
    for trip in sorted((t for t in round_trips(store.fills(), strategy_of) if t.strategy == name),
                       key=lambda t: t.closed_at):
        k = seen.get(trip.symbol, 0)
        seen[trip.symbol] = k + 1
        if k >= len(entries.get(trip.symbol, [])):
            continue
        before = int(np.searchsorted(days, np.datetime64(entries[trip.symbol][k]), side="left")) - 1
        if before >= 0:
            out.append((trip.symbol, sessions[before], int(trip.pnl > 0)))
    return out


def live_calibration(project: Project, store: OrderStore, bars: pl.LazyFrame | None) -> dict[str, Any]:
    """Per strategy filtering on ``meta_prob``: its closed live trades, their Brier score
    (over all and the last :data:`WINDOW`), mean ``meta_prob``, win rate and reliability
    bins; ``error`` instead when its model cannot be read. Empty without such a strategy."""
    from kobe.research.ml import store as models
    from kobe.research.ml.features import check_features, feature_frame
    from kobe.research.ml.meta import probabilities

    meta = [s.name for s in project.strategies if s.meta_filtered]
    if not meta or bars is None:
        return {}
    frame = bars.lazy().collect().sort("symbol", "date")
    sessions = frame["date"].unique().sort().to_list()
    out: dict[str, Any] = {}
    for name in meta:
        outcomes = live_outcomes(project, store, name, sessions)
        if not outcomes:
            out[name] = {"trades": 0}
            continue
        try:
            bundle, _ = models.load(project, name, trading=True)
        except KobeError as err:
            out[name] = {"trades": len(outcomes), "error": err.diagnostics[0].message}
            continue
        keys = pl.DataFrame({"symbol": [s for s, _, _ in outcomes], "date": [d for _, d, _ in outcomes],
                             "won": [w for _, _, w in outcomes]}, schema={"symbol": pl.String, "date": pl.Date,
                                                                          "won": pl.Int8})
        universe = project.universe(project.strategy(name).config)
        values = feature_frame(frame.filter(pl.col("symbol").cast(pl.String).is_in(universe)),
                               check_features(project.definitions, bundle["features"]), presorted=True).collect()
        rows = keys.join(values, on=["symbol", "date"], how="inner", maintain_order="left")
        prob = probabilities(bundle, rows.select(bundle["features"]).to_numpy().astype(float), rows["date"])
        known = ~np.isnan(prob)
        p, won = prob[known], rows["won"].to_numpy()[known]
        if not len(p):
            out[name] = {"trades": 0}
            continue
        recent = brier_over_time(p, won, WINDOW)
        out[name] = {"trades": len(p), "mean_prob": float(p.mean()), "win_rate": float(won.mean()),
                     "brier": brier_score(p, won), "brier_recent": recent[-1] if recent else None,
                     "reliability": [b.__dict__ for b in reliability(p, won) if b.count]}
    return out


def calibration_metrics(calibration: Mapping[str, Any]) -> dict[str, float | None]:
    """The gauges of ``/metrics``: the live meta-filtered trades scored, and their Brier
    score pooled over the strategies (None before the first)."""
    scored = [v for v in calibration.values() if v.get("trades") and "brier" in v]
    trades = sum(v["trades"] for v in scored)
    return {"meta_prob_trades": float(trades),
            "meta_prob_brier": sum(v["brier"] * v["trades"] for v in scored) / trades if trades else None}
