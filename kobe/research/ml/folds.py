"""The meta-model's folds: walk-forward, purged and embargoed (López de Prado, *Advances
in Financial Machine Learning*, ch. 7).

A trade is an interval, from its signal date to its exit date: its label (won or lost)
is only known at the exit. The sessions from the first trade's signal to the data's end
are cut into ``folds + 1`` blocks of equal length; block 0 only trains, block k
(k = 1..folds) is fold k's **test** period::

    sessions  |--- block 0 ---|--- block 1 ---|--- block 2 ---|--- block 3 ---|
    fold 1    [ train ...   ]e[    test     ]
    fold 2    [ train .................... ]e[    test     ]
    fold 3    [ train ................................... ]e[    test     ]
                                     e: the embargo, sessions no training trade may reach

- **Expanding window, forward only**: fold k's model trains on trades whose *exit*
  precedes the test period's start minus the embargo; every probability of fold k's
  test period comes from a model that saw nothing later.
- **Purging**: a trade whose holding period overlaps the test period never trains for
  it (its label is only known inside or after it).
- **Embargo**: ``embargo`` sessions next to a test period that no training trade may
  touch either; with the forward-only windows above that is the gap before the test
  period, and in the purged k-fold (:func:`purged_kfold`, the calibration's inner
  folds, where training trades may come after a test block) the sessions after it too.

The boundaries depend on the sessions and the first trade only, never on later bars or
labels: changing a future bar or label cannot move an earlier fold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fold:
    """One test period (first and last session) and the first session no training
    trade of it may reach (``train_before``: the test start less the embargo)."""

    index: int
    test_start: dt.date
    test_end: dt.date
    train_before: dt.date

    def tests(self, signal: np.ndarray) -> np.ndarray:
        """Which trades (by signal date, ``datetime64[D]``) fold ``index`` tests."""
        return (signal >= np.datetime64(self.test_start)) & (signal <= np.datetime64(self.test_end))

    def trains(self, exit_: np.ndarray) -> np.ndarray:
        """Which trades (by exit date) may train its model: purged and embargoed."""
        return exit_ < np.datetime64(self.train_before)


def default_embargo(sessions: int) -> int:
    """López de Prado's rule of thumb: about 1 % of the sessions, at least one."""
    return max(1, round(0.01 * sessions))


def make_folds(sessions: Sequence[dt.date], first_signal: dt.date, folds: int,
               embargo: int | None = None) -> list[Fold]:
    """The ``folds`` test periods over ``sessions`` from ``first_signal`` on (the module
    doc); ``embargo`` in sessions (default :func:`default_embargo` of them)."""
    if folds < 1:
        raise ValueError("folds must be at least 1")
    days = np.array(sessions, dtype="datetime64[D]")
    first = int(np.searchsorted(days, np.datetime64(first_signal), side="left"))
    span = len(days) - first
    embargo = default_embargo(span) if embargo is None else embargo
    bounds = [first + (span * k) // (folds + 1) for k in range(folds + 2)]
    out = []
    for k in range(1, folds + 1):
        start, stop = bounds[k], bounds[k + 1] - 1
        if stop < start:
            continue
        out.append(Fold(k, sessions[start], sessions[stop], sessions[max(first, start - embargo)]))
    return out


def purged_kfold(signal: np.ndarray, exit_: np.ndarray, splits: int, embargo: np.timedelta64
                 ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """López de Prado's purged k-fold over trades in signal order: ``splits`` contiguous
    test blocks; a trade trains for a block unless its holding period overlaps the
    block's, or it starts within ``embargo`` after the block's last exit. Yields
    (train indices, test indices), a scikit-learn ``cv`` iterable."""
    order = np.arange(len(signal))
    for block in np.array_split(order, splits):
        if not len(block):
            continue
        start, end = signal[block].min(), exit_[block].max()
        overlaps = (signal <= end) & (exit_ >= start)
        embargoed = (signal > end) & (signal <= end + embargo)
        train = order[~overlaps & ~embargoed]
        yield train, block
