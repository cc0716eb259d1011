"""The broker seam: what Kobe needs of a broker, as a protocol, and the plain records it
exchanges with one.

:class:`Broker` covers quotes, submit, replace, cancel, orders, positions, the account
and the clock. :class:`~kobe.broker.alpaca.AlpacaBroker` is the implementation (Alpaca
and the stand-in ``kobe exchange`` alike, through alpaca-py); the trading package
(:mod:`kobe.trade`) only ever sees this protocol.

The errors classify what a call's failure means for the order (see
:mod:`kobe.broker.alpaca`): refused, duplicate, outcome unknown, or a read that failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kobe.oms.orders import OrderRecord

Checkpoint = Callable[[str], None]
"""Called with a step's name between deciding and recording (the crash tests kill there)."""


class BrokerError(Exception):
    """Base of the broker's outcomes; ``str()`` is safe to log (secrets redacted)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class OrderRefused(BrokerError):
    """The broker refused the order; nothing was placed."""


class DuplicateOrder(BrokerError):
    """An order with this ``client_order_id`` exists at the broker already."""


class OutcomeUnknown(BrokerError):
    """The send may or may not have placed the order."""


class BrokerUnavailable(BrokerError):
    """A read failed (timeout, 5xx, 401); nothing was changed by it."""


@dataclass(frozen=True)
class Quote:
    symbol: str
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    at: dt.datetime


@dataclass(frozen=True)
class MarketClock:
    """The broker's clock: ``now`` (UTC) is what decides the trading date, not the wall
    clock of the machine (a paper exchange may replay 2017)."""

    now: dt.datetime
    is_open: bool
    next_open: dt.datetime
    next_close: dt.datetime


@dataclass(frozen=True)
class BrokerOrder:
    """An order as the broker reports it (Alpaca's status words, e.g. ``canceled``).

    An OCO exit (``order_class`` ``oco``) is two broker orders: the parent, the
    take-profit limit (a sell above a long, a buy below a short), which carries Kobe's
    ``client_order_id``; and one leg, the stop-loss stop on the same side, with a
    broker-made id and ``client_order_id``, status ``held`` while the group works. The
    parent's ``legs`` holds the leg when the broker wrote it (the answer to the
    submission, ``nested`` reads); it is ``()`` otherwise and for
    every simple order. A flat listing shows the leg as an order of its own.
    """

    id: str
    client_order_id: str
    symbol: str
    side: str
    qty: float
    limit_price: float | None
    status: str
    filled_qty: float
    filled_avg_price: float | None
    updated_at: dt.datetime
    order_type: str = "limit"           # limit | stop | stop_limit | market
    stop_price: float | None = None
    time_in_force: str = "ioc"
    filled_at: dt.datetime | None = None
    replaced_by: str | None = None      # the broker id of the order that replaced this one
    order_class: str = "simple"         # simple | oco (either order of an OCO exit) | bracket | oto | mleg
    legs: tuple[BrokerOrder, ...] = ()  # an OCO parent's stop-loss leg, when the broker wrote it

    @property
    def executed_at(self) -> dt.datetime:
        """When the broker says the order last traded (``filled_at``), else its last update:
        the time the ledger orders fills by."""
        return self.filled_at or self.updated_at


@dataclass(frozen=True)
class BrokerPosition:
    symbol: str
    qty: float
    avg_entry_price: float


@dataclass(frozen=True)
class AssetFlags:
    """What the broker says of an asset before a short (Alpaca's ``Asset``): it may be
    traded (``tradable``, and ``status`` active), sold short (``shortable``), and borrowed
    without a locate (``easy_to_borrow``). Alpaca opens shorts only in names that are
    both shortable and easy to borrow, and refreshes the flags each morning, so read
    them on the day of the order."""

    symbol: str
    tradable: bool
    shortable: bool
    easy_to_borrow: bool
    marginable: bool = False
    fractionable: bool = False
    status: str = "active"

    @property
    def can_open_short(self) -> bool:
        """Whether a sell to open a short in it can be accepted today (the account's own
        permission, ``shorting_enabled``, is another matter)."""
        return self.status == "active" and self.tradable and self.shortable and self.easy_to_borrow


class Broker(Protocol):
    """What the trading package asks of a broker. Every order leaves through
    :meth:`submit` or :meth:`replace`, the kill-switch-guarded choke point."""

    secrets: list[str]

    def clock(self) -> MarketClock: ...

    def quote(self, symbol: str) -> Quote | None: ...

    def submit(self, order: OrderRecord) -> BrokerOrder: ...

    def replace(self, broker_order_id: str, order: OrderRecord) -> BrokerOrder: ...

    def cancel(self, broker_order_id: str) -> bool: ...

    def order(self, broker_order_id: str) -> BrokerOrder: ...

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None: ...

    def open_orders(self, nested: bool = False) -> list[BrokerOrder]: ...

    def positions(self) -> list[BrokerPosition]: ...

    def equity(self) -> float: ...


class OcoBroker(Broker, Protocol):
    """A broker that also rests OCO exits (a take-profit and a stop-loss on the same
    shares, one cancelling the other); :class:`~kobe.broker.alpaca.AlpacaBroker` is one.
    Kept apart from :class:`Broker` so that brokers without OCO orders still fit it."""

    def submit_oco(self, order: OrderRecord) -> BrokerOrder: ...

    def replace_oco_leg(self, broker_order_id: str, *, stop_price: float | None = None,
                        limit_price: float | None = None, client_order_id: str | None = None) -> BrokerOrder: ...

    def order_with_legs(self, broker_order_id: str) -> BrokerOrder: ...


class AssetBroker(Broker, Protocol):
    """A broker that also answers for an asset's flags (the check before a short);
    :class:`~kobe.broker.alpaca.AlpacaBroker` is one. Kept apart from :class:`Broker`, as
    :class:`OcoBroker` is, so that a broker without them still fits :class:`Broker` (the
    cycle then skips every short pick, saying why)."""

    def asset(self, symbol: str) -> AssetFlags | None:
        """The asset's flags, or ``None`` when the broker lists no such asset."""
        ...

    def shorting_enabled(self) -> bool:
        """Whether the account may sell short at all (Alpaca's ``shorting_enabled``)."""
        ...
