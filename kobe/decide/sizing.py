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
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal

from kobe.config.model import Sizing


def needs_equity(sizing: Sizing) -> bool:
    """Whether :func:`shares` reads the equity (live trading then asks the broker)."""
    return sizing.method in ("percent_equity", "risk_per_trade")


def whole_shares(dollars: float, price: float) -> int:
    """Whole shares ``dollars`` buys at ``price``, divided exactly; 0 when none."""
    if not (math.isfinite(dollars) and math.isfinite(price)) or dollars <= 0 or price <= 0:
        return 0
    ratio = dollars / price
    if abs(ratio - round(ratio)) > 1e-6:
        return int(ratio)                 # far from a whole number: the float floor is exact
    # Near a whole number the float may fall either side (0.3 / 0.1): divide in decimals.
    return int((Decimal(repr(float(dollars))) / Decimal(repr(float(price)))).to_integral_value(rounding=ROUND_FLOOR))


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
        wanted = cash // unit_cost if math.isfinite(cash) else (cap_usd or 0.0) // unit_cost
    affordable = cash // unit_cost if cash > 0 else 0.0
    count = min(wanted, affordable)
    if cap_usd is not None and count * unit_cost > cap_usd:
        count = min(count, whole_shares(cap_usd, unit_cost))
    return 0 if math.isnan(count) or count < 1 else int(count)   # NaN: a null stop sizes nothing
