"""Orders as records with a state machine, and the identity that makes them idempotent.

An order's ``client_order_id`` is derived from what the order *is* (strategy, symbol,
trading date, side), never from when it was sent, so the same pick produces the same id
in any process, after any restart; the broker refuses a second order with an id it has
seen (HTTP 422), which makes a repeated send harmless.

States::

    new ──> submitted ──> partially_filled ──> filled
     │          │               │
     │          ├──> canceled / rejected / expired  (terminal)
     └──────────┴──> unknown   (the send timed out: look it up before anything else)

``unknown`` may go to any state once the broker has been asked; back to ``new`` only
when the broker has never seen the id (the request never arrived), so it may be re-sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, replace
from enum import Enum


class OrderStatus(str, Enum):
    NEW = "new"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})

_S = OrderStatus
ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.NEW: frozenset({_S.SUBMITTED, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED, _S.EXPIRED,
                       _S.UNKNOWN}),
    _S.SUBMITTED: frozenset({_S.SUBMITTED, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED, _S.EXPIRED,
                             _S.UNKNOWN}),
    _S.PARTIALLY_FILLED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED, _S.UNKNOWN}),
    _S.UNKNOWN: frozenset({_S.NEW, _S.SUBMITTED, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED,
                           _S.EXPIRED, _S.UNKNOWN}),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.EXPIRED: frozenset(),
}


class IllegalTransition(ValueError):
    pass


ID_PREFIX = "kb-"
"""Every id Kobe makes starts so; an order at the broker without it is a person's."""


ACTIONS = {"buy": "b", "sell": "s", "short": "o", "cover": "c"}
"""What an order of Kobe's does, and the letter its id carries for it: ``buy`` opens a
long, ``sell`` closes one, ``short`` opens a short (a sell to open), ``cover`` closes
one (a buy to close). Protective orders (``stop``, ``stop-2``...) read ``s``."""
OPENING = frozenset({ACTIONS["buy"], ACTIONS["short"]})


def client_order_id(strategy: str, symbol: str, trading_date: dt.date, action: str) -> str:
    """The deterministic id of the order for this pick: readable, unique, ≤ 48 chars.
    ``action`` is one of :data:`ACTIONS` or a protective order's word (``stop``)."""
    digest = hashlib.sha256(f"{strategy}|{symbol}|{trading_date.isoformat()}|{action}".encode()).hexdigest()[:12]
    return f"{ID_PREFIX}{trading_date:%Y%m%d}-{ACTIONS.get(action, action[0])}-{symbol[:10]}-{digest}"


def id_action(cid: str) -> str | None:
    """The action letter written in one of Kobe's ids (:data:`ACTIONS`), or None for an id
    not made by :func:`client_order_id`."""
    at = len(ID_PREFIX) + 8
    if not cid.startswith(ID_PREFIX) or cid[at:at + 1] != "-" or cid[at + 2:at + 3] != "-":
        return None
    letter = cid[at + 1]
    return letter if letter in ACTIONS.values() else None


def id_trading_date(cid: str) -> dt.date | None:
    """The trading date written in one of Kobe's ids, or None for any other id."""
    if not cid.startswith(ID_PREFIX):
        return None
    try:
        return dt.datetime.strptime(cid[len(ID_PREFIX):len(ID_PREFIX) + 8], "%Y%m%d").date()
    except ValueError:
        return None


@dataclass(frozen=True)
class OrderRecord:
    client_order_id: str
    strategy: str
    symbol: str
    side: str                     # buy | sell
    qty: int
    limit_price: float | None     # None for market orders
    trading_date: dt.date         # America/New_York
    status: OrderStatus = OrderStatus.NEW
    broker_order_id: str | None = None
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    reason: str = ""              # why it exists (entry, stop, time stop) or why it ended
    order_type: str = "limit"     # limit (IOC entries and exits) | stop (the resting protective stop)
    stop_price: float | None = None
    time_in_force: str = "ioc"    # ioc | gtc

    @property
    def opens(self) -> bool:
        """An entry: a buy that opens a long or a sell that opens a short (its id says
        which; an order not of Kobe's ids counts as an entry when it buys, as before shorts)."""
        action = id_action(self.client_order_id)
        if action is None:
            return self.side == "buy" and not self.resting
        return action in OPENING

    @property
    def resting(self) -> bool:
        """A protective order meant to wait at the broker (GTC): working is its normal state."""
        return self.time_in_force == "gtc"

    @property
    def notional(self) -> float:
        """Dollars the order may commit: qty × limit (or × the stop, or the fill price)."""
        price = self.limit_price if self.limit_price is not None else (
            self.stop_price if self.stop_price is not None else (self.filled_avg_price or 0.0))
        return self.qty * price

    @property
    def committed(self) -> float:
        """Dollars that count against the day's budget: the full notional until the order
        is known to have ended; then what actually filled."""
        if self.status.terminal:
            return self.filled_qty * (self.filled_avg_price or 0.0)
        return self.notional

    def to(self, status: OrderStatus, **changes: object) -> OrderRecord:
        """This order in ``status``; raises :class:`IllegalTransition` if the machine forbids it."""
        if status not in ALLOWED[self.status]:
            raise IllegalTransition(f"{self.client_order_id}: {self.status.value} -> {status.value} is not allowed")
        return replace(self, status=status, **changes)  # type: ignore[arg-type]
