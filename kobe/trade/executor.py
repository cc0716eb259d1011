"""The executor: an order's life from decision to a known end, crash-safe and idempotent.

Three rules make "the same pick is never sent twice, and every order ends in a known
state" hold whatever crashes or times out:

1. **Record, then call.** Every state an order reaches is committed to the order store
   (:class:`~kobe.oms.store.OrderStore`, SQLite, ``synchronous=FULL``) before the next
   network call. After a crash the store knows every order it ever decided to send.
2. **One identity.** The ``client_order_id`` is derived from the pick (strategy, symbol,
   trading date, side), and the broker refuses a second order with an id it has seen
   (422). A re-send is therefore harmless: it creates the order or proves it exists.
3. **Unknown means look it up, first.** When a send's outcome is unknown (timeout,
   dropped answer, 5xx) or the broker answers "duplicate", the executor records
   ``unknown`` and asks the broker for the order by ``client_order_id`` before anything
   else. Found: its state is adopted. Never seen (404): sent again with the same id
   (still the same trading date), or, when its session has passed, ended ``canceled``.

Fills are recorded once: the broker reports cumulative ``filled_qty`` and an average
price per order; the executor records the difference against what the store holds as
one fill named ``<client_order_id>:<cumulative qty>``, in the same transaction as the
order's new state (:meth:`OrderStore.record`).

Polling waits with exponential backoff; the waiting is counted in the seconds asked of
``sleep`` (tests pass a function that moves the exchange's clock instead of sleeping).
An IOC order still working when the wait is over is canceled, then read once more.

``checkpoint(name)`` is called at every step between deciding and recording (the crash
tests kill the process there): ``order.decided``, ``order.recorded``, ``send.before``
(in the broker, past the kill switch), ``send.answered``, ``send.recorded``,
``unknown.recorded``, ``lookup.answered``, ``poll.answered``, ``poll.recorded``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from kobe.audit.log import AuditLog
from kobe.broker.base import (
    Broker,
    BrokerOrder,
    BrokerUnavailable,
    Checkpoint,
    DuplicateOrder,
    OrderRefused,
    OutcomeUnknown,
)
from kobe.oms.orders import ALLOWED, OrderRecord, OrderStatus
from kobe.oms.store import Fill, OrderStore
from kobe.risk.killswitch import KillSwitchActive

S = OrderStatus
TERMINAL_WORDS = {"filled": S.FILLED, "canceled": S.CANCELED, "expired": S.EXPIRED, "rejected": S.REJECTED,
                  "done_for_day": S.EXPIRED, "replaced": S.CANCELED}
"""Alpaca's final statuses; every other word means the order is still working."""


@dataclass(frozen=True)
class ExecutionPolicy:
    """How patiently the executor waits. ``poll_timeout`` is the total of the backoff
    waits before an order still working is canceled; ``lookups`` the attempts to learn
    an unknown outcome; ``sends`` how often one call may send an order the broker has
    not seen."""

    poll_timeout: float = 10.0
    backoff_start: float = 0.1
    backoff_max: float = 2.0
    lookups: int = 4
    sends: int = 3


DEFAULT_POLICY = ExecutionPolicy()


def broker_status(order: OrderRecord, answer: BrokerOrder) -> OrderStatus:
    """The store's status for the broker's report, legal from ``order``'s status."""
    target = TERMINAL_WORDS.get(answer.status)
    if answer.status == "done_for_day" and order.resting:
        target = None                     # a GTC order is done for the day, not ended: it rests again
    if target is None:
        target = S.PARTIALLY_FILLED if answer.filled_qty > 0 else S.SUBMITTED
    if target not in ALLOWED[order.status] and order.status is not target:
        # A broker that reports a partly filled order as rejected still ended it.
        if target is S.REJECTED and S.CANCELED in ALLOWED[order.status]:
            return S.CANCELED
        if target is S.SUBMITTED and order.status is S.PARTIALLY_FILLED:
            return S.PARTIALLY_FILLED
    return target


