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

import dataclasses
import datetime as dt
import functools
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kobe.audit.chain import verify
from kobe.audit.log import AuditLog
from kobe.broker.alpaca import AlpacaBroker, BrokerSettings
from kobe.broker.base import Broker, BrokerOrder, BrokerUnavailable
from kobe.config.errors import Diagnostic, KobeError
from kobe.data.calendar import trading_date
from kobe.oms.orders import (
    ACTIONS,
    ID_PREFIX,
    OrderRecord,
    OrderStatus,
    client_order_id,
    id_trading_date,
)
from kobe.oms.repair import discard_partial, install, rebuild_path
from kobe.oms.store import Fill, OrderStore, StoreCorrupt, Transition, damage
from kobe.oms.views import POSITIONS_FILE, write_positions
from kobe.trade.executor import Executor, broker_status
from kobe.trade.protect import MAX_STOPS_A_DAY, protected_symbols

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
    without one protective order resting at the broker for its shares on the side that
    closes it (a sell below a long, a buy above a short: a GTC stop, an OCO of target and
    stop, or a GTC limit at the target), or with more than one."""
    resting: dict[tuple[str, str], list[BrokerOrder]] = {}
    for order in _open_orders(broker):
        if order.order_type in ("stop", "stop_limit") or order.order_class == "oco" or order.time_in_force == "gtc":
            resting.setdefault((order.symbol, order.side), []).append(order)
    out = []
    for symbol, position in sorted(store.positions().items()):
        if symbol not in protected or abs(position.qty) < 1:
            continue
        stops = resting.get((symbol, "sell" if position.qty > 0 else "buy"), [])
        covered = sum(o.qty - o.filled_qty for o in stops)
        if len(stops) != 1 or abs(covered - abs(position.qty)) > QTY_TOLERANCE:
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
    booked: list[dict[str, object]] = []
    now = dt.datetime.now(dt.UTC).isoformat()
    theirs = {p.symbol: p for p in broker.positions()}
    for difference in position_differences(store, broker):
        if difference.kind != "position_qty":
            continue
        mine = store.positions().get(difference.symbol)
        other = theirs.get(difference.symbol)
        have, cost = (mine.qty, mine.avg_cost) if mine else (0.0, 0.0)
        want, their_cost = (other.qty, other.avg_entry_price) if other else (0.0, 0.0)
        for n, (side, qty, price) in enumerate(_adjustments(have, cost, want, their_cost)):
            fill_id = f"adopt:{difference.symbol}:{now}" + (f":{n + 1}" if n else "")
            store.add_adjustment(fill_id, difference.symbol, side, qty, price, now)
            changes.append(f"{difference.symbol}: {side} {qty:g} @ {price:.4f} booked to match the broker")
            booked.append({"fill_id": fill_id, "symbol": difference.symbol, "side": side, "qty": qty,
                           "price": price, "at": now})
    adjusted = len(changes) - len(booked)
    for n, change in enumerate(changes):
        # An adjustment's fill, whole: `kobe reconcile --rebuild` books it again from here.
        fill: dict[str, Any] = {"fill": booked[n - adjusted]} if n >= adjusted else {}
        audit.event("reconcile.adopted", change=change, **fill)
    return changes


def _adjustments(have: float, cost: float, want: float, their_cost: float) -> list[tuple[str, float, float]]:
    """The fills (side, shares, price) that take a position of ``have`` shares (signed) at
    ``cost`` to the broker's ``want`` at ``their_cost``: shares closed at Kobe's own cost
    (no profit or loss is made up), shares added at the price that makes the average
    cost the broker's; a position on the other side is closed first, then opened."""
    steps: list[tuple[str, float, float]] = []
    if abs(have) > QTY_TOLERANCE and (abs(want) <= QTY_TOLERANCE or (want > 0) != (have > 0)):
        steps.append(("sell" if have > 0 else "buy", abs(have), cost))
        have, cost = 0.0, 0.0
    if abs(want) > abs(have):
        grow = abs(want) - abs(have)
        steps.append(("buy" if want > 0 else "sell", grow, (abs(want) * their_cost - abs(have) * cost) / grow))
    elif abs(want) < abs(have):
        steps.append(("sell" if have > 0 else "buy", abs(have) - abs(want), cost))
    return steps


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
    try:
        return reconcile_trader(trader, adopt_view)
    except BrokerUnavailable as err:
        done = "what --adopt changed before it is in the audit trail" if adopt_view else "nothing was changed"
        raise KobeError(Diagnostic(f"the broker could not be read: {err}",
                                   hint=f"{done}; check ALPACA_BASE_URL, the keys and the broker's status, then "
                                        "reconcile again")) from None
    finally:
        trader.store.close()


