"""How each candidate trade would end, found for all candidates at once.

A trade's exit depends only on its own symbol's bars after the fill, never on the
account, so it is computed for every candidate before the portfolio pass decides which
ones are taken. The rules (``docs/backtest.md``), bar by bar from the first bar held:

1. **Stop, trailing stop, target**, checked against each bar's range. A long's stop is
   touched when the low reaches it, a short's when the high does. A bar that opens
   beyond a level (a gap) fills at the open; otherwise the level itself fills. When one
   bar touches both the stop and the target, the stop is assumed first (the
   conservative choice: the range does not tell which came first). The trailing level
   of a bar is the best price since entry *before* that bar (the entry price, then each
   held bar's high for longs, low for shorts) minus the distance; the stop in force is
   the tighter of it and the fixed stop.
2. **Time stop**: at the close of the N-th bar held, the first bar held counting as 1.
3. **Exit rule**: true at the close of bar t, the position exits at t+1's open
   (``fill: next_open``) or at t's close (``fill: close``).
4. **End of data**: a symbol whose bars end before the backtest's last session is sold
   at its last close (``data_end``); a trade alive on the last session stays ``open``,
   marked at that close.

Only step 1 walks bars, and it does so in lockstep: iteration k looks at the k-th bar
held of every candidate still searching, as numpy arrays, so the loop runs as many
times as the longest search, not once per candidate or bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kobe.backtest.candidates import NEVER, Candidates
from kobe.backtest.market import Market

# When within its bar an exit fills: at the open, between open and close, at the close.
AT_OPEN, INTRABAR, AT_CLOSE = 0, 1, 2

REASONS = ("stop", "trailing_stop", "target", "time_stop", "exit_rule", "data_end", "open")
STOP, TRAILING_STOP, TARGET, TIME_STOP, EXIT_RULE, DATA_END, OPEN = range(len(REASONS))


@dataclass(frozen=True)
class Exits:
    """One element per candidate. ``price`` is the raw price before slippage; for an
    ``open`` trade ``row`` is its symbol's last row and ``price`` that bar's close."""

    row: np.ndarray
    price: np.ndarray
    moment: np.ndarray    # AT_OPEN, INTRABAR or AT_CLOSE
    reason: np.ndarray    # index into REASONS


def find_exits(market: Market, candidates: Candidates, *, side: int, fill: str,
               time_stop_bars: int | None) -> Exits:
    """The exit of every candidate; ``side`` is +1 for long, -1 for short."""
    n = len(candidates)
    first = candidates.first_held
    end = market.last_row[candidates.row]
    time_row = first + (time_stop_bars - 1) if time_stop_bars else np.full(n, NEVER)
    rule_row = candidates.exit_rule_row
    # Price levels are only searched up to the bar whose close or next open ends the trade anyway.
    bound = np.minimum(np.minimum(end, time_row), rule_row)

    row = np.full(n, -1, dtype=np.int64)
    price = np.full(n, np.nan)
    moment = np.full(n, AT_CLOSE, dtype=np.int8)
    reason = np.full(n, OPEN, dtype=np.int8)

    _search_levels(market, candidates, side, bound, row, price, moment, reason)

    left = row < 0
    timed = left & (time_row <= np.minimum(rule_row, end))
    _set(timed, time_row, market.close, AT_CLOSE, TIME_STOP, row, price, moment, reason)
    left &= ~timed
    if fill == "next_open":
        ruled = left & (rule_row < end)     # the exit needs a next bar to open
        _set(ruled, rule_row + 1, market.open, AT_OPEN, EXIT_RULE, row, price, moment, reason)
    else:
        ruled = left & (rule_row <= end)
        _set(ruled, rule_row, market.close, AT_CLOSE, EXIT_RULE, row, price, moment, reason)
    left &= ~ruled
    last_session = len(market.sessions) - 1
    alive = market.session[end] == last_session
    _set(left & ~alive, end, market.close, AT_CLOSE, DATA_END, row, price, moment, reason)
    _set(left & alive, end, market.close, AT_CLOSE, OPEN, row, price, moment, reason)
    return Exits(row, price, moment, reason)


def _set(mask: np.ndarray, at_row: np.ndarray, prices: np.ndarray, when: int, why: int,
         row: np.ndarray, price: np.ndarray, moment: np.ndarray, reason: np.ndarray) -> None:
    rows = at_row[mask]
    row[mask] = rows
    price[mask] = prices[rows]
    moment[mask] = when
    reason[mask] = why


def _search_levels(market: Market, c: Candidates, side: int, bound: np.ndarray, row: np.ndarray,
                   price: np.ndarray, moment: np.ndarray, reason: np.ndarray) -> None:
    """Step 1 of the module doc, in lockstep over the bars held."""
    has_level = np.isfinite(c.stop) | np.isfinite(c.target) | np.isfinite(c.trailing_stop)
    active = np.flatnonzero(has_level & (c.first_held <= bound))
    best = c.entry_price[active]          # best price since entry, before the current bar
    k = 0
    while active.size:
        at = c.first_held[active] + k
        opened, high, low = market.open[at], market.high[at], market.low[at]
        stop, target, trail = c.stop[active], c.target[active], c.trailing_stop[active]
        trail_level = best - side * trail
        if side > 0:
            level = np.fmax(stop, trail_level)
            gap_stop, gap_target = opened <= level, opened >= target
            hit_stop, hit_target = low <= level, high >= target
        else:
            level = np.fmin(stop, trail_level)
            gap_stop, gap_target = opened >= level, opened <= target
            hit_stop, hit_target = high >= level, low <= target
        # The trailing level binds when it is tighter than the stop (or there is no stop).
        trailing = np.isfinite(trail_level) & ~(side * (trail_level - stop) <= 0)
        # The open comes first; within the bar, the stop before the target.
        stopped = gap_stop | (~gap_target & hit_stop)
        done = stopped | gap_target | hit_target
        if done.any():
            hit = active[done]
            row[hit] = at[done]
            price[hit] = np.where((gap_stop | gap_target)[done], opened[done],
                                  np.where(stopped[done], level[done], target[done]))
            moment[hit] = INTRABAR
            reason[hit] = np.where(stopped[done], np.where(trailing[done], TRAILING_STOP, STOP), TARGET)
        best = np.fmax(best, high) if side > 0 else np.fmin(best, low)
        keep = ~done & (at < bound[active])
        active, best = active[keep], best[keep]
        k += 1
