"""kobe.options.pricing against QuantLib's AnalyticEuropeanEngine (a
BlackScholesMertonProcess on flat curves), put-call parity, finite differences, implied
volatility round trips and the limits."""

from __future__ import annotations

import itertools
import math

import pytest
import QuantLib as ql  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from kobe.config.errors import KobeError
from kobe.options.pricing import Greeks, Inputs, bounds, greeks, implied_vol, price

TODAY = ql.Date(15, 6, 2020)
DC = ql.Actual365Fixed()


def quantlib(kind: str, s: float, k: float, r: float, q: float, v: float, days: int) -> dict[str, float]:
    """QuantLib's price and Greeks; T = days / 365 exactly (Actual/365 Fixed), rates
    continuously compounded (FlatForward's default)."""
    ql.Settings.instance().evaluationDate = TODAY
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(s)), ql.YieldTermStructureHandle(ql.FlatForward(TODAY, q, DC)),
        ql.YieldTermStructureHandle(ql.FlatForward(TODAY, r, DC)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(TODAY, ql.NullCalendar(), v, DC)))
    option = ql.EuropeanOption(ql.PlainVanillaPayoff(ql.Option.Call if kind == "call" else ql.Option.Put, k),
                               ql.EuropeanExercise(TODAY + days))
    option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    # QuantLib's vega and rho are per 1.00 of vol and rate, theta per year, thetaPerDay theta / 365: ours too.
    return {"price": option.NPV(), "delta": option.delta(), "gamma": option.gamma(), "vega": option.vega(),
            "theta": option.theta(), "theta_per_day": option.thetaPerDay(), "rho": option.rho()}


GRID = list(itertools.product(("call", "put"), (50.0, 100.0, 180.0), (60.0, 100.0, 150.0), (0.0, 0.05, -0.01),
                              (0.0, 0.03), (0.05, 0.25, 1.2), (1, 30, 365, 1000)))


@pytest.mark.parametrize(("kind", "s", "k", "r", "q", "v", "days"), GRID)
def test_prices_and_greeks_are_quantlib_s(kind: str, s: float, k: float, r: float, q: float, v: float,
                                          days: int) -> None:
    ours = greeks(Inputs(kind, s, k, r, q, v, days / 365)).as_dict()  # type: ignore[arg-type]
    for name, theirs in quantlib(kind, s, k, r, q, v, days).items():
        assert ours[name] == pytest.approx(theirs, rel=1e-10, abs=1e-10), name


@given(s=st.floats(1, 1000), k=st.floats(1, 1000), r=st.floats(-0.05, 0.2), q=st.floats(0, 0.1),
       v=st.floats(0.01, 3), t=st.floats(0.001, 10))
def test_put_call_parity(s: float, k: float, r: float, q: float, v: float, t: float) -> None:
    call, put = (greeks(Inputs(kind, s, k, r, q, v, t)) for kind in ("call", "put"))  # type: ignore[arg-type]
    forward = s * math.exp(-q * t) - k * math.exp(-r * t)
    assert call.price - put.price == pytest.approx(forward, abs=1e-9 * max(s, k))
    assert call.delta - put.delta == pytest.approx(math.exp(-q * t), abs=1e-12)
    assert call.gamma == put.gamma and call.vega == put.vega


@pytest.mark.parametrize(("kind", "s", "k", "r", "q", "v", "t"), [
    ("call", 100, 100, 0.05, 0.02, 0.2, 0.5), ("put", 100, 120, 0.01, 0.0, 0.35, 2.0),
    ("call", 80, 100, 0.03, 0.04, 0.6, 0.1), ("put", 150, 100, -0.01, 0.01, 0.15, 1.0)])
