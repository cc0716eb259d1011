"""Black-Scholes-Merton prices, Greeks and implied volatility of European options.

The model is the generalised Black-Scholes of Merton (1973) with a continuous dividend
yield ``q`` (Hull, *Options, Futures, and Other Derivatives*, 11th ed., ch. 15, 17 and 19;
Haug, *The Complete Guide to Option Pricing Formulas*, 2nd ed., 1.1.6 and ch. 2)::

    d1 = (ln(S/K) + (r - q + sigma^2/2) T) / (sigma sqrt(T)),   d2 = d1 - sigma sqrt(T)
    call = S e^(-qT) N(d1) - K e^(-rT) N(d2)
    put  = K e^(-rT) N(-d2) - S e^(-qT) N(-d1)

Conventions (docs/options.md): ``T`` in years, ``r`` and ``q`` continuously compounded
per year, ``sigma`` per year (0.2 is 20 %). ``vega`` and ``rho`` are per 1.00 of
volatility and of rate (a move of 0.01 changes the price by vega / 100); ``theta`` is
per year (the price's change as calendar time passes, -dV/dT) and ``theta_per_day`` is
theta / 365, per calendar day, as QuantLib's ``thetaPerDay``.

Limits: when ``sigma sqrt(T)`` is 0 (expiry, or no volatility) the option is worth its
discounted forward intrinsic value, ``e^(-rT) max(F - K, 0)`` for a call with
``F = S e^((r - q) T)``, and its Greeks are the limits of the formulas (delta a step,
gamma and vega 0), except at the kink ``F = K``, where gamma is unbounded: that is a
:class:`KobeError`, never an infinity or a NaN.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

from scipy.optimize import brentq  # type: ignore[import-untyped]
from scipy.special import ndtr  # type: ignore[import-untyped]

from kobe.config.errors import Diagnostic, KobeError

OptionType = Literal["call", "put"]
TYPES: tuple[OptionType, ...] = ("call", "put")

# The inputs' ranges: wide enough for any listed option, narrow enough that no
# exponential overflows (e^(-rT) with |r| T <= 100) and no price loses every digit.
MAX_PRICE = 1e9
MAX_RATE = 1.0          # |r|, |q| per year
MAX_VOL = 10.0          # 1000 % a year
MAX_YEARS = 100.0
DAYS_PER_YEAR = 365.0   # theta_per_day: calendar days, as Hull and QuantLib count them
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Inputs:
    """One option: ``kind`` call or put, spot ``S``, strike ``K``, rate ``r``, dividend
    yield ``q``, volatility ``sigma`` and time to expiry ``T`` in years."""

    kind: OptionType
    spot: float
    strike: float
    rate: float
    dividend: float
    vol: float
    years: float

    def __post_init__(self) -> None:
        check_inputs(self.kind, self.spot, self.strike, self.rate, self.dividend, self.vol, self.years)


@dataclass(frozen=True)
class Greeks:
    """A price and its sensitivities (module doc for the units)."""

    price: float
    delta: float
    gamma: float
    vega: float            # per 1.00 of volatility
    theta: float           # per year
    theta_per_day: float   # per calendar day: theta / 365
    rho: float             # per 1.00 of rate
    d1: float | None       # None when sigma sqrt(T) is 0 (the limits apply)
    d2: float | None

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def _bad(name: str, value: float, expected: str) -> Diagnostic:
    return Diagnostic(f"{name} {value!r} is not {expected}", file=f"--{name}")


def check_inputs(kind: str, spot: float, strike: float, rate: float, dividend: float, vol: float,
                 years: float) -> None:
    """Every out-of-range input at once, as a :class:`KobeError` naming the option."""
    problems: list[Diagnostic] = []
    if kind not in TYPES:
        problems.append(Diagnostic(f"option type {kind!r} is not call or put", file="--type"))

    def within(name: str, value: float, low: float, high: float, low_open: bool) -> None:
        ok = math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
        if not ok:
            problems.append(_bad(name, value, f"a number from {low:g}{' (excluded)' if low_open else ''} to {high:g}"))

    within("spot", spot, 0.0, MAX_PRICE, True)
    within("strike", strike, 0.0, MAX_PRICE, True)
    within("rate", rate, -MAX_RATE, MAX_RATE, False)
    within("dividend", dividend, -MAX_RATE, MAX_RATE, False)
    within("vol", vol, 0.0, MAX_VOL, False)
    within("expiry-years", years, 0.0, MAX_YEARS, False)
    if problems:
        raise KobeError(problems)


def _norm_pdf(x: float) -> float:
    return INV_SQRT_2PI * math.exp(-0.5 * x * x) if math.isfinite(x) else 0.0


def _d(o: Inputs) -> tuple[float, float, bool] | None:
    """d1, d2 and whether sigma sqrt(T) is positive. When it is 0 (or ``S sigma sqrt(T)``
    underflows to 0) the forward decides: ln(F/K) > 0 sends d1 and d2 to +inf, < 0 to
    -inf; at F = K (``None``) the price is 0 but delta has no limit and gamma none."""
    s, k, r, q, sigma, t = o.spot, o.strike, o.rate, o.dividend, o.vol, o.years
    sd = sigma * math.sqrt(t)
    if sd > 0.0 and s * sd > 0.0:
        d1 = (math.log(s / k) + (r - q + 0.5 * sigma * sigma) * t) / sd
        return d1, d1 - sd, True
    log_moneyness = math.log(s / k) + (r - q) * t
    if log_moneyness == 0.0:
        return None
    d = math.inf if log_moneyness > 0 else -math.inf
    return d, d, False


def _price(o: Inputs, d1: float, d2: float) -> float:
    sign = 1.0 if o.kind == "call" else -1.0
    value = sign * (o.spot * math.exp(-o.dividend * o.years) * float(ndtr(sign * d1))
                    - o.strike * math.exp(-o.rate * o.years) * float(ndtr(sign * d2)))
    # A price of 0 can come out a rounding error below it (deep out of the money).
    return max(value, 0.0)


def greeks(o: Inputs) -> Greeks:
    """The price and every Greek of ``o`` (Hull ch. 19; Haug ch. 2)."""
    s, k, r, q, sigma, t = o.spot, o.strike, o.rate, o.dividend, o.vol, o.years
    found = _d(o)
    if found is None:
        raise KobeError(Diagnostic(
            "at the money with sigma * sqrt(T) = 0: the price is 0 but delta jumps and gamma is unbounded",
            file="--expiry-years" if t == 0.0 else "--vol",
            hint="give a positive volatility and time to expiry, or a strike off the forward "
                 f"{s * math.exp((r - q) * t):.10g}"))
    d1, d2, diffuse = found
    df_q, df_r = math.exp(-q * t), math.exp(-r * t)
    sign = 1.0 if o.kind == "call" else -1.0
    if diffuse:
        sd = sigma * math.sqrt(t)
        pdf = _norm_pdf(d1)
        gamma = df_q * pdf / (s * sd)
        vega = s * df_q * pdf * math.sqrt(t)
        # dV/dT's volatility term, -S e^(-qT) n(d1) sigma / (2 sqrt T); diffuse means T > 0.
        decay = -s * df_q * pdf * sigma / (2.0 * math.sqrt(t))
    else:
        gamma = vega = decay = 0.0     # the limits off the kink
    n_d1, n_d2 = float(ndtr(sign * d1)), float(ndtr(sign * d2))
    delta = sign * df_q * n_d1
    theta = decay - sign * r * k * df_r * n_d2 + sign * q * s * df_q * n_d1
    rho = sign * k * t * df_r * n_d2
    out = Greeks(_price(o, d1, d2), delta, gamma, vega, theta, theta / DAYS_PER_YEAR, rho,
                 d1 if diffuse else None, d2 if diffuse else None)
    broken = [name for name, value in out.as_dict().items() if value is not None and not math.isfinite(value)]
    if broken:
        # Only extreme corners get here (sigma sqrt(T) so small, at the money, that gamma
        # overflows a float): say so rather than print an infinity.
        raise KobeError(Diagnostic(f"{', '.join(broken)} overflow{'s' if len(broken) == 1 else ''} a float at "
                                   f"sigma * sqrt(T) = {sigma * math.sqrt(t):.3g}", file="--vol",
                                   hint="a volatility and time to expiry this small are the limit sigma = 0"))
    return out


def price(o: Inputs) -> float:
    """The Black-Scholes-Merton price of ``o``; the limit at ``sigma sqrt(T) = 0`` is
    defined everywhere, at the money too (0)."""
    found = _d(o)
    return 0.0 if found is None else _price(o, found[0], found[1])


def bounds(kind: OptionType, spot: float, strike: float, rate: float, dividend: float,
           years: float) -> tuple[float, float]:
    """The no-arbitrage bounds of a European option's price (Hull ch. 11, 17): a call lies
    in [max(S e^(-qT) - K e^(-rT), 0), S e^(-qT)), a put in [max(K e^(-rT) - S e^(-qT), 0),
    K e^(-rT)). The lower bound is the price at volatility 0, the upper its limit as
    volatility grows without bound."""
    fwd_s, fwd_k = spot * math.exp(-dividend * years), strike * math.exp(-rate * years)
    if kind == "call":
        return max(fwd_s - fwd_k, 0.0), fwd_s
    return max(fwd_k - fwd_s, 0.0), fwd_k


def implied_vol(kind: OptionType, price_: float, spot: float, strike: float, rate: float, dividend: float,
                years: float) -> float:
    """The volatility at which the model's price is ``price_``: brentq on
    ``price(sigma) - price_`` over [0, hi], hi doubled from 1 until its price exceeds
    ``price_`` (the price rises strictly with sigma when T > 0, so the root is unique).

    A price at the lower bound has implied volatility 0; one below it, at or above the
    upper bound, or any price at T = 0 (every volatility gives the intrinsic value) has
    none: a :class:`KobeError` with the bounds."""
    check_inputs(kind, spot, strike, rate, dividend, 0.0, years)
    if not (math.isfinite(price_) and 0.0 <= price_ <= MAX_PRICE):
        raise KobeError(_bad("price", price_, f"a number from 0 to {MAX_PRICE:g}"))
    low, high = bounds(kind, spot, strike, rate, dividend, years)
    where = f"the no-arbitrage bounds of this {kind} are [{low:.10g}, {high:.10g})"
    if years == 0.0:
        raise KobeError(Diagnostic("at expiry (T = 0) every volatility gives the intrinsic value: "
                                   "there is no implied volatility", file="--expiry-years", hint=where))
    if price_ < low:
        raise KobeError(Diagnostic(f"price {price_!r} is below the {kind}'s lower bound (intrinsic value of the "
                                   "forward): no volatility gives it", file="--price", hint=where))
    if price_ >= high:
        raise KobeError(Diagnostic(f"price {price_!r} is at or above the {kind}'s upper bound: no finite "
                                   "volatility gives it", file="--price", hint=where))
    if price_ == low:
        return 0.0

    def gap(sigma: float) -> float:
        return price(Inputs(kind, spot, strike, rate, dividend, sigma, years)) - price_

    hi = 1.0
    while gap(hi) <= 0.0:
        if hi >= MAX_VOL:
            raise KobeError(Diagnostic(f"price {price_!r} needs a volatility above {MAX_VOL:g} (1000 % a year)",
                                       file="--price", hint=where))
        hi = min(2.0 * hi, MAX_VOL)
    if gap(0.0) >= 0.0:
        # A price a rounding error above the lower bound: the model cannot tell it from 0.
        return 0.0
    root = brentq(gap, 0.0, hi, xtol=1e-15, rtol=4 * 2.220446049250313e-16, maxiter=500)
    return float(root)
