"""Random bodies thrown at a running exchange: every answer is a 2xx or a 4xx in
Alpaca's error shape (``{"code": int, "message": str}``), never a 5xx or a dropped
connection, and after each one the exchange still answers its clock.

One exchange per property, kept across its examples: a request that poisoned the state
(a clock set to NaN, an order of 1e999999 shares) fails the next example's clock check,
and Hypothesis shrinks to it. ``KOBE_FUZZ_EXAMPLES=10000`` runs each property that many
times (200 by default, a few seconds)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stand_keys import KEY_ID, SECRET

from kobe.broker.exchange import ExchangeConfig, serve_exchange
from kobe.data.calendar import NEW_YORK

EXAMPLES = int(os.environ.get("KOBE_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = {"APCA-API-KEY-ID": KEY_ID, "APCA-API-SECRET-KEY": SECRET, "Content-Type": "application/json"}
RESTING = {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "limit", "time_in_force": "gtc", "limit_price": 100}

# -- what is thrown -----------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers() | st.integers(-(10**40), 10**40)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
numbers = st.one_of(
    # plausible: a body that gets past this field reaches the next check
    st.sampled_from([1, 5, 150, 150.5, "154.4", "0.5"]) | st.decimals(1, 1000, places=2).map(str),
    # out of range: huge, tiny, too many digits (each an unbounded space, so Hypothesis
    # keeps drawing from it rather than exhausting a fixed list)
    st.integers(20, 999_999).map(lambda e: f"1e{e}") | st.floats(1e20, 1e308) | st.integers(10**20, 10**60),
    st.integers(10, 999_999).map(lambda e: f"-1e{e}" if e % 2 else f"1e-{e}")
    | st.text("0123456789", min_size=29, max_size=80) | st.integers(-(10**12), 0),
    # not numbers, or not quite
    st.sampled_from(["nan", "NaN", "sNaN", "-nan", "inf", "-inf", "Infinity", "-Infinity", "", " 5 ", "0x10",
                     "1_000", "\u0663", "5e", "1e", "--1", True, False, None, [], {}])
    | st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True).map(str) | st.integers() | json_values)
"""Numbers as a hostile client writes them, next to plausible ones."""
VALID = [
    RESTING,
    {"symbol": "AAPL", "qty": 2, "side": "buy", "type": "limit", "time_in_force": "ioc", "limit_price": 160},
    {"symbol": "AAPL", "qty": "0.5", "side": "buy", "type": "market", "time_in_force": "day"},
    {"symbol": "KO", "qty": 3, "side": "buy", "type": "stop", "time_in_force": "gtc", "stop_price": 60},
    {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "stop_limit", "time_in_force": "day", "stop_price": 170,
     "limit_price": 171},
    {"symbol": "AAPL", "qty": 1, "side": "sell", "type": "limit", "time_in_force": "gtc", "order_class": "oco",
     "take_profit": {"limit_price": 170}, "stop_loss": {"stop_price": 140}},
]
"""Orders the exchange accepts: the fuzz changes a few fields of one, so most bodies get
past the first check and reach the arithmetic, the venue and the store."""
FIELDS = {
    "symbol": st.sampled_from(["AAPL", "MSFT", "aapl", "ZZZZ", ""]) | json_values,
    "qty": numbers,
    "side": st.sampled_from(["buy", "sell"]) | json_values,
    "type": st.sampled_from(["market", "limit", "stop", "stop_limit", "trailing_stop"]) | json_values,
    "time_in_force": st.sampled_from(["day", "gtc", "ioc", "fok", "opg", "cls"]) | json_values,
    "limit_price": numbers,
    "stop_price": numbers,
    "notional": numbers,
    "trail": numbers,
    "client_order_id": st.text(max_size=60) | json_values,
    "order_class": st.sampled_from(["simple", "oco", "bracket", ""]) | json_values,
    "take_profit": st.fixed_dictionaries({}, optional={"limit_price": numbers}) | json_values,
    "stop_loss": st.fixed_dictionaries({}, optional={"stop_price": numbers, "limit_price": numbers}) | json_values,
    "extended_hours": st.booleans() | json_values,
}

# The numbers are what the arithmetic meets: changed more often than the rest.
CHANGED = [*sorted(FIELDS), *["qty", "limit_price", "stop_price", "take_profit", "stop_loss"] * 6]


@st.composite
def orders(draw: st.DrawFn) -> dict[str, Any]:
    """A valid order with one to three fields changed to random values, or dropped."""
    order = dict(draw(st.sampled_from(VALID)))
    for name in draw(st.lists(st.sampled_from(CHANGED), min_size=1, max_size=3, unique=True)):
        if draw(st.integers(0, 9)) == 0:
            order.pop(name, None)
        else:
            order[name] = draw(FIELDS[name])
    return order


def _dumps(value: Any) -> bytes:
    # allow_nan: a NaN literal is among what a buggy client sends.
    return json.dumps(value, allow_nan=True).encode()


bodies = st.one_of(*[orders().map(_dumps)] * 8, json_values.map(_dumps), st.binary(max_size=64))
clock_moves = st.fixed_dictionaries({}, optional={
    "speed": numbers, "advance": numbers, "to": st.sampled_from(["next_open", "next_close"]) | json_values,
    "set": st.datetimes(timezones=st.just(dt.UTC)).map(dt.datetime.isoformat) | json_values,
}).map(_dumps) | json_values.map(_dumps)


# -- how it is thrown -----------------------------------------------------------------------

@pytest.fixture
def stand(tmp_path) -> Iterator[str]:
    config = ExchangeConfig(start=dt.datetime(2017, 6, 5, 10, 0, tzinfo=NEW_YORK), state=tmp_path / "x.sqlite",
                            key_id=KEY_ID, secret_key=SECRET, hang_seconds=1.0)
    with serve_exchange(config) as url:
        yield url


def send(url: str, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    """One request; the status and the JSON answer. A dropped connection raises."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=KEYS)
        answer = connection.getresponse()
        text = answer.read()
        return answer.status, json.loads(text) if text else None
    finally:
        connection.close()


