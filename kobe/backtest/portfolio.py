"""The account: which candidate trades are taken, at what size, and the daily equity.

This is the only part of a backtest that walks the sessions one by one, because each
decision depends on the cash and slots the earlier ones left. Everything per trade
(fills, levels, exits) was computed before, over all candidates at once; the loop only
reads those arrays. Within a session the events run in this order:

1. exits at the open (exit rule of the previous close);
2. entries at the open (next-open fills of the previous session's signals);
3. intrabar exits (stops, trailing stops, targets, gaps included);
4. exits at the close (time stops, exit rules with ``fill: close``, end of data, and
   on the last session with ``close_at_end`` every position still held);
5. entries at the close (``fill: close``).

So the cash and slot of a position sold at the open can buy another one at that open,
but those of a stop hit during the day only serve the close and later sessions.

Entries compete for free slots (``max_open_positions``) by rank, higher first, ties by
symbol (alphabetical). A signal on bar t is skipped when the strategy still holds that
symbol at t's close, including a position its exit rule will sell at the next open,
except the **reversal**: a position of the other side leaving at the open this signal
fills at (a ``side: both`` strategy's signal is an exit rule of the opposite position)
is covered or sold first, then the new position opens at the same open, sized from the
cash that left (two orders, two trades: backtesting.py's ``position.close()`` then
``buy()``/``sell()``). A size of zero shares (too little cash, or an amount below one
share) skips it too.

Sizing is :func:`kobe.decide.sizing.shares`, the function live trading uses: whole
shares, capped by the cash left and, with the gates, by the per-order budget. The
equity is the cash plus the open positions marked at the last close before the fill.

With ``gates`` (:mod:`kobe.backtest.parity`), an entry that live trading's gate chain
(:mod:`kobe.decide.gates`) would block is skipped too, and counted apart.

Costs are :class:`~kobe.backtest.costs.Costs`: a buy fills at the ask and a sell at the
bid (half of ``spread_bps`` each), ``slippage_bps`` worse again, and each order pays its
commission (per share, in bps, at least ``commission_min_usd``). A size is also capped
by what the cash pays for with that commission. A short is fully collateralised: opening
it sets its value aside from the cash like a purchase, closing it returns that value
plus the profit (no leverage). It pays ``borrow_bps_per_year`` of its entry value per
calendar day held, over 360 (actual/360): charged at the cover, accrued in the equity
each session (:func:`borrow_days`).

With ``margin`` (:class:`~kobe.config.model.Margin`) the account is a Reg-T margin
account instead (docs/backtest.md, "Margin"): an entry is capped by the **buying power**
(equity - initial x the held positions' value) / initial, not by the cash, which may go
below zero (a margin loan, without interest); and after the session's last event, the
equity at its close is checked against the maintenance requirement of the positions
held (:func:`_called`). On a breach, positions are closed, largest requirement first,
until the rest meets it, each at its symbol's next open (exit reason ``margin``, with
its costs): 6. in the order above. The decision reads nothing after that close.

The loop is written here in Python; :mod:`kobe.backtest.loop` is its compiled twin for
the cash accounts sized in dollars or by the cash, which a process runs once it has
enough accounts to pay numba's fixed cost (:mod:`kobe.backtest.tier`). The books are
the same, bit for bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from kobe.backtest.candidates import NEVER, Candidates
from kobe.backtest.costs import Costs, borrow_fee, borrow_rate_per_day
from kobe.backtest.exits import AT_CLOSE, AT_OPEN, INTRABAR, MARGIN, OPEN, Exits
from kobe.backtest.market import Market
from kobe.backtest.parity import BLOCKED, EntryGates
from kobe.backtest.tier import compiled_tier, spent_in_python
from kobe.config.model import BacktestSettings, Sizing
from kobe.decide.sizing import needs_equity, shares


@dataclass(frozen=True)
class Book:
    """What the account did. Per taken trade (in fill order): ``taken`` (candidate
    index), ``quantity``, the fill prices after the spread and slippage and the commissions; an open
    trade's ``exit_fill`` is NaN. Per session: ``cash``, ``equity`` and ``positions``
    (held at the close). ``skipped`` counts the signals not taken, by cause."""

    taken: np.ndarray
    quantity: np.ndarray
    entry_fill: np.ndarray
    entry_commission: np.ndarray
    exit_fill: np.ndarray
    exit_commission: np.ndarray
    borrow: np.ndarray        # a short's borrow fee to its exit (an open one's: to the last session)
    cash: np.ndarray
    equity: np.ndarray
    positions: np.ndarray
    skipped: dict[str, int]
    exits: Exits              # per candidate, how it ended: ``find_exits``' exits with the margin covers in


def borrow_days(market: Market) -> np.ndarray:
    """Per session, its calendar day number (days since 1970-01-01): a short held from
    session a to session b pays for ``days[b] - days[a]`` days, weekends and holidays
    included, as a stock loan does; entered and covered in one session, none."""
    return market.day_numbers


def _compiled_loop() -> ModuleType | None:
    """:mod:`kobe.backtest.loop` when this process runs the compiled tier
    (:mod:`kobe.backtest.tier`), else ``None``."""
    if not compiled_tier():
        return None
    # Here, not at the top: numba's import and cache are paid only by processes that use it.
    from kobe.backtest import loop

    return loop


def simulate(market: Market, candidates: Candidates, exits: Exits, *, fill: str,
             sizing: Sizing, settings: BacktestSettings, max_open_positions: int,
             gates: EntryGates | None = None) -> Book:
    """Run the account over every session of ``market`` (the module doc); with
    ``gates``, only the entries live trading's risk gates would allow. Each candidate
    trades its own ``side``."""
    costs = Costs.of(settings)
    days = borrow_days(market)
    borrow_rate = borrow_rate_per_day(settings.borrow_bps_per_year)
    minimum = costs.commission_min_usd > 0
    n_sessions = len(market.sessions)
    entry_moment = AT_OPEN if fill == "next_open" else AT_CLOSE
    symbol = market.symbol[candidates.row]
    signal_session = market.session[candidates.row]
    entry_session = market.session[candidates.entry_row]
    is_open = exits.reason == OPEN
    # int64 before NEVER goes in: sessions are int32, which NEVER would overflow.
    exit_session = np.where(is_open, NEVER, market.session[exits.row].astype(np.int64))

    # Candidates by entry session, then rank (higher first, none last), then symbol.
    rank_key = np.where(np.isnan(candidates.rank), np.inf, -candidates.rank)
    equity_sized = needs_equity(sizing)
    margin = settings.margin
    loop = None if equity_sized or margin is not None else _compiled_loop()
    plan = loop.gate_plan(gates.chain if gates is not None else ()) if loop is not None else None
    # The compiled loop sorts each session's group by rank only when it is tried: the
    # candidates come in row order, symbol first, so a stable sort by session leaves each
    # group in symbol order (the full sort is most of an account's time outside the loop).
    sort_groups = plan is not None and bool((symbol[1:] >= symbol[:-1]).all())
    order = (np.argsort(entry_session, kind="stable") if sort_groups
             else np.lexsort((symbol, rank_key, entry_session)))
    starts = np.searchsorted(entry_session[order], np.arange(n_sessions + 1))
    # Copies: a margin call replaces the exits of the positions it closes.
    ended = exits if margin is None else Exits(exits.row.copy(), exits.price.copy(), exits.moment.copy(),
                                               exits.reason.copy())

    side = candidates.side.astype(np.int64)

    n = len(candidates)
    quantity = np.zeros(n)
    entry_fill = np.full(n, np.nan)
    entry_commission = np.zeros(n)
    exit_fill = np.full(n, np.nan)
    exit_commission = np.zeros(n)
    borrow = np.zeros(n)
    taken: list[int] = []
    held: dict[int, None] = {}                # candidate indices of the open positions, in entry order
    leaving_at: dict[int, list[int]] = {}     # exit session -> the positions leaving then, in entry order
    busy_until = np.full(len(market.symbols), -1, dtype=np.int64)   # exit session of the symbol's last trade
    # The side of the symbol's last trade, and the session it leaves at the open (else -1):
    # a signal of the other side filling at that open is a reversal, not a symbol held.
    busy_side = np.zeros(len(market.symbols), dtype=np.int64)
    busy_open_exit = np.full(len(market.symbols), -1, dtype=np.int64)
    two_sided = bool(len(side)) and bool((side != side[0]).any())
    open_exit = np.where(exits.moment == AT_OPEN, exit_session, -1)
    cash = settings.initial_cash
    cash_after = np.full(n_sessions, np.nan)
    skipped = {"symbol_held": 0, "no_free_slot": 0, "zero_shares": 0, **{k: 0 for k in BLOCKED.values()}}
    started = time.perf_counter()
    if loop is not None and plan is not None:
        # The compiled twin of the loop below (kobe.backtest.loop), for the accounts it covers.
        counts = np.zeros(5, dtype=np.int64)
        taken_all = np.zeros(n, dtype=np.int64)
        n_taken = loop.account_kernel(
            order.astype(np.int64), rank_key, sort_groups, starts.astype(np.int64), symbol.astype(np.int64),
            signal_session.astype(np.int64), entry_session.astype(np.int64), side, candidates.entry_price,
            exit_session, exits.moment.astype(np.int64), exits.price, open_exit,
            gates.adv[candidates.row].astype(np.float64) if gates is not None else np.zeros(0),
            days, len(market.symbols), NEVER, costs.spread_bps / 20_000, costs.slippage_bps / 1e4,
            float(costs.commission_per_share), float(costs.commission_bps), float(costs.commission_min_usd),
            loop.FIXED_DOLLARS if sizing.method == "fixed_dollars" else loop.ALL_CASH, float(sizing.amount_usd or 0.0),
            gates is not None and gates.cap_usd is not None,
            float(gates.cap_usd) if gates is not None and gates.cap_usd is not None else 0.0,
            gates is not None, plan.kinds, plan.per_order_usd, plan.daily_usd, plan.min_adv_usd,
            plan.max_spread_pct, plan.max_order_pct_adv, float(settings.initial_cash), float(borrow_rate),
            max_open_positions, entry_moment == AT_OPEN, two_sided, quantity, entry_fill, entry_commission,
            exit_fill, exit_commission, borrow, taken_all, cash_after, counts)
        taken = taken_all[:n_taken].tolist()
        for key, value in zip(("symbol_held", "no_free_slot", "zero_shares", *BLOCKED.values()), counts.tolist()):
            skipped[key] = value
    else:
        # Python lists: the loop reads single elements, which lists serve fastest.
        c_order, c_starts = order.tolist(), starts.tolist()
        c_symbol = symbol.tolist()
        c_price, c_stop = candidates.entry_price.tolist(), candidates.stop.tolist()
        c_exit, c_moment = exit_session.tolist(), exits.moment.tolist()
        c_exit_price = exits.price.tolist()
        c_side = side.tolist()
        c_entry_session = entry_session.tolist()
        c_open_exit = open_exit.tolist()
        c_row = candidates.row.tolist()
        o_symbol, o_signal = symbol[order], signal_session[order]        # in the order candidates are tried
        o_side, o_entry = side[order], entry_session[order]
    spent = [0.0, -1]                         # entries' dollars on session spent[1]: the daily budget

    def settle(moments: tuple[int, ...], session: int) -> None:
        nonlocal cash
        bucket = leaving_at.get(session)
        if not bucket:
            return
        staying = []
        for i in bucket:
            if c_moment[i] not in moments:
                staying.append(i)
                continue
            # The orders' directions: a long buys in and sells out, a short the other way round.
            fill_out = costs.fill(c_exit_price[i], -c_side[i])
            fee = costs.commission(quantity[i], fill_out)
            exit_fill[i], exit_commission[i] = fill_out, fee
            # A long returns the sale; a short its collateral plus the profit, less its borrow.
            back = fill_out if c_side[i] > 0 else 2 * entry_fill[i] - fill_out
            cash += quantity[i] * back - fee - borrow[i]
            del held[i]
        if staying:
            leaving_at[session] = staying
        else:
            del leaving_at[session]

    def enter(session: int) -> None:
        nonlocal cash
        lo, hi = c_starts[session], c_starts[session + 1]
        equity, gross = (_account(market, held, symbol, quantity, entry_fill, side, cash,
                                  session - 1 if entry_moment == AT_OPEN else session,
                                  borrow_rate * (days[max(session - 1, 0) if entry_moment == AT_OPEN else session]
                                                 - days)[entry_session])
                         if equity_sized or margin is not None else (0.0, 0.0))
        # What the entries may spend, value plus commission: the cash, or on margin the
        # buying power (the module doc; docs/backtest.md).
        room = cash if margin is None else (equity - margin.initial_pct / 100 * gross) / (margin.initial_pct / 100)
        if len(held) >= max_open_positions:
            skipped["no_free_slot"] += hi - lo
            return
        # The symbols held at their signal's close, for the whole group at once: taking one
        # candidate never changes another's (a session has one candidate per symbol).
        group = o_symbol[lo:hi]
        free_mask = busy_until[group] <= o_signal[lo:hi]
        if two_sided:  # one side only: a held symbol is never reversed (a sweep's hot path)
            free_mask |= (busy_side[group] != o_side[lo:hi]) & (busy_open_exit[group] == o_entry[lo:hi])
        free = np.flatnonzero(free_mask).tolist()
        for j, position in enumerate(free):
            i = c_order[lo + position]
            fill_in = costs.fill(c_price[i], c_side[i])
            unit = costs.unit_cost(fill_in)
            count = shares(sizing, price=c_price[i], fill=fill_in, stop=c_stop[i], equity=equity, cash=room,
                           unit_cost=unit, cap_usd=gates.cap_usd if gates is not None else None)
            if minimum and count > 0:
                # The sizing caps by room // unit cost; a minimum commission may need more.
                count = int(min(count, costs.affordable(room, fill_in)))
            if count < 1:
                skipped["zero_shares"] += 1
                continue
            if gates is not None:
                if spent[1] != session:
                    spent[:] = [0.0, session]
                decision = gates.check(c_row[i], market.symbols[c_symbol[i]], count * fill_in, spent[0],
                                       *costs.quote(c_price[i]))
                if not decision.allowed:
                    skipped[BLOCKED[decision.gate]] += 1
                    continue
                spent[0] += count * fill_in
            fee = costs.commission(count, fill_in)
            quantity[i], entry_fill[i], entry_commission[i] = count, fill_in, fee
            if c_side[i] < 0 and borrow_rate:
                # Known at the entry: the days to its exit (an open one: to the last session).
                held_to = min(c_exit[i], n_sessions - 1)
                borrow[i] = borrow_fee(count, fill_in, borrow_rate, float(days[held_to] - days[c_entry_session[i]]))
            cash -= count * fill_in + fee
            room -= count * fill_in + fee
            held[i] = None
            taken.append(i)
            busy_until[c_symbol[i]] = c_exit[i]
            busy_side[c_symbol[i]], busy_open_exit[c_symbol[i]] = c_side[i], c_open_exit[i]
            if c_exit[i] != NEVER:            # an open trade never leaves
                leaving_at.setdefault(c_exit[i], []).append(i)
            if len(held) >= max_open_positions:
                # The rest of the group finds no slot; the held ones before this one were skipped.
                skipped["no_free_slot"] += hi - lo - position - 1
                skipped["symbol_held"] += position - j
                return
        skipped["symbol_held"] += hi - lo - len(free)

    def cover(session: int) -> None:
        """The margin call at ``session``'s close: the positions :func:`_called` picks
        leave at their symbol's next open instead of by their own exit."""
        index, worth, value = _marks(market, held, symbol, quantity, entry_fill, side, session,
                                     borrow_rate * (days[session] - days)[entry_session])
        assert margin is not None
        rate = np.where(side[index] < 0, margin.maintenance_short_pct, margin.maintenance_long_pct) / 100
        for i in _called(index, cash + float(worth.sum()), value * rate).tolist():
            first = int(candidates.entry_row[i])
            last = int(market.last_row[first])
            row = first + int(np.searchsorted(market.session[first:last + 1], session, side="right"))
            if row > last:
                continue                      # no later bar to sell at (its own exit is at that close)
            leave = int(market.session[row])
            if c_exit[i] == leave and c_moment[i] == AT_OPEN:
                continue                      # it leaves at that open anyway, by its own rule
            if c_exit[i] != NEVER:
                bucket = leaving_at[c_exit[i]]
                bucket.remove(i)
                if not bucket:
                    del leaving_at[c_exit[i]]
            leaving_at.setdefault(leave, []).append(i)
            c_exit[i], c_moment[i], c_exit_price[i] = leave, AT_OPEN, float(market.open[row])
            exit_session[i] = leave
            ended.row[i], ended.price[i], ended.moment[i], ended.reason[i] = row, market.open[row], AT_OPEN, MARGIN
            if c_side[i] < 0 and borrow_rate:
                borrow[i] = borrow_fee(quantity[i], entry_fill[i], borrow_rate,
                                       float(days[leave] - days[c_entry_session[i]]))
            busy_until[c_symbol[i]] = busy_open_exit[c_symbol[i]] = leave

    for session in range(n_sessions if plan is None else 0):
        entering = c_starts[session] < c_starts[session + 1]
        if not entering and session not in leaving_at and not (margin is not None and held):
            continue
        settle((AT_OPEN,), session)
        if entering and entry_moment == AT_OPEN:
            enter(session)
        settle((INTRABAR, AT_CLOSE), session)
        if entering and entry_moment == AT_CLOSE:
            enter(session)
        cash_after[session] = cash
        if margin is not None and held and session + 1 < n_sessions:
            cover(session)

    if plan is None:
        spent_in_python(time.perf_counter() - started)
    cash_series = _forward_fill(cash_after, settings.initial_cash)
    chosen = np.array(taken, dtype=np.int64)
    equity, positions = _marked(market, chosen, symbol, entry_session, exit_session, quantity, entry_fill,
                                side, cash_series)
    if borrow_rate and chosen.size:
        equity = equity - _accrued_borrow(chosen, side, entry_session, exit_session, quantity, entry_fill, days,
                                          borrow_rate)
    return Book(chosen, quantity[chosen], entry_fill[chosen], entry_commission[chosen], exit_fill[chosen],
                exit_commission[chosen], borrow[chosen], cash_series, equity, positions, skipped, ended)


