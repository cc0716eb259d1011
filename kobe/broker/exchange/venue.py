"""The venue: one paper account trading against the replayed market.

It holds the orders, positions and cash (persisted through :class:`Store`), applies the
vendor's rules on submission and replace (unknown symbol, market closed, duplicate client
order id, buying power, held quantity), and matches orders against the quotes of
:mod:`~kobe.broker.exchange.quotes` by the rules of :mod:`~kobe.broker.exchange.matching`,
stop orders by those of :mod:`~kobe.broker.exchange.stops`.

Matching is lazy and exact: before every request the server calls :meth:`Venue.catch_up`,
which plays every working order forward along the price path from where it was last
checked to the clock's "now", session by session (fills, IOC cancels, DAY expiries at the
close). So a submission is answered ``new`` (or ``accepted`` while the market is closed)
and its fill shows on the next request, as at the vendor where fills arrive
asynchronously; and a clock advanced by a week plays the week out at once.

The account is a cash account: no margin. Buying power is cash less what open buy
orders hold. A sell needs shares held and not already offered, unless the account may
short (``shorting``, off by default): then a sell with no shares held opens a short, or
adds to one, in a symbol that is shortable and easy to borrow
(:mod:`~kobe.broker.exchange.assets`), and a buy covers it. One order never turns a long
into a short or back, as at the vendor (broker-apis.md 11). A short is cash-secured:
its proceeds go to cash, but it takes its market value from buying power, once for the
proceeds and once as collateral. So it ties up as much as a long of the same value, and
the account has no leverage. A resting sell stop offers its shares as any open sell
does: another sell of them is refused until the stop is canceled or replaced, as at the
vendor.

An OCO order (:mod:`~kobe.broker.exchange.oco`) is a group: the parent (the take-profit
limit) and its leg (the stop-loss stop, ``held``) offer the same shares once, are
matched together along the path by the parent, and end together (one fills, the other
is canceled; both expire, or are canceled by a cancel of either). A sell OCO exits a
long; a buy OCO exits a short (``buy_to_close``), covering the short's shares once as the
sell offers the long's, and holds buying power once, as the buy stop at its stop-loss
that it stands for would (:meth:`Venue._check_funds`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import uuid
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from kobe.broker.exchange import clock as clocks
from kobe.broker.exchange.assets import Assets
from kobe.broker.exchange.clock import ExchangeClock
from kobe.broker.exchange.errors import (
    UNPROCESSABLE,
    VendorError,
    forbidden,
    not_found,
    unprocessable,
)
from kobe.broker.exchange.faults import Faults
from kobe.broker.exchange.history import Bar, History
from kobe.broker.exchange.limits import QTY_STEP
from kobe.broker.exchange.matching import Execution, at_touch, on_arrival, on_crossing
from kobe.broker.exchange.oco import first_exit
from kobe.broker.exchange.quotes import CENT, Quote, QuoteModel, mid_at
from kobe.broker.exchange.records import STOP_TYPES, Fill, Order, Position, asset_id
from kobe.broker.exchange.stops import trigger, within_limit
from kobe.broker.exchange.store import Store
from kobe.broker.exchange.wire import plain
from kobe.data import calendar

MARKET_BUY_COLLAR = Decimal("1.03")
"""A market buy holds buying power at 3% above the ask, as the vendor does (2.5-4%)."""
AFTER = dt.timedelta(microseconds=1)
MIN_SHORT_EQUITY = Decimal(2000)
"""Below this equity the vendor allows no shorting (broker-apis.md 11, Alpaca's docs)."""


@dataclass(frozen=True)
class OrderRequest:
    """A validated submission (the wire body parsed by the trading API). An OCO order
    has ``order_class`` ``oco``, the take-profit in ``limit_price`` and the stop-loss in
    ``stop_loss``."""

    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal
    limit_price: Decimal | None = None
    client_order_id: str | None = None
    stop_price: Decimal | None = None
    order_class: str = ""
    stop_loss: Decimal | None = None


@dataclass(frozen=True)
class ReplaceRequest:
    """A validated ``PATCH /v2/orders/{id}`` body: the fields to change (``None``: keep)."""

    qty: Decimal | None = None
    time_in_force: str | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    client_order_id: str | None = None


@dataclass(frozen=True)
class PositionView:
    """A position as served: ``qty_available`` is what open sell orders (stops
    included) do not already offer."""

    position: Position
    current_price: Decimal
    lastday_price: Decimal | None
    qty_available: Decimal     # a short: negative, what open buys do not already cover


@dataclass(frozen=True)
class AccountView:
    id: str
    account_number: str
    cash: Decimal
    buying_power: Decimal
    long_market_value: Decimal
    equity: Decimal
    created_at: dt.datetime
    short_market_value: Decimal = Decimal(0)   # <= 0, as the vendor writes it
    shorting_enabled: bool = False


class Venue:
    """The account and its orders; every public method is safe across threads."""

    def __init__(self, history: History, clock: ExchangeClock, store: Store, faults: Faults,
                 model: QuoteModel, starting_cash: Decimal, assets: Assets | None = None,
                 shorting: bool = False) -> None:
        self.lock = threading.RLock()
        self.history, self.clock, self.store, self.faults, self.model = history, clock, store, faults, model
        self.assets = assets if assets is not None else Assets(history.symbols)
        self.shorting = shorting
        snapshot = store.load()
        self.orders: dict[str, Order] = {o.id: o for o in snapshot.orders}
        self.by_client: dict[str, Order] = {o.client_order_id: o for o in snapshot.orders}
        self.positions: dict[str, Position] = {p.symbol: p for p in snapshot.positions}
        self._seq = max((o.seq for o in snapshot.orders), default=0)
        meta = snapshot.meta
        self.cash = Decimal(meta.get("cash", str(starting_cash)))
        self.account_id = meta.get("account_id") or str(uuid.uuid4())
        self.created_at = dt.datetime.fromisoformat(meta["created_at"]) if "created_at" in meta else clock.now()
        with store.transaction():
            store.set_meta("account_id", self.account_id)
            store.set_meta("created_at", self.created_at.isoformat())
            store.set_meta("cash", str(self.cash))
            store.set_meta("clock", clock.now().isoformat())

    # -- prices ---------------------------------------------------------------------

    def quote(self, symbol: str, at: dt.datetime) -> Quote | None:
        """The quote at ``at`` while a session is open and ``symbol`` trades in it."""
        day = clocks.session_at(at)
        bar = self.history.bar(symbol, day) if day is not None else None
        if bar is None or day is None:
            return None
        open_, close = calendar.session_open_close(day)
        return self.model.quote(symbol, mid_at(bar, open_, close, at), bar.volume, at)

    def latest_quote(self, symbol: str, at: dt.datetime) -> Quote | None:
        """The newest quote as of ``at``: the live one in session, else the one standing
        at the last close (built around that close), or ``None`` before any bar."""
        live = self.quote(symbol, at)
        if live is not None:
            return live
        bar = self.history.last_bar(symbol, clocks.last_session_started(at))
        if bar is None:
            return None
        close_at = min(calendar.session_open_close(bar.day)[1], at)
        return self.model.quote(symbol, bar.close, bar.volume, close_at)

    def last_price(self, symbol: str, at: dt.datetime) -> Decimal | None:
        """The mid as of ``at`` (the path in session, else the last close), 4 decimals."""
        day = clocks.session_at(at)
        bar = self.history.bar(symbol, day) if day is not None else None
        if bar is not None and day is not None:
            open_, close = calendar.session_open_close(day)
            return Decimal(repr(round(mid_at(bar, open_, close, at), 4)))
        bar = self.history.last_bar(symbol, clocks.last_session_started(at))
        return Decimal(repr(bar.close)) if bar is not None else None

    def lastday_price(self, symbol: str, at: dt.datetime) -> Decimal | None:
        """The close of the session before the latest one to have opened."""
        bar = self.history.previous_bar(symbol, clocks.last_session_started(at))
        return Decimal(repr(bar.close)) if bar is not None else None

    # -- the clock ------------------------------------------------------------------

    def set_clock(self, instant: dt.datetime) -> dt.datetime:
        with self.lock:
            self.clock.set(instant)
            self.catch_up(persist_clock=True)
            return self.clock.now()

    def advance(self, seconds: float) -> dt.datetime:
        with self.lock:
            self.clock.advance(seconds)
            self.catch_up(persist_clock=True)
            return self.clock.now()

    # -- matching -------------------------------------------------------------------

    def catch_up(self, persist_clock: bool = False) -> None:
        """Play every working order forward to the clock's now."""
        with self.lock:
            now = self.clock.now()
            # An OCO's leg is worked by its parent, as one group.
            working = [o for o in self.orders.values() if o.is_open and not o.is_leg and o.live_from <= now]
            if not working and not persist_clock:
                return
            with self.store.transaction():
                for order in sorted(working, key=lambda o: o.seq):
                    before = dataclasses.replace(order)
                    legs = {leg.id: dataclasses.replace(leg) for leg in self._children(order.id)} \
                        if order.is_oco else {}
                    self._work(order, now)
                    # Only what changed is written: rewriting every resting order on every
                    # request made a book of thousands cost seconds per request.
                    if order != before:
                        self.store.save_order(order)
                    if order.is_oco:
                        self._settle(order)
                        # A leg that filled ends the parent: both are written, the leg too.
                        for leg in self._children(order.id):
                            if leg != legs.get(leg.id):
                                self.store.save_order(leg)
                self.store.set_meta("clock", now.isoformat())

    def _work(self, order: Order, now: dt.datetime) -> None:
        if order.checked_until is None:
            start = order.live_from
            if clocks.session_at(start) is None:
                # Live from a moment the market is shut (a fill delay ran past the close):
                # the order meets the market at the next open.
                start = calendar.session_open_close(clocks.first_session_closing_after(start))[0]
                if start > now:
                    order.live_from = start
                    return
            if order.reject:
                order.finish("rejected", start)
                return
            if order.status in ("accepted", "pending_new"):
                order.status, order.updated_at = "new", start
            if order.awaits_stop or order.is_oco:
                # A stop does not meet the book on arrival: it waits for its price, which
                # may already be beyond it right then (placed through the market, a gap).
                # Nor does an OCO, whose two levels are played on the path alike.
                self._rest(order, now, arrival=start)
                return
            execution, final = on_arrival(order, self.quote(order.symbol, start))
            if execution is not None:
                self._fill(order, execution)
            if final is not None and order.is_open:
                order.finish(final, start)
            order.checked_until = start
            if not order.is_open:
                return
        self._rest(order, now)

    def _rest(self, order: Order, now: dt.datetime, arrival: dt.datetime | None = None) -> None:
        """Resting orders along the path from ``checked_until`` to ``now``; a stop order
        arriving at ``arrival`` is looked at from that very instant."""
        after = arrival - AFTER if arrival is not None else order.checked_until
        assert after is not None
        while after < now:
            day = clocks.first_session_closing_after(after)
            open_, close = calendar.session_open_close(day)
            if open_ > now:
                break
            start = after + AFTER if after >= open_ else open_
            end = min(now, close)
            bar = self.history.bar(order.symbol, day)
            if bar is not None and start <= end and order.is_oco:
                if self._exit_oco(order, bar, open_, close, start, end, arrival):
                    return
            elif bar is not None and start <= end:
                execution = self._match(order, bar, open_, close, start, end, placed=start == arrival)
                if execution is not None:
                    self._fill(order, execution)
                    return
            if close <= now and order.time_in_force == "day":
                order.finish("expired", close)
                return
            after = end
        order.checked_until = max(order.checked_until or now, now)

    def _match(self, order: Order, bar: Bar, open_: dt.datetime, close: dt.datetime, start: dt.datetime,
               end: dt.datetime, *, placed: bool) -> Execution | None:
        """A working order's fill between ``start`` and ``end`` of one session, if any."""
        if order.type == "market":
            quote = self.model.quote(order.symbol, mid_at(bar, open_, close, start), bar.volume, start)
            return at_touch(order, quote)
        if order.awaits_stop:
            triggered = trigger(order, bar, open_, close, start, end, placed=placed)
            if triggered is None:
                return None
            order.triggered_at = triggered.at
            if order.type == "stop" or within_limit(order, triggered.price):
                return Execution(order.remaining, triggered.price, triggered.at)
            start = triggered.at  # a stop-limit whose limit the market is beyond: it rests as a limit
        return on_crossing(order, bar, open_, close, start, end, self.model)

    def _exit_oco(self, parent: Order, bar: Bar, open_: dt.datetime, close: dt.datetime, start: dt.datetime,
                  end: dt.datetime, arrival: dt.datetime | None) -> bool:
        """Fill whichever of an OCO's orders the path reaches first in one session (the
        other is canceled at that instant); False when neither level is reached."""
        leg = self._leg(parent)
        found = first_exit(parent, leg, bar, open_, close, start, end, placed_target=start == arrival,
                           placed_stop=start == leg.live_from)
        if found is None:
            return False
        member, hit = found
        if member is leg:
            leg.triggered_at = hit.at
        self._fill(member, Execution(member.remaining, hit.price, hit.at))
        if member is leg:
            parent.finish("canceled", hit.at)
        return True

    def _children(self, parent_id: str) -> list[Order]:
        """The legs ever attached to ``parent_id`` (replaced ones too), oldest first."""
        return sorted((o for o in self.orders.values() if o.parent_id == parent_id), key=lambda o: o.seq)

    def _leg(self, parent: Order) -> Order:
        """The stop-loss leg an OCO parent carries now."""
        current = [o for o in self._children(parent.id) if o.status != "replaced"]
        if not current:
            raise RuntimeError(f"OCO order {parent.id} has no leg")   # a bug: a group always has one
        return current[-1]

    def _settle(self, parent: Order) -> list[Order]:
        """End the leg of an OCO parent that has ended (filled, expired, rejected,
        canceled); returns the legs changed."""
        if parent.is_open or parent.status == "replaced":
            return []
        changed = [o for o in self._children(parent.id) if o.is_open]
        for leg in changed:
            leg.finish("expired" if parent.status == "expired" else "canceled", parent.updated_at)
        return changed

    def _fill(self, order: Order, execution: Execution) -> None:
        order.execute(execution.qty, execution.price, execution.at)
        position = self.positions.setdefault(order.symbol, Position(order.symbol, Decimal(0), Decimal(0)))
        position.apply(order.side, execution.qty, execution.price)
        value = execution.qty * execution.price
        self.cash += -value if order.side == "buy" else value
        self.store.add_fill(Fill(order.id, order.symbol, order.side, execution.qty, execution.price, execution.at))
        self.store.save_position(position)
        if position.qty == 0:
            del self.positions[order.symbol]
        self.store.set_meta("cash", str(self.cash))

    # -- orders ---------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> Order:
        """Accept an order (answered before it trades) or raise the vendor's error."""
        with self.lock:
            now = self.clock.now()
            if request.order_class == "oco":
                return self._submit_oco(request, now)
            order = self._new_order(request, now, status_open="new")
            with self.store.transaction():
                self.store.save_order(order)
                self.store.set_meta("clock", now.isoformat())
            self._keep(order)
            return dataclasses.replace(order)

    def _submit_oco(self, request: OrderRequest, now: dt.datetime) -> Order:
        """An OCO exit: the parent (the take-profit limit) and its leg (the stop-loss),
        one group offering the position's shares once. The vendor's rule on the stop
        (broker-apis.md 6.2, Alpaca's orders page): at least a cent below the base price,
        the lower of the take-profit and the market, for a sell; mirrored for a buy (the
        exit of a short): at least a cent above the higher of the two."""
        assert request.limit_price is not None and request.stop_loss is not None
        if request.symbol not in self.history.symbols:
            raise unprocessable(f'asset "{request.symbol}" not found')
        market = self.last_price(request.symbol, now)
        if request.side == "sell":
            base = min(request.limit_price, market) if market is not None else request.limit_price
            if request.stop_loss > base - CENT:
                raise _below_base(base)
        else:
            base = max(request.limit_price, market) if market is not None else request.limit_price
            if request.stop_loss < base + CENT:
                raise _above_base(base)
        parent = self._new_order(request, now, status_open="new")
        leg = self._new_leg(parent, request.stop_loss, None, now, parent.qty, parent.live_from)
        with self.store.transaction():
            self.store.save_order(parent)
            self.store.save_order(leg)
            self.store.set_meta("clock", now.isoformat())
        self._keep(parent)
        self._keep(leg)
        return dataclasses.replace(parent)

    def _new_leg(self, parent: Order, stop_price: Decimal, client_order_id: str | None, now: dt.datetime,
                 qty: Decimal, live_from: dt.datetime) -> Order:
        """The stop-loss leg of ``parent``, ``held`` while the group works; its shares are
        the parent's (checked there), its client order id the vendor's unless given."""
        cid = client_order_id or str(uuid.uuid4())
        if cid in self.by_client:
            raise VendorError(422, "client_order_id must be unique", 40010001)
        self._seq += 1
        return Order(id=str(uuid.uuid4()), client_order_id=cid, symbol=parent.symbol, side=parent.side, type="stop",
                     time_in_force=parent.time_in_force, qty=qty, limit_price=None, reserve_price=stop_price,
                     status="held", filled_qty=Decimal(0), filled_avg_price=None, created_at=now, updated_at=now,
                     submitted_at=now, live_from=live_from, seq=self._seq, stop_price=stop_price,
                     order_class="oco", parent_id=parent.id, position_intent=parent.position_intent)

    def replace(self, order_id: str, change: ReplaceRequest) -> Order:
        """Replace a working order as ``PATCH /v2/orders/{id}`` does: a new order (new id,
        ``replaces`` the old one) with the changed fields and the rest copied, for what
        the old one had left to trade unless ``qty`` says otherwise; the old order ends
        ``replaced``. The old order's shares or buying power count as free for the check."""
        with self.lock:
            old = self.orders.get(order_id)
            if old is None:
                raise not_found("order not found")
            if not old.is_open:
                raise unprocessable("order is not replaceable")
            head = self.orders[old.parent_id] if old.parent_id is not None else old   # an OCO leg: its group's
            if head.status in ("accepted", "pending_new"):
                # The vendor's rule: an order not yet sent to the exchange (placed while the
                # market is shut) cannot be replaced before the open; cancel it instead.
                raise unprocessable(f"order is not replaceable while {head.status}: it is not at the exchange "
                                    "before the next open")
            if change.limit_price is not None and old.type not in ("limit", "stop_limit"):
                raise unprocessable(f"limit_price is not allowed on {old.type} orders")
            if change.stop_price is not None and old.type not in STOP_TYPES:
                raise unprocessable(f"stop_price is not allowed on {old.type} orders")
            request = OrderRequest(
                old.symbol, old.side, old.type, change.time_in_force or old.time_in_force,
                change.qty if change.qty is not None else old.remaining,
                change.limit_price if change.limit_price is not None else old.limit_price,
                change.client_order_id, change.stop_price if change.stop_price is not None else old.stop_price)
            if change.client_order_id is None and (request.qty, request.time_in_force, request.limit_price,
                                                   request.stop_price) == (old.remaining, old.time_in_force,
                                                                           old.limit_price, old.stop_price):
                raise unprocessable("order parameters are not changed")
            now = self.clock.now()
            if old.is_oco:
                return self._replace_in_oco(old, head, dataclasses.replace(request, order_class="oco"), now)
            order = self._new_order(request, now, status_open="pending_new", replacing=old)
            order.replaces = old.id
            old.replaced_with(order.id, now)
            with self.store.transaction():
                self.store.save_order(old)
                self.store.save_order(order)
                self.store.set_meta("clock", now.isoformat())
            self._keep(order)
            return dataclasses.replace(order)

    def _replace_in_oco(self, old: Order, parent: Order, request: OrderRequest, now: dt.datetime) -> Order:
        """Replace one order of an OCO group: the leg's ``stop_price`` (a new leg under the
        same parent) or the parent's ``limit_price`` (a new parent, which the leg, keeping
        its id, moves under). Quantity and time in force are the group's: not changed here."""
        if request.qty != old.remaining or request.time_in_force != old.time_in_force:
            raise unprocessable("only limit_price (the take-profit), stop_price (the stop-loss) and client_order_id "
                                "of an oco order can be replaced by the stand-in exchange: cancel the order and "
                                "send a new one")
        open_now = clocks.session_at(now) is not None
        if old.is_leg:
            assert request.stop_price is not None and parent.limit_price is not None
            if parent.side == "sell" and request.stop_price > parent.limit_price - CENT:
                raise _below_base(parent.limit_price)
            if parent.side == "buy" and request.stop_price < parent.limit_price + CENT:
                raise _above_base(parent.limit_price)
            reserve = parent.reserve_price
            if parent.side == "buy":
                # The group's buying power is held at its stop (on the parent): a moved stop
                # holds anew, the old hold counting as free, as a replaced buy stop's does.
                reserve = self._check_funds(
                    dataclasses.replace(request, type="limit", limit_price=parent.limit_price, stop_price=None,
                                        stop_loss=request.stop_price), now, parent, parent.intent)
            live_from = now if open_now else calendar.session_open_close(clocks.first_session_closing_after(now))[0]
            new = self._new_leg(parent, request.stop_price, request.client_order_id, now, old.remaining, live_from)
            parent.reserve_price = reserve    # only once nothing can refuse the replace any more
            if parent.checked_until is not None:
                # The group is looked at again from now, where the new stop arrives (a
                # stop moved past the price is placed through the market).
                parent.checked_until = min(parent.checked_until, now - AFTER)
            changed = [old, new, parent]
        else:
            leg = self._leg(parent)
            assert request.limit_price is not None and leg.stop_price is not None
            if parent.side == "sell" and request.limit_price < leg.stop_price + CENT:
                raise unprocessable(f"take_profit.limit_price must be >= stop_loss.stop_price + 0.01 "
                                    f"(stop_loss.stop_price {plain(leg.stop_price)})")
            if parent.side == "buy" and request.limit_price > leg.stop_price - CENT:
                raise unprocessable(f"take_profit.limit_price must be <= stop_loss.stop_price - 0.01 "
                                    f"(stop_loss.stop_price {plain(leg.stop_price)})")
            # The stop stays the leg's: the new parent's checks (a buy's buying power) need it.
            request = dataclasses.replace(request, stop_loss=leg.stop_price)
            new = self._new_order(request, now, status_open="pending_new", replacing=old)
            leg.parent_id = new.id
            changed = [old, new, leg]
        new.replaces = old.id
        old.replaced_with(new.id, now)
        with self.store.transaction():
            for order in changed:
                self.store.save_order(order)
            self.store.set_meta("clock", now.isoformat())
        self._keep(new)
        return dataclasses.replace(new)

    def _new_order(self, request: OrderRequest, now: dt.datetime, *, status_open: str,
                   replacing: Order | None = None) -> Order:
        """``request`` as an order received at ``now`` (not yet kept), or the vendor's
        error; ``status_open`` is its status when the market is open."""
        if request.symbol not in self.history.symbols:
            raise unprocessable(f'asset "{request.symbol}" not found')
        cid = request.client_order_id or str(uuid.uuid4())
        if cid in self.by_client:
            raise VendorError(422, "client_order_id must be unique", 40010001)
        open_now = clocks.session_at(now) is not None
        if not open_now and request.time_in_force in ("ioc", "fok"):
            raise unprocessable(f"market is closed: {request.time_in_force} orders need an open session "
                                f"(next open {clocks.market_clock(now).next_open.isoformat()})")
        intent = self._intent(request)
        reserve = self._check_funds(request, now, replacing, intent)
        delay, reject = self.faults.order_fate()
        live_from = now if open_now else calendar.session_open_close(clocks.first_session_closing_after(now))[0]
        self._seq += 1
        return Order(id=str(uuid.uuid4()), client_order_id=cid, symbol=request.symbol, side=request.side,
                     type=request.type, time_in_force=request.time_in_force, qty=request.qty,
                     limit_price=request.limit_price, reserve_price=reserve,
                     status=status_open if open_now else "accepted", filled_qty=Decimal(0), filled_avg_price=None,
                     created_at=now, updated_at=now, submitted_at=now,
                     live_from=live_from + dt.timedelta(seconds=delay), seq=self._seq, reject=reject,
                     stop_price=request.stop_price, order_class=request.order_class, position_intent=intent)

    def _keep(self, order: Order) -> None:
        self.orders[order.id] = order
        self.by_client[order.client_order_id] = order

    def _offered(self, symbol: str, excluding: Order | None = None) -> Decimal:
        """Shares of ``symbol`` that open sell orders (stops included) already offer; an
        OCO's shares count once, by its parent (its leg offers the same shares)."""
        return sum((o.remaining for o in self.orders.values()
                    if o.is_open and o.side == "sell" and o.symbol == symbol and o is not excluding
                    and not o.is_leg), Decimal(0))

    def _bidding(self, symbol: str, excluding: Order | None = None) -> Decimal:
        """Shares of ``symbol`` that open buy orders already bid for; a buy OCO's shares
        count once, by its parent (its leg bids for the same shares)."""
        return sum((o.remaining for o in self.orders.values()
                    if o.is_open and o.side == "buy" and o.symbol == symbol and o is not excluding
                    and not o.is_leg), Decimal(0))

    def _intent(self, request: OrderRequest) -> str:
        """What ``request`` does to the position: a sell opens (or adds to) a short when
        the account may short and holds no shares; an OCO is an exit and never opens (a
        buy OCO with no short held is a cover of nothing, refused by the no-flip rule)."""
        held = self.positions.get(request.symbol)
        qty = held.qty if held is not None else Decimal(0)
        if request.side == "buy":
            return "buy_to_close" if qty < 0 or request.order_class == "oco" else "buy_to_open"
        opens = self.shorting and qty <= 0 and request.order_class != "oco"
        return "sell_to_open" if opens else "sell_to_close"

    def _check_funds(self, request: OrderRequest, now: dt.datetime, replacing: Order | None = None,
                     intent: str = "") -> Decimal:
        """The price buying power is held at; 403 when the account cannot pay or deliver
        (``replacing``: an order about to give way, whose shares or money count as free)."""
        if intent == "sell_to_open":
            return self._check_short(request, now, replacing)
        if intent == "buy_to_close":
            # The vendor's no-flip rule (broker-apis.md 11), applied to covers as to sells
            # of a long: a buy covers at most the short not already being covered. A buy
            # OCO is a cover even with no short held (an exit never opens): of nothing.
            held = self.positions.get(request.symbol)
            short = max(-held.qty, Decimal(0)) if held is not None else Decimal(0)
            available = max(short - self._bidding(request.symbol, replacing), Decimal(0))
            if request.qty > available:
                raise forbidden(f"insufficient qty available for order (requested: {plain(request.qty)}, "
                                f"available: {plain(available)})")
        if request.side == "sell":
            held = self.positions.get(request.symbol)
            available = (held.qty if held else Decimal(0)) - self._offered(request.symbol, replacing)
            if request.qty > available:
                raise forbidden(f"insufficient qty available for order (requested: {plain(request.qty)}, "
                                f"available: {plain(available)})")
            return request.limit_price or request.stop_price or Decimal(0)
        # A buy OCO covers through its take-profit (below the price) or its stop-loss
        # (above it): the costlier way out is the stop, so the group is checked, once, as
        # the buy stop at its stop-loss that a cover would otherwise rest.
        stop = request.stop_loss if request.order_class == "oco" else request.stop_price
        if request.limit_price is not None and request.order_class != "oco":
            price = request.limit_price
        else:
            quote = self.latest_quote(request.symbol, now)
            if quote is None:
                raise unprocessable(f"no price for {request.symbol} yet")
            # A buy stop fills at its stop or, on a gap or placed through the market,
            # above it: hold the collar over the higher of the stop and the ask.
            touch = max(quote.ask, stop) if stop is not None else quote.ask
            price = (touch * MARKET_BUY_COLLAR).quantize(CENT, rounding=ROUND_CEILING)
        self._afford(request.qty * price, replacing)
        return price

    def _afford(self, cost: Decimal, replacing: Order | None) -> None:
        power = self.buying_power(replacing)
        if cost > power:
            raise forbidden("insufficient buying power", buying_power=plain(power), cost_basis=plain(cost))

    def _check_short(self, request: OrderRequest, now: dt.datetime, replacing: Order | None) -> Decimal:
        """A sell to open or extend a short: the vendor's refusals (broker-apis.md 11, as
        users report them), then its buying-power check at ``max(limit, ask x 1.03)``."""
        if request.qty != request.qty.to_integral_value():
            raise unprocessable("fractional orders cannot be sold short")
        if not self.assets.flags(request.symbol).can_open_short:
            raise unprocessable(f"asset {request.symbol} cannot be sold short")
        if self._equity(now) < MIN_SHORT_EQUITY:
            raise forbidden("account is not allowed to short")
        quote = self.latest_quote(request.symbol, now)
        if quote is None:
            raise unprocessable(f"no price for {request.symbol} yet")
        price = max(request.limit_price or request.stop_price or Decimal(0),
                    (quote.ask * MARKET_BUY_COLLAR).quantize(CENT, rounding=ROUND_CEILING))
        self._afford(request.qty * price, replacing)
        return price

    def _market_values(self, now: dt.datetime) -> tuple[Decimal, Decimal]:
        """The long and the short market value (the short's <= 0) at ``now``'s prices."""
        long_value, short_value = Decimal(0), Decimal(0)
        for p in self.positions.values():
            value = (self.last_price(p.symbol, now) or p.avg_entry_price) * p.qty
            if p.qty > 0:
                long_value += value
            else:
                short_value += value
        return long_value, short_value

    def _equity(self, now: dt.datetime) -> Decimal:
        return self.cash + sum(self._market_values(now), Decimal(0))

    def buying_power(self, excluding: Order | None = None) -> Decimal:
        # Open buys and open sells to open a short both hold their reserve; an OCO holds
        # once, by its parent (its leg trades the same shares).
        held = sum((o.remaining * o.reserve_price for o in self.orders.values()
                    if o.is_open and (o.side == "buy" or o.opens_short) and o is not excluding
                    and not o.is_leg), Decimal(0))
        short_value = self._market_values(self.clock.now())[1] if any(
            p.qty < 0 for p in self.positions.values()) else Decimal(0)
        # A short's proceeds sit in cash but are not free, and it needs as much again as
        # collateral (no margin): twice its market value is not buying power.
        return self.cash + 2 * short_value - held

    def get(self, order_id: str) -> Order:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                raise not_found("order not found")
            return dataclasses.replace(order)

    def get_by_client_id(self, client_order_id: str) -> Order:
        with self.lock:
            order = self.by_client.get(client_order_id)
            if order is None:
                raise not_found("order not found")
            return dataclasses.replace(order)

    def list_orders(self, status: str = "open", limit: int = 50, after: dt.datetime | None = None,
                    until: dt.datetime | None = None, direction: str = "desc", side: str | None = None,
                    symbols: set[str] | None = None, nested: bool = False) -> list[Order]:
        """Orders as ``GET /v2/orders`` lists them: by submission time, ``direction``
        first, ``status`` one of ``open``/``closed``/``all``. ``nested``: OCO legs are
        left out (they come with their parent, :meth:`legs`)."""
        with self.lock:
            chosen = [o for o in self.orders.values()
                      if not (nested and o.is_leg)
                      and (status == "all" or (o.is_open if status == "open" else not o.is_open))
                      and (after is None or o.submitted_at > after) and (until is None or o.submitted_at < until)
                      and (side is None or o.side == side) and (symbols is None or o.symbol in symbols)]
            chosen.sort(key=lambda o: o.seq, reverse=direction == "desc")
            return [dataclasses.replace(o) for o in chosen[:limit]]

    def legs(self, order_id: str) -> list[Order]:
        """The leg an OCO parent carries (as ``nested`` shows it): the current one, or
        the one it ended with; none for a simple order or a replaced parent."""
        with self.lock:
            return [dataclasses.replace(o) for o in self._children(order_id) if o.status != "replaced"]

    def cancel(self, order_id: str) -> None:
        """Cancel a working order; either order of an OCO cancels the group."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                raise not_found("order not found")
            if not order.is_open:
                raise unprocessable("order is not cancelable")
            now = self.clock.now()
            group = [order]
            if order.is_oco:
                parent = self.orders[order.parent_id] if order.parent_id is not None else order
                group = [parent, *self._children(parent.id)]
            changed = [o for o in group if o.is_open]
            for member in changed:
                member.finish("canceled", now)
            with self.store.transaction():
                for member in changed:
                    self.store.save_order(member)

    # -- positions and the account --------------------------------------------------

    def _find_position(self, symbol_or_asset_id: str) -> Position:
        key = symbol_or_asset_id.upper()
        position = self.positions.get(key)
        if position is None:
            position = next((p for p in self.positions.values() if asset_id(p.symbol) == symbol_or_asset_id.lower()),
                            None)
        if position is None:
            raise not_found("position does not exist")
        return position

    def position(self, symbol_or_asset_id: str) -> PositionView:
        with self.lock:
            return self._view(self._find_position(symbol_or_asset_id))

    def all_positions(self) -> list[PositionView]:
        with self.lock:
            return [self._view(p) for p in sorted(self.positions.values(), key=lambda p: p.symbol)]

    def _view(self, position: Position) -> PositionView:
        now = self.clock.now()
        price = self.last_price(position.symbol, now) or position.avg_entry_price
        available = (position.qty + self._bidding(position.symbol) if position.qty < 0
                     else position.qty - self._offered(position.symbol))
        return PositionView(dataclasses.replace(position), price, self.lastday_price(position.symbol, now),
                            available)

    def close_position(self, symbol_or_asset_id: str, qty: Decimal | None = None,
                       percentage: Decimal | None = None) -> Order:
        """Sell ``qty`` shares, ``percentage`` of the position, or all of it, at market; a
        short is bought back the same way."""
        with self.lock:
            position = self._find_position(symbol_or_asset_id)
            size = abs(position.qty)
            if qty is None and percentage is not None:
                # To the vendor's fractional precision, down: never more than the share asked.
                qty = (size * percentage / 100).quantize(QTY_STEP, rounding=ROUND_DOWN)
                if qty <= 0:
                    raise unprocessable(f"{plain(percentage)}% of {plain(size)} shares is less than "
                                        f"{plain(QTY_STEP)} share")
            elif qty is None:
                qty = size
            side = "buy" if position.qty < 0 else "sell"
            return self.submit(OrderRequest(position.symbol, side, "market", "day", qty.normalize()))

    def account(self) -> AccountView:
        with self.lock:
            long_value, short_value = self._market_values(self.clock.now())
            return AccountView(self.account_id, "PA" + self.account_id.replace("-", "")[:10].upper(), self.cash,
                               self.buying_power(), long_value, self.cash + long_value + short_value,
                               self.created_at, short_value, self.shorting)


def _above_base(base: Decimal) -> VendorError:
    """:func:`_below_base` mirrored for a buy OCO (the exit of a short), whose stop lies
    above the price: the wording of the vendor's sell-side bracket refusal."""
    return VendorError(422, "stop_loss.stop_price must be >= base_price + 0.01", UNPROCESSABLE,
                       {"base_price": plain(base)})


def _below_base(base: Decimal) -> VendorError:
    """The vendor's refusal of a stop-loss not a cent below its base price (the wording
    users report; broker-apis.md 6.2 gives the rule)."""
    return VendorError(422, "stop_loss.stop_price must be <= base_price - 0.01", UNPROCESSABLE,
                       {"base_price": plain(base)})