class Executor:
    """Sends decided orders and drives every order to a known state (see module doc).

    ``today`` is the trading date of the broker's clock; ``market_open`` whether an IOC
    order can be sent now (a re-send is attempted only then).
    """

    def __init__(self, broker: Broker, store: OrderStore, audit: AuditLog, *, today: dt.date,
                 market_open: bool = True, policy: ExecutionPolicy = DEFAULT_POLICY,
                 sleep: Callable[[float], None] = time.sleep, checkpoint: Checkpoint | None = None) -> None:
        self.broker, self.store, self.audit = broker, store, audit
        self.today, self.market_open, self.policy, self.sleep = today, market_open, policy, sleep
        self.checkpoint: Checkpoint = checkpoint or (lambda name: None)

    # -- recording ------------------------------------------------------------------------

    def _to(self, order: OrderRecord, status: OrderStatus, detail: str, **changes: object) -> OrderRecord:
        """Move ``order`` to ``status`` in the store, unless another process moved it
        first: then the store's newer state is returned instead (check ``.status``)."""
        new = order.to(status, **changes)
        if not self.store.record(new, detail, expected=order.status):
            return self._newer(order, f"wanted {status.value}: {detail}")
        self.audit.event(f"order.{status.value}", client_order_id=order.client_order_id, symbol=order.symbol,
                         side=order.side, qty=order.qty, detail=detail)
        return new

    def _newer(self, order: OrderRecord, detail: str) -> OrderRecord:
        current = self.store.get(order.client_order_id) or order
        self.audit.event("order.concurrent", client_order_id=order.client_order_id, held=order.status.value,
                         stored=current.status.value, detail=detail)
        return current

    def apply(self, order: OrderRecord, answer: BrokerOrder, detail: str) -> OrderRecord:
        """Adopt the broker's report of ``order``: new status, new fills (once)."""
        status = broker_status(order, answer)
        delta = answer.filled_qty - order.filled_qty
        fill = None
        changes: dict[str, object] = {"broker_order_id": answer.id}
        if delta > 1e-9:
            before = order.filled_qty * (order.filled_avg_price or 0.0)
            price = (answer.filled_qty * (answer.filled_avg_price or 0.0) - before) / delta
            fill = Fill(f"{order.client_order_id}:{answer.filled_qty:g}", delta, price,
                        answer.executed_at.astimezone(dt.UTC).isoformat())
            changes.update(filled_qty=answer.filled_qty, filled_avg_price=answer.filled_avg_price)
        elif delta < -1e-9:
            self.audit.event("order.anomaly", client_order_id=order.client_order_id,
                             detail=f"broker reports {answer.filled_qty:g} filled, the store {order.filled_qty:g}")
        if status is order.status and fill is None and order.broker_order_id == answer.id:
            return order  # nothing new: no write, no transition
        if status not in ALLOWED[order.status]:
            self.audit.event("order.anomaly", client_order_id=order.client_order_id,
                             detail=f"broker says {answer.status} while the store has {order.status.value}")
            return order
        if status.terminal:
            changes["reason"] = f"{order.reason}; broker: {answer.status}".lstrip("; ")
        new = order.to(status, **changes)
        if not self.store.record(new, detail, fill, expected=order.status):
            return self.store.get(order.client_order_id) or order  # another process recorded it first
        if fill is not None:
            self.audit.trade("fill", client_order_id=order.client_order_id, strategy=order.strategy,
                             symbol=order.symbol, side=order.side, qty=fill.qty, price=round(fill.price, 6),
                             at=fill.at, broker_order_id=answer.id)
        if status is not order.status:
            stream = self.audit.trade if status.terminal else self.audit.event
            stream(f"order.{status.value}", client_order_id=order.client_order_id, symbol=order.symbol,
                   side=order.side, qty=order.qty, filled_qty=new.filled_qty,
                   filled_avg_price=new.filled_avg_price, detail=detail)
        return new

    # -- sending ----------------------------------------------------------------------------

    def execute(self, order: OrderRecord) -> OrderRecord:
        """Record a decided ``order`` and send it; returns it in the state it reached.

        An order whose id the store has already (the same pick decided before, in this
        process or one that crashed) is never sent anew: its known fate is returned, or
        learned from the broker first.
        """
        self.checkpoint("order.decided")
        if not self.store.add(order):
            existing = self.store.get(order.client_order_id)
            assert existing is not None
            return existing if existing.status.terminal else self.resolve(existing)
        self.audit.event("order.decided", client_order_id=order.client_order_id, strategy=order.strategy,
                         symbol=order.symbol, side=order.side, qty=order.qty, limit_price=order.limit_price,
                         notional=round(order.notional, 2), trading_date=order.trading_date, reason=order.reason)
        self.checkpoint("order.recorded")
        return self._send(order, first=True)

    def _send(self, order: OrderRecord, first: bool) -> OrderRecord:
        """Send ``order`` (``new``, or ``unknown`` after the broker said it has never seen
        it) until its outcome is known, at most ``policy.sends`` times."""
        for attempt in range(self.policy.sends):
            if order.status is S.UNKNOWN:
                order = self._to(order, S.NEW, "the broker has never seen it: sending the same id again")
                if order.status is not S.NEW:      # another process moved it: follow that, never re-send
                    return order if order.status.terminal else self.poll(order)
            try:
                answer = self.broker.submit(order)
            except KillSwitchActive as err:
                if first and attempt == 0:
                    return self._to(order, S.CANCELED, f"never sent: {err}", reason=f"{order.reason}; kill switch")
                return order if order.status is S.UNKNOWN else self._to(order, S.UNKNOWN, f"not re-sent: {err}")
            except OrderRefused as err:
                return self._to(order, S.REJECTED, f"refused: {err}", reason=f"{order.reason}; refused: {err}"[:300])
            except (DuplicateOrder, OutcomeUnknown) as err:
                why = "already sent" if isinstance(err, DuplicateOrder) else "outcome unknown"
                moved = self._to(order, S.UNKNOWN, f"{why}: {err}")
                if moved.status is not S.UNKNOWN:  # another process knows more: follow it
                    return moved if moved.status.terminal else self.poll(moved)
                order = moved
            else:
                self.checkpoint("send.answered")
                order = self.apply(order, answer, "sent")
                self.checkpoint("send.recorded")
                return self.poll(order)
            self.checkpoint("unknown.recorded")
            found, learned = self._lookup(order)
            if found is not None:
                return self.poll(self.apply(order, found, "found by client_order_id"))
            if not learned:
                return order
            first = False
        return order

    def _backoff(self) -> list[float]:
        waits, wait, total = [], self.policy.backoff_start, 0.0
        while total < self.policy.poll_timeout:
            wait = min(wait, self.policy.poll_timeout - total)
            waits.append(wait)
            total += wait
            wait = min(wait * 2, self.policy.backoff_max)
        return waits

    def _lookup(self, order: OrderRecord) -> tuple[BrokerOrder | None, bool]:
        """(the broker's order or None, whether the broker answered at all)."""
        waits = self._backoff()
        for attempt in range(self.policy.lookups):
            if attempt:
                self.sleep(waits[min(attempt - 1, len(waits) - 1)] if waits else 0.0)
            try:
                found = self.broker.order_by_client_id(order.client_order_id)
            except BrokerUnavailable as err:
                self.audit.event("order.lookup_failed", client_order_id=order.client_order_id, detail=str(err))
                continue
            self.checkpoint("lookup.answered")
            return found, True
        return None, False

    def poll(self, order: OrderRecord) -> OrderRecord:
        """Read the order until it is final, waiting with backoff; cancel it when the
        wait is over (an IOC order should never still be working), then read it once more.

        A resting order (a GTC protective stop) is read once: working is its normal
        state, and canceling it would leave the position unprotected."""
        if order.resting:
            answer = None if order.status.terminal else self._read(order)
            return self.apply(order, answer, "read") if answer is not None else order
        for wait in [0.0, *self._backoff()]:
            if order.status.terminal:
                return order
            if wait:
                self.sleep(wait)
            answer = self._read(order)
            if answer is not None:
                self.checkpoint("poll.answered")
                order = self.apply(order, answer, "polled")
                self.checkpoint("poll.recorded")
        if order.status.terminal or order.broker_order_id is None:
            return order
        try:
            self.broker.cancel(order.broker_order_id)
            self.audit.event("order.cancel_requested", client_order_id=order.client_order_id,
                             detail="still working after the poll timeout")
        except BrokerUnavailable as err:
            self.audit.event("order.cancel_failed", client_order_id=order.client_order_id, detail=str(err))
        answer = self._read(order)
        return self.apply(order, answer, "read after cancel") if answer is not None else order

    def _read(self, order: OrderRecord) -> BrokerOrder | None:
        try:
            if order.broker_order_id:
                return self.broker.order(order.broker_order_id)
            return self.broker.order_by_client_id(order.client_order_id)
        except BrokerUnavailable:
            return None

    # -- recovery -----------------------------------------------------------------------------

    def resolve(self, order: OrderRecord, resend: bool = True) -> OrderRecord:
        """Drive an order recorded earlier (by this or a crashed process) to a known state:
        look it up by ``client_order_id`` first, then adopt, re-send or end it."""
        if order.status.terminal:
            return order
        found, learned = self._lookup(order)
        if found is not None:
            return self.poll(self.apply(order, found, "found by client_order_id"))
        if not learned:
            return order
        if order.resting and order.status in (S.NEW, S.UNKNOWN):
            return self._resolve_resting(order, resend)
        if order.status in (S.SUBMITTED, S.PARTIALLY_FILLED):
            # The broker acknowledged it once and now denies it: a person must look.
            return self._to(order, S.UNKNOWN, "the broker acknowledged this order but no longer knows it")
        if order.trading_date < self.today:
            return self._to(order, S.CANCELED, "never reached the broker, and its session has passed",
                            reason=f"{order.reason}; never reached the broker")
        if resend and self.market_open:
            return self._send(order, first=False)
        if order.status is S.NEW:
            return self._to(order, S.UNKNOWN, "the broker has not seen it (yet)")
        return order

    def _resolve_resting(self, order: OrderRecord, resend: bool) -> OrderRecord:
        """A protective order the broker has never seen. Sent again under its own id (a GTC
        order is accepted while the market is closed too, and a second process sending the
        same id meets "duplicate" and adopts it), unless that could sell what is not held:
        another protective sell of the symbol works already (this one was a replacement
        that never arrived), or the position no longer covers it (the old stop filled).
        Then it ends ``canceled`` and the cycle's protect() decides afresh."""
        others = [o for o in self.store.active() if o.symbol == order.symbol and o.side == order.side and o.resting
                  and o.client_order_id != order.client_order_id and o.status in (S.SUBMITTED, S.PARTIALLY_FILLED)]
        held = self.store.positions().get(order.symbol)
        # A sell protects a long, a buy a short: the position must still be of that side and cover it.
        covered = (held.qty if order.side == "sell" else -held.qty) if held is not None else 0.0
        if others or covered + 1e-9 < order.qty:
            why = "another protective sell rests" if others else "the position no longer covers it"
            return self._to(order, S.CANCELED, f"never reached the broker, not re-sent: {why}",
                            reason=f"{order.reason}; never reached the broker")
        if resend:
            return self._send(order, first=False)
        return order if order.status is S.UNKNOWN else self._to(order, S.UNKNOWN, "the broker has not seen it (yet)")

    def recover(self) -> list[OrderRecord]:
        """Resolve every order in the store whose fate is not known (crash recovery), and
        bring every resting stop up to date (its fills, if the broker executed it)."""
        return [self.resolve(order) for order in self.store.active()]

    def move_stop(self, order: OrderRecord, stop_price: float) -> OrderRecord:
        """Move the stop of a resting OCO exit in place: the parent (Kobe's id) stays at
        the broker, its stop-loss leg is replaced. Recorded after the broker's answer; a
        crash in between is harmless: the next cycle finds the store's stop lower than
        wanted and asks again, and the broker answers the same stop."""
        if order.broker_order_id is None:
            return order
        moved = dataclasses.replace(order, stop_price=stop_price)
        try:
            self.broker.replace(order.broker_order_id, moved)
        except KillSwitchActive as err:
            self.audit.event("order.replace_blocked", client_order_id=order.client_order_id, detail=str(err))
            return order
        except OrderRefused as err:
            if "not changed" not in str(err):
                self.audit.event("order.replace_refused", client_order_id=order.client_order_id, detail=str(err))
                return self.resolve(order, resend=False)       # filled or canceled meanwhile: learn it
        except (DuplicateOrder, OutcomeUnknown, BrokerUnavailable) as err:
            # Asked again next cycle: the store still has the old stop, lower than wanted.
            self.audit.event("order.replace_unknown", client_order_id=order.client_order_id, detail=str(err))
            return order
        if not self.store.record(moved.to(order.status), f"stop moved to {stop_price}", expected=order.status):
            return self.store.get(order.client_order_id) or order
        self.audit.event("order.stop_moved", client_order_id=order.client_order_id, symbol=order.symbol,
                         stop_price=stop_price, was=order.stop_price)
        return moved

    def replace(self, old: OrderRecord, new: OrderRecord) -> OrderRecord:
        """Move the resting order ``old`` to ``new`` (same shares, a new stop; ``new``
        carries its own deterministic id) with the broker's replace.

        Recorded first, like every order: a crash after the request leaves ``new`` in the
        store, and the next cycle finds it at the broker by its id (the replace happened)
        or not (then ``old`` still rests, and the replace is asked again).
        """
        if not self.store.add(new):
            existing = self.store.get(new.client_order_id)
            assert existing is not None
            return existing if existing.status.terminal else self.resolve(existing, resend=False)
        self.audit.event("order.decided", client_order_id=new.client_order_id, strategy=new.strategy,
                         symbol=new.symbol, side=new.side, qty=new.qty, stop_price=new.stop_price,
                         trading_date=new.trading_date, reason=new.reason, replaces=old.client_order_id)
        if old.broker_order_id is None:
            return self._to(new, S.CANCELED, "nothing to replace: the old stop has no broker id")
        try:
            answer = self.broker.replace(old.broker_order_id, new)
        except KillSwitchActive as err:
            return self._to(new, S.CANCELED, f"never sent: {err}", reason=f"{new.reason}; kill switch")
        except OrderRefused as err:
            # The old order finished meanwhile (filled, canceled): learn its fate.
            self.resolve(old, resend=False)
            return self._to(new, S.REJECTED, f"refused: {err}", reason=f"{new.reason}; refused: {err}"[:300])
        except (DuplicateOrder, OutcomeUnknown, BrokerUnavailable) as err:
            moved = self._to(new, S.UNKNOWN, f"replace outcome unknown: {err}")
            return self.resolve(moved, resend=False)
        new = self.apply(new, answer, "replaced")
        self.resolve(old, resend=False)
        return new
