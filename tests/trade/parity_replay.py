"""A live replay beside the backtest: what the exit-parity tests compare.

The backtest of one strategy over one symbol, and a run of sessions traded live against
the stand-in exchange (:func:`replay`: the runner's cycle times, 09:35 and 15:55 New
York, the picks of each session being the backtest's entries of that session), are
both reduced to the same thing: per session, the ``(symbol, side, qty)`` that
filled (:func:`backtest_fills`, :func:`live_fills`). Each live fill carries the order
it belongs to, so the exit's reason and price can be compared too.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from kobe.backtest.engine import run_backtest
from kobe.broker.exchange import ExchangeAdmin
from kobe.data import calendar
from kobe.data.calendar import NEW_YORK
from kobe.oms.store import OrderStore
from kobe.project import load_project
from kobe.trade.cycle import CycleReport, Pick, Trader, run_cycle

STRATEGY = "donchian_breakout"
CYCLES = (dt.time(9, 35), dt.time(15, 55), dt.time(16, 10))     # the runner's, with its settling cycle
"""The runner's default cycle times (``kobe run --scan-times 09:35,15:55``)."""

Fill = tuple[str, str, int]   # (symbol, side, qty)


@dataclass(frozen=True)
class Backtest:
    """The backtest's trades of the replayed window: ``closed`` (with an exit) and
    ``held`` (still open on the window's last session)."""

    closed: pl.DataFrame
    held: pl.DataFrame

    @property
    def all(self) -> pl.DataFrame:
        return pl.concat([self.closed, self.held])

    def fills(self) -> dict[dt.date, list[Fill]]:
        """Per session, the entries and exits that filled (a long buys then sells, a short
        sells then buys back), sorted: a multiset, so that a reversal's exit and entry of
        the same side and size count twice."""
        out: dict[dt.date, list[Fill]] = defaultdict(list)
        for row in self.all.iter_rows(named=True):
            out[row["entry_date"]].append((row["symbol"], entry_side(row["side"]), row["quantity"]))
        for row in self.closed.iter_rows(named=True):
            out[row["exit_date"]].append((row["symbol"], exit_side(row["side"]), row["quantity"]))
        return {day: sorted(fills) for day, fills in out.items()}

    def picks(self) -> dict[dt.date, list[Pick]]:
        """Per session, the picks live trading gets: the backtest's entries of that session."""
        out: dict[dt.date, list[Pick]] = defaultdict(list)
        for row in self.all.iter_rows(named=True):
            out[row["entry_date"]].append(Pick(row["strategy"], row["symbol"], row["signal_date"],
                                               row["signal_price"], side=row["side"]))
        return dict(out)


def entry_side(side: str) -> str:
    """The order side of a ``long`` or ``short`` trade's entry."""
    return "buy" if side == "long" else "sell"


def exit_side(side: str) -> str:
    return "sell" if side == "long" else "buy"


def backtest(root: Path, bars: pl.LazyFrame, symbol: str, first: dt.date, last: dt.date) -> Backtest:
    """The strategy's backtest over ``symbol`` with signals from the session before
    ``first`` (so its first entries fill on ``first``) through ``last``; earlier bars only
    warm the indicators up, later ones are never read."""
    project = load_project(root / "strategies.yaml")
    result = run_backtest(project, bars, strategy=STRATEGY, universe=[symbol],
                          start=calendar.previous_session(first), end=last)
    (one,) = result.strategies
    return Backtest(one.trades, one.open_trades)


@dataclass(frozen=True)
class LiveFill:
    """One fill of the replay with the order it belongs to."""

    session: dt.date
    symbol: str
    side: str
    qty: int
    price: float
    client_order_id: str
    order_type: str       # limit (the IOC entries and exits) | stop (the protective stop)
    reason: str           # the order's reason: "entry: ...", "exit: target (...)", "protective stop at ..."


def live_fills(store: OrderStore) -> list[LiveFill]:
    """Every fill in the store, each dated by the session the broker executed it in."""
    orders = {o.client_order_id: o for o in store.orders()}
    out = []
    for fill in store.fills():
        order = orders[str(fill["client_order_id"])]
        at = dt.datetime.fromisoformat(str(fill["at"])).astimezone(NEW_YORK)
        out.append(LiveFill(calendar.trading_date(at), order.symbol, order.side, int(float(str(fill["qty"]))),
                            float(str(fill["price"])), order.client_order_id, order.order_type, order.reason))
    return out


def by_session(fills: Iterable[LiveFill]) -> dict[dt.date, list[Fill]]:
    """Per session, the sorted ``(symbol, side, qty)`` filled, one per order (an order
    filled in parts is counted once, with its whole quantity of the session)."""
    qty: dict[tuple[dt.date, str, str, str], int] = defaultdict(int)
    for f in fills:
        qty[(f.session, f.client_order_id, f.symbol, f.side)] += f.qty
    out: dict[dt.date, list[Fill]] = defaultdict(list)
    for (session, _, symbol, side), q in qty.items():
        out[session].append((symbol, side, q))
    return {day: sorted(fills) for day, fills in out.items()}


def replay(trader_of: Callable[[], Trader], admin: ExchangeAdmin, bars: pl.LazyFrame, sessions: Sequence[dt.date],
           picks: Mapping[dt.date, list[Pick]], times: Sequence[dt.time] = CYCLES) -> list[CycleReport]:
    """Run a cycle at each of ``times`` of each session (a new trader each time, as the
    runner's restarts would), with that session's ``picks``; then one more cycle after
    the last close, which only learns what the broker did since (the market is shut:
    recovery, nothing decided)."""
    reports = []
    for day in sessions:
        for at in times:
            admin.set_clock(dt.datetime.combine(day, at, tzinfo=NEW_YORK))
            reports.append(run_cycle(trader_of(), bars, list(picks.get(day, []))))
    admin.set_clock(calendar.session_open_close(sessions[-1])[1] + dt.timedelta(minutes=20))
    reports.append(run_cycle(trader_of(), bars, []))
    return reports
