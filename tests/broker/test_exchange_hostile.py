"""Hostile HTTP against a running exchange: every request is answered with a status in
the called API's JSON error shape (docs/exchange.md, *Limits*), and afterwards the
exchange still serves: its clock answers and a valid order is accepted.

Malformed requests go out over raw sockets or http.client, below what any vendor client
would let through; the exchange's own answers are read raw too."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.client
import json
import math
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from stand_keys import KEY_ID, POLYGON_KEY, SECRET

from kobe.broker.exchange import ExchangeConfig, ExchangeServer, server
from kobe.broker.exchange.clock import ExchangeClock, clock_range
from kobe.broker.exchange.routing import Route
from kobe.cli import main
from kobe.clients import trading_client
from kobe.config.errors import KobeError
from kobe.data import calendar

KEYS = {"APCA-API-KEY-ID": KEY_ID, "APCA-API-SECRET-KEY": SECRET}
READ_TIMEOUT = 10.0   # a guard against a wedged exchange, not a timing assertion
ORDER = {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "limit", "time_in_force": "gtc", "limit_price": 150}


def address(stand) -> tuple[str, int]:
    parts = urlsplit(stand.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def call(stand, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
         raw_body: bytes | None = None) -> tuple[int, Any]:
    """One request by http.client; the status and the JSON answer (``None`` if empty)."""
    connection = http.client.HTTPConnection(*address(stand), timeout=READ_TIMEOUT)
    try:
        data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
        connection.request(method, path, body=data, headers={**KEYS, "Authorization": f"Bearer {POLYGON_KEY}",
                                                             **(headers or {})})
        answer = connection.getresponse()
        text = answer.read()
        return answer.status, json.loads(text) if text else None
    finally:
        connection.close()


def exchange_raw(stand, data: bytes, *, shut_write: bool = False) -> bytes:
    """``data`` sent as is on a new connection; everything the exchange answers until it
    closes the connection (``b""``: closed unanswered)."""
    with socket.create_connection(address(stand), timeout=READ_TIMEOUT) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            # The exchange may answer (413) and close before reading all that was sent.
            sock.sendall(data)
            if shut_write:
                sock.shutdown(socket.SHUT_WR)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    with contextlib.suppress(ConnectionResetError):   # a close with our bytes unread resets
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def parsed(answer: bytes) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of a raw HTTP answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head, "the exchange closed the connection without an answer"
    status = int(head.split(b" ", 2)[1])
    assert b"application/json" in head, head
    return status, json.loads(body)


def assert_alpaca_error(status: int, body: Any, expected: int) -> None:
    assert status == expected, body
    assert isinstance(body, dict) and isinstance(body.get("code"), int) and isinstance(body.get("message"), str)


def assert_still_serves(stand) -> None:
    """The clock answers and a valid order is accepted, through the real client."""
    trading = stand.trading()
    assert trading.get_clock().is_open
    status, order = call(stand, "POST", "/v2/orders", {**ORDER, "client_order_id": f"after-{time.monotonic_ns()}"})
    assert status == 200 and order["status"] == "new"


def request_bytes(head: str, body: bytes = b"", path: str = "/v2/orders", method: str = "POST") -> bytes:
    """A request with the keys and the headers ``head`` (each ending in CRLF), as bytes."""
    keys = "".join(f"{name}: {value}\r\n" for name, value in {**KEYS, "Authorization": f"Bearer {POLYGON_KEY}"}
                   .items())
    return f"{method} {path} HTTP/1.0\r\nHost: localhost\r\n{keys}{head}\r\n".encode("latin-1") + body


def with_body(body: bytes) -> bytes:
    return request_bytes(f"Content-Length: {len(body)}\r\n", body)


# -- numbers in orders ----------------------------------------------------------------

ORDER_CASES = [
    pytest.param({"qty": "1e999999"}, "out of range", id="qty-1e999999-string"),
    pytest.param({"qty": 1e308}, "out of range", id="qty-1e308"),
    pytest.param({"qty": "1e-999999"}, "out of range", id="qty-1e-999999"),
    pytest.param({"qty": 2_000_000_000}, "qty must be <= 1000000000", id="qty-above-max"),
    pytest.param({"qty": "0.0000000001"}, "at most 9 decimal places", id="qty-10-places"),
    pytest.param({"qty": "1" * 40}, "out of range", id="qty-40-digits"),
    pytest.param({"qty": "nan"}, "invalid qty", id="qty-nan"),
    pytest.param({"qty": "-inf"}, "invalid qty", id="qty-minus-inf"),
    pytest.param({"qty": -1}, "qty must be > 0", id="qty-negative"),
    pytest.param({"qty": 0}, "qty must be > 0", id="qty-zero"),
    pytest.param({"qty": True}, "invalid qty", id="qty-bool"),
    pytest.param({"qty": [1]}, "invalid qty", id="qty-list"),
    pytest.param({"limit_price": "1e999999"}, "out of range", id="limit-1e999999-string"),
    pytest.param({"limit_price": 1e308}, "out of range", id="limit-1e308"),
    pytest.param({"limit_price": 20_000_000}, "limit_price must be <= 10000000", id="limit-above-max"),
    pytest.param({"limit_price": "NaN"}, "invalid limit_price", id="limit-nan"),
    pytest.param({"limit_price": 0}, "limit_price must be > 0", id="limit-zero"),
    pytest.param({"limit_price": -150}, "limit_price must be > 0", id="limit-negative"),
    pytest.param({"type": "stop", "limit_price": None, "stop_price": "Infinity"}, "invalid stop_price",
                 id="stop-infinity"),
    pytest.param({"type": "stop", "limit_price": None, "stop_price": 1e300}, "out of range", id="stop-1e300"),
    pytest.param({"type": "stop_limit", "stop_price": 150, "limit_price": "1e999999"}, "out of range",
                 id="stop-limit-limit-1e999999"),
    pytest.param({"side": "sell", "order_class": "oco", "take_profit": {"limit_price": 1e308},
                  "stop_loss": {"stop_price": 140}, "limit_price": None}, "out of range", id="oco-take-profit-1e308"),
    pytest.param({"side": "sell", "order_class": "oco", "take_profit": {"limit_price": 160},
                  "stop_loss": {"stop_price": "nan"}, "limit_price": None}, "invalid stop_loss.stop_price",
                 id="oco-stop-nan"),
    pytest.param({"notional": 1e308, "qty": None}, "notional is not supported", id="notional-1e308"),
]


@pytest.mark.parametrize(("change", "words"), ORDER_CASES)
def test_a_number_out_of_range_in_an_order_is_422(exchange, change, words) -> None:
    body = {key: value for key, value in {**ORDER, **change}.items() if value is not None}
    status, answer = call(exchange, "POST", "/v2/orders", body)
    assert_alpaca_error(status, answer, 422)
    assert words in answer["message"]
    assert answer["code"] == 42210000
    assert len(answer["message"]) < 200   # a refused megabyte of digits is not echoed back
    assert_still_serves(exchange)


REPLACE_CASES = [
    pytest.param({"qty": "1e999999"}, "out of range", id="qty-1e999999"),
    pytest.param({"qty": 1e308}, "out of range", id="qty-1e308"),
    pytest.param({"qty": 2_000_000_000}, "qty must be <= 1000000000", id="qty-above-max"),
    pytest.param({"qty": 0}, "qty must be > 0", id="qty-zero"),
    pytest.param({"qty": 1.5}, "whole number", id="qty-fractional"),
    pytest.param({"limit_price": 1e308}, "out of range", id="limit-1e308"),
    pytest.param({"limit_price": "inf"}, "invalid limit_price", id="limit-inf"),
    pytest.param({"limit_price": -1}, "limit_price must be > 0", id="limit-negative"),
    pytest.param({"stop_price": "1e999999"}, "out of range", id="stop-1e999999"),
]


@pytest.mark.parametrize(("change", "words"), REPLACE_CASES)
def test_a_number_out_of_range_in_a_replace_is_422_and_the_order_stays(exchange, change, words) -> None:
    status, resting = call(exchange, "POST", "/v2/orders", {**ORDER, "client_order_id": "resting"})
    assert status == 200
    status, answer = call(exchange, "PATCH", f"/v2/orders/{resting['id']}", change)
    assert_alpaca_error(status, answer, 422)
    assert words in answer["message"]
    status, after = call(exchange, "GET", f"/v2/orders/{resting['id']}")
    assert status == 200 and after["status"] == "new" and after["qty"] == "1" and after["limit_price"] == "150"
    assert_still_serves(exchange)


# -- the admin API --------------------------------------------------------------------

CLOCK_CASES = [
    pytest.param({"speed": "nan"}, 400, "speed must be a finite number", id="speed-nan-string"),
    pytest.param({"speed": "inf"}, 400, "speed must be a finite number", id="speed-inf-string"),
    pytest.param({"speed": 1e300}, 400, "speed must be a finite number", id="speed-1e300"),
    pytest.param({"speed": -1}, 400, "speed must be a finite number", id="speed-negative"),
    pytest.param({"speed": True}, 400, "speed must be a number", id="speed-bool"),
    pytest.param({"speed": [60]}, 400, "speed must be a number", id="speed-list"),
    pytest.param({"advance": 1e308}, 400, "would pass the exchange clock's end", id="advance-1e308"),
    pytest.param({"advance": 1e12}, 400, "would pass the exchange clock's end", id="advance-past-calendar"),
    pytest.param({"advance": "nan"}, 400, "advance must be a finite number", id="advance-nan"),
    pytest.param({"advance": "-inf"}, 400, "advance must be a finite number", id="advance-minus-inf"),
    pytest.param({"advance": -60}, 400, "advance must be a finite number", id="advance-negative"),
    pytest.param({"advance": {"seconds": 1}}, 400, "advance must be a number", id="advance-object"),
    pytest.param({"set": "9999-12-31T00:00:00+00:00"}, 400, "outside the exchange clock's range", id="set-year-9999"),
    pytest.param({"set": "2017-06-05T10:00:00"}, 400, "aware", id="set-naive"),
    pytest.param({"set": 1496671200}, 400, "RFC 3339", id="set-number"),
    pytest.param({"set": "2017-06-02T10:00:00-04:00"}, 409, "cannot go back", id="set-into-the-past"),
    pytest.param({"to": 1}, 400, '"to" is', id="to-number"),
]


@pytest.mark.parametrize(("body", "expected", "words"), CLOCK_CASES)
def test_a_refused_clock_move_leaves_the_clock_as_it_was(exchange, body, expected, words) -> None:
    before = exchange.admin.clock()
    status, answer = call(exchange, "POST", "/admin/clock", body)
    assert status == expected, answer
    assert words in answer["message"]
    assert exchange.admin.clock() == before
    assert_still_serves(exchange)


FAULT_CASES = [
    pytest.param({"latency": "inf"}, "latency must be a finite number", id="latency-inf"),
    pytest.param({"latency": 1e308}, "latency must be a finite number", id="latency-1e308"),
    pytest.param({"error_rate": 2}, "error_rate must be a finite number from 0 to 1", id="rate-above-1"),
    pytest.param({"error_rate": "nan"}, "error_rate must be a finite number", id="rate-nan"),
    pytest.param({"error_status": "500"}, "error_status must be an integer", id="status-string"),
    pytest.param({"error_status": 99999}, "error_status must be an integer from 100 to 599", id="status-99999"),
    pytest.param({"fill_delay": 1e308}, "fill_delay must be a finite number", id="fill-delay-1e308"),
    pytest.param({"rate_limit": -1}, "rate_limit must be an integer", id="rate-limit-negative"),
    pytest.param({"seed": [1]}, "seed must be an integer", id="seed-list"),
    pytest.param({"rules": [{"action": "hang", "count": "x"}]}, "count must be an integer", id="rule-count-string"),
    pytest.param({"rules": [{"action": "status", "method": 5}]}, "method is a string", id="rule-method-number"),
    pytest.param({"rules": [{"action": "delay", "seconds": "inf"}]}, "seconds must be a finite number",
                 id="rule-seconds-inf"),
    pytest.param({"rules": [{"action": "status", "retry_after": 1e308}]}, "retry_after must be a finite number",
                 id="rule-retry-after-1e308"),
    pytest.param({"rules": [{"action": "status", "path": "("}]}, "not a regex", id="rule-path-bad-regex"),
    pytest.param({"data": [{"kind": "short", "bars": 1.5}]}, "bars", id="data-bars-fractional"),
    pytest.param({"data": [{"kind": "empty", "symbol": 7}]}, "symbol is a string", id="data-symbol-number"),
]


@pytest.mark.parametrize(("plan", "words"), FAULT_CASES)
def test_a_refused_fault_plan_leaves_the_plan_in_force(exchange, plan, words) -> None:
    exchange.admin.set_faults(latency=0.01)
    before = exchange.admin.faults()
    status, answer = call(exchange, "POST", "/admin/faults", plan)
    assert status == 400, answer
    assert words in answer["message"]
    assert exchange.admin.faults() == before
    assert_still_serves(exchange)


# -- market data and the other query parameters -----------------------------------------

def token(payload: dict[str, Any]) -> str:
    """A page token or cursor as the exchange writes them, with ``payload`` inside."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


