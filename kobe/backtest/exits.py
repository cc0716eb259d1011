"""How each candidate trade would end, found for all candidates at once.

A trade's exit depends only on its own symbol's bars after the fill, never on the
account, so it is computed for every candidate before the portfolio pass decides which
ones are taken. The rules are :mod:`kobe.decide.exits` (the one exit evaluator, which the
live cycle runs too); this module walks them over every candidate.

Only the price levels walk bars, and they do so in lockstep: iteration k looks at the
k-th bar held of every candidate still searching, as numpy arrays, so the loop runs as
many times as the longest search, not once per candidate or bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kobe.backtest.candidates import NEVER, Candidates
from kobe.backtest.market import Market
from kobe.backtest.tier import compiled_tier
from kobe.decide.exits import (  # noqa: F401 - re-exported: the backtest's readers name them from here
    AT_CLOSE,
    AT_OPEN,
    DATA_END,
    END,
    EXIT_RULE,
    INTRABAR,
    MARGIN,
    OPEN,
    REASONS,
    STOP,
    TARGET,
    TIME_STOP,
    TRAILING_STOP,
    advance_best,
    level_exits,
)


@dataclass(frozen=True)
class Exits:
    """One element per candidate. ``price`` is the raw price before costs; for an
    ``open`` (or ``end``) trade ``row`` is its symbol's last row and ``price`` that bar's close."""

    row: np.ndarray
    price: np.ndarray
    moment: np.ndarray    # AT_OPEN, INTRABAR or AT_CLOSE
    reason: np.ndarray    # index into REASONS


def find_exits(market: Market, candidates: Candidates, *, side: int, fill: str,
               time_stop_bars: int | None, close_at_end: bool = False) -> Exits:
    """The exit of every candidate; ``side`` is +1 for long, -1 for short. A trade still
    alive on the last session is ``open``, or with ``close_at_end`` sold at that
    session's close (``end``)."""
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
    _set(left & alive, end, market.close, AT_CLOSE, END if close_at_end else OPEN, row, price, moment, reason)
    return Exits(row, price, moment, reason)


def find_exits_by_side(market: Market, candidates: Candidates, *, time_stop_bars: dict[int, int | None], fill: str,
                       close_at_end: bool = False) -> Exits:
    """:func:`find_exits` of candidates of either side (``candidates.side``), each side
    with its own time stop (``time_stop_bars[side]``)."""
    sides = [int(s) for s in np.unique(candidates.side)]
    if len(sides) <= 1:
        side = sides[0] if sides else 1
        return find_exits(market, candidates, side=side, fill=fill, time_stop_bars=time_stop_bars.get(side),
                          close_at_end=close_at_end)
    n = len(candidates)
    out = Exits(np.full(n, -1, dtype=np.int64), np.full(n, np.nan), np.full(n, AT_CLOSE, dtype=np.int8),
                np.full(n, OPEN, dtype=np.int8))
    for side in sides:
        mask = candidates.side == side
        part = find_exits(market, candidates.take(mask), side=side, fill=fill, time_stop_bars=time_stop_bars[side],
                          close_at_end=close_at_end)
        out.row[mask], out.price[mask], out.moment[mask], out.reason[mask] = part.row, part.price, part.moment, part.reason
    return out


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
    if compiled_tier():
        # Here, not at the top: numba only in a process that runs the compiled tier.
        from kobe.backtest import loop

        loop.search_levels(side, active, c.first_held, bound, c.entry_price, c.stop, c.target, c.trailing_stop,
                           market.open, market.high, market.low, row, price, moment, reason, INTRABAR, STOP,
                           TRAILING_STOP, TARGET)
        return
    # The searching candidates' own values, compressed along with them as they finish,
    # rather than gathered from the full arrays again at every bar.
    at, limit = c.first_held[active], bound[active]
    stop, target, trailing = c.stop[active], c.target[active], c.trailing_stop[active]
    best = c.entry_price[active]          # best price since entry, before the current bar
    while active.size:
        opened, high, low = market.open[at], market.high[at], market.low[at]
        found = level_exits(side, opened, high, low, stop, target, trailing, best)
        done = found.done
        if done.any():
            hit = active[done]
            row[hit] = at[done]
            price[hit] = found.price[done]
            moment[hit] = INTRABAR
            reason[hit] = found.reason[done]
        best = advance_best(side, best, high, low)
        keep = ~done & (at < limit)
        if not keep.all():
            active, best, at, limit = active[keep], best[keep], at[keep], limit[keep]
            stop, target, trailing = stop[keep], target[keep], trailing[keep]
        at = at + 1
