"""What Kobe holds, and when a holding should be sold: the live side of a strategy's exits.

A :class:`Holding` is a position of the order store with the entry that opened it (the
latest buy with fills): its strategy and the trading date it was bought. Its exit levels
come from the strategy's own compiled plan (:mod:`kobe.strategy`), evaluated on the
signal bar (the session before the entry) with ``entry_price`` set to the real average
cost, so live stops are the backtest's stops computed from the real fill.

The rules are :mod:`kobe.decide.exits`, the evaluator the backtest runs, walked over the
holding's completed bars (:class:`ExitView`):

- the **protective level** (the fixed stop, or the trailing level when tighter) rests
  at the broker as a GTC stop order (:mod:`kobe.trade.protect`); the broker fills it the
  way the backtest does, the same session;
- a level that a completed bar reached while the position is still held (the stop was
  not at the broker, e.g. placed late) or a **target** reached, a **time stop** due at
  this session's close (the sell goes out in the session's last cycle, so it fills the
  session the backtest exits at its close), or the **exit rule** true on the last
  completed bar (sold at the next cycle, the next open) makes :func:`due_exit` answer.

A holding whose strategy is unknown (adopted from the broker by ``kobe reconcile
--adopt``, or a strategy since removed) is never sold automatically.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from kobe.data import calendar
from kobe.decide import exits as rules
from kobe.oms.store import OrderStore
from kobe.project import Project

LONG = 1


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
    reason: str                   # stop | trailing_stop | target | time_stop | exit_rule
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


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else math.nan


@dataclass(frozen=True)
class ExitView:
    """A holding seen through the exit rules on the trading date ``today``: its levels,
    the completed bars held, and what they did."""

    holding: Holding
    stop: float                 # NaN: none
    target: float
    trailing: float             # the trailing distance
    best: float                 # best price since entry, through the last completed bar
    bars_held: int              # completed bars held (the entry bar is the first)
    hit: ExitDue | None         # a level a completed bar reached
    exit_rule: bool             # the exit rule on the last completed bar held
    last_bar: dt.date | None
    time_stop_bars: int | None

    @property
    def level(self) -> float | None:
        """The protective level for today's bar, as the broker's stop should rest."""
        value = rules.stop_in_force(LONG, np.array([self.stop]), np.array([self.trailing]), np.array([self.best]))[0]
        return float(value) if math.isfinite(value) else None

    @property
    def trailing_binds(self) -> bool:
        return bool(rules.trailing_binds(LONG, np.array([self.stop]), np.array([self.trailing]),
                                         np.array([self.best]))[0])


def exit_view(holding: Holding, project: Project, bars: pl.LazyFrame, today: dt.date, *,
              bought_today: bool = True) -> ExitView | None:
    """The :class:`ExitView` of ``holding``, or None when no strategy of the project owns
    it. Only its symbol's bars before ``today`` are used.

    A holding bought today has no completed bar yet (``bars_held`` 0), but today's bar is
    its first bar held, as in the backtest: its levels meet today's quote, and a time stop
    of one bar sells at today's close. ``bought_today=False`` leaves it out (None)."""
    if holding.strategy is None or holding.entry_date is None or holding.entry_date > today:
        return None
    if holding.entry_date == today and not bought_today:
        return None
    if holding.strategy not in {s.name for s in project.strategies}:
        return None
    strategy = project.strategy(holding.strategy)
    frame = (project.compiled(holding.strategy)
             .plan(bars.filter((pl.col("symbol") == holding.symbol) & (pl.col("date") < today)),
                   entry_price=pl.lit(holding.avg_cost))
             .collect())
    signal = frame.filter(pl.col("date") == calendar.previous_session(holding.entry_date))
    held = frame.filter(pl.col("date") >= holding.entry_date)

    def level(name: str) -> float:
        return _num(signal[name].item()) if name in frame.columns and signal.height else math.nan

    stop, target, trailing = level("stop"), level("target"), level("trailing_stop")
    best = np.array([holding.avg_cost])
    hit = None
    for bar in held.iter_rows(named=True):
        found = rules.level_exits(LONG, np.array([bar["open"]]), np.array([bar["high"]]), np.array([bar["low"]]),
                                  np.array([stop]), np.array([target]), np.array([trailing]), best)
        if found.done[0]:
            reason = rules.REASONS[int(found.reason[0])]
            hit = ExitDue(holding, reason, f"the bar of {bar['date']} reached the {reason.replace('_', ' ')} "
                                           f"{float(found.price[0]):.4f}")
            break
        best = rules.advance_best(LONG, best, np.array([bar["high"]]), np.array([bar["low"]]))
    exit_rule = bool(held["exit_signal"][-1]) if held.height and "exit_signal" in held.columns else False
    return ExitView(holding, stop, target, trailing, float(best[0]), held.height, hit, exit_rule,
                    held["date"][-1] if held.height else None, strategy.config.exits.time_stop_bars)


def due_exit(view: ExitView, bid: float | None, closing: bool) -> ExitDue | None:
    """The exit due now for the holding of ``view`` (the module doc), or None.

    ``bid`` is the current quote; ``closing`` whether this is the session's last cycle,
    the one that sells what the backtest sells at today's close.
    """
    holding = view.holding
    if view.hit is not None:
        return view.hit
    level = view.level
    if level is not None and bid is not None and bid <= level:
        reason = "trailing_stop" if view.trailing_binds else "stop"
        return ExitDue(holding, reason, f"bid {bid:.4f} at or below the {reason.replace('_', ' ')} {level:.4f}")
    if math.isfinite(view.target) and bid is not None and bid >= view.target:
        return ExitDue(holding, "target", f"bid {bid:.4f} at or above the target {view.target:.4f}")
    limit = view.time_stop_bars
    if rules.time_stop_due(view.bars_held, limit):
        return ExitDue(holding, "time_stop", f"{view.bars_held} bars held, the time stop is {limit}")
    if closing and rules.time_stop_due(view.bars_held + 1, limit):
        return ExitDue(holding, "time_stop", f"today's bar is the {view.bars_held + 1}th held: the time stop "
                                            f"sells at this close")
    if view.exit_rule:
        return ExitDue(holding, "exit_rule", f"the exit rule held on {view.last_bar}")
    return None