def assert_vendor_answer(status: int, answer: Any) -> None:
    assert status < 500, answer
    if 200 <= status < 300:
        assert isinstance(answer, dict) and isinstance(answer["id"], str), answer
    else:
        assert 400 <= status < 500, answer
        assert isinstance(answer, dict), answer
        assert type(answer.get("code")) is int and isinstance(answer.get("message"), str), answer


def assert_serves(url: str) -> None:
    status, clock = send(url, "GET", "/v2/clock")
    assert status == 200 and isinstance(clock["is_open"], bool), clock


# -- the properties -------------------------------------------------------------------------

def test_random_order_bodies_get_a_vendor_answer_and_the_exchange_serves_on(stand) -> None:
    status, resting = send(stand, "POST", "/v2/orders", _dumps(RESTING))
    assert status == 200
    target = {"id": resting["id"]}

    @FUZZ
    @given(body=bodies, replace=st.booleans())
    def throw(body: bytes, replace: bool) -> None:
        if replace:
            status, order = send(stand, "GET", f"/v2/orders/{target['id']}")
            if order["status"] not in ("new", "accepted", "pending_new"):
                # Replaced to a fill, or expired: PATCH a working order again.
                order = send(stand, "POST", "/v2/orders", _dumps(RESTING))[1]
                target["id"] = order["id"]
            status, answer = send(stand, "PATCH", f"/v2/orders/{target['id']}", body)
            if status == 200:
                target["id"] = answer["id"]
        else:
            status, answer = send(stand, "POST", "/v2/orders", body)
        assert_vendor_answer(status, answer)
        assert_serves(stand)

    throw()


def test_random_clock_moves_get_an_admin_answer_and_the_exchange_serves_on(stand) -> None:
    @FUZZ
    @given(body=clock_moves)
    def throw(body: bytes) -> None:
        before = send(stand, "GET", "/admin/clock")[1]
        status, answer = send(stand, "POST", "/admin/clock", body)
        assert status in (200, 400, 409), answer
        assert isinstance(answer, dict) and isinstance(answer.get("now" if status == 200 else "message"), str)
        if status != 200 and before["speed"] == 0:
            assert send(stand, "GET", "/admin/clock")[1] == before   # refused: nothing moved
        assert_serves(stand)

    throw()