def _accrued_borrow(taken: np.ndarray, side: np.ndarray, entry_session: np.ndarray, exit_session: np.ndarray,
                    quantity: np.ndarray, entry_fill: np.ndarray, days: np.ndarray, rate: float) -> np.ndarray:
    """Per session, the borrow fee the shorts held at its close owe so far: a short's
    fee grows by its daily fee k per calendar day, k x (day - entry day), which sums over
    the shorts held as (sum of k) x day - (sum of k x entry day)."""
    shorts = taken[side[taken] < 0]
    n_sessions = len(days)
    k_sum, k_day = np.zeros(n_sessions + 1), np.zeros(n_sessions + 1)
    start, stop = entry_session[shorts], np.minimum(exit_session[shorts], n_sessions)
    k = quantity[shorts] * entry_fill[shorts] * rate
    np.add.at(k_sum, start, k)
    np.add.at(k_sum, stop, -k)
    np.add.at(k_day, start, k * days[start])
    np.add.at(k_day, stop, -k * days[start])
    return (np.cumsum(k_sum)[:n_sessions] * days - np.cumsum(k_day)[:n_sessions])


def _account(market: Market, held: dict[int, None], symbol: np.ndarray, quantity: np.ndarray,
             entry_fill: np.ndarray, side: np.ndarray, cash: float, mark_session: int,
             borrow_per_value: np.ndarray) -> tuple[float, float]:
    """The equity (cash plus the open positions, :func:`_marks`) and the positions' gross
    value, marked at ``mark_session``'s close (before the first session: the cash, none)."""
    if not held or mark_session < 0:
        return cash, 0.0
    _, worth, value = _marks(market, held, symbol, quantity, entry_fill, side, mark_session, borrow_per_value)
    return cash + float(worth.sum()), float(value.sum())