# -- rebuilding a damaged store -------------------------------------------------------------

KNOWN_STATUSES = frozenset(s.value for s in OrderStatus)


class OrderHistory(Broker, Protocol):
    """A broker that lists every order it holds, ended ones too
    (:meth:`~kobe.broker.alpaca.AlpacaBroker.all_orders`)."""

    def all_orders(self) -> list[BrokerOrder]: ...


@dataclass
class Told:
    """What the audit trail says of one order: its decision (strategy, intent, trading
    date), the states it was recorded in (``(status, at, detail)``) and its fills."""

    decided: dict[str, Any] | None = None
    decided_at: str | None = None
    history: list[tuple[str, str, str]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)


def read_trail(records: Iterable[dict[str, Any]]) -> tuple[dict[str, Told], list[dict[str, Any]]]:
    """Per ``client_order_id``, what the chain's ``records`` tell of the order; and the
    adjustment fills ``kobe reconcile --adopt`` booked (whole, in their order)."""
    told: dict[str, Told] = {}
    adjustments: list[dict[str, Any]] = []
    for record in records:
        data = record.get("data")
        if not isinstance(data, dict):
            continue
        kind, cid = data.get("kind"), data.get("client_order_id")
        if kind == "reconcile.adopted" and isinstance(data.get("fill"), dict):
            adjustments.append(data["fill"])
        if not isinstance(kind, str) or not isinstance(cid, str):
            continue
        if kind == "order.decided":
            entry = told.setdefault(cid, Told())
            entry.decided, entry.decided_at = data, str(record.get("ts"))
        elif kind == "fill":
            told.setdefault(cid, Told()).fills.append(data)
        elif kind.startswith("order.") and kind[6:] in KNOWN_STATUSES:
            told.setdefault(cid, Told()).history.append((kind[6:], str(record.get("ts")), str(data.get("detail", ""))))
    return told, adjustments


def strategy_of(cid: str, symbol: str, day: dt.date, strategies: Collection[str]) -> str | None:
    """The strategy whose deterministic id ``cid`` is (for an order the audit trail lost)."""
    words = (*ACTIONS, "stop", *(f"stop-{n}" for n in range(2, MAX_STOPS_A_DAY + 1)))
    for name in (*strategies, "adopted"):
        for word in words:
            if client_order_id(name, symbol, day, word) == cid:
                return name
    return None


def _fills(cid: str, audited: list[dict[str, Any]], found: BrokerOrder) -> list[Fill]:
    """The order's fills: those of the audit trail (with the ids the executor gave them),
    and what the broker reports filled beyond them as one more, at the price that makes
    the broker's average. A trail that says more than the broker gives way to it."""
    out: list[Fill] = []
    total, value = 0.0, 0.0
    for fill in audited:
        qty, price = float(fill["qty"]), float(fill["price"])
        if total + qty > found.filled_qty + QTY_TOLERANCE:
            out, total, value = [], 0.0, 0.0
            break
        total, value = total + qty, value + qty * price
        out.append(Fill(f"{cid}:{total:g}", qty, price, str(fill["at"])))
    rest = found.filled_qty - total
    if rest > QTY_TOLERANCE:
        price = (found.filled_qty * (found.filled_avg_price or 0.0) - value) / rest
        out.append(Fill(f"{cid}:{found.filled_qty:g}", rest, price, found.executed_at.astimezone(dt.UTC).isoformat()))
    return out


@dataclass(frozen=True)
class Rebuilt:
    order: OrderRecord
    history: list[Transition]
    fills: list[Fill]
    created_at: str
    from_broker: bool


