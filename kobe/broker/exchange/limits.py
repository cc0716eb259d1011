"""What the exchange accepts from a client: the bounds on bodies, JSON and numbers.

The stand-in listens on loopback for tests and paper trading, but it must not be the
weak part of a test: one malformed or hostile request is answered (a 4xx in the called
API's error shape) and leaves the exchange as it was. So every request is bounded before
any work is done on it (docs/exchange.md, *Limits*):

- the body: at most ``ExchangeConfig.max_body`` bytes (413 beyond), framed by one plain
  decimal ``Content-Length`` (400 otherwise; 501 for a ``Transfer-Encoding``);
- the JSON: strict (no ``NaN``/``Infinity`` literals) and at most :data:`MAX_JSON_DEPTH`
  levels of arrays and objects (400);
- the time it takes to arrive: ``ExchangeConfig.request_timeout`` seconds for the whole
  request, however slowly its bytes drip in (the connection is closed, or 408 once the
  headers are in);
- numbers: finite and within the ranges below, checked before anything changes, so a
  refused request never leaves the clock, the fault plan or the account half-changed.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from kobe.broker.exchange.errors import BAD_REQUEST, VendorError

MAX_BODY = 1 << 20
"""Default largest request body, in bytes: an order is a few hundred, a fault plan a few
thousand."""
REQUEST_TIMEOUT = 30.0
"""Default seconds a request may take to arrive, and a write of its answer to drain."""
MAX_JSON_DEPTH = 32
"""Deepest nesting of a JSON body (an order is 2 levels, a fault plan 3)."""

MAX_QTY = Decimal(1_000_000_000)
"""The largest order quantity, in shares (the vendor documents none; a billion shares is
more than any US listing trades in a day)."""
QTY_PLACES = 9
"""Fractional quantities carry at most 9 decimal places, as at the vendor."""
QTY_STEP = Decimal(1).scaleb(-QTY_PLACES)
MAX_PRICE = Decimal(10_000_000)
"""The largest limit or stop price, in dollars (the dearest US share trades below $1 M)."""
MAX_DIGITS = 28
"""Significant digits and decimal exponent a number may carry at all (the decimal
context's precision): beyond it a quantity or price is noise, and arithmetic on it
would overflow or round."""
MAX_CASH = Decimal(1_000_000_000_000)
"""The largest starting cash of an account, in dollars."""

MAX_SPEED = 1_000_000.0
"""The clock's fastest speed, exchange seconds per real second (11.6 days a second)."""
MAX_SPREAD_BPS = 1_000.0
"""The widest quoted spread, in basis points (10%: the bid stays well above zero)."""
MAX_FAULT_SECONDS = 3_600.0
"""The longest injected latency or delay, in real seconds."""
MAX_RETRY_AFTER = 86_400.0
"""The largest injected ``Retry-After``, in seconds."""
MAX_FILL_DELAY = 366 * 86_400.0
"""The longest injected fill delay, in exchange seconds (a year)."""
MAX_HANG_SECONDS = 3_600.0
"""The longest a hung or dropped request may hold its connection, in real seconds."""


def number(value: Any, name: str, low: float, high: float) -> float:
    """``value`` (a JSON number, or a numeric string as curl users send) as a finite float
    in ``[low, high]``; ``ValueError`` saying why not. Booleans are not numbers here,
    though Python counts them as ints."""
    if type(value) not in (int, float, str):   # exactly: a bool is an int to isinstance
        raise ValueError(f"{name} must be a number, not {shown(value)}")
    try:
        result = float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, not {shown(value)}") from None
    if not math.isfinite(result) or not low <= result <= high:
        bounds = f"from {_plain(low)} to {_plain(high)}" if math.isfinite(high) else f"of at least {_plain(low)}"
        raise ValueError(f"{name} must be a finite number {bounds}, not {shown(value)}")
    return result


def integer(value: Any, name: str, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (no upper bound when ``high`` is ``None``);
    ``ValueError`` otherwise. A float, even a whole one, is refused: these are counts and
    statuses, which JSON writes without a point."""
    if type(value) is not int:   # exactly: a bool is an int to isinstance
        raise ValueError(f"{name} must be an integer, not {shown(value)}")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be an integer {bounds}, not {shown(value)}")
    return value


def _plain(bound: float) -> str:
    return f"{bound:,.0f}" if bound == int(bound) else f"{bound:g}"


def shown(value: Any) -> str:
    # A refused value is echoed in the answer: cut short, so a megabyte of digits is not
    # sent back.
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _refuse_constant(word: str) -> Any:
    # Python's json reads NaN, Infinity and -Infinity, which are not JSON: a client that
    # sends them has a bug the vendor would answer 400 to.
    raise ValueError(f"{word} is not a JSON value")


def depth(value: Any) -> int:
    """How many levels of arrays and objects ``value`` nests (0 for a scalar); walked
    with a stack, so a deep value cannot exhaust Python's recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def parse_json(payload: bytes) -> Any:
    """A request body as JSON, or the 400 a vendor answers to a body it cannot read."""
    try:
        value = json.loads(payload, parse_constant=_refuse_constant)
    except RecursionError:
        # The C parser gives up near Python's recursion limit, long past MAX_JSON_DEPTH.
        raise _too_deep() from None
    except ValueError:
        # Malformed JSON, bytes that are not UTF-8/16/32, an integer of more than 4300
        # digits (Python's int limit), a NaN literal: all ValueErrors.
        raise VendorError(400, "request body is not valid JSON", BAD_REQUEST) from None
    if depth(value) > MAX_JSON_DEPTH:
        raise _too_deep()
    return value


def _too_deep() -> VendorError:
    return VendorError(400, f"request body nests JSON more than {MAX_JSON_DEPTH} levels deep", BAD_REQUEST)
