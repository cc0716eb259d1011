"""The exit rules, in one place: how a position ends, for the backtest and live alike.

A position is checked bar by bar from the first bar held, in this order:

1. **Stop, trailing stop, target**, against each bar's range. A long's stop is touched
   when the low reaches it, a short's when the high does. A bar that opens beyond a
   level (a gap) fills at the open; otherwise the level itself fills. When one bar
   touches both the stop and the target, the stop is assumed first (the conservative
   choice: the range does not tell which came first). The trailing level of a bar is
   the best price since entry *before* that bar (the entry price, then each held bar's
   high for longs, low for shorts) minus the distance; the stop in force is the tighter
   of it and the fixed stop (:func:`stop_in_force`). Live, that level rests at the
   broker as a GTC stop order, moved up after each bar, and the broker fills it by the
   same rule (``kobe exchange`` does exactly that).
2. **Time stop**: at the close of the N-th bar held, the first bar held counting as 1
   (:func:`time_stop_due`). Live, the sell goes out in the session's last cycle.
3. **Exit rule**: true at the close of bar t, the position exits at t+1's open
   (``fill: next_open``) or at t's close (``fill: close``).
4. **End of data** (backtest only): a symbol whose bars end early is sold at its last
   close; a trade alive on the last session stays ``open``, or with the backtest's
   ``close_at_end`` is sold at that session's close (``end``).

Every function takes numpy arrays (one element per position), so the backtest runs them
over every candidate at once, in lockstep over the bars held, and the live cycle over a
single holding; the rule cannot differ between the two. The compiled account loop
(:mod:`kobe.backtest.loop`) walks one position at a time and compiles the same functions
(:func:`stop_in_force`, :func:`level_touches`, :func:`trailing_binds`,
:func:`advance_best`) for scalars: they use only operators and numpy ufuncs, which numba
compiles for a scalar as for an array (``~`` of a bool is its negation there, as it is
for numpy's bool arrays). This module never imports numba.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# When within its bar an exit fills: at the open, between open and close, at the close.
AT_OPEN, INTRABAR, AT_CLOSE = 0, 1, 2

# New reasons go last: the index of each existing one stays what it was.
# ``margin``: the backtest's forced cover of a maintenance call (kobe.backtest.portfolio).
REASONS = ("stop", "trailing_stop", "target", "time_stop", "exit_rule", "data_end", "open", "end", "margin")
STOP, TRAILING_STOP, TARGET, TIME_STOP, EXIT_RULE, DATA_END, OPEN, END, MARGIN = range(len(REASONS))


def stop_in_force(side: int, stop: np.ndarray, trailing: np.ndarray, best: np.ndarray) -> np.ndarray:
    """The protective level for the next bar: the tighter of the fixed ``stop`` and the
    trailing level ``best - side * trailing`` (NaN where a position has neither)."""
    trail_level = best - side * trailing
    return np.fmax(stop, trail_level) if side > 0 else np.fmin(stop, trail_level)


def trailing_binds(side: int, stop: np.ndarray, trailing: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Where the trailing level is the one in force (tighter than the stop, or no stop)."""
    trail_level = best - side * trailing
    return np.isfinite(trail_level) & ~(side * (trail_level - stop) <= 0)


def advance_best(side: int, best: np.ndarray, high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """The best price since entry once a bar has been held."""
    return np.fmax(best, high) if side > 0 else np.fmin(best, low)


def level_touches(side: int, opened: np.ndarray, high: np.ndarray, low: np.ndarray, level: np.ndarray,
                  target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which of one bar's levels end each position: ``stopped`` (the stop in force,
    ``level``, before the target), ``gapped`` (the bar opened beyond the level that ends
    it, so it fills at the open) and ``done`` (either level). Arrays or, compiled, scalars."""
    if side > 0:
        gap_stop, gap_target = opened <= level, opened >= target
        hit_stop, hit_target = low <= level, high >= target
    else:
        gap_stop, gap_target = opened >= level, opened <= target
        hit_stop, hit_target = high >= level, low <= target
    # The open comes first; within the bar, the stop before the target.
    stopped = gap_stop | (~gap_target & hit_stop)
    return stopped, gap_stop | gap_target, stopped | gap_target | hit_target


@dataclass(frozen=True)
class BarExits:
    """What one bar did to each position: ``done`` where a level ended it, at ``price``
    (raw, before slippage), for ``reason`` (STOP, TRAILING_STOP or TARGET)."""

    done: np.ndarray
    price: np.ndarray
    reason: np.ndarray
    at_open: np.ndarray     # the bar opened beyond the level (a gap)


def level_exits(side: int, opened: np.ndarray, high: np.ndarray, low: np.ndarray, stop: np.ndarray,
                target: np.ndarray, trailing: np.ndarray, best: np.ndarray) -> BarExits:
    """Rule 1 of the module doc on one bar per position."""
    level = stop_in_force(side, stop, trailing, best)
    stopped, gapped, done = level_touches(side, opened, high, low, level, target)
    price = np.where(gapped, opened, np.where(stopped, level, target))
    trailing_hit = trailing_binds(side, stop, trailing, best)
    reason = np.where(stopped, np.where(trailing_hit, TRAILING_STOP, STOP), TARGET)
    return BarExits(done, price, reason, gapped)


def time_stop_due(bars_held: int, limit: int | None) -> bool:
    """Whether the time stop ends a position at the close of its ``bars_held``-th bar."""
    return bool(limit) and bars_held >= int(limit or 0)