def rebuilt_order(cid: str, found: BrokerOrder | None, told: Told | None, strategies: Collection[str],
                  now: str) -> Rebuilt | None:
    """Order ``cid`` as the broker reports it (``found``) and the audit trail tells it
    (``told``), or None when neither describes it. The broker decides the state and the
    fills; the trail gives the strategy, the intent (reason) and the trading date. An
    order the broker never saw keeps the trail's final state; one whose fate the trail
    left open ends ``canceled``: it never reached the broker, and the trail may not say
    how it was to be sent (a protective order), so it is never re-sent from here."""
    decided = (told.decided if told else None) or {}
    if found is None and not decided:
        return None
    symbol = found.symbol if found else str(decided["symbol"])
    side = found.side if found else str(decided["side"])
    try:
        day: dt.date | None = dt.date.fromisoformat(str(decided["trading_date"]))
    except (KeyError, ValueError):
        day = id_trading_date(cid)
    day = day or trading_date(found.updated_at if found else dt.datetime.now(dt.UTC))
    strategy = str(decided.get("strategy") or strategy_of(cid, symbol, day, strategies) or "unknown")
    reason = str(decided.get("reason") or "rebuilt from the broker's order")
    history = [Transition(None, OrderStatus.NEW.value, told.decided_at or now, reason)] if told and told.decided \
        else []
    history += [Transition(history[-1].to_status if history else None, status, at, detail)
                for status, at, detail in (told.history if told else [])]
    if found is not None:
        base = OrderRecord(cid, strategy, symbol, side, int(found.qty), found.limit_price, day, reason=reason,
                           broker_order_id=found.id, order_type="oco" if found.order_class == "oco"
                           else found.order_type, stop_price=found.stop_price, time_in_force=found.time_in_force)
        status = broker_status(base, found)
        if status.terminal:
            reason = f"{reason}; broker: {found.status}"
        order = dataclasses.replace(base, status=status, filled_qty=found.filled_qty,
                                    filled_avg_price=found.filled_avg_price, reason=reason)
        fills = _fills(cid, told.fills if told else [], found)
        detail = "rebuilt: the broker's state"
    else:
        last = OrderStatus(history[-1].to_status) if history else OrderStatus.NEW
        stop, limit = decided.get("stop_price"), decided.get("limit_price")
        order = OrderRecord(cid, strategy, symbol, side, int(decided["qty"]), limit, day, status=last, reason=reason,
                            order_type="stop" if stop is not None and limit is None else "limit", stop_price=stop,
                            time_in_force="gtc" if stop is not None else "ioc")
        if not last.terminal:
            order = dataclasses.replace(order, status=OrderStatus.CANCELED,
                                        reason=f"{reason}; never reached the broker (store rebuilt)")
        fills = []
        detail = "rebuilt: the broker has never seen it"
    if not history or history[-1].to_status != order.status.value:
        history.append(Transition(history[-1].to_status if history else None, order.status.value, now, detail))
    return Rebuilt(order, history, fills, (told.decided_at if told else None) or now, found is not None)


@dataclass(frozen=True)
class RebuildReport:
    """What ``kobe reconcile --rebuild`` did: the store at ``store``, rebuilt because of
    ``damage`` (None: there was none), the damaged file now at ``kept_aside``."""

    store: str
    damage: str | None
    kept_aside: str | None
    orders: int
    from_broker: int
    from_audit_only: int
    fills: int
    adjustments: int
    audit_records: int
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except BrokerUnavailable as err:
        raise KobeError(Diagnostic(f"the broker's orders could not be read: {err}",
                                   hint="nothing was changed; try again when the broker answers")) from None


def _trail_error(audit: AuditLog, err: OSError) -> KobeError:
    return KobeError(Diagnostic(f"the audit trail cannot be read: {err.strerror or err}",
                                file=str(err.filename or audit.folder),
                                hint="nothing was changed; the damaged store is where it was. Make the logs folder "
                                     "readable (a folder of files), then rebuild again"))


def _trail_usable(audit: AuditLog) -> None:
    """Refuse, before anything is changed, a trail the rebuild could neither read nor add
    its ``store.rebuilt`` record to: a logs folder that is a file, a log that is a folder."""
    from kobe.audit.log import CHAIN, EVENTS, TRADES

    things: list[tuple[Path, Callable[[Path], bool], str]] = [(audit.folder, os.path.isdir, "a folder")]
    if os.path.isdir(audit.folder):
        things += [(audit.folder / name, os.path.isfile, "a file") for name in (CHAIN, EVENTS, TRADES)]
    for where, fits, want in things:
        if os.path.lexists(where) and not fits(where):
            raise KobeError(Diagnostic(f"the audit trail cannot be used: {where.name} is not {want}", file=str(where),
                                       hint="nothing was changed; the damaged store is where it was. Put the logs "
                                            "back as they were (or move this away), then rebuild again"))