CURSOR = {"offset": 0, "limit": 10, "sort": "asc", "adjusted": "true"}
QUERY_CASES = [
    pytest.param("/v2/stocks/bars?symbols=AAPL&timeframe=1Day&start=0001-01-01", 422, id="bars-start-year-1"),
    pytest.param("/v2/stocks/bars?symbols=AAPL&timeframe=1Day&start=9999-12-31T23:00:00-05:00", 422,
                 id="bars-start-year-9999"),
    pytest.param("/v2/stocks/bars?symbols=AAPL&timeframe=1Day&end=0001-01-01T00:00:00%2B05:00", 422,
                 id="bars-end-before-year-1-utc"),
    pytest.param("/v2/stocks/bars?symbols=AAPL&timeframe=1Day&limit=1e999", 422, id="bars-limit-exponent"),
    pytest.param("/v2/stocks/bars?symbols=AAPL&timeframe=1Day&limit=-5", 422, id="bars-limit-negative"),
    pytest.param(f"/v2/stocks/bars?symbols=AAPL&timeframe=1Day&page_token={token({'offset': 'abc'})}", 400,
                 id="bars-token-offset-text"),
    pytest.param(f"/v2/stocks/bars?symbols=AAPL&timeframe=1Day&page_token={token({'offset': -5})}", 400,
                 id="bars-token-offset-negative"),
    pytest.param(f"/v2/stocks/bars?symbols=AAPL&timeframe=1Day&page_token={token({'faults': {'AAPL': [1]}})}",
                 400, id="bars-token-fault-not-object"),
    pytest.param("/v2/stocks/bars?symbols=AAPL&timeframe=1Day&page_token="
                 f"{token({'faults': {'AAPL': [{'kind': 'short', 'bars': 'x'}]}})}", 400, id="bars-token-fault-bars-text"),
    pytest.param("/v2/aggs/ticker/AAPL/range/1/day/99999999999999999/2017-06-05", 400, id="aggs-from-huge-millis"),
    pytest.param("/v2/aggs/ticker/AAPL/range/1/day/2017-06-01/\xb2", 400, id="aggs-to-superscript-digit"),
    pytest.param("/v2/aggs/ticker/AAPL/range/1/day/9999-12-31/9999-12-31", 400, id="aggs-year-9999"),
    pytest.param(f"/v2/aggs/ticker/AAPL/range/1/day/2017-06-01/2017-06-05?cursor={token({**CURSOR, 'limit': None})}",
                 400, id="aggs-cursor-limit-null"),
    pytest.param(f"/v2/aggs/ticker/AAPL/range/1/day/2017-06-01/2017-06-05?cursor={token({**CURSOR, 'limit': 'x'})}",
                 400, id="aggs-cursor-limit-text"),
    pytest.param(f"/v2/aggs/ticker/AAPL/range/1/day/2017-06-01/2017-06-05?cursor={token({**CURSOR, 'offset': []})}",
                 400, id="aggs-cursor-offset-list"),
    pytest.param("/v2/aggs/ticker/AAPL/range/1/day/2017-06-01/2017-06-05?cursor="
                 f"{token({**CURSOR, 'faults': [{'kind': 'nope'}]})}", 400,
                 id="aggs-cursor-fault-unknown"),
    pytest.param("/v2/orders?limit=1e999", 422, id="orders-limit-exponent"),
    pytest.param("/v2/orders?limit=9999999", 422, id="orders-limit-above-max"),
    pytest.param("/v2/orders?after=not-a-time", 422, id="orders-after-garbage"),
    pytest.param("/v2/calendar?start=9999-01-01&end=9999-12-31", 422, id="calendar-year-9999"),
]


