"""How many shares an entry buys, in one place (``docs/backtest.md``, "Sizing").

- ``fixed_dollars``: ``amount_usd`` worth at the fill price;
- ``percent_equity``: that percent of the account's equity;
- ``risk_per_trade``: the shares whose loss to the stop is that percent of the equity
  (shares = risk / |entry price - stop|);
- ``all_cash``: all the cash.

Always whole shares, never more than the cash buys, and never more than ``cap_usd``
(live trading's per-order budget, or the Kelly cap when smaller; the backtest passes it
when it applies live trading's gates). The cap is divided exactly (decimals), so $75 at
$25.00 is 3 shares, never 2.

The arithmetic is in plain scalar functions that the compiled account loop
(:mod:`kobe.backtest.loop`) compiles as they are, so both loops size by the same code:
:func:`floor_shares` (the float division, with :data:`NEAR_WHOLE` where only the exact
division can tell) and :func:`sized_count` (the cash and the cap). Only the exact decimal
division stays in Python (numba has no decimals): the compiled loop calls
:func:`whole_shares` back for it. This module never imports numba.
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal

from kobe.config.model import Sizing


def needs_equity(sizing: Sizing) -> bool:
    """Whether :func:`shares` reads the equity (live trading then asks the broker)."""
    return sizing.method in ("percent_equity", "risk_per_trade")


NEAR_WHOLE = -1
""":func:`floor_shares`'s answer where the float division cannot tell the whole shares."""


def floor_shares(dollars: float, price: float) -> int:
    """Whole shares ``dollars`` buys at ``price`` by the float division, 0 when none, or
    :data:`NEAR_WHOLE` when the ratio is so near a whole number that only the exact
    division (:func:`whole_shares`) can tell which side it falls."""
    if not (math.isfinite(dollars) and math.isfinite(price)) or dollars <= 0 or price <= 0:
        return 0
    ratio = dollars / price
    if abs(ratio - round(ratio)) > 1e-6:
        return int(ratio)                 # far from a whole number: the float floor is exact
    return NEAR_WHOLE


def whole_shares(dollars: float, price: float) -> int:
    """Whole shares ``dollars`` buys at ``price``, divided exactly; 0 when none."""
    count = floor_shares(dollars, price)
    if count != NEAR_WHOLE:
        return count
    # Near a whole number the float may fall either side (0.3 / 0.1): divide in decimals.
    return int((Decimal(repr(float(dollars))) / Decimal(repr(float(price)))).to_integral_value(rounding=ROUND_FLOOR))


def sized_count(wanted: float, cash: float, unit_cost: float, has_cap: bool, cap_usd: float) -> float:
    """The shares of an entry that wants ``wanted`` (any method's), within what ``cash``
    buys at ``unit_cost`` and, ``has_cap``, within ``cap_usd``: as a float, which
    :func:`shares` and the compiled loop turn into whole shares (NaN: none)."""
    affordable = cash // unit_cost if cash > 0 else 0.0
    # Python's min(a, b) spelled out (a unless b is smaller, so a NaN ``wanted`` stays):
    # numba's min() need not keep that answer when one side is NaN.
    count = affordable if affordable < wanted else wanted  # noqa: FURB136
    if has_cap and count * unit_cost > cap_usd:
        # whole_shares resolves here in Python; the compiled loop binds its compiled twin,
        # which calls whole_shares back for the exact division only.
        capped = whole_shares(cap_usd, unit_cost)
        count = capped if capped < count else count  # noqa: FURB136
    return count


def all_cash_wanted(cash: float, unit_cost: float, has_cap: bool, cap_usd: float) -> float:
    """What ``all_cash`` wants: all the cash, or the cap where the cash is unbounded (live)."""
    if math.isfinite(cash):
        return cash // unit_cost
    return (cap_usd if has_cap else 0.0) // unit_cost


def shares(sizing: Sizing, *, price: float, fill: float, stop: float | None, equity: float, cash: float,
           unit_cost: float, cap_usd: float | None = None) -> int:
    """Whole shares for one entry (the module doc); 0 when none fit.

    ``price`` is the entry price the levels use (the bar's open, or live the limit),
    ``fill`` what one share costs before commission, ``unit_cost`` with it.
    """
    if sizing.method == "fixed_dollars":
        wanted = (sizing.amount_usd or 0.0) // fill
    elif sizing.method == "percent_equity":
        wanted = (equity * (sizing.percent or 0.0) / 100) // fill
    elif sizing.method == "risk_per_trade":
        risk = abs(price - stop) if stop is not None else math.nan
        wanted = (equity * (sizing.percent or 0.0) / 100) // risk if risk > 0 else 0.0
    else:  # all_cash
        wanted = all_cash_wanted(cash, unit_cost, cap_usd is not None, cap_usd or 0.0)
    count = sized_count(wanted, cash, unit_cost, cap_usd is not None, cap_usd if cap_usd is not None else 0.0)
    return 0 if math.isnan(count) or count < 1 else int(count)   # NaN: a null stop sizes nothing
