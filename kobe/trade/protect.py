"""Protective stops held at the broker: one resting GTC stop per position.

After an entry fills, the position's protective level (:attr:`ExitView.level
<kobe.trade.holdings.ExitView.level>`: the strategy's stop, or its trailing level when
tighter) goes to the broker as a GTC stop order for the whole position, a sell below a
long, a buy above a short, so the position is protected between cycles and after the
process dies. The broker fills it the way the backtest assumes (the level itself, or
the open on a gap through it).

- A **trailing** level that tightened is moved with the broker's replace (``PATCH
  /v2/orders/{id}``), at most once per session (the level only changes with a completed
  bar). A level never loosens: a long's never moves down, a short's never up.
- Every stop has a deterministic ``client_order_id`` (strategy, symbol, trading date,
  ``stop``, with ``stop-2``... when one of that day already ended), recorded before it is
  sent, like every order: a crash never leaves two stops or a stop unknown to the store.
- A **time, target or rule exit** cancels the resting stop first, learns its final state
  (a stop that filled meanwhile sold the position: nothing more is sold), and only then
  sells: the position is never sold twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

from kobe.broker.base import BrokerUnavailable
from kobe.broker.pricing import round_to_tick
from kobe.oms.orders import OrderRecord, OrderStatus, client_order_id
from kobe.oms.store import OrderStore
from kobe.project import Project
from kobe.trade.executor import Executor
from kobe.trade.holdings import ExitView, holdings

WORKING = (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)
MAX_STOPS_A_DAY = 5


def resting_stop(store: OrderStore, symbol: str) -> OrderRecord | None:
    """The protective order of ``symbol`` that is not known to have ended (the newest).
    Only protective orders rest (GTC), whichever their side."""
    found = [o for o in store.active() if o.symbol == symbol and o.resting]
    return found[-1] if found else None


def unsettled(store: OrderStore) -> list[OrderRecord]:
    """Orders whose fate is really in doubt: resting stops that the broker holds are not."""
    return [o for o in store.active() if not (o.resting and o.status in WORKING)]


def _stop_id(store: OrderStore, strategy: str, symbol: str, day: dt.date) -> str | None:
    for n in range(1, MAX_STOPS_A_DAY + 1):
        cid = client_order_id(strategy, symbol, day, "stop" if n == 1 else f"stop-{n}")
        if store.get(cid) is None:
            return cid
    return None


def stop_order(store: OrderStore, view: ExitView, day: dt.date) -> OrderRecord | None:
    """The protective order ``view``'s holding should rest with, as a new order of
    ``day``: a GTC stop at its level; with a target too, an OCO (the take-profit limit at
    the target and the stop, one canceling the other); with a target alone, a GTC limit
    at the target. None when it has no level, or ``day`` used up its ids."""
    level, holding = view.level, view.holding
    target = view.target if math.isfinite(view.target) and view.target > 0 else None
    cid = _stop_id(store, holding.strategy or "adopted", holding.symbol, day)
    if (level is None and target is None) or cid is None or holding.strategy is None or holding.shares < 1:
        return None
    kind = "trailing stop" if view.trailing_binds else "stop"
    qty, side = holding.shares, holding.closing_side
    if level is None:
        assert target is not None
        return OrderRecord(cid, holding.strategy, holding.symbol, side, qty, float(round_to_tick(target)), day,
                           reason=f"protective target at {target:.4f}", order_type="limit", time_in_force="gtc")
    stop = float(round_to_tick(level))
    if target is None:
        return OrderRecord(cid, holding.strategy, holding.symbol, side, qty, None, day,
                           reason=f"protective {kind} at {level:.4f}", order_type="stop", stop_price=stop,
                           time_in_force="gtc")
    return OrderRecord(cid, holding.strategy, holding.symbol, side, qty, float(round_to_tick(target)), day,
                       reason=f"protective {kind} at {level:.4f} and target at {target:.4f} (OCO)",
                       order_type="oco", stop_price=stop, time_in_force="gtc")


def protect(executor: Executor, store: OrderStore, view: ExitView, day: dt.date) -> OrderRecord | None:
    """Make the broker hold ``view``'s stop: place it, or tighten it (the module doc).
    Returns the order sent, if any."""
    current = resting_stop(store, view.holding.symbol)
    if current is not None and current.status not in WORKING:
        return None                       # in doubt: the next cycle's recovery settles it first
    wanted = stop_order(store, view, day)
    if wanted is None:
        return None
    if current is None:
        return executor.execute(wanted)
    if current.side != wanted.side:
        return None                       # protects a position since closed: recovery and reconcile see it
    left = current.qty - int(current.filled_qty)
    side = view.holding.side
    if (current.stop_price is not None and wanted.stop_price is not None
            and side * (wanted.stop_price - current.stop_price) <= 1e-9 and wanted.qty == left):
        return None                       # a stop never loosens
    if current.trading_date == day and wanted.qty == left:
        return None                       # moved once today already
    if wanted.stop_price is not None and current.stop_price is not None:
        tighter = max if side > 0 else min
        wanted = dataclasses.replace(wanted, stop_price=tighter(wanted.stop_price, current.stop_price))
    if current.order_type == "oco":
        if wanted.stop_price is None or wanted.qty != left:
            return None
        return executor.move_stop(current, wanted.stop_price)
    if current.order_type != "stop":
        return None                       # a resting target alone never moves
    return executor.replace(current, wanted)


def lift(executor: Executor, store: OrderStore, symbol: str) -> str | None:
    """Cancel every resting protective order of ``symbol`` before an exit closes it.
    Returns why the exit must wait, or None when it may go (none rests, or each is
    canceled and its final state known: a stop that filled meanwhile shows in the position)."""
    resting = [o for o in store.active() if o.symbol == symbol and o.resting]
    for current in resting:
        if current.status not in WORKING or current.broker_order_id is None:
            return f"its stop {current.client_order_id} is in doubt ({current.status.value})"
    for current in resting:
        assert current.broker_order_id is not None
        try:
            executor.broker.cancel(current.broker_order_id)
        except BrokerUnavailable as err:
            return f"its stop could not be canceled: {err}"
        executor.audit.event("order.cancel_requested", client_order_id=current.client_order_id,
                             detail="a time, target or rule exit sells instead")
        final = executor.resolve(current, resend=False)
        if not final.status.terminal:
            return f"its stop {current.client_order_id} is still working after the cancel"
    return None


def protected_symbols(store: OrderStore, project: Project) -> set[str]:
    """The symbols held by a strategy of ``project`` whose exits of that side have a stop,
    a trailing stop or a target: each must rest with one protective order at the broker
    (``kobe reconcile``)."""
    def leveled(strategy: str | None, side: int) -> bool:
        found = next((s for s in project.strategies if s.name == strategy), None)
        if found is None:
            return False
        exits = found.config.exits_of(side)
        return exits.stop is not None or exits.trailing_stop is not None or exits.target is not None

    return {h.symbol for h in holdings(store) if h.shares >= 1 and leveled(h.strategy, h.side)}
