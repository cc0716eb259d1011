"""The account loop of :func:`kobe.backtest.portfolio.simulate`, compiled with numba,
and two smaller walks of the backtest: the exit search's price levels
(:func:`search_levels`) and the shares held per session (:func:`held_shares`).

The loop walks the sessions one by one and each step reads a few array elements: in
Python that costs about a microsecond per element, most of a sweep's time (50-90 ms
per account of the 505-symbol Donchian sweep). Compiled, the same loop takes 1-3 ms.
It is the Python loop's
twin, operation for operation (the same float expressions in the same order, so the
books are bit for bit the same; ``tests/backtest/test_loop.py`` runs both on random
accounts and compares), for the accounts it covers:

- sized in dollars or by the cash (``fixed_dollars``, ``all_cash``): the other methods
  mark the open positions before each entry, which the Python loop does;
- a cash account (no ``margin``);
- with no gates, or live trading's budget and liquidity gates (:func:`gate_plan`
  recognises them and hands their limits over as numbers).

:func:`kobe.backtest.portfolio.simulate` picks it when it applies; the module doc there
is the account's specification.

The rules are not re-stated here: each is a plain scalar function in its home module,
which the Python API there calls, and which this module compiles as it is written
(:func:`_compiled`): the costs (:func:`kobe.backtest.costs.quote_prices`,
``fill_price``, ``commission_fee``, ``unit_cost_of``, ``affordable_shares``), the sizing
(:func:`kobe.decide.sizing.floor_shares`, ``sized_count``, ``all_cash_wanted``), the
numeric tests of the budget and liquidity gates
(:func:`kobe.decide.gates.policy_block`, ``liquidity_block``) and the exit levels
(:func:`kobe.decide.exits.stop_in_force`, ``level_touches``, ``trailing_binds``,
``advance_best``). A home function that calls another shared function is compiled with
that call bound to the compiled twin (same code, other globals). What is still spelled
out here, and why:

- the exact decimal division of :func:`kobe.decide.sizing.whole_shares` near a whole
  number: numba has no decimals, so :func:`_whole_shares` runs the shared float division
  and calls ``whole_shares`` itself back (object mode) in that case only;
- ``fixed_dollars``' wanted shares, ``amount_usd // fill`` (one floor division; the
  Python :func:`~kobe.decide.sizing.shares` also reads a ``Sizing`` object, which numba
  cannot);
- the price and reason :func:`kobe.decide.exits.level_exits` picks with ``np.where``
  once ``level_touches`` says a level ended the position (the open on a gap, else the
  stop or the target; trailing when ``trailing_binds``): ``np.where`` on scalars
  allocates an array in numba, per bar held, so the choice is an ``if`` here;
- the chain walk of :func:`kobe.decide.gates.first_block` over the gates' codes
  (:func:`gate_kernel`), which turns the first block into the skipped count's index.

The account's own steps (settling, entering, the borrow fee, the slots) are the loop
itself, twinned with ``simulate``'s Python loop by design (the first paragraph).

The compiled code is cached on disk (``cache=True``): a fresh process loads it instead
of compiling it again (a few seconds, once per installation, and again after an edit
of this file or of a home module: :func:`_stamp_caches_with_the_rules`). Importing numba and
loading the cache still cost ~0.6 s per process, which is why ``simulate`` only moves
to this loop once a process runs enough accounts (:mod:`kobe.backtest.tier`).
"""

from __future__ import annotations

import hashlib
import math
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np

from kobe.backtest import costs as cost_rules
from kobe.decide import exits as exit_rules
from kobe.decide import gates as gate_rules
from kobe.decide import sizing as sizing_rules
from kobe.decide.gates import LiquidityGate, PolicyGate

AT_OPEN_CODE = 0      # kobe.decide.exits.AT_OPEN; checked against it in tests
FIXED_DOLLARS, ALL_CASH = 0, 1
POLICY, LIQUIDITY = 1, 2
ALLOWED = 0
# Indices of the ``skipped`` counts the kernel returns.
SYMBOL_HELD, NO_FREE_SLOT, ZERO_SHARES, BLOCKED_POLICY, BLOCKED_LIQUIDITY = range(5)


@dataclass(frozen=True)
class GatePlan:
    """The budget and liquidity gates as numbers: ``kinds`` in the chain's order
    (:data:`POLICY`, :data:`LIQUIDITY`), and each one's limits."""

    kinds: np.ndarray
    per_order_usd: float = 0.0
    daily_usd: float = 0.0
    min_adv_usd: float = 0.0
    max_spread_pct: float = 0.0
    max_order_pct_adv: float = 0.0


