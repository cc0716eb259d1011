"""What a simulated fill costs: the spread, the slippage and the commission, in one place.

Daily bars have one price per moment (the open, a stop level, the close), read as the
**mid** of the quote. Every order pays, in this order (``docs/backtest.md``, "Costs"):

1. **the half-spread**: a buy fills at the ask, ``price x (1 + spread_bps / 20,000)``, a
   sell at the bid, ``price x (1 - spread_bps / 20,000)``. ``spread_bps`` is the full
   quoted spread (ask - bid) in basis points of the mid, so each side pays half of it and
   a round trip the whole of it. That is how ``kobe exchange --spread-bps`` quotes too;
2. **the slippage**, beyond the quote: ``slippage_bps`` worse again (a buy at
   ``ask x (1 + slippage_bps / 10,000)``, a sell at ``bid x (1 - slippage_bps / 10,000)``),
   for the impact and the moves between the decision and the fill;
3. **the commission**, per order: ``commission_per_share`` x shares plus
   ``commission_bps`` of the filled value, and at least ``commission_min_usd``.

An order's direction is signed: +1 buys (a long's entry, a short's cover), -1 sells (a
long's exit, a short's entry); quantities may be signed too, the commission reads their
size. With every setting at zero a fill is the bar's price itself.

The arithmetic is in plain scalar functions (:func:`quote_prices`, :func:`fill_price`,
:func:`commission_fee`, :func:`unit_cost_of`, :func:`affordable_shares`) that :class:`Costs` calls and the compiled account loop
(:mod:`kobe.backtest.loop`) compiles as they are: one rule for both loops. They use only
what numba compiles (floats, ``math``, no objects), and this module never imports numba.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kobe.config.model import BacktestSettings

BUY, SELL = 1, -1


def quote_prices(price: float, half: float) -> tuple[float, float]:
    """:meth:`Costs.quote` with the half-spread as a rate."""
    return price * (1 - half), price * (1 + half)


def borrow_rate_per_day(bps_per_year: float) -> float:
    """A short's stock-loan fee per dollar of its entry value and per calendar day:
    ``borrow_bps_per_year`` over 360 (actual/360, the US money-market day count)."""
    return bps_per_year / 1e4 / 360


def borrow_fee(shares: float, fill: float, rate_per_day: float, days: float) -> float:
    """What a short of ``shares`` sold at ``fill`` owes for ``days`` calendar days held."""
    return shares * fill * rate_per_day * days


def unit_cost_of(fill: float, per_share: float, bps: float) -> float:
    """:meth:`Costs.unit_cost` with its settings as numbers."""
    return fill * (1 + bps / 1e4) + per_share


def fill_price(price: float, direction: int, half: float, slip: float) -> float:
    """:meth:`Costs.fill` with its settings as rates: ``half`` the half-spread,
    ``slip`` the slippage, both fractions of the price."""
    # With no spread the factor is exactly 1.0: the fills of a spread-free account are
    # bit for bit those of slippage alone.
    return price * (1 + direction * half) * (1 + direction * slip)


def commission_fee(quantity: float, fill: float, per_share: float, bps: float, minimum: float) -> float:
    """:meth:`Costs.commission` with its settings as numbers."""
    size = abs(quantity)
    if size == 0:
        return 0.0
    fee = size * per_share + size * fill * bps / 1e4
    # Python's max(fee, minimum) spelled out (numba's max need not keep a NaN fee the same way).
    return minimum if minimum > fee else fee  # noqa: FURB136


def affordable_shares(cash: float, fill: float, unit_cost: float, minimum: float) -> float:
    """:meth:`Costs.affordable` with its settings as numbers (``unit_cost`` of ``fill``)."""
    if not math.isfinite(cash):
        return math.inf
    most = cash // unit_cost
    if minimum > 0:
        within = (cash - minimum) // fill
        most = within if within < most else most  # noqa: FURB136 - Python's min(most, within), spelled out for numba
    return most


@dataclass(frozen=True)
class Costs:
    """The cost settings of one account (the module doc)."""

    slippage_bps: float = 0.0
    commission_per_share: float = 0.0
    commission_bps: float = 0.0
    spread_bps: float = 0.0
    commission_min_usd: float = 0.0

    @classmethod
    def of(cls, settings: BacktestSettings) -> Costs:
        return cls(settings.slippage_bps, settings.commission_per_share, settings.commission_bps,
                   settings.spread_bps, settings.commission_min_usd)

    def quote(self, price: float) -> tuple[float, float]:
        """The bid and ask around a bar's ``price`` (the mid), before slippage."""
        return quote_prices(price, self.spread_bps / 20_000)

    def fill(self, price: float, direction: int) -> float:
        """The price an order in ``direction`` (:data:`BUY` or :data:`SELL`) pays or
        receives per share for a bar's ``price``: its side of the quote, then the slippage."""
        return fill_price(price, direction, self.spread_bps / 20_000, self.slippage_bps / 1e4)

    def commission(self, quantity: float, fill: float) -> float:
        """What one order of ``quantity`` shares (signed or not) at ``fill`` pays the
        broker: per share plus a share of the value, at least the minimum; nothing for no
        shares (no order was sent)."""
        return commission_fee(quantity, fill, self.commission_per_share, self.commission_bps,
                              self.commission_min_usd)

    def unit_cost(self, fill: float) -> float:
        """Cash one share ties up at ``fill``, its share of the commission included
        (the minimum aside: see :meth:`affordable`)."""
        return unit_cost_of(fill, self.commission_per_share, self.commission_bps)

    def affordable(self, cash: float, fill: float) -> float:
        """The most whole shares whose cost at ``fill``, commission included, ``cash``
        pays for: within ``cash // unit_cost`` and, where the order's commission would be
        the minimum, within ``(cash - commission_min_usd) // fill``. 0 or less when none."""
        return affordable_shares(cash, fill, self.unit_cost(fill), self.commission_min_usd)
