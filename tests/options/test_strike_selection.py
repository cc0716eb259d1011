"""kobe.options.strikes: the expiry nearest N days, then the strike nearest a target delta."""

from __future__ import annotations

import datetime as dt

import pytest

from kobe.config.errors import KobeError
from kobe.options.pricing import Inputs, greeks
from kobe.options.strikes import Contract, nearest_expiry, pick

TODAY = dt.date(2024, 1, 2)
EXPIRIES = [dt.date(2024, 1, 19), dt.date(2024, 2, 16), dt.date(2024, 3, 15)]
CHAIN = [Contract(f"X{e:%y%m%d}{k[0].upper()}{int(s * 1000):08d}", e, k, s)  # type: ignore[arg-type]
         for e in EXPIRIES for k in ("call", "put") for s in range(70, 135, 5)]


def test_nearest_expiry_and_its_ties() -> None:
    assert nearest_expiry(EXPIRIES, TODAY, 30) == dt.date(2024, 1, 19)   # Feb 1: the 19th is 13 days off, the 16th 15
    assert nearest_expiry(EXPIRIES, TODAY, 40) == dt.date(2024, 2, 16)
    assert nearest_expiry(EXPIRIES, TODAY, 1) == dt.date(2024, 1, 19)
    # Jan 19 is 17 days out, Feb 16 45: 31 days is 14 from both; the earlier wins.
    assert nearest_expiry(EXPIRIES, TODAY, 31) == dt.date(2024, 1, 19)
    with pytest.raises(KobeError, match="no expiry after"):
        nearest_expiry(EXPIRIES, dt.date(2024, 3, 15), 30)


@pytest.mark.parametrize("kind", ["call", "put"])
@pytest.mark.parametrize("target", [0.1, 0.3, 0.5, 0.8])
def test_pick_is_the_nearest_delta_by_brute_force(kind: str, target: float) -> None:
    best, quotes = pick(CHAIN, kind, TODAY, days=40, delta=target,  # type: ignore[arg-type]
                        spot=100, rate=0.04, dividend=0.01, vol=0.3)
    assert best.contract.expiry == dt.date(2024, 2, 16) and best.days == 45
    assert [q.contract.strike for q in quotes] == list(range(70, 135, 5))
    deltas = {s: greeks(Inputs(kind, 100, s, 0.04, 0.01, 0.3, 45 / 365)).delta  # type: ignore[arg-type]
              for s in range(70, 135, 5)}
    assert best.contract.strike == min(deltas, key=lambda s: abs(abs(deltas[s]) - target))
    assert (best.greeks.delta > 0) == (kind == "call")


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.3])
def test_a_target_delta_outside_0_1_is_an_error(bad: float) -> None:
    with pytest.raises(KobeError, match="--delta|between 0 and 1"):
        pick(CHAIN, "call", TODAY, days=30, delta=bad, spot=100, rate=0, dividend=0, vol=0.2)
