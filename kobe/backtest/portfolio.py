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
symbol at t's close, including a position its exit rule will sell at the next open. A
size of zero shares (too little cash, or an amount below one share) skips it too.

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
plus the profit (no leverage, no borrow fee).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kobe.backtest.candidates import NEVER, Candidates
from kobe.backtest.costs import Costs
from kobe.backtest.exits import AT_CLOSE, AT_OPEN, INTRABAR, OPEN, Exits
from kobe.backtest.market import Market
from kobe.backtest.parity import BLOCKED, EntryGates
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
    cash: np.ndarray
    equity: np.ndarray
    positions: np.ndarray
    skipped: dict[str, int]


def simulate(market: Market, candidates: Candidates, exits: Exits, *, side: int, fill: str,
             sizing: Sizing, settings: BacktestSettings, max_open_positions: int,
             gates: EntryGates | None = None) -> Book:
    """Run the account over every session of ``market`` (the module doc); with
    ``gates``, only the entries live trading's risk gates would allow."""
    costs = Costs.of(settings)
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
    order = np.lexsort((symbol, rank_key, entry_session))
    starts = np.searchsorted(entry_session[order], np.arange(n_sessions + 1))
    equity_sized = needs_equity(sizing)

    # Python lists: the loop reads single elements, which lists serve fastest.
    c_order, c_starts = order.tolist(), starts.tolist()
    c_symbol = symbol.tolist()
    c_price, c_stop = candidates.entry_price.tolist(), candidates.stop.tolist()
    c_exit, c_moment = exit_session.tolist(), exits.moment.tolist()
    c_exit_price = exits.price.tolist()

    n = len(candidates)
    quantity = np.zeros(n)
    entry_fill = np.full(n, np.nan)
    entry_commission = np.zeros(n)
    exit_fill = np.full(n, np.nan)
    exit_commission = np.zeros(n)
    taken: list[int] = []
    held: dict[int, None] = {}                # candidate indices of the open positions, in entry order
    leaving_at: dict[int, list[int]] = {}     # exit session -> the positions leaving then, in entry order
    busy_until = np.full(len(market.symbols), -1, dtype=np.int64)   # exit session of the symbol's last trade
    o_symbol, o_signal = symbol[order], signal_session[order]        # in the order candidates are tried
    cash = settings.initial_cash
    cash_after = np.full(n_sessions, np.nan)
    skipped = {"symbol_held": 0, "no_free_slot": 0, "zero_shares": 0, **{k: 0 for k in BLOCKED.values()}}
    c_row = candidates.row.tolist()
    spent = [0.0, -1]                         # entries' dollars on session spent[1]: the daily budget
    # The orders' directions: a long buys in and sells out, a short the other way round.
    direction_in, direction_out = side, -side

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
            fill_out = costs.fill(c_exit_price[i], direction_out)
            fee = costs.commission(quantity[i], fill_out)
            exit_fill[i], exit_commission[i] = fill_out, fee
            # A long returns the sale; a short its collateral plus the profit.
            back = fill_out if side > 0 else 2 * entry_fill[i] - fill_out
            cash += quantity[i] * back - fee
            del held[i]
        if staying:
            leaving_at[session] = staying
        else:
            del leaving_at[session]

    def enter(session: int) -> None:
        nonlocal cash
        lo, hi = c_starts[session], c_starts[session + 1]
        equity = (_equity(market, held, symbol, quantity, entry_fill, side, cash, session, entry_moment)
                  if equity_sized else 0.0)
        if len(held) >= max_open_positions:
            skipped["no_free_slot"] += hi - lo
            return
        # The symbols held at their signal's close, for the whole group at once: taking one
        # candidate never changes another's (a session has one candidate per symbol).
        free = np.flatnonzero(busy_until[o_symbol[lo:hi]] <= o_signal[lo:hi]).tolist()
        for j, position in enumerate(free):
            i = c_order[lo + position]
            fill_in = costs.fill(c_price[i], direction_in)
            unit = costs.unit_cost(fill_in)
            count = shares(sizing, price=c_price[i], fill=fill_in, stop=c_stop[i], equity=equity, cash=cash,
                           unit_cost=unit, cap_usd=gates.cap_usd if gates is not None else None)
            if minimum and count > 0:
                # The sizing caps by cash // unit cost; a minimum commission may need more.
                count = int(min(count, costs.affordable(cash, fill_in)))
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
            cash -= count * fill_in + fee
            held[i] = None
            taken.append(i)
            busy_until[c_symbol[i]] = c_exit[i]
            if c_exit[i] != NEVER:            # an open trade never leaves
                leaving_at.setdefault(c_exit[i], []).append(i)
            if len(held) >= max_open_positions:
                # The rest of the group finds no slot; the held ones before this one were skipped.
                skipped["no_free_slot"] += hi - lo - position - 1
                skipped["symbol_held"] += position - j
                return
        skipped["symbol_held"] += hi - lo - len(free)

    for session in range(n_sessions):
        entering = c_starts[session] < c_starts[session + 1]
        if not entering and session not in leaving_at:
            continue
        settle((AT_OPEN,), session)
        if entering and entry_moment == AT_OPEN:
            enter(session)
        settle((INTRABAR, AT_CLOSE), session)
        if entering and entry_moment == AT_CLOSE:
            enter(session)
        cash_after[session] = cash

    cash_series = _forward_fill(cash_after, settings.initial_cash)
    chosen = np.array(taken, dtype=np.int64)
    equity, positions = _marked(market, chosen, symbol, entry_session, exit_session, quantity, entry_fill,
                                side, cash_series)
    return Book(chosen, quantity[chosen], entry_fill[chosen], entry_commission[chosen], exit_fill[chosen],
                exit_commission[chosen], cash_series, equity, positions, skipped)