@pytest.mark.parametrize(("path", "expected"), QUERY_CASES)
def test_a_query_parameter_out_of_range_is_a_4xx(exchange, path, expected) -> None:
    status, answer = parsed(exchange_raw(exchange, request_bytes("", path=path, method="GET")))
    assert status == expected, answer
    if path.startswith("/v2/aggs/"):
        assert answer["status"] == "ERROR" and isinstance(answer["error"], str)
    else:
        assert_alpaca_error(status, answer, expected)
    assert_still_serves(exchange)


@pytest.mark.parametrize(("query", "words"), [
    pytest.param("qty=nan", "invalid qty", id="qty-nan"),
    pytest.param("qty=1e999999", "out of range", id="qty-1e999999"),
    pytest.param("qty=-3", "qty must be > 0", id="qty-negative"),
    pytest.param("percentage=1e999999", "out of range", id="percentage-1e999999"),
    pytest.param("percentage=0.0000000001", "less than 0.000000001 share", id="percentage-below-a-share"),
    pytest.param("percentage=101", "percentage must be in (0, 100]", id="percentage-above-100"),
])
def test_closing_a_position_by_a_number_out_of_range_is_422_and_keeps_it(exchange, query, words) -> None:
    status, _ = call(exchange, "POST", "/v2/orders", {**ORDER, "qty": 5, "limit_price": 160, "time_in_force": "ioc"})
    assert status == 200
    status, answer = call(exchange, "DELETE", f"/v2/positions/AAPL?{query}")
    assert_alpaca_error(status, answer, 422)
    assert words in answer["message"]
    status, position = call(exchange, "GET", "/v2/positions/AAPL")
    assert status == 200 and position["qty"] == "5" and position["qty_available"] == "5"
    assert_still_serves(exchange)


