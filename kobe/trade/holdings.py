"""What Kobe holds, and when a holding should be sold: the live side of a strategy's exits.

A :class:`Holding` is a position of the order store with the entry that opened it (the
latest buy with fills): its strategy and the trading date it was bought. Its exit levels
come from the strategy's own compiled plan (:mod:`kobe.strategy`), evaluated on the
signal bar (the session before the entry) with ``entry_price`` set to the real average
cost, so live stops are the backtest's stops computed from the real fill.

The live rules, checked once per cycle (the cycle runs near the open, on completed
daily bars plus the current quote), in this order:

1. ``stop``: a completed bar held has traded at or below the stop (its low), or the
   current bid is at or below it;
2. ``target``: a completed bar held has traded at or above the target (its high);
3. ``time_stop``: ``time_stop_bars`` bars have been held and closed (the entry bar
   counts as the first). The backtest exits at the close of that bar; live, the sell
   goes out at the next cycle, i.e. the next open;
4. ``exit_rule``: the strategy's ``exit`` expression holds on the last completed bar.

A due exit is an IOC limit sell of the whole holding through the same executor and
choke point as every entry. Deliberately simple: no resting stop orders at the broker,
no trailing stops live, and a holding bought today is never sold the same day. A
holding whose strategy is unknown (adopted from the broker by ``kobe reconcile
--adopt``, or a strategy since removed) is never sold automatically.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from kobe.data import calendar
from kobe.oms.store import OrderStore
from kobe.project import Project


@dataclass(frozen=True)
class Holding:
    symbol: str
    qty: float
    avg_cost: float
    strategy: str | None          # None: not opened by one of Kobe's entries
    entry_date: dt.date | None    # trading date of the buy that opened it


@dataclass(frozen=True)
class ExitDue:
    holding: Holding
    reason: str                   # stop | target | time_stop | exit_rule
    detail: str


def holdings(store: OrderStore) -> list[Holding]:
    """Every position with shares, with the entry that opened it."""
    buys: dict[str, tuple[dt.date, str]] = {}
    for order in store.orders():          # oldest first: the latest buy wins
        if order.side == "buy" and order.filled_qty > 0:
            buys[order.symbol] = (order.trading_date, order.strategy)
    out = []
    for symbol, position in store.positions().items():
        if position.qty > 1e-9:
            entry = buys.get(symbol)
            out.append(Holding(symbol, position.qty, position.avg_cost, entry[1] if entry else None,
                               entry[0] if entry else None))
    return out


def due_exit(holding: Holding, project: Project, bars: pl.LazyFrame, today: dt.date,
             bid: float | None) -> ExitDue | None:
    """The exit due for ``holding`` on trading date ``today`` (see the module doc), or None.

    ``bars`` may hold anything; only ``holding.symbol``'s bars before ``today`` are used.
    """
    if holding.strategy is None or holding.entry_date is None or holding.entry_date >= today:
        return None
    if holding.strategy not in {s.name for s in project.strategies}:
        return None
    strategy = project.strategy(holding.strategy)
    frame = (project.compiled(holding.strategy)
             .plan(bars.filter((pl.col("symbol") == holding.symbol) & (pl.col("date") < today)),
                   entry_price=pl.lit(holding.avg_cost))
             .collect())
    signal_day = calendar.previous_session(holding.entry_date)
    signal = frame.filter(pl.col("date") == signal_day)
    held = frame.filter(pl.col("date") >= holding.entry_date)
    stop = signal["stop"].item() if "stop" in frame.columns and signal.height else None
    target = signal["target"].item() if "target" in frame.columns and signal.height else None
    if stop is not None:
        low = held["low"].min() if held.height else None
        if bid is not None and bid <= stop:
            return ExitDue(holding, "stop", f"bid {bid:.4f} at or below the stop {stop:.4f}")
        if low is not None and low <= stop:  # type: ignore[operator]
            return ExitDue(holding, "stop", f"a low of {low:.4f} since entry reached the stop {stop:.4f}")
    if target is not None and held.height and held["high"].max() >= target:  # type: ignore[operator]
        return ExitDue(holding, "target", f"a high since entry reached the target {target:.4f}")
    bars_held = held.height
    limit = strategy.config.exits.time_stop_bars
    if limit and bars_held >= limit:
        return ExitDue(holding, "time_stop", f"{bars_held} bars held, the time stop is {limit}")
    if held.height and bool(held["exit_signal"][-1]):
        return ExitDue(holding, "exit_rule", f"the exit rule held on {held['date'][-1]}")
    return None
