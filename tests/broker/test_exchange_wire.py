"""The reference's gotchas on the wire, one by one (broker-apis.md section 4): what the
exchange sends is read raw over HTTP (requests, with a timeout) where the clients would
hide it, and through the real clients where their behaviour is the point."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from urllib.parse import parse_qs

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import (
    GetCalendarRequest,
    GetOrdersRequest,
    LimitOrderRequest,
)

from kobe.clients import (
    TimeoutAdapter,
    polygon_client,
    stock_data_client,
    trading_client,
)

RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def raw(exchange, path: str, **params) -> requests.Response:
    headers = {"APCA-API-KEY-ID": "PKTESTKEY", "APCA-API-SECRET-KEY": "SKTESTSECRET",
               "Authorization": "Bearer polygon-test-key"}
    return requests.get(exchange.url + path, params=params, headers=headers, timeout=5)


def bought(exchange) -> dict:
    trading = exchange.trading()
    trading.submit_order(LimitOrderRequest(symbol="AAPL", qty=5, side=OrderSide.BUY, time_in_force=TimeInForce.IOC,
                                           limit_price=154.42, client_order_id="wire-1"))
    return raw(exchange, "/v2/orders:by_client_order_id", client_order_id="wire-1").json()


@pytest.mark.parametrize("suffix", ["/", "/v2"], ids=["trailing-slash", "v2-suffix"])
def test_gotcha_1_a_base_url_with_a_slash_or_v2_is_refused(exchange, suffix) -> None:
    client = TradingClient("PKTESTKEY", "SKTESTSECRET", url_override=exchange.url + suffix)
    client._session.mount("http://", TimeoutAdapter(5))
    with pytest.raises(APIError) as refused:
        client.get_account()
    assert refused.value.status_code == 404
    sent = exchange.requests()[-1]["path"]
    assert sent == ("/v2/account" if suffix == "/" else "/v2/v2/account")
    with pytest.raises(ValueError):        # Kobe's factories refuse such URLs up front
        trading_client("k", "s", base_url=exchange.url + suffix)
    with pytest.raises(ValueError):
        polygon_client("k", base_url=exchange.url + suffix)


def test_gotcha_4_every_factory_client_has_a_timeout(exchange) -> None:
    for client in (trading_client("k", "s", base_url=exchange.url, timeout=3),
                   stock_data_client("k", "s", base_url=exchange.url, timeout=3)):
        assert client._session.get_adapter(exchange.url).timeout == 3
    polygon = polygon_client("k", base_url=exchange.url, timeout=3)
    assert (polygon.timeout.connect_timeout, polygon.timeout.read_timeout) == (3, 3)


def test_gotcha_7_decimals_are_strings_in_account_position_and_order(exchange) -> None:
    order = bought(exchange)
    for key in ("qty", "filled_qty", "filled_avg_price", "limit_price"):
        assert isinstance(order[key], str), key
    assert (order["qty"], order["filled_avg_price"], order["limit_price"]) == ("5", "154.42", "154.42")
    account = raw(exchange, "/v2/account").json()
    for key in ("cash", "buying_power", "equity", "portfolio_value", "long_market_value", "multiplier"):
        assert isinstance(account[key], str), key
    position = raw(exchange, "/v2/positions/AAPL").json()
    for key in ("avg_entry_price", "qty", "cost_basis", "market_value", "current_price", "unrealized_pl",
                "lastday_price", "change_today", "qty_available"):
        assert isinstance(position[key], str), key


def test_gotcha_8_enums_are_the_exact_spellings(exchange) -> None:
    order = bought(exchange)
    assert (order["status"], order["side"], order["type"], order["time_in_force"], order["asset_class"]) == \
        ("filled", "buy", "limit", "ioc", "us_equity")
    assert raw(exchange, "/v2/account").json()["status"] == "ACTIVE"
    assert raw(exchange, "/v2/positions").json()[0]["side"] == "long"


def test_gotcha_9_and_10_ids_are_uuids_and_order_timestamps_are_set(exchange) -> None:
    order = bought(exchange)
    for key in ("id", "asset_id"):
        assert str(uuid.UUID(order[key])) == order[key]
    assert str(uuid.UUID(raw(exchange, "/v2/account").json()["id"]))
    for key in ("created_at", "updated_at", "submitted_at", "filled_at"):
        assert RFC3339_Z.match(order[key]), key
    assert order["extended_hours"] is False


def test_gotcha_11_query_booleans_come_as_python_spellings(exchange) -> None:
    bought(exchange)
    listed = exchange.trading().get_orders(GetOrdersRequest(status="all", nested=True, symbols=["AAPL", "MSFT"]))
    assert len(listed) == 1
    query = parse_qs(exchange.requests("/v2/orders")[-1]["query"])
    assert query["nested"] == ["True"] and query["symbols"] == ["AAPL,MSFT"]


def test_gotcha_12_order_bodies_with_numbers_or_strings_are_both_accepted(exchange) -> None:
    headers = {"APCA-API-KEY-ID": "PKTESTKEY", "APCA-API-SECRET-KEY": "SKTESTSECRET"}
    for cid, qty, price in (("numbers", 5.0, 154.42), ("strings", "5", "154.42")):
        body = {"symbol": "AAPL", "qty": qty, "side": "buy", "type": "limit", "time_in_force": "ioc",
                "limit_price": price, "client_order_id": cid}
        answer = requests.post(exchange.url + "/v2/orders", json=body, headers=headers, timeout=5)
        assert answer.status_code == 200 and answer.json()["qty"] == "5"


def test_gotcha_14_empty_data_is_an_empty_map_never_null(exchange) -> None:
    bars = raw(exchange, "/v2/stocks/bars", symbols="ZZZZ", timeframe="1Day", start="2017-01-01").json()
    assert bars == {"bars": {}, "next_page_token": None}
    assert raw(exchange, "/v2/stocks/quotes/latest", symbols="ZZZZ").json() == {"quotes": {}}
    one = raw(exchange, "/v2/stocks/bars", symbols="AAPL", timeframe="1Day", start="2017-06-01",
              end="2017-06-02T00:00:00+00:00").json()
    assert set(one["bars"]["AAPL"][0]) == {"t", "o", "h", "l", "c", "v", "n", "vw"}


def test_polygon_empty_answer_has_no_results_key(exchange) -> None:
    body = raw(exchange, "/v2/aggs/ticker/ZZZZ/range/1/day/2017-01-01/2017-02-01").json()
    assert "results" not in body and body["resultsCount"] == 0 and "next_url" not in body


def test_clock_is_written_in_new_york_offset(exchange) -> None:
    clock = raw(exchange, "/v2/clock").json()
    assert clock == {"timestamp": "2017-06-05T09:30:00-04:00", "is_open": True,
                     "next_open": "2017-06-06T09:30:00-04:00", "next_close": "2017-06-05T16:00:00-04:00"}


def test_calendar_lists_sessions_with_early_closes(exchange) -> None:
    days = exchange.trading().get_calendar(GetCalendarRequest(start=dt.date(2017, 11, 22),
                                                              end=dt.date(2017, 11, 27)))
    assert [(d.date, d.open.time(), d.close.time()) for d in days] == [
        (dt.date(2017, 11, 22), dt.time(9, 30), dt.time(16, 0)),
        (dt.date(2017, 11, 24), dt.time(9, 30), dt.time(13, 0)),   # the day after Thanksgiving
        (dt.date(2017, 11, 27), dt.time(9, 30), dt.time(16, 0))]


def test_unknown_paths_are_404_in_the_vendors_shape(exchange) -> None:
    alpaca = raw(exchange, "/v2/watchlists")   # not served (assets are, since short selling)
    assert alpaca.status_code == 404 and alpaca.json()["code"] == 40410000
    polygon = raw(exchange, "/v3/reference/tickers")
    assert polygon.status_code == 404