def test_greeks_are_the_price_s_finite_differences(kind: str, s: float, k: float, r: float, q: float, v: float,
                                                   t: float) -> None:
    def p(**change: float) -> float:
        args = {"spot": s, "strike": k, "rate": r, "dividend": q, "vol": v, "years": t} | change
        return price(Inputs(kind, **args))  # type: ignore[arg-type]

    def slope(name: str, x: float, h: float) -> float:
        """The five-point central difference (error O(h^4)): a three-point one's O(h^2)
        error is 1e-6 where the third derivative is large (out of the money, low vol)."""
        return (-p(**{name: x + 2 * h}) + 8 * p(**{name: x + h}) - 8 * p(**{name: x - h})
                + p(**{name: x - 2 * h})) / (12 * h)

    g = greeks(Inputs(kind, s, k, r, q, v, t))  # type: ignore[arg-type]
    assert g.delta == pytest.approx(slope("spot", s, 1e-2), rel=1e-6, abs=1e-9)
    h = 1e-2
    curvature = (-p(spot=s + 2 * h) + 16 * p(spot=s + h) - 30 * p() + 16 * p(spot=s - h) - p(spot=s - 2 * h)) \
        / (12 * h * h)
    assert g.gamma == pytest.approx(curvature, rel=1e-6, abs=1e-9)
    assert g.vega == pytest.approx(slope("vol", v, 1e-3), rel=1e-6, abs=1e-9)
    assert g.rho == pytest.approx(slope("rate", r, 1e-3), rel=1e-6, abs=1e-9)
    # Theta is the change as time passes: minus the derivative in time to expiry.
    assert g.theta == pytest.approx(-slope("years", t, 1e-3), rel=1e-6, abs=1e-9)
    assert g.theta_per_day == pytest.approx(g.theta / 365, rel=1e-15)


@settings(max_examples=300)
@given(kind=st.sampled_from(["call", "put"]), s=st.floats(1, 1000), moneyness=st.floats(0.5, 2.0),
       r=st.floats(-0.02, 0.1), q=st.floats(0, 0.08), v=st.floats(0.01, 4.0), t=st.floats(0.01, 5))
def test_implied_vol_round_trips(kind: str, s: float, moneyness: float, r: float, q: float, v: float,
                                 t: float) -> None:
    k = s * moneyness
    g = greeks(Inputs(kind, s, k, r, q, v, t))  # type: ignore[arg-type]
    low, high = bounds(kind, s, k, r, q, t)  # type: ignore[arg-type]
    if not low < g.price < high:
        return   # the price rounds onto a bound: no volatility to recover
    iv = implied_vol(kind, g.price, s, k, r, q, t)  # type: ignore[arg-type]
    back = price(Inputs(kind, s, k, r, q, iv, t))  # type: ignore[arg-type]
    assert back == pytest.approx(g.price, rel=1e-10, abs=1e-12 * s)
    if g.vega > 1e-4 * s:   # where the price says something about the volatility
        assert iv == pytest.approx(v, rel=1e-7)


def test_no_implied_vol_outside_the_bounds() -> None:
    # A call on 100 struck at 80, r = q = 0, one year: bounds [20, 100).
    with pytest.raises(KobeError) as err:
        implied_vol("call", 19.99, 100, 80, 0, 0, 1)
    assert "below the call's lower bound" in err.value.render() and "[20, 100)" in err.value.render()
    with pytest.raises(KobeError, match="upper bound"):
        implied_vol("call", 100, 100, 80, 0, 0, 1)
    with pytest.raises(KobeError, match="T = 0"):
        implied_vol("put", 5, 100, 80, 0, 0, 0)
    assert implied_vol("call", 20, 100, 80, 0, 0, 1) == 0.0
    with pytest.raises(KobeError, match="price nan"):
        implied_vol("call", math.nan, 100, 80, 0, 0, 1)