def _marks(market: Market, held: dict[int, None], symbol: np.ndarray, quantity: np.ndarray, entry_fill: np.ndarray,
           side: np.ndarray, mark_session: int, borrow_per_value: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The held positions (candidate indices), what each adds to the equity at
    ``mark_session``'s close (a long its value; a short its collateral plus its profit,
    less the borrow owed by then: ``borrow_per_value`` is, per candidate, the fee per
    dollar of its entry value, should it be a short held by then), and each one's market
    value, shares x close, whichever its side."""
    index = np.fromiter(held, dtype=np.int64, count=len(held))
    close = market.closes[mark_session, symbol[index]]
    short = side[index] < 0
    worth = np.where(short, 2 * entry_fill[index] - close - entry_fill[index] * borrow_per_value[index], close)
    return index, quantity[index] * worth, quantity[index] * close


def _called(index: np.ndarray, equity: float, requirement: np.ndarray) -> np.ndarray:
    """The positions (of ``index``, each with its maintenance ``requirement`` in dollars)
    a margin call closes: none when ``equity`` covers the sum; else the largest
    requirements first (ties in entry order) until the rest is covered, which is all of
    them when the equity is not above zero. Closing at the marks leaves the equity as it
    is and takes the position's requirement away, so this is the fewest positions."""
    if equity >= requirement.sum():
        return index[:0]
    order = np.argsort(-requirement, kind="stable")
    # rest[k]: the requirement of the positions after the first k + 1 closed.
    rest = np.append(np.cumsum(requirement[order][::-1])[::-1][1:], 0.0)
    met = np.flatnonzero(equity >= rest)
    return index[order[:(int(met[0]) if met.size else len(order) - 1) + 1]]