# -- framing: Content-Length, Transfer-Encoding, JSON ------------------------------------

FRAMING_CASES = [
    pytest.param(request_bytes("Content-Length: abc\r\n"), 400, "invalid Content-Length", id="length-not-a-number"),
    pytest.param(request_bytes("Content-Length: -1\r\n"), 400, "invalid Content-Length", id="length-negative"),
    pytest.param(request_bytes("Content-Length: +5\r\n", b"{}{}{"), 400, "invalid Content-Length",
                 id="length-plus-sign"),
    pytest.param(request_bytes("Content-Length: 2\r\nContent-Length: 3\r\n", b"{} "), 400,
                 "invalid Content-Length", id="length-twice-differing"),
    pytest.param(request_bytes("Content-Length: \xb2\r\n", b"{} "), 400, "invalid Content-Length",
                 id="length-superscript-digit"),
    pytest.param(request_bytes(f"Content-Length: {10**12}\r\n"), 413, "larger than the limit", id="length-10-12"),
    pytest.param(request_bytes(f"Content-Length: {'9' * 5000}\r\n"), 413, "larger than the limit",
                 id="length-5000-digits"),
    pytest.param(request_bytes("Content-Length: 2000000\r\n", b"{" * 65536), 413, "larger than the limit",
                 id="length-above-limit-body-sent"),
    pytest.param(request_bytes("Transfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"), 501,
                 "Transfer-Encoding is not supported", id="chunked"),
    pytest.param(request_bytes("Content-Length: 100000\r\n", b"[" * 100000), 400, "more than 32 levels deep",
                 id="json-100000-deep"),
    pytest.param(with_body(b"[" * 33), 400, "not valid JSON", id="json-33-open-unclosed"),
    pytest.param(with_body(b"[" * 33 + b"]" * 33), 400, "more than 32 levels deep", id="json-33-deep"),
    pytest.param(with_body(b'{"a": ' * 40 + b"1" + b"}" * 40), 400, "more than 32 levels deep",
                 id="json-40-deep-objects"),
    pytest.param(with_body(b'{"qty": NaN, "x": [1, 2]}'), 400, "not valid JSON", id="json-nan-literal"),
    pytest.param(with_body(b'{"qty": -Infinity}'), 400, "not valid JSON", id="json-infinity-literal"),
    pytest.param(with_body(b'{"qty": ' + b"9" * 5000 + b"}"), 400, "not valid JSON", id="json-int-of-5000-digits"),
    pytest.param(with_body(b"\xff\xfe\xfd\xfc"), 400, "not valid JSON", id="json-not-utf8"),
    pytest.param(with_body(b'{"symbol": "AAPL",'), 400, "not valid JSON", id="json-truncated"),
    pytest.param(b"BREW /v2/clock HTTP/1.0\r\n\r\n", 501, "Unsupported method", id="unknown-method"),
    pytest.param(b"GET /v2/clock HTTP/9.9\r\n\r\n", 505, "Invalid HTTP version", id="unknown-version"),
    pytest.param(b"GARBAGE\r\n\r\n", 400, "Bad request", id="request-line-garbage"),
    pytest.param(b"GET http://[ HTTP/1.0\r\n\r\n", 400, "invalid request target", id="request-target-bad-host"),
    pytest.param(b"GET /v2/clock HTTP/1.0\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n", 431, "Line too long",
                 id="header-line-too-long"),
    pytest.param(b"GET /v2/clock HTTP/1.0\r\n" + b"X-A: b\r\n" * 200 + b"\r\n", 431, "Too many headers",
                 id="too-many-headers"),
]