def _equity(market: Market, held: dict[int, None], symbol: np.ndarray, quantity: np.ndarray, entry_fill: np.ndarray,
            side: int, cash: float, session: int, entry_moment: int) -> float:
    """Cash plus the open positions marked at the last close before a fill in ``session``."""
    mark_session = session - 1 if entry_moment == AT_OPEN else session
    if not held or mark_session < 0:
        return cash
    index = np.fromiter(held, dtype=np.int64, count=len(held))
    close = market.closes[mark_session, symbol[index]]
    worth = close if side > 0 else 2 * entry_fill[index] - close
    return cash + float((quantity[index] * worth).sum())


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
            exit_session: np.ndarray, quantity: np.ndarray, entry_fill: np.ndarray, side: int,
            cash: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equity and positions held at each session's close, from the taken trades.

    A position counts from its entry session to the session before its exit: it is
    gone by the close of the session it exits in.
    """
    n_sessions, n_symbols = market.closes.shape
    held = np.zeros((n_sessions + 1, n_symbols))
    collateral = np.zeros(n_sessions + 1)
    count = np.zeros(n_sessions + 1, dtype=np.int64)
    if taken.size:
        sym, start = symbol[taken], entry_session[taken]
        stop = np.minimum(exit_session[taken], n_sessions)
        signed = side * quantity[taken]
        np.add.at(held, (start, sym), signed)
        np.add.at(held, (stop, sym), -signed)
        np.add.at(count, start, 1)
        np.add.at(count, stop, -1)
        if side < 0:
            # A short is worth its collateral plus its profit: q * (2 * entry - close).
            value = 2 * quantity[taken] * entry_fill[taken]
            np.add.at(collateral, start, value)
            np.add.at(collateral, stop, -value)
    held = np.cumsum(held, axis=0)[:n_sessions]
    equity = cash + (held * market.closes).sum(axis=1) + np.cumsum(collateral)[:n_sessions]
    return equity, np.cumsum(count)[:n_sessions]