def gate_plan(chain: object) -> GatePlan | None:
    """``chain`` (a sequence of gates) as a :class:`GatePlan`, or ``None`` when it holds
    a gate this module does not know (the Python loop then asks it)."""
    kinds: list[int] = []
    limits: dict[str, float] = {}
    for gate in chain:  # type: ignore[attr-defined]
        # Exact types: a subclass may check something else.
        if type(gate) is PolicyGate:
            kinds.append(POLICY)
            limits.update(per_order_usd=float(gate.per_order_usd), daily_usd=float(gate.daily_usd))
        elif type(gate) is LiquidityGate:
            kinds.append(LIQUIDITY)
            limits.update(min_adv_usd=float(gate.min_adv_usd), max_spread_pct=float(gate.max_spread_pct),
                          max_order_pct_adv=float(gate.max_order_pct_adv))
        else:
            return None
    return GatePlan(np.array(kinds, dtype=np.int64), **limits)


def _compiled(func: Callable[..., Any], **callees: Any) -> Any:
    """``func`` of a home module compiled as written there; ``callees`` names the shared
    functions it calls and their compiled twins (numba cannot call a Python function)."""
    if callees:
        # The same code object with those names bound to the compiled twins: the rule is
        # still written once, in its home module, whose file numba's cache keys on.
        bound = types.FunctionType(func.__code__, {**func.__globals__, **callees}, func.__name__,
                                   func.__defaults__, func.__closure__)
        bound.__qualname__, bound.__module__, bound.__doc__ = func.__qualname__, func.__module__, func.__doc__
        func = bound
    compiled = numba.njit(cache=True)(func)
    _SHARED.append(compiled)
    return compiled


_SHARED: list[Any] = []     # what _compiled compiled, nested ones too: their caches are stamped below


_floor_shares = _compiled(sizing_rules.floor_shares)


@numba.njit(cache=True)
def _whole_shares(dollars: float, price: float) -> int:
    """:func:`kobe.decide.sizing.whole_shares`: the shared float division, and the exact
    decimal one (Python's, called back) when it cannot tell."""
    count = _floor_shares(dollars, price)
    if count != sizing_rules.NEAR_WHOLE:
        return count
    with numba.objmode(out="int64"):
        out = sizing_rules.whole_shares(dollars, price)
    return out


_sized_count = _compiled(sizing_rules.sized_count, whole_shares=_whole_shares)
_all_cash_wanted = _compiled(sizing_rules.all_cash_wanted)
_policy_block = _compiled(gate_rules.policy_block)
_liquidity_block = _compiled(gate_rules.liquidity_block, spread_pct=_compiled(gate_rules.spread_pct))
_fill = _compiled(cost_rules.fill_price)
_commission = _compiled(cost_rules.commission_fee)
_affordable = _compiled(cost_rules.affordable_shares)
_unit_cost = _compiled(cost_rules.unit_cost_of)
_quote = _compiled(cost_rules.quote_prices)
_borrow_fee = _compiled(cost_rules.borrow_fee)
_stop_in_force = _compiled(exit_rules.stop_in_force)
_level_touches = _compiled(exit_rules.level_touches)
_trailing_binds = _compiled(exit_rules.trailing_binds)
_advance_best = _compiled(exit_rules.advance_best)


@numba.njit(cache=True)
def _min(a: float, b: float) -> float:
    """Python's ``min(a, b)``: ``a`` unless ``b`` is smaller (so a NaN ``a`` stays)."""
    # Spelled out: numba's min() need not keep Python's answer when one side is NaN.
    return b if b < a else a  # noqa: FURB136


@numba.njit(cache=True)
def shares_kernel(method: int, amount_usd: float, fill: float, cash: float, unit_cost: float,
                  has_cap: bool, cap_usd: float) -> int:
    """:func:`kobe.decide.sizing.shares` for ``fixed_dollars`` and ``all_cash``."""
    if method == FIXED_DOLLARS:
        wanted = amount_usd // fill
    else:
        wanted = _all_cash_wanted(cash, unit_cost, has_cap, cap_usd)
    count = _sized_count(wanted, cash, unit_cost, has_cap, cap_usd)
    if math.isnan(count) or count < 1:
        return 0
    return int(count)