@pytest.mark.parametrize(("data", "expected", "words"), FRAMING_CASES)
def test_a_malformed_request_is_answered_in_json_and_the_exchange_serves_on(exchange, data, expected,
                                                                            words) -> None:
    status, answer = parsed(exchange_raw(exchange, data))
    assert_alpaca_error(status, answer, expected)
    assert words in answer["message"]
    assert_still_serves(exchange)


def test_a_body_shorter_than_its_content_length_is_400(exchange) -> None:
    status, answer = parsed(exchange_raw(exchange, request_bytes("Content-Length: 50\r\n", b'{"qty": 1'),
                                         shut_write=True))
    assert_alpaca_error(status, answer, 400)
    assert "ended after 9 of 50 bytes" in answer["message"]
    assert_still_serves(exchange)


def test_a_json_body_at_the_depth_limit_is_read(exchange) -> None:
    nested: Any = 1
    for _ in range(30):
        nested = [nested]
    status, answer = call(exchange, "POST", "/v2/orders", {**ORDER, "extra": {"deep": nested}})   # 32 levels
    assert status == 200, answer


def test_a_body_at_the_size_limit_is_read_and_one_byte_more_is_413(start_exchange) -> None:
    stand = start_exchange(max_body=4096)
    order = json.dumps({**ORDER, "client_order_id": "padded"}).encode()
    padded = order + b" " * (4096 - len(order))
    status, answer = call(stand, "POST", "/v2/orders", raw_body=padded)
    assert status == 200 and answer["client_order_id"] == "padded"
    status, answer = call(stand, "POST", "/v2/orders", raw_body=padded + b" ")
    assert_alpaca_error(status, answer, 413)
    assert "request body of 4097 bytes is larger than the limit of 4096 bytes" in answer["message"]
    assert_still_serves(stand)


