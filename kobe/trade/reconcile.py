"""``kobe reconcile``: Kobe's book against the broker's, every difference named.

Two books can drift apart: a crash between a fill and its recording (recovery closes
that gap, but only for orders Kobe knows), an order placed by hand in the broker's web
page, a corporate action, a bug. :func:`reconcile` compares

- **orders**: every order of the store still active (its fate not known) with the
  broker's report of it (by ``client_order_id``), and every order open at the broker
  with the store;
- **positions**: the store's positions (from fills) with the broker's, share for share,
  and their average cost.

and returns one :class:`Difference` per disagreement. :func:`adopt` takes the broker's
view: Kobe's active orders are driven to the broker's state (fills recorded once,
through the executor), those the broker does not know are ended ``canceled``, and a
remaining share difference is booked as an adjustment fill (at the broker's average
price when shares are added, at Kobe's average cost when removed, so no P&L is
invented). Open orders Kobe did not make are reported and left alone: Kobe cancels
IOC orders still working, and must not do that to a person's resting order. Both
write every difference and every change to the audit trail.

:func:`reconcile_project` is ``kobe reconcile [--adopt]`` whole: it opens the project's
trader (unpinned: reconciling never sends an order), reconciles, and with ``adopt``
adopts, rewrites ``state/positions.json`` and reconciles again; :class:`ReconcileReport`
holds what was found, what was changed and what is left.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from kobe.audit.log import AuditLog
from kobe.broker.base import Broker, BrokerOrder
from kobe.data.calendar import trading_date
from kobe.oms.orders import OrderRecord, OrderStatus
from kobe.oms.store import OrderStore
from kobe.oms.views import POSITIONS_FILE, write_positions
from kobe.trade.executor import Executor, broker_status
from kobe.trade.protect import protected_symbols

if TYPE_CHECKING:
    from kobe.project import Project
    from kobe.trade.cycle import Trader

QTY_TOLERANCE = 1e-6
COST_TOLERANCE = 0.005   # dollars per share: the broker's decimals against Kobe's floats


@dataclass(frozen=True)
class Difference:
    """One disagreement. ``kind``: ``order_state``, ``order_unknown_to_broker``,
    ``order_missing_in_kobe``, ``position_qty``, ``position_avg_cost``,
    ``position_without_stop``."""

    kind: str
    symbol: str
    kobe: str
    broker: str
    client_order_id: str | None = None

    def describe(self) -> str:
        what = f"{self.symbol} {self.client_order_id}" if self.client_order_id else self.symbol
        return f"{self.kind}: {what}: kobe {self.kobe}, broker {self.broker}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _state(order: OrderRecord) -> str:
    return f"{order.status.value} {order.filled_qty:g}/{order.qty}"


def _broker_state(order: BrokerOrder) -> str:
    return f"{order.status} {order.filled_qty:g}/{order.qty:g}"


def _open_orders(broker: Broker) -> list[BrokerOrder]:
    """The broker's open orders, an OCO's stop-loss leg under its parent (one order of
    Kobe's, not a stranger)."""
    return broker.open_orders(nested=True)


def order_differences(store: OrderStore, broker: Broker) -> list[Difference]:
    out = []
    for order in store.active():
        found = broker.order_by_client_id(order.client_order_id)
        if found is None:
            out.append(Difference("order_unknown_to_broker", order.symbol, _state(order), "no such order",
                                  order.client_order_id))
        elif (broker_status(order, found) is not order.status
              or abs(found.filled_qty - order.filled_qty) > QTY_TOLERANCE):
            out.append(Difference("order_state", order.symbol, _state(order), _broker_state(found),
                                  order.client_order_id))
    for found in _open_orders(broker):
        if store.get(found.client_order_id) is None:
            out.append(Difference("order_missing_in_kobe", found.symbol, "no such order", _broker_state(found),
                                  found.client_order_id))
    return out


def position_differences(store: OrderStore, broker: Broker) -> list[Difference]:
    ours = {s: p for s, p in store.positions().items() if abs(p.qty) > QTY_TOLERANCE}
    theirs = {p.symbol: p for p in broker.positions()}
    out = []
    for symbol in sorted(set(ours) | set(theirs)):
        mine, other = ours.get(symbol), theirs.get(symbol)
        kobe = f"{mine.qty:g} @ {mine.avg_cost:.4f}" if mine else "none"
        held = f"{other.qty:g} @ {other.avg_entry_price:.4f}" if other else "none"
        if abs((mine.qty if mine else 0.0) - (other.qty if other else 0.0)) > QTY_TOLERANCE:
            out.append(Difference("position_qty", symbol, kobe, held))
        elif mine and other and abs(mine.avg_cost - other.avg_entry_price) > COST_TOLERANCE:
            out.append(Difference("position_avg_cost", symbol, kobe, held))
    return out


def stop_differences(store: OrderStore, broker: Broker, protected: Collection[str]) -> list[Difference]:
    """A position of ``protected`` (a strategy of Kobe's with a stop or a target owns it)
    without one protective sell resting at the broker for its shares (a GTC stop, an OCO
    of target and stop, or a GTC limit at the target), or with more than one."""
    resting: dict[str, list[BrokerOrder]] = {}
    for order in _open_orders(broker):
        if order.side == "sell" and (order.order_type in ("stop", "stop_limit") or order.order_class == "oco"
                                     or order.time_in_force == "gtc"):
            resting.setdefault(order.symbol, []).append(order)
    out = []
    for symbol, position in sorted(store.positions().items()):
        if symbol not in protected or position.qty < 1:
            continue
        stops = resting.get(symbol, [])
        covered = sum(o.qty - o.filled_qty for o in stops)
        if len(stops) != 1 or abs(covered - position.qty) > QTY_TOLERANCE:
            out.append(Difference("position_without_stop", symbol, f"{position.qty:g} held",
                                  f"{len(stops)} resting stop(s) for {covered:g} shares"))
    return out


def reconcile(store: OrderStore, broker: Broker, audit: AuditLog | None = None,
              protected: Collection[str] = ()) -> list[Difference]:
    """Every difference between the store and the broker (orders first, then positions,
    then the positions of ``protected`` without their resting stop)."""
    found = (order_differences(store, broker) + position_differences(store, broker)
             + stop_differences(store, broker, protected))
    if audit is not None:
        for difference in found:
            audit.event("reconcile.difference", difference=difference.kind, symbol=difference.symbol,
                        client_order_id=difference.client_order_id, kobe=difference.kobe, broker=difference.broker)
        audit.event("reconcile.checked", differences=len(found))
    return found


def adopt(store: OrderStore, broker: Broker, audit: AuditLog, executor: Executor) -> list[str]:
    """Take the broker's view (module doc); returns what was changed, one line each."""
    changes: list[str] = []
    for order in store.active():
        before = _state(order)
        after = executor.resolve(order, resend=False)
        if after.status in (OrderStatus.NEW, OrderStatus.UNKNOWN) and \
                broker.order_by_client_id(order.client_order_id) is None:
            after = after.to(OrderStatus.CANCELED, reason=f"{order.reason}; adopted: the broker has no such order")
            store.record(after, "reconcile --adopt: the broker has no such order")
        if _state(after) != before:
            changes.append(f"{order.client_order_id}: {before} -> {_state(after)}")
    now = dt.datetime.now(dt.UTC).isoformat()
    theirs = {p.symbol: p for p in broker.positions()}
    for difference in position_differences(store, broker):
        if difference.kind != "position_qty":
            continue
        mine = store.positions().get(difference.symbol)
        other = theirs.get(difference.symbol)
        have, cost = (mine.qty, mine.avg_cost) if mine else (0.0, 0.0)
        want, their_cost = (other.qty, other.avg_entry_price) if other else (0.0, 0.0)
        if want > have:
            # bought at the price that makes Kobe's average cost the broker's
            side, qty, price = "buy", want - have, (want * their_cost - have * cost) / (want - have)
        else:
            side, qty, price = "sell", have - want, cost
        store.add_adjustment(f"adopt:{difference.symbol}:{now}", difference.symbol, side, qty, price, now)
        changes.append(f"{difference.symbol}: {side} {qty:g} @ {price:.4f} booked to match the broker")
    for change in changes:
        audit.event("reconcile.adopted", change=change)
    return changes


@dataclass(frozen=True)
class ReconcileReport:
    """``differences``: found first; ``adopted``: the changes made taking the broker's
    view; ``left``: the differences after them (without adopting, those found)."""

    differences: list[Difference]
    adopted: list[str] = field(default_factory=list)
    left: list[Difference] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"differences": [d.to_dict() for d in self.differences], "adopted": self.adopted,
                "left": [d.to_dict() for d in self.left]}