@numba.njit(cache=True)
def gate_kernel(kinds: np.ndarray, per_order_usd: float, daily_usd: float, min_adv_usd: float,
                max_spread_pct: float, max_order_pct_adv: float, order_usd: float, spent: float,
                adv: float, bid: float, ask: float) -> int:
    """The first of ``kinds`` that blocks (:class:`~kobe.decide.gates.PolicyGate`,
    :class:`~kobe.decide.gates.LiquidityGate`), or :data:`ALLOWED`. ``adv`` NaN: none."""
    for kind in kinds:
        if kind == POLICY:
            if _policy_block(order_usd, spent, per_order_usd, daily_usd) != gate_rules.ALLOWED:
                return POLICY
        elif _liquidity_block(adv, bid, ask, order_usd, min_adv_usd, max_spread_pct,
                              max_order_pct_adv) != gate_rules.ALLOWED:
            return LIQUIDITY
    return ALLOWED


@numba.njit(cache=True)
def _settle(first: int, at_open: bool, after: np.ndarray, moment: np.ndarray, side: np.ndarray,
            exit_price: np.ndarray, quantity: np.ndarray, entry_fill: np.ndarray, borrow: np.ndarray,
            exit_fill: np.ndarray, exit_commission: np.ndarray, half: float, slip: float, per_share: float,
            bps: float, minimum: float, cash: float) -> tuple[float, int]:
    """``settle`` of ``simulate``: the positions of one session's list (from ``first``,
    in entry order) that leave at the open (``at_open``) or later that session; returns
    the cash after and how many left."""
    left = 0
    i = first
    while i >= 0:
        if (moment[i] == AT_OPEN_CODE) == at_open:
            # The orders' directions: a long buys in and sells out, a short the other way round.
            fill_out = _fill(exit_price[i], -side[i], half, slip)
            fee = _commission(quantity[i], fill_out, per_share, bps, minimum)
            exit_fill[i], exit_commission[i] = fill_out, fee
            back = fill_out if side[i] > 0 else 2 * entry_fill[i] - fill_out
            cash += quantity[i] * back - fee - borrow[i]
            left += 1
        i = after[i]
    return cash, left


@numba.njit(cache=True)
def _enter(lo: int, hi: int, session: int, order: np.ndarray, rank_key: np.ndarray, sort_groups: bool,
           symbol: np.ndarray, signal_session: np.ndarray,
           entry_session: np.ndarray, side: np.ndarray, price: np.ndarray, exit_session: np.ndarray,
           open_exit: np.ndarray, adv: np.ndarray, days: np.ndarray, never: int,
           half: float, slip: float, per_share: float, bps: float, minimum: float,
           method: int, amount_usd: float, has_cap: bool, cap_usd: float,
           gated: bool, kinds: np.ndarray, per_order_usd: float, daily_usd: float, min_adv_usd: float,
           max_spread_pct: float, max_order_pct_adv: float, borrow_rate: float, max_open: int, two_sided: bool,
           head: np.ndarray, tail: np.ndarray, after: np.ndarray, busy_until: np.ndarray, busy_side: np.ndarray,
           busy_open_exit: np.ndarray, free: np.ndarray,
           quantity: np.ndarray, entry_fill: np.ndarray, entry_commission: np.ndarray, borrow: np.ndarray,
           taken: np.ndarray, skipped: np.ndarray, cash: float, held: int, count_taken: int
           ) -> tuple[float, int, int]:
    """``enter`` of ``simulate``: the candidates ``order[lo:hi]`` of one session, tried
    in that order; returns the cash, the positions held and the trades taken after."""
    if held >= max_open:
        skipped[NO_FREE_SLOT] += hi - lo
        return cash, held, count_taken
    n_sessions = len(days)
    if sort_groups and hi - lo > 1:
        # By rank within the session, ties in candidate order (which is symbol order): sorted
        # only for the sessions that have a free slot, most of a sweep's have none.
        group = order[lo:hi].copy()
        order[lo:hi] = group[np.argsort(rank_key[group], kind="mergesort")]
    # The symbols held at their signal's close, for the whole group first, as the Python loop.
    for k in range(lo, hi):
        c = order[k]
        s = symbol[c]
        free[k - lo] = busy_until[s] <= signal_session[c] or (
            two_sided and busy_side[s] != side[c] and busy_open_exit[s] == entry_session[c])
    room = cash
    spent = 0.0                 # entries' dollars this session: the daily budget
    not_free = 0
    for k in range(lo, hi):
        if not free[k - lo]:
            not_free += 1
            continue
        c = order[k]
        fill_in = _fill(price[c], side[c], half, slip)
        unit = _unit_cost(fill_in, per_share, bps)
        count = shares_kernel(method, amount_usd, fill_in, room, unit, has_cap, cap_usd)
        if minimum > 0 and count > 0:
            # Costs.affordable: a minimum commission may need more than the unit cost.
            count = int(_min(float(count), _affordable(room, fill_in, unit, minimum)))
        if count < 1:
            skipped[ZERO_SHARES] += 1
            continue
        if gated:
            bid, ask = _quote(price[c], half)
            blocked = gate_kernel(kinds, per_order_usd, daily_usd, min_adv_usd, max_spread_pct, max_order_pct_adv,
                                  count * fill_in, spent, adv[c], bid, ask)
            if blocked == POLICY:
                skipped[BLOCKED_POLICY] += 1
                continue
            if blocked == LIQUIDITY:
                skipped[BLOCKED_LIQUIDITY] += 1
                continue
            spent += count * fill_in
        fee = _commission(float(count), fill_in, per_share, bps, minimum)
        quantity[c], entry_fill[c], entry_commission[c] = count, fill_in, fee
        if side[c] < 0 and borrow_rate:
            held_to = min(exit_session[c], n_sessions - 1)
            borrow[c] = _borrow_fee(count, fill_in, borrow_rate, float(days[held_to] - days[entry_session[c]]))
        cash -= count * fill_in + fee
        room -= count * fill_in + fee
        held += 1
        taken[count_taken] = c
        count_taken += 1
        s = symbol[c]
        busy_until[s] = exit_session[c]
        busy_side[s], busy_open_exit[s] = side[c], open_exit[c]
        e = exit_session[c]
        if e != never:                            # an open trade never leaves
            if head[e] < 0:
                head[e] = c
            else:
                after[tail[e]] = c
            tail[e] = c
        if held >= max_open:
            skipped[NO_FREE_SLOT] += hi - k - 1
            skipped[SYMBOL_HELD] += not_free
            return cash, held, count_taken
    skipped[SYMBOL_HELD] += not_free
    return cash, held, count_taken