@pytest.mark.parametrize(("path", "shape"), [
    pytest.param("/v2/aggs/ticker/AAPL/range/1/day/2017-06-01/2017-06-05", "polygon", id="polygon"),
    pytest.param("/admin/clock", "admin", id="admin"),
])
def test_framing_errors_take_the_called_apis_error_shape(exchange, path, shape) -> None:
    status, answer = parsed(exchange_raw(exchange, request_bytes("Content-Length: -1\r\n", path=path)))
    assert status == 400
    if shape == "polygon":
        assert answer["status"] == "ERROR" and "invalid Content-Length" in answer["error"]
    else:
        assert set(answer) == {"message"} and "invalid Content-Length" in answer["message"]


# -- slow and silent clients -----------------------------------------------------------

@contextlib.contextmanager
def connected(stand) -> Iterator[socket.socket]:
    with socket.create_connection(address(stand), timeout=READ_TIMEOUT) as sock:
        yield sock


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the exchange ends the connection within ``seconds``, reading any answer."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if select.select([sock], [], [], 0.05)[0]:
            try:
                if not sock.recv(65536):
                    return True
            except ConnectionResetError:
                return True
    return False


def test_a_silent_client_is_disconnected_after_the_request_timeout(start_exchange) -> None:
    stand = start_exchange(request_timeout=0.5)
    with connected(stand) as sock:
        assert closed_within(sock, 5.0)
    assert_still_serves(stand)


def test_a_body_that_stops_arriving_is_408(start_exchange) -> None:
    stand = start_exchange(request_timeout=0.5)
    with connected(stand) as sock:
        sock.sendall(request_bytes("Content-Length: 10\r\n", b'{"qty"'))
        started = time.monotonic()
        status, answer = parsed(read_all(sock))
        assert time.monotonic() - started < 5.0
    assert_alpaca_error(status, answer, 408)
    assert "did not arrive within 0.5 s" in answer["message"]
    assert_still_serves(stand)


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_client_dripping_bytes_is_cut_off_at_the_deadline(start_exchange, part) -> None:
    # A byte every 0.1 s renews a per-read timeout of 0.5 s for ever; the deadline is for
    # the whole request.
    stand = start_exchange(request_timeout=0.5)
    data = request_bytes("Content-Length: 200\r\n", b" " * 200)
    head, _, _ = data.partition(b"\r\n\r\n")
    with connected(stand) as sock:
        if part == "body":
            sock.sendall(head + b"\r\n\r\n")
        dripped = data[len(head) + 4:] if part == "body" else data
        started = time.monotonic()
        for byte in dripped:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            if closed_within(sock, 0.1):
                break
        else:
            pytest.fail("the exchange read a dripping request to its end")
        assert time.monotonic() - started < 5.0
    assert_still_serves(stand)


