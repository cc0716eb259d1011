"""What the OCO tests of the stand-in share (test_exchange_oco.py, sells over a long;
test_exchange_oco_buy.py, buys over a short): the clock of June 2017 in New York, when
the path crosses a level, and the tables' row types."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from alpaca.trading.enums import OrderStatus
from alpaca.trading.requests import (
    GetOrderByIdRequest,
    LimitOrderRequest,
    ReplaceOrderRequest,
)

from kobe.data.calendar import NEW_YORK


def ny(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2017, 6, day, hour, minute, tzinfo=NEW_YORK)


def crossing(t0: dt.datetime, p0: float, t1: dt.datetime, p1: float, level: float) -> dt.datetime:
    """When a straight line from ``p0`` at ``t0`` to ``p1`` at ``t1`` passes ``level``."""
    return t0 + (t1 - t0) * ((level - p0) / (p1 - p0))


def nested(trading: Any, order_id: Any) -> Any:
    return trading.get_order_by_id(order_id, GetOrderByIdRequest(nested=True))


def close(a: dt.datetime | None, b: dt.datetime) -> bool:
    return a is not None and abs(a - b) < dt.timedelta(milliseconds=1)


@dataclass(frozen=True)
class Case:
    """How an OCO ends."""

    order: LimitOrderRequest
    placed: dt.datetime           # when the OCO is sent
    until: dt.datetime            # where the clock is moved afterwards
    filled: str | None            # "target" (the parent) or "stop" (the leg) or None
    price: str | None = None      # the fill price
    at: dt.datetime | None = None
    ended: OrderStatus | None = None   # both orders' status when neither filled (None: still working)


@dataclass(frozen=True)
class Move:
    """A replace of one of an OCO's two levels, and how the group then ends."""

    order: LimitOrderRequest
    at: dt.datetime               # when the replace is sent
    leg: bool                     # the stop-loss leg (True) or the take-profit parent
    change: ReplaceOrderRequest
    until: dt.datetime
    filled: str                   # "target" or "stop"
    price: str
    filled_at: dt.datetime