@numba.njit(cache=True)
def account_kernel(order: np.ndarray, rank_key: np.ndarray, sort_groups: bool, starts: np.ndarray,
                   symbol: np.ndarray, signal_session: np.ndarray,
                   entry_session: np.ndarray, side: np.ndarray, price: np.ndarray, exit_session: np.ndarray,
                   moment: np.ndarray, exit_price: np.ndarray, open_exit: np.ndarray, adv: np.ndarray,
                   days: np.ndarray, n_symbols: int, never: int,
                   half: float, slip: float, per_share: float, bps: float, minimum: float,
                   method: int, amount_usd: float, has_cap: bool, cap_usd: float,
                   gated: bool, kinds: np.ndarray, per_order_usd: float, daily_usd: float, min_adv_usd: float,
                   max_spread_pct: float, max_order_pct_adv: float,
                   initial_cash: float, borrow_rate: float, max_open: int, at_open: bool, two_sided: bool,
                   quantity: np.ndarray, entry_fill: np.ndarray, entry_commission: np.ndarray,
                   exit_fill: np.ndarray, exit_commission: np.ndarray, borrow: np.ndarray,
                   taken: np.ndarray, cash_after: np.ndarray, skipped: np.ndarray) -> int:
    """The session loop of ``simulate`` (its Python twin there, step for step); fills
    the output arrays and returns how many trades were taken (the first elements of
    ``taken``). Per candidate: ``rank_key`` and ``symbol`` .. ``adv``; ``order`` and
    ``starts`` group them by entry session, in the order they are tried, or with
    ``sort_groups`` in candidate order, each group then sorted by ``rank_key`` when it
    is tried (``order`` is sorted in place)."""
    n_sessions = len(starts) - 1
    n = len(symbol)
    # The positions leaving at each session, in entry order: a linked list per session.
    head = np.full(n_sessions, -1, np.int64)
    tail = np.full(n_sessions, -1, np.int64)
    after = np.full(n, -1, np.int64)
    busy_until = np.full(n_symbols, -1, np.int64)     # exit session of the symbol's last trade
    busy_side = np.zeros(n_symbols, np.int64)
    busy_open_exit = np.full(n_symbols, -1, np.int64)
    free = np.zeros(max(n, 1), np.bool_)
    cash = initial_cash
    held = 0
    count_taken = 0
    for session in range(n_sessions):
        lo, hi = starts[session], starts[session + 1]
        entering = lo < hi
        if not entering and head[session] < 0:
            continue
        for at_open_step in (True, False):
            cash, left = _settle(head[session], at_open_step, after, moment, side, exit_price, quantity, entry_fill,
                                 borrow, exit_fill, exit_commission, half, slip, per_share, bps, minimum, cash)
            held -= left
            if entering and at_open == at_open_step:
                cash, held, count_taken = _enter(
                    lo, hi, session, order, rank_key, sort_groups, symbol, signal_session, entry_session, side, price, exit_session,
                    open_exit, adv, days, never, half, slip, per_share, bps, minimum, method, amount_usd, has_cap,
                    cap_usd, gated, kinds, per_order_usd, daily_usd, min_adv_usd, max_spread_pct,
                    max_order_pct_adv, borrow_rate, max_open, two_sided, head, tail, after, busy_until, busy_side,
                    busy_open_exit, free, quantity, entry_fill, entry_commission, borrow, taken, skipped, cash, held,
                    count_taken)
        cash_after[session] = cash
    return count_taken