def test_the_default_timeouts_and_limits_are_the_documented_ones() -> None:
    config = ExchangeConfig()
    assert (config.request_timeout, config.max_body) == (30.0, 1 << 20)


# -- a bug in a handler, or around it ---------------------------------------------------

def _boom(*args: Any) -> Any:
    raise RuntimeError("a bug")


@pytest.mark.parametrize("where", ["handler", "server"])
def test_an_unexpected_exception_is_a_500_in_json_and_the_exchange_serves_on(exchange, monkeypatch, where) -> None:
    if where == "handler":
        monkeypatch.setattr(server, "ROUTES", [Route("GET", r"/v2/boom", "alpaca", _boom), *server.ROUTES])
        status, answer = call(exchange, "GET", "/v2/boom")
    else:
        monkeypatch.setattr(server, "check_keys", _boom)
        status, answer = call(exchange, "GET", "/v2/clock")
    assert_alpaca_error(status, answer, 500)
    assert answer == {"code": 50010000, "message": "internal error: RuntimeError: a bug"}
    monkeypatch.undo()
    assert_still_serves(exchange)


# -- the clock never leaves the calendar ------------------------------------------------

def test_a_clock_running_fast_stops_at_the_calendars_end_and_the_exchange_serves_on(start_exchange) -> None:
    last = clock_range()[1]
    stand = start_exchange(start=last - dt.timedelta(minutes=1), speed=1_000_000.0)
    time.sleep(0.05)   # 50,000 exchange seconds: well past the end
    for _ in range(2):
        clock = stand.admin.clock()
        assert dt.datetime.fromisoformat(clock["now"]) == last
        status, answer = call(stand, "GET", "/v2/clock")
        assert status == 200 and answer["is_open"] is False


@pytest.mark.parametrize("closed_speed", [None, 1_000_000.0], ids=["one-speed", "closed-speed"])
def test_the_clock_clamps_at_its_last_instant(closed_speed) -> None:
    last = clock_range()[1]
    clock = ExchangeClock(last - dt.timedelta(seconds=30), speed=1_000_000.0, closed_speed=closed_speed)
    time.sleep(0.01)
    assert clock.now() == last
    with pytest.raises(ValueError, match="would pass the exchange clock's end"):
        clock.advance(1.0)
    assert clock.now() == last


# -- the command line -------------------------------------------------------------------

# In the calendar's last session Alpaca's clock cannot name the next open.
LAST_SESSION_OPEN = calendar.session_open_close(calendar.next_session(calendar.trading_date(clock_range()[1])))[0]
CLI_CASES = [
    pytest.param(["--speed", "inf"], "speed must be a finite number from 0 to 1,000,000, not inf", id="speed-inf"),
    pytest.param(["--speed", "nan"], "speed must be a finite number", id="speed-nan"),
    pytest.param(["--speed", "-1"], "speed must be a finite number", id="speed-negative"),
    pytest.param(["--speed", "1e300"], "speed must be a finite number", id="speed-1e300"),
    pytest.param(["--closed-speed", "nan"], "closed_speed must be a finite number", id="closed-speed-nan"),
    pytest.param(["--spread-bps", "inf"], "spread_bps must be a finite number", id="spread-inf"),
    pytest.param(["--depth", "nan"], "depth must be a finite number", id="depth-nan"),
    pytest.param(["--cash", "nan"], "cash must be an amount", id="cash-nan"),
    pytest.param(["--cash", "1e999999"], "cash must be an amount", id="cash-1e999999"),
    pytest.param(["--page-size", "-5"], "page_size must be an integer at least 1", id="page-size-negative"),
    pytest.param(["--latency", "inf"], "latency must be a finite number", id="latency-inf"),
    pytest.param(["--error-rate", "nan"], "error_rate must be a finite number", id="error-rate-nan"),
    pytest.param(["--error-status", "0"], "error_status must be an integer from 100 to 599", id="error-status-0"),
    pytest.param(["--fill-delay", "1e308"], "fill_delay must be a finite number", id="fill-delay-1e308"),
    pytest.param(["--rate-limit", "-1"], "rate_limit must be an integer", id="rate-limit-negative"),
    pytest.param(["--port", "70000"], "70000 is not in the range 0<=x<=65535", id="port-70000"),
    pytest.param(["--request-timeout", "nan"], "request_timeout must be a finite number", id="request-timeout-nan"),
    pytest.param(["--request-timeout", "0"], "request_timeout must be a finite number", id="request-timeout-0"),
    pytest.param(["--max-body", "-1"], "max_body must be an integer", id="max-body-negative"),
    pytest.param(["--date", LAST_SESSION_OPEN.isoformat()], "is outside the NYSE calendar's range",
                 id="date-in-the-calendars-last-session"),
    pytest.param(["--date", "2099-01-05T10:00"], "is outside the NYSE calendar's range", id="date-past-calendar"),
]