def reconcile_trader(trader: Trader, adopt_view: bool = False) -> ReconcileReport:
    """Reconcile ``trader``'s book with its broker; with ``adopt_view`` and a difference,
    adopt the broker's view (an executor at the broker's trading date, the market taken
    as closed so nothing is resent), rewrite ``state/positions.json`` and reconcile again."""
    store, broker, audit = trader.store, trader.broker, trader.audit
    differences = reconcile(store, broker, audit, protected_symbols(store, trader.project))
    if not (adopt_view and differences):
        return ReconcileReport(differences, [], differences)
    executor = Executor(broker, store, audit, today=trading_date(broker.clock().now), market_open=False)
    changes = adopt(store, broker, audit, executor)
    write_positions(store, trader.root / POSITIONS_FILE)
    left = reconcile(store, broker, audit, protected_symbols(store, trader.project))
    return ReconcileReport(differences, changes, left)


def reconcile_project(project: Project, env: Mapping[str, str], *, adopt_view: bool = False,
                      timeout: float = 10.0) -> ReconcileReport:
    """``kobe reconcile`` (module doc): the broker named by ``env``, ``timeout`` seconds a call."""
    from kobe.trade.cycle import (
        open_trader,  # here: the cycle module may come to use this one
    )

    trader = open_trader(project, env, paper=True, timeout=timeout, pinned=False)
    return reconcile_trader(trader, adopt_view)