@numba.njit(cache=True)
def search_levels(side: int, active: np.ndarray, first_held: np.ndarray, bound: np.ndarray, entry_price: np.ndarray,
                  stop: np.ndarray, target: np.ndarray, trailing: np.ndarray, opened: np.ndarray,
                  high: np.ndarray, low: np.ndarray, row: np.ndarray, price: np.ndarray, moment: np.ndarray,
                  reason: np.ndarray, intrabar: int, stop_reason: int, trailing_reason: int,
                  target_reason: int) -> None:
    """``kobe.backtest.exits._search_levels``, one candidate at a time instead of in
    lockstep (each one's search reads only its own bars): the bars from ``first_held``
    to ``bound`` of each of ``active`` through :func:`kobe.decide.exits.level_exits`'
    shared functions, and ``advance_best`` after each bar."""
    for c in active:
        best = entry_price[c]
        s, t, trail = stop[c], target[c], trailing[c]
        at = first_held[c]
        while True:
            o, h, lo = opened[at], high[at], low[at]
            level = _stop_in_force(side, s, trail, best)
            stopped, gapped, done = _level_touches(side, o, h, lo, level, t)
            if done:
                # level_exits' np.where, as an if (the module doc).
                row[c] = at
                price[c] = o if gapped else (level if stopped else t)
                moment[c] = intrabar
                if stopped:
                    reason[c] = trailing_reason if _trailing_binds(side, s, trail, best) else stop_reason
                else:
                    reason[c] = target_reason
                break
            best = _advance_best(side, best, h, lo)
            if at >= bound[c]:
                break
            at += 1


@numba.njit(cache=True)
def held_shares(n_sessions: int, n_symbols: int, symbol: np.ndarray, start: np.ndarray, stop: np.ndarray,
                signed: np.ndarray) -> np.ndarray:
    """Per session and symbol, the signed shares held at its close: each trade's
    ``signed`` from session ``start`` to the one before ``stop``. Shares are whole
    numbers, so the sums are exact in any order: the numbers of the cumulative sum of +q
    at the start and -q at the stop, with each trade touching only its own cells."""
    held = np.zeros((n_sessions, n_symbols))
    for k in range(len(symbol)):
        s = symbol[k]
        for session in range(start[k], min(stop[k], n_sessions)):
            held[session, s] += signed[k]
    return held


def _stamp_caches_with_the_rules() -> None:
    """Make each compiled function's disk cache stale when any rule file changes.

    numba stamps a cached function with its own file only, so a kernel here would keep
    the machine code of a home module's rule it inlined after that rule was edited
    (numba issue 6845): the stamp of each cache in this module, the compiled home
    functions' too, gains the contents' hashes of this file and of every home module. Private numba
    attributes (0.60-0.68): a numba that renames them fails here, at import, loudly."""
    files = (__file__, cost_rules.__file__, sizing_rules.__file__, gate_rules.__file__, exit_rules.__file__)
    rules = tuple(hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files if f is not None)
    kernels = [value for value in vars(sys.modules[__name__]).values()
               if isinstance(value, numba.core.dispatcher.Dispatcher)]
    for dispatcher in {id(d): d for d in [*kernels, *_SHARED]}.values():
        cache_file = dispatcher._cache._cache_file
        cache_file._source_stamp = (cache_file._source_stamp, rules)


_stamp_caches_with_the_rules()
