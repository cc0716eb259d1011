"""Calibration of the probabilities a strategy emits: are its 70 % calls right 70 % of
the time?

:func:`reliability` bins the forecasts (equal-width bins on [0, 1]) and reports, per bin,
the mean forecast, the observed frequency and the count; :func:`brier_score` is the mean
squared error of the forecasts against the 0/1 outcomes (0 is perfect; always saying
0.5 scores 0.25). :func:`brier_over_time` tracks it over a rolling window of forecasts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    mean_forecast: float | None
    observed: float | None
    count: int


def brier_score(forecasts: Sequence[float], outcomes: Sequence[int | bool]) -> float:
    p = np.asarray(forecasts, dtype=float)
    o = np.asarray(outcomes, dtype=float)
    if p.shape != o.shape or not len(p):
        raise ValueError("forecasts and outcomes must be non-empty and of equal length")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("forecasts must be probabilities in [0, 1]")
    return float(np.mean((p - o) ** 2))


def reliability(forecasts: Sequence[float], outcomes: Sequence[int | bool], bins: int = 10) -> list[Bin]:
    p = np.asarray(forecasts, dtype=float)
    o = np.asarray(outcomes, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # A forecast of exactly 1.0 belongs to the last bin, not to a bin of its own.
    index = np.minimum(np.searchsorted(edges, p, side="right") - 1, bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        n = int(mask.sum())
        out.append(Bin(float(edges[b]), float(edges[b + 1]), float(p[mask].mean()) if n else None,
                       float(o[mask].mean()) if n else None, n))
    return out


def brier_over_time(forecasts: Sequence[float], outcomes: Sequence[int | bool], window: int = 50) -> list[float]:
    """The Brier score of each trailing window of ``window`` forecasts (one per forecast
    from the ``window``-th on)."""
    sq = (np.asarray(forecasts, dtype=float) - np.asarray(outcomes, dtype=float)) ** 2
    if len(sq) < window:
        return []
    sums = np.convolve(sq, np.ones(window), mode="valid")
    return list(sums / window)