def test_the_limits_at_expiry_and_without_volatility() -> None:
    itm = greeks(Inputs("call", 110, 100, 0.05, 0.0, 0.2, 0.0))
    assert (itm.price, itm.delta, itm.gamma, itm.vega, itm.rho, itm.d1) == (10.0, 1.0, 0.0, 0.0, 0.0, None)
    otm = greeks(Inputs("put", 110, 100, 0.05, 0.0, 0.2, 0.0))
    assert (otm.price, otm.delta, otm.gamma) == (0.0, 0.0, 0.0)
    # No volatility, a year to go: the discounted intrinsic value of the forward.
    flat = greeks(Inputs("call", 100, 100, 0.05, 0.0, 0.0, 1.0))
    assert flat.price == pytest.approx(100 - 100 * math.exp(-0.05))
    assert flat.delta == 1.0 and flat.theta == pytest.approx(-0.05 * 100 * math.exp(-0.05))
    # The limit is continuous: a tiny volatility gives almost the same figures.
    near = greeks(Inputs("call", 100, 100, 0.05, 0.0, 1e-9, 1.0))
    assert near.price == pytest.approx(flat.price, abs=1e-9) and near.delta == pytest.approx(1.0)
    # And as T -> 0: a millisecond before expiry is the expiry's figures.
    soon = greeks(Inputs("call", 110, 100, 0.05, 0.0, 0.2, 1e-11))
    assert soon.price == pytest.approx(10.0, abs=1e-9) and soon.delta == 1.0 and soon.gamma == 0.0
    with pytest.raises(KobeError, match="gamma is unbounded"):
        greeks(Inputs("call", 100, 100, 0.0, 0.0, 0.3, 0.0))
    assert price(Inputs("call", 100, 100, 0.0, 0.0, 0.3, 0.0)) == 0.0


@pytest.mark.parametrize(("kind", "s", "k"), [("call", 1, 1e6), ("put", 1e6, 1), ("call", 1e6, 1), ("put", 1, 1e6)])
def test_deep_in_and_out_of_the_money_are_numbers(kind: str, s: float, k: float) -> None:
    g = greeks(Inputs(kind, s, k, 0.05, 0.01, 0.3, 2.0))  # type: ignore[arg-type]
    assert all(math.isfinite(x) for x in g.as_dict().values() if x is not None)
    assert g.price >= 0


@pytest.mark.parametrize(("field", "value"), [("spot", 0.0), ("spot", math.nan), ("strike", -1.0),
                                              ("vol", -0.1), ("vol", math.inf), ("years", -1.0), ("rate", 5.0)])
def test_bad_inputs_are_errors_naming_them(field: str, value: float) -> None:
    args = {"kind": "call", "spot": 100.0, "strike": 100.0, "rate": 0.0, "dividend": 0.0, "vol": 0.2, "years": 1.0}
    with pytest.raises(KobeError) as err:
        Inputs(**{**args, field: value})  # type: ignore[arg-type]
    assert err.value.diagnostics[0].file == "--" + ("expiry-years" if field == "years" else field)


def test_greeks_is_a_frozen_record() -> None:
    assert set(Greeks.__dataclass_fields__) == {"price", "delta", "gamma", "vega", "theta", "theta_per_day", "rho",
                                                "d1", "d2"}


@settings(max_examples=500)
@given(kind=st.sampled_from(["call", "put"]), s=st.floats(1e-9, 1e9), k=st.floats(1e-9, 1e9),
       r=st.floats(-1, 1), q=st.floats(-1, 1), v=st.one_of(st.just(0.0), st.floats(0, 10)),
       t=st.one_of(st.just(0.0), st.floats(0, 100)))
def test_any_valid_input_gives_numbers_or_a_message(kind: str, s: float, k: float, r: float, q: float, v: float,
                                                    t: float) -> None:
    try:
        g = greeks(Inputs(kind, s, k, r, q, v, t))  # type: ignore[arg-type]
    except KobeError as err:
        assert err.render()
        return
    assert all(math.isfinite(x) for x in g.as_dict().values() if x is not None)


@settings(max_examples=300)
@given(kind=st.sampled_from(["call", "put"]), p=st.floats(0, 1e9), s=st.floats(1e-9, 1e9), k=st.floats(1e-9, 1e9),
       r=st.floats(-1, 1), q=st.floats(-1, 1), t=st.one_of(st.just(0.0), st.floats(0, 100)))
def test_implied_vol_is_a_number_or_a_message(kind: str, p: float, s: float, k: float, r: float, q: float,
                                              t: float) -> None:
    try:
        iv = implied_vol(kind, p, s, k, r, q, t)  # type: ignore[arg-type]
    except KobeError as err:
        assert "bound" in err.render() or "T = 0" in err.render() or "above 10" in err.render()
        return
    assert math.isfinite(iv) and 0 <= iv <= 10
