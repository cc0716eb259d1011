"""Limit prices and share counts: what an order asks for, on the exchange's tick grid.

US equities trade in $0.01 increments at or above $1.00 and $0.0001 below (Reg NMS rule
612, the "sub-penny rule"); a limit price off that grid is refused (HTTP 422), so every
price Kobe sends goes through :func:`round_to_tick`.

The limit of an order is ``risk.yaml``'s ``limit_price``: a reference quote times a
multiplier. For buys the reference is taken as written (``best_ask × 1.001`` pays up to
0.1% above the ask, enough to cross the spread without chasing). A sell mirrors it: the
other side of the quote *divided* by the multiplier (``best_bid / 1.001``), so an exit
crosses the spread the same distance downwards. ``last`` has no feed here (the broker
serves quotes, not trades) and is read as the mid.
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from kobe.config.model import LimitPriceRule

CENT = Decimal("0.01")
SUB_PENNY = Decimal("0.0001")
MIRROR = {"best_ask": "best_bid", "best_bid": "best_ask", "mid": "mid", "last": "mid"}


def tick_of(price: Decimal) -> Decimal:
    """The price increment allowed at ``price``: $0.01 at or above $1, $0.0001 below."""
    return CENT if price >= 1 else SUB_PENNY


def round_to_tick(price: float | Decimal) -> Decimal:
    """``price`` rounded to the nearest allowed tick (halves up).

    A price just under $1 that rounds to $1.0000 is then on the cent grid too, so the
    result is always a valid limit.
    """
    value = price if isinstance(price, Decimal) else Decimal(repr(float(price)))
    if not value.is_finite() or value <= 0:
        raise ValueError(f"no limit price for {price!r}")
    rounded = value.quantize(tick_of(value), rounding=ROUND_HALF_UP)
    if rounded >= 1 and rounded != rounded.quantize(CENT):
        rounded = rounded.quantize(CENT, rounding=ROUND_HALF_UP)
    if rounded <= 0:
        raise ValueError(f"{price!r} rounds to no price on the tick grid")
    return rounded


def reference_price(reference: str, bid: float, ask: float) -> float:
    """The quote a limit starts from: ``best_ask``, ``best_bid``, ``mid`` (``last``: mid)."""
    if reference == "best_ask":
        return ask
    if reference == "best_bid":
        return bid
    if reference in ("mid", "last"):
        return (bid + ask) / 2
    raise ValueError(f"unknown limit-price reference {reference!r}")


def limit_price(side: str, bid: float, ask: float, rule: LimitPriceRule) -> Decimal:
    """The limit of a ``side`` order against the quote ``bid``/``ask`` (see the module doc)."""
    if side == "buy":
        return round_to_tick(reference_price(rule.reference, bid, ask) * rule.multiplier)
    if side == "sell":
        return round_to_tick(reference_price(MIRROR[rule.reference], bid, ask) / rule.multiplier)
    raise ValueError(f"side is buy or sell, not {side!r}")


def shares_for(budget_usd: float, limit: Decimal) -> int:
    """Whole shares whose cost at ``limit`` stays within ``budget_usd`` (0 when one share
    costs more). Computed in decimals, so $75 at $25.00 is exactly 3 shares."""
    if not math.isfinite(budget_usd) or budget_usd <= 0 or limit <= 0:
        return 0
    return int((Decimal(repr(float(budget_usd))) / limit).to_integral_value(rounding=ROUND_FLOOR))
