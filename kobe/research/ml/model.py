"""The meta-model of one fold: two scikit-learn classifiers, calibrated and averaged.

- a logistic regression (missing values imputed by the median, features standardised:
  one :class:`~sklearn.pipeline.Pipeline`), and a
  :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (handles missing values
  itself);
- each calibrated by :class:`~sklearn.calibration.CalibratedClassifierCV` over purged
  k-fold splits of the training trades (:func:`~kobe.research.ml.folds.purged_kfold`),
  isotonic or sigmoid (Platt);
- their calibrated probabilities averaged (a soft :class:`~sklearn.ensemble.VotingClassifier`).

The calibration method is chosen per fold, on the training trades only: the last
quarter of them (by signal date) is held out, the ensemble is fitted with each method on
the trades before it (purged: exits before the held-out start less the embargo), and
the method with the lower Brier score on the held-out quarter is refitted on all of them.
Ties go to sigmoid, the smoother of the two.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV, calibration_curve  # type: ignore[import-untyped]
from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier  # type: ignore[import-untyped]
from sklearn.impute import SimpleImputer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from kobe.research.ml.folds import purged_kfold

METHODS = ("sigmoid", "isotonic")
INNER_SPLITS = 3
HOLDOUT = 0.25
BINS = 10


class FitError(ValueError):
    """A fold's training trades cannot fit the models (one class only, too few)."""


def ensemble(method: str, cv: list[tuple[np.ndarray, np.ndarray]]) -> VotingClassifier:
    """The unfitted ensemble, calibrated by ``method`` over the ``cv`` splits."""
    logit = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                          LogisticRegression(max_iter=1000))
    # Small, regularised trees: a strategy has hundreds of trades, not millions.
    trees = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=20,
                                           l2_regularization=1.0, early_stopping=False, random_state=0)
    return VotingClassifier([("logit", CalibratedClassifierCV(logit, method=method, cv=cv)),
                             ("trees", CalibratedClassifierCV(trees, method=method, cv=cv))], voting="soft")


def _splits(signal: np.ndarray, exit_: np.ndarray, y: np.ndarray,
            embargo: np.timedelta64) -> list[tuple[np.ndarray, np.ndarray]]:
    splits = list(purged_kfold(signal, exit_, INNER_SPLITS, embargo))
    for train, _test in splits:
        if len(np.unique(y[train])) < 2:
            raise FitError("a calibration split's training trades are all wins or all losses")
    return splits


def fit(X: np.ndarray, y: np.ndarray, signal: np.ndarray, exit_: np.ndarray,
        embargo: np.timedelta64) -> tuple[VotingClassifier, str, dict[str, float]]:
    """The calibrated ensemble fitted on these trades (in signal order), the calibration
    method chosen and each method's held-out Brier score (the module doc)."""
    if len(np.unique(y)) < 2:
        raise FitError("the training trades are all wins or all losses")
    # On a few hundred trades OpenMP's threads cost more than they save (7x slower on two
    # busy cores): one thread.
    with threadpool_limits(1):
        return _fit(X, y, signal, exit_, embargo)


def _fit(X: np.ndarray, y: np.ndarray, signal: np.ndarray, exit_: np.ndarray,
         embargo: np.timedelta64) -> tuple[VotingClassifier, str, dict[str, float]]:
    cut = int(len(y) * (1 - HOLDOUT))
    fit_part = np.flatnonzero(exit_[:cut] < signal[cut] - embargo)
    held = np.arange(cut, len(y))
    if len(np.unique(y[fit_part])) < 2 or len(held) == 0:
        raise FitError("too few trades before the calibration hold-out")
    scores: dict[str, float] = {}
    for method in METHODS:
        model = ensemble(method, _splits(signal[fit_part], exit_[fit_part], y[fit_part], embargo))
        model.fit(X[fit_part], y[fit_part])
        scores[method] = float(brier_score_loss(y[held], model.predict_proba(X[held])[:, 1], pos_label=1))
    best = min(METHODS, key=lambda m: scores[m])
    final = ensemble(best, _splits(signal, exit_, y, embargo))
    final.fit(X, y)
    return final, best, scores


def win_probability(model: Any, X: np.ndarray) -> np.ndarray:
    """The probability of a win (class 1) for each row of ``X``."""
    classes = list(model.classes_)
    with threadpool_limits(1):
        return np.asarray(model.predict_proba(X)[:, classes.index(1)], dtype=float)


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """A fold's figures: trades, wins, base rate, mean probability, AUC (null when the
    trades are all of one class), Brier score, log loss and the reliability table
    (:func:`reliability`)."""
    one_class = len(np.unique(y)) < 2
    return {
        "trades": len(y),
        "wins": int(y.sum()),
        "base_rate": float(y.mean()) if len(y) else None,
        "mean_prob": float(p.mean()) if len(y) else None,
        "auc": None if one_class or not len(y) else float(roc_auc_score(y, p)),
        "brier": float(brier_score_loss(y, p, pos_label=1)) if len(y) else None,
        "log_loss": float(log_loss(y, p, labels=[0, 1])) if len(y) else None,
        "reliability": reliability(y, p),
    }


def reliability(y: np.ndarray, p: np.ndarray, bins: int = BINS) -> list[dict[str, float | int]]:
    """scikit-learn's :func:`~sklearn.calibration.calibration_curve` (equal-width bins)
    with each bin's edges and trade count; empty bins are left out, as it leaves them."""
    if not len(y):
        return []
    edges = np.linspace(0.0, 1.0, bins + 1)
    won, predicted = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    # The same binning as calibration_curve's, for the counts it does not return.
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=bins)
    filled = np.flatnonzero(counts)
    return [{"low": float(edges[b]), "high": float(edges[b + 1]), "mean_prob": float(mp), "win_rate": float(w),
             "trades": int(counts[b])} for b, mp, w in zip(filled, predicted, won)]