def _forward_fill(values: np.ndarray, first: float) -> np.ndarray:
    """``values`` with each NaN replaced by the last number before it (``first`` at the start)."""
    out = values.copy()
    if np.isnan(out[0]):
        out[0] = first
    have = ~np.isnan(out)
    latest = np.where(have, np.arange(len(out)), 0)
    np.maximum.accumulate(latest, out=latest)
    return out[latest]


def _marked(market: Market, taken: np.ndarray, symbol: np.ndarray, entry_session: np.ndarray,
            exit_session: np.ndarray, quantity: np.ndarray, entry_fill: np.ndarray, side: np.ndarray,
            cash: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equity and positions held at each session's close, from the taken trades.

    A position counts from its entry session to the session before its exit: it is
    gone by the close of the session it exits in.
    """
    n_sessions, n_symbols = market.closes.shape
    collateral = np.zeros(n_sessions + 1)
    count = np.zeros(n_sessions + 1, dtype=np.int64)
    loop = _compiled_loop()
    held = (loop.held_shares(n_sessions, n_symbols, symbol[taken].astype(np.int64), entry_session[taken].astype(np.int64),
                             exit_session[taken].astype(np.int64), (side[taken] * quantity[taken]).astype(np.float64))
            if loop is not None else np.zeros((n_sessions + 1, n_symbols)))
    if taken.size:
        sym, start = symbol[taken], entry_session[taken]
        stop = np.minimum(exit_session[taken], n_sessions)
        if loop is None:
            signed = side[taken] * quantity[taken]
            np.add.at(held, (start, sym), signed)
            np.add.at(held, (stop, sym), -signed)
        np.add.at(count, start, 1)
        np.add.at(count, stop, -1)
        # A short is worth its collateral plus its profit: q * (2 * entry - close).
        value = np.where(side[taken] < 0, 2 * quantity[taken] * entry_fill[taken], 0.0)
        np.add.at(collateral, start, value)
        np.add.at(collateral, stop, -value)
    if loop is None:
        held = np.cumsum(held, axis=0)[:n_sessions]
    equity = cash + (held * market.closes).sum(axis=1) + np.cumsum(collateral)[:n_sessions]
    return equity, np.cumsum(count)[:n_sessions]