@pytest.mark.parametrize(("args", "words"), CLI_CASES)
def test_the_cli_refuses_a_number_out_of_range_before_serving(tmp_path, monkeypatch, args, words) -> None:
    def serves(self: ExchangeServer) -> None:
        raise AssertionError("kobe exchange started serving")

    monkeypatch.setattr(ExchangeServer, "serve_forever", serves)
    result = CliRunner().invoke(main, ["exchange", "--port", "0", "--state", str(tmp_path / "s.sqlite"), *args])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)   # a clean exit, no traceback
    assert words in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("settings", "words"), [
    pytest.param({"speed": math.nan}, "speed must be a finite number", id="speed-nan"),
    pytest.param({"closed_speed": math.inf}, "closed_speed must be a finite number", id="closed-speed-inf"),
    pytest.param({"cash": Decimal("Infinity")}, "cash must be an amount", id="cash-infinity"),
    pytest.param({"cash": -1}, "cash must be an amount", id="cash-negative"),
    pytest.param({"hang_seconds": math.inf}, "hang_seconds must be a finite number", id="hang-inf"),
    pytest.param({"request_timeout": -1.0}, "request_timeout must be a finite number", id="timeout-negative"),
    pytest.param({"max_body": 2.5}, "max_body must be an integer", id="max-body-float"),
    pytest.param({"port": True}, "port must be an integer", id="port-bool"),
])
def test_an_in_process_config_out_of_range_is_a_kobe_error(settings, words) -> None:
    with pytest.raises(KobeError) as refused:
        ExchangeConfig(**settings)
    assert words in refused.value.diagnostics[0].message


@pytest.mark.parametrize("cash", [100, 2500.5, Decimal(100000)], ids=["int", "float", "decimal"])
def test_an_in_process_config_takes_cash_as_a_number(cash) -> None:
    assert ExchangeConfig(cash=cash).cash == cash


@dataclass
class Running:
    """A ``kobe exchange`` process, as the helpers above see a stand: its URL and a client."""

    url: str

    def trading(self) -> Any:
        return trading_client(KEY_ID, SECRET, base_url=self.url, timeout=READ_TIMEOUT, retry_wait=0)


def test_a_kobe_exchange_process_answers_hostile_requests_and_serves_on(tmp_path) -> None:
    command = [sys.executable, "-c", "from kobe.cli import main; main()", "exchange", "--port", "0", "--json",
               "--state", str(tmp_path / "x.sqlite"), "--speed", "0", "--date", "2017-06-05T10:00",
               "--key-id", KEY_ID, "--secret-key", SECRET, "--polygon-key", POLYGON_KEY, "--request-timeout", "0.5"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"})
    try:
        assert proc.stdout is not None
        if not select.select([proc.stdout], [], [], 120)[0]:   # a guard against a wedged child
            pytest.fail("kobe exchange printed nothing")
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        url = json.loads(line)["url"]
        stand = Running(url)
        status, answer = call(stand, "POST", "/admin/clock", {"speed": "nan"})
        assert status == 400 and "speed must be a finite number" in answer["message"]
        status, answer = parsed(exchange_raw(stand, request_bytes("Content-Length: -1\r\n")))
        assert_alpaca_error(status, answer, 400)
        with connected(stand) as sock:
            assert closed_within(sock, 5.0)   # --request-timeout 0.5 reached the server
        assert_still_serves(stand)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
