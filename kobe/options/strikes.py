"""Picking a contract from a chain: the expiry nearest a number of days, then the strike
whose Black-Scholes-Merton delta is nearest a target.

Time to expiry is calendar days from the pricing date to the expiry date over 365
(Actual/365 Fixed, as :mod:`.pricing` counts theta's days). The target delta is a size,
``0.3`` for both the 30-delta call (delta +0.30) and the 30-delta put (delta -0.30).
Ties go to the earlier expiry and to the strike farther out of the money (the lower
delta): the cheaper contract when two are equally near.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from kobe.config.errors import Diagnostic, KobeError
from kobe.options.pricing import DAYS_PER_YEAR, Greeks, Inputs, OptionType, greeks


@dataclass(frozen=True)
class Contract:
    """One listed contract: its OCC symbol, expiry, type and strike."""

    symbol: str
    expiry: dt.date
    kind: OptionType
    strike: float


@dataclass(frozen=True)
class Quote:
    """A contract priced: its Greeks at the given spot, rates and volatility."""

    contract: Contract
    days: int
    greeks: Greeks


def nearest_expiry(expiries: Sequence[dt.date], today: dt.date, days: int) -> dt.date:
    """The expiry after ``today`` nearest ``today + days`` (ties: the earlier)."""
    ahead = sorted({e for e in expiries if e > today})
    if not ahead:
        raise KobeError(Diagnostic(f"no expiry after {today} in the chain", hint="another --date, or another symbol"))
    target = today + dt.timedelta(days=days)
    return min(ahead, key=lambda e: (abs((e - target).days), e))


def price_expiry(chain: Sequence[Contract], expiry: dt.date, kind: OptionType, today: dt.date, *, spot: float,
                 rate: float, dividend: float, vol: float) -> list[Quote]:
    """The contracts of one expiry and type, by strike, each with its Greeks."""
    days = (expiry - today).days
    return [Quote(c, days, greeks(Inputs(kind, spot, c.strike, rate, dividend, vol, days / DAYS_PER_YEAR)))
            for c in sorted(chain, key=lambda c: c.strike) if c.expiry == expiry and c.kind == kind]


def pick(chain: Sequence[Contract], kind: OptionType, today: dt.date, *, days: int, delta: float, spot: float,
         rate: float, dividend: float, vol: float) -> tuple[Quote, list[Quote]]:
    """The contract of the expiry nearest ``days`` whose |delta| is nearest ``delta``,
    and every contract of that expiry and type priced (module doc)."""
    if not 0 < delta < 1:
        raise KobeError(Diagnostic(f"target delta {delta!r} is not between 0 and 1 (excluded)", file="--delta",
                                   hint="a size: 0.3 picks the +0.30 call or the -0.30 put"))
    expiry = nearest_expiry([c.expiry for c in chain if c.kind == kind], today, days)
    quotes = price_expiry(chain, expiry, kind, today, spot=spot, rate=rate, dividend=dividend, vol=vol)
    best = min(quotes, key=lambda q: (abs(abs(q.greeks.delta) - delta), abs(q.greeks.delta)))
    return best, quotes
