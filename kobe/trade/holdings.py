"""What Kobe holds, and when a holding should be closed: the live side of a strategy's exits.

A :class:`Holding` is a position of the order store, long or short, with the entry that
opened it (the latest entry of its side with fills: a buy for a long, a sell short for a
short): its strategy and the trading date it was entered. A short's levels stand above
the price, and are met by the ask (what covering pays), a long's by the bid. Its exit levels
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

LONG, SHORT = 1, -1


@dataclass(frozen=True)
class Holding:
    symbol: str
    qty: float                    # signed: a short is negative
    avg_cost: float
    strategy: str | None          # None: not opened by one of Kobe's entries
    entry_date: dt.date | None    # trading date of the entry that opened it

    @property
    def side(self) -> int:
        """+1 long, -1 short (the sign :mod:`kobe.decide.exits` reads)."""
        return LONG if self.qty > 0 else SHORT

    @property
    def shares(self) -> int:
        """Whole shares held, long or short."""
        return int(abs(self.qty))

    @property
    def closing_side(self) -> str:
        """The order side that closes it: sell a long, buy back a short."""
        return "sell" if self.side == LONG else "buy"


@dataclass(frozen=True)
class ExitDue:
    holding: Holding
    reason: str                   # stop | trailing_stop | target | time_stop | exit_rule
    detail: str


def holdings(store: OrderStore) -> list[Holding]:
    """Every position with shares, long or short, with the entry that opened it."""
    entries: dict[tuple[str, str], tuple[dt.date, str]] = {}
    for order in store.orders():          # oldest first: the latest entry of a side wins
        if order.opens and order.filled_qty > 0:
            entries[(order.symbol, order.side)] = (order.trading_date, order.strategy)
    out = []
    for symbol, position in store.positions().items():
        if abs(position.qty) > 1e-9:
            entry = entries.get((symbol, "buy" if position.qty > 0 else "sell"))
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
        value = rules.stop_in_force(self.holding.side, np.array([self.stop]), np.array([self.trailing]),
                                    np.array([self.best]))[0]
        return float(value) if math.isfinite(value) else None

    @property
    def trailing_binds(self) -> bool:
        return bool(rules.trailing_binds(self.holding.side, np.array([self.stop]), np.array([self.trailing]),
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

    columns = strategy.columns(holding.side)     # a both-sided short reads its short_ outputs
    prefix = columns.prefix

    def level(name: str) -> float:
        name = prefix + name
        return _num(signal[name].item()) if name in frame.columns and signal.height else math.nan

    stop, target, trailing = level("stop"), level("target"), level("trailing_stop")
    best = np.array([holding.avg_cost])
    hit = None
    side = holding.side
    for bar in held.iter_rows(named=True):
        found = rules.level_exits(side, np.array([bar["open"]]), np.array([bar["high"]]), np.array([bar["low"]]),
                                  np.array([stop]), np.array([target]), np.array([trailing]), best)
        if found.done[0]:
            reason = rules.REASONS[int(found.reason[0])]
            hit = ExitDue(holding, reason, f"the bar of {bar['date']} reached the {reason.replace('_', ' ')} "
                                           f"{float(found.price[0]):.4f}")
            break
        best = rules.advance_best(side, best, np.array([bar["high"]]), np.array([bar["low"]]))
    last = held.tail(1)
    exit_rule = bool(held.height) and any(bool(last[name].item()) for name in columns.exits if name in held.columns)
    return ExitView(holding, stop, target, trailing, float(best[0]), held.height, hit, exit_rule,
                    held["date"][-1] if held.height else None,
                    strategy.config.exits_of(side).time_stop_bars)


def due_exit(view: ExitView, price: float | None, closing: bool) -> ExitDue | None:
    """The exit due now for the holding of ``view`` (the module doc), or None.

    ``price`` is what closing it would meet now: the bid for a long, the ask for a short;
    ``closing`` whether this is the session's last cycle, the one that closes what the
    backtest closes at today's close.
    """
    holding = view.holding
    if view.hit is not None:
        return view.hit
    level, side = view.level, holding.side
    quote = "bid" if side == LONG else "ask"
    if level is not None and price is not None and side * (price - level) <= 0:
        reason = "trailing_stop" if view.trailing_binds else "stop"
        where = "at or below" if side == LONG else "at or above"
        return ExitDue(holding, reason, f"{quote} {price:.4f} {where} the {reason.replace('_', ' ')} {level:.4f}")
    if math.isfinite(view.target) and price is not None and side * (price - view.target) >= 0:
        where = "at or above" if side == LONG else "at or below"
        return ExitDue(holding, "target", f"{quote} {price:.4f} {where} the target {view.target:.4f}")
    limit = view.time_stop_bars
    if rules.time_stop_due(view.bars_held, limit):
        return ExitDue(holding, "time_stop", f"{view.bars_held} bars held, the time stop is {limit}")
    if closing and rules.time_stop_due(view.bars_held + 1, limit):
        return ExitDue(holding, "time_stop", f"today's bar is the {view.bars_held + 1}th held: the time stop "
                                            f"closes it at this close")
    if view.exit_rule:
        return ExitDue(holding, "exit_rule", f"the exit rule held on {view.last_bar}")
    return None
