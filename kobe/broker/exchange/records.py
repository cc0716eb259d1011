"""What the venue keeps: orders, positions and fills, with Alpaca's status vocabulary.

An order lives through Alpaca's statuses (broker-apis.md 1.5), restricted to the ones
this venue produces: ``accepted`` (received while the market is closed, waits for the
open), ``pending_new`` (a replacement, until the venue next looks at it), ``new``
(working), ``partially_filled`` (working, some traded), and the terminal ``filled``,
``canceled`` (also the end of an IOC with a remainder, even when part of it traded),
``expired`` (a DAY order still working at the close), ``rejected`` and ``replaced`` (a
newer order, ``replaced_by``, took over what was left of it). ``held`` is the stop-loss
leg of an OCO order while its parent, the take-profit, works (the vendor holds that leg
and routes the parent): open, but traded only as part of its group.
Quantities and prices are :class:`~decimal.Decimal`, as the vendor's decimal strings.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

OPEN_STATUSES = ("accepted", "pending_new", "new", "partially_filled", "held")
TERMINAL_STATUSES = ("filled", "canceled", "expired", "rejected", "replaced")
STOP_TYPES = ("stop", "stop_limit")
ASSET_NAMESPACE = uuid.UUID("6f1c1a4e-0b7e-4f5e-9a53-6b6f62650000")


def asset_id(symbol: str) -> str:
    """A stable asset UUID per symbol, the same on every run (Alpaca's are fixed too)."""
    return str(uuid.uuid5(ASSET_NAMESPACE, symbol))


@dataclass
class Order:
    """One order and its progress. ``live_from`` is when it may first trade (its
    submission, the next open when the market was closed, or later under an injected
    fill delay); ``checked_until`` is how far the venue has matched it against the
    price path (``None`` until its arrival was matched); ``reject`` marks an order an
    injected fault will reject; ``reserve_price`` is what buying power was held at.

    Stop orders carry ``stop_price``; ``triggered_at`` is when the market reached it (a
    triggered ``stop_limit`` then works as a limit order at ``limit_price``). A replace
    links two orders: the old one's ``replaced_by`` and the new one's ``replaces``.

    An OCO order is two orders of ``order_class`` ``oco`` and one side: the parent, a
    limit (the take-profit), and one leg, a stop (the stop-loss) whose ``parent_id`` is
    the parent's id; sells exit a long, buys a short (``buy_to_close``, the leg's intent
    too). The venue works them as one group (``docs/exchange.md``, OCO orders)."""

    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal
    limit_price: Decimal | None
    reserve_price: Decimal
    status: str
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    created_at: dt.datetime
    updated_at: dt.datetime
    submitted_at: dt.datetime
    live_from: dt.datetime
    seq: int
    checked_until: dt.datetime | None = None
    filled_at: dt.datetime | None = None
    canceled_at: dt.datetime | None = None
    expired_at: dt.datetime | None = None
    failed_at: dt.datetime | None = None
    reject: bool = False
    stop_price: Decimal | None = None
    triggered_at: dt.datetime | None = None
    replaced_at: dt.datetime | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    order_class: str = ""
    parent_id: str | None = None
    # buy_to_open | buy_to_close | sell_to_open | sell_to_close, set when received; ""
    # in a row from before shorts, whose orders were all buys to open or sells to close.
    position_intent: str = ""

    @property
    def opens_short(self) -> bool:
        """A sell that opens or extends a short: it holds buying power, as a buy does."""
        return self.position_intent == "sell_to_open"

    @property
    def intent(self) -> str:
        return self.position_intent or ("buy_to_open" if self.side == "buy" else "sell_to_close")

    @property
    def is_oco(self) -> bool:
        return self.order_class == "oco"

    @property
    def is_leg(self) -> bool:
        """The stop-loss leg of an OCO order (worked by its parent's group, not alone)."""
        return self.parent_id is not None

    @property
    def asset_id(self) -> str:
        return asset_id(self.symbol)

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def execute(self, qty: Decimal, price: Decimal, at: dt.datetime) -> None:
        """Record a fill of ``qty`` at ``price``: the average price is volume-weighted."""
        total = self.filled_qty + qty
        before = (self.filled_avg_price or Decimal(0)) * self.filled_qty
        self.filled_avg_price = (before + price * qty) / total
        self.filled_qty = total
        self.updated_at = at
        if self.filled_qty >= self.qty:
            self.status, self.filled_at = "filled", at
        else:
            self.status = "partially_filled"

    @property
    def awaits_stop(self) -> bool:
        """A stop or stop-limit order not triggered yet: it waits for its stop price."""
        return self.type in STOP_TYPES and self.triggered_at is None

    def finish(self, status: str, at: dt.datetime) -> None:
        """End the order as ``canceled``, ``expired`` or ``rejected`` at ``at``."""
        self.status, self.updated_at = status, at
        if status == "canceled":
            self.canceled_at = at
        elif status == "expired":
            self.expired_at = at
        elif status == "rejected":
            self.failed_at = at

    def replaced_with(self, new_id: str, at: dt.datetime) -> None:
        """End the order as ``replaced``: ``new_id`` works on in its place from ``at``."""
        self.status, self.updated_at, self.replaced_at, self.replaced_by = "replaced", at, at, new_id


@dataclass
class Position:
    """Shares held in one symbol: ``qty`` is negative for a short, and ``cost_basis``
    then too (the proceeds of the shares sold short, as the vendor writes it), so the
    average entry price is positive either way. A trade that adds to the position adds
    its value to the basis; one that reduces it keeps the average price."""

    symbol: str
    qty: Decimal
    cost_basis: Decimal

    @property
    def avg_entry_price(self) -> Decimal:
        return self.cost_basis / self.qty if self.qty else Decimal(0)

    def apply(self, side: str, qty: Decimal, price: Decimal) -> None:
        signed = qty if side == "buy" else -qty
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            self.cost_basis += signed * price
            self.qty += signed
        else:
            # Reducing (a sell of shares held, a buy covering a short); the venue never
            # lets one order cross zero, as the vendor does not.
            average = self.avg_entry_price
            self.qty += signed
            self.cost_basis = average * self.qty


@dataclass(frozen=True)
class Fill:
    """One execution: ``qty`` shares of ``symbol`` at ``price`` for order ``order_id``."""

    order_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    at: dt.datetime
