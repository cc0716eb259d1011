"""The meta-model's folds: purged, embargoed, forward only (a property over random trades)."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kobe.research.ml.folds import make_folds, purged_kfold

SESSIONS = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(400)]


@st.composite
def trades(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(20, 120))
    starts = np.sort(np.array(draw(st.lists(st.integers(0, 380), min_size=n, max_size=n))))
    holds = np.array(draw(st.lists(st.integers(0, 15), min_size=n, max_size=n)))
    base = np.datetime64("2020-01-01")
    return base + starts.astype("timedelta64[D]"), base + (starts + holds).astype("timedelta64[D]")


@given(trades(), st.integers(1, 6), st.integers(0, 10))
@settings(max_examples=60, deadline=None)
def test_no_training_trade_reaches_its_test_period(data: tuple[np.ndarray, np.ndarray], folds: int,
                                                   embargo: int) -> None:
    signal, exit_ = data
    plan = make_folds(SESSIONS, signal[0].astype(dt.date), folds, embargo)
    assert len(plan) <= folds
    for fold in plan:
        train = fold.trains(exit_)
        assert np.all(exit_[train] < np.datetime64(fold.test_start))
        # The embargo: exits before the test start less ``embargo`` sessions.
        assert np.all(exit_[train] < np.datetime64(fold.test_start) - np.timedelta64(embargo, "D")) or embargo == 0
        assert not np.any(train & fold.tests(signal))
    # Test periods follow each other without overlaps.
    for a, b in itertools.pairwise(plan):
        assert a.test_end < b.test_start


@given(trades(), st.integers(2, 5), st.integers(0, 10))
@settings(max_examples=60, deadline=None)
def test_purged_kfold_purges_and_embargoes(data: tuple[np.ndarray, np.ndarray], splits: int, embargo: int) -> None:
    signal, exit_ = data
    gap = np.timedelta64(embargo, "D")
    for train, test in purged_kfold(signal, exit_, splits, gap):
        start, end = signal[test].min(), exit_[test].max()
        # No training trade's holding period overlaps the test block's.
        assert not np.any((signal[train] <= end) & (exit_[train] >= start))
        # Nor starts within the embargo after it.
        assert not np.any((signal[train] > end) & (signal[train] <= end + gap))


def test_fold_boundaries_depend_on_the_sessions_and_the_first_signal_only() -> None:
    a = make_folds(SESSIONS, dt.date(2020, 2, 1), 4, 3)
    b = make_folds(SESSIONS, dt.date(2020, 2, 1), 4, 3)
    assert a == b and len(a) == 4
    assert a[0].test_start > dt.date(2020, 2, 1) and a[-1].test_end == SESSIONS[-1]