def rebuild(path: Path, broker: OrderHistory, audit: AuditLog, strategies: Collection[str],
            damaged: StoreCorrupt | None, now: dt.datetime | None = None) -> tuple[RebuildReport, OrderStore]:
    """Rebuild the order store at ``path`` from every order ``broker`` holds and the
    audit trail (:func:`rebuilt_order` for each of Kobe's ids; the trail's adjustment
    fills), built beside it and swapped in (:func:`kobe.oms.repair.install`), the
    damaged file kept aside; the audit trail gets ``store.rebuilt`` and the new store
    its anchor. Returns the report and the new store. Nothing changes unless the broker
    answered every read."""
    when = now or dt.datetime.now(dt.UTC)
    stamp = when.isoformat()
    fresh = rebuild_path(path)
    discard_partial(fresh)      # first: what is in the way is said before anything is read or changed
    _trail_usable(audit)
    listed: dict[str, BrokerOrder] = {o.client_order_id: o for o in _read(broker.all_orders)}
    try:
        checked = verify(audit.chain.path)
        records = audit.chain.records()[:checked.records]
    except OSError as err:
        raise _trail_error(audit, err) from None
    problem = checked.problem
    notices: list[str] = []
    if problem is not None:
        notices.append(f"the audit trail was read up to record {checked.records}: {problem.file}:{problem.line}: "
                       f"{problem.message}")
    told, adjustments = read_trail(records)
    ids = [cid for cid in listed if cid.startswith(ID_PREFIX)] + [cid for cid in told if cid not in listed]
    for cid in [c for c in ids if c not in listed]:     # not in the listing: asked by id, to be sure
        found: BrokerOrder | None = _read(functools.partial(broker.order_by_client_id, cid))
        if found is not None:
            listed[cid] = found
    orders = []
    for cid in ids:
        try:
            rebuilt = rebuilt_order(cid, listed.get(cid), told.get(cid), strategies, stamp)
        except (KeyError, TypeError, ValueError) as err:
            # A verified trail holds what Kobe wrote; an event of another shape is left out, said so.
            notices.append(f"{cid}: the audit trail's record of it is unreadable ({type(err).__name__}: {err})")
            rebuilt = rebuilt_order(cid, listed[cid], None, strategies, stamp) if cid in listed else None
        if rebuilt is None:
            notices.append(f"{cid}: neither the broker nor the audit trail's decision describes it; left out")
        else:
            orders.append(rebuilt)
    orders.sort(key=lambda r: r.created_at)   # the store lists orders by creation: holdings need the order
    store = OrderStore(fresh, create="always")    # not the project's store (yet): nothing to judge
    # A build cut short is thrown away, never used: no waiting for the disk per order;
    # install() makes the whole file durable before it takes the store's place.
    store.db.conn.execute("PRAGMA synchronous=OFF")
    for r in orders:
        store.restore(r.order, r.history, r.fills, r.created_at)
    booked = 0
    for fill in adjustments:
        try:
            booked += store.add_adjustment(str(fill["fill_id"]), str(fill["symbol"]), str(fill["side"]),
                                           float(fill["qty"]), float(fill["price"]), str(fill["at"]))
        except (KeyError, TypeError, ValueError):
            notices.append(f"an adjustment of the audit trail is unreadable and was left out: {fill}")
    head = audit.head()
    if head is not None:
        store.anchor_audit(*head)
    store.close()
    try:
        aside = install(fresh, path, when)
    except OSError as err:
        hint = (f"the damaged store is where it was, or kept as {path.name}.corrupt-*; fix the cause, then "
                "rebuild again")
        raise KobeError(Diagnostic(f"the rebuilt store could not take the damaged one's place: {err}",
                                   file=str(fresh), hint=hint)) from None
    store = OrderStore(path)
    audit.anchors.append(store.anchor_audit)
    report = RebuildReport(str(path), damaged.reason if damaged else None, str(aside) if aside else None, len(orders),
                           sum(r.from_broker for r in orders), sum(not r.from_broker for r in orders),
                           sum(len(r.fills) for r in orders), booked, checked.records, notices)
    audit.event("store.rebuilt", **report.to_dict())
    return report, store


def rebuild_project(project: Project, env: Mapping[str, str], *, timeout: float = 10.0) -> RebuildReport:
    """``kobe reconcile --rebuild`` (:func:`rebuild`) for the project's store, which must
    be damaged or absent: a sound store is refused (``--adopt`` is the remedy for a store
    that merely differs from the broker). ``state/positions.json`` is rewritten."""
    from kobe.trade.cycle import LOGS, ORDERS_FILE, kill_switch_of

    path = project.root / ORDERS_FILE
    damaged = damage(path)
    if damaged is None and path.exists():
        raise KobeError(Diagnostic("the order store is sound: there is nothing to rebuild", file=str(path),
                                   hint="`kobe reconcile` compares it with the broker; `kobe reconcile --adopt` "
                                        "takes the broker's view"))
    broker = AlpacaBroker.connect(BrokerSettings.from_env(env, paper=True),
                                  kill_switch_of(project.root, project.config.risk), timeout=timeout, env=env)
    audit = AuditLog(project.root / LOGS, broker.secrets)
    report, store = rebuild(path, broker, audit, [s.name for s in project.strategies], damaged)
    write_positions(store, project.root / POSITIONS_FILE)
    store.close()
    return report
