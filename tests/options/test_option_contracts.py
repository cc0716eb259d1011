"""GET /v2/options/contracts of `kobe exchange`, read by alpaca-py's own client
(broker-apis.md 10): the generated chains, their filters and pages, the assets'
``options_enabled`` attribute."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import AssetStatus, ContractType
from alpaca.trading.requests import GetAssetsRequest, GetOptionContractsRequest

from kobe.broker.exchange import ExchangeConfig, serve_exchange
from kobe.broker.exchange.option_chains import monthly_expiry, strikes
from kobe.clients import trading_client
from kobe.data.bars import read_bars
from kobe.data.calendar import NEW_YORK

OPEN = dt.datetime(2017, 6, 5, 9, 30, tzinfo=NEW_YORK)


def client(url: str):
    return trading_client("key", "secret", base_url=url, timeout=5, retry_wait=0)


def test_a_chain_reads_through_alpaca_py(exchange_url: str) -> None:
    trading = client(exchange_url)
    reply = trading.get_option_contracts(GetOptionContractsRequest(
        underlying_symbols=["AAPL"], expiration_date_lte=dt.date(2017, 9, 30), limit=10000))
    contracts = reply.option_contracts
    assert reply.next_page_token is None
    # June, July, August and September 2017 monthlies: the third Fridays.
    assert sorted({c.expiration_date for c in contracts}) == [dt.date(2017, 6, 16), dt.date(2017, 7, 21),
                                                             dt.date(2017, 8, 18), dt.date(2017, 9, 15)]
    last_close = read_bars(None).filter(pl.col("symbol") == "AAPL", pl.col("date") < OPEN.date()) \
        .sort("date").collect()["close"][-1]
    assert sorted({c.strike_price for c in contracts}) == strikes(last_close)
    assert len(contracts) == 4 * 2 * len(strikes(last_close))
    call = next(c for c in contracts if c.symbol == "AAPL170616C00155000")
    assert (call.type, call.strike_price, call.size, call.style.value, call.underlying_symbol) == \
        (ContractType.CALL, 155.0, "100", "american", "AAPL")
    assert trading.get_option_contract("AAPL170616C00155000").id == call.id
    assert trading.get_option_contract(str(call.id)).symbol == call.symbol
    with pytest.raises(APIError) as err:
        trading.get_option_contract("AAPL170616C00155001")
    assert err.value.status_code == 404


def test_filters_and_pages(exchange_url: str) -> None:
    trading = client(exchange_url)
    request: dict[str, Any] = {"underlying_symbols": ["AAPL", "MSFT"], "expiration_date_gte": dt.date(2017, 7, 1),
                   "expiration_date_lte": dt.date(2017, 8, 31), "type": ContractType.PUT,
                   "strike_price_gte": "60", "strike_price_lte": "160"}
    everything = trading.get_option_contracts(GetOptionContractsRequest(**request, limit=10000)).option_contracts
    assert everything and all(c.type == ContractType.PUT and 60 <= c.strike_price <= 160
                              and dt.date(2017, 7, 1) <= c.expiration_date <= dt.date(2017, 8, 31)
                              for c in everything)
    assert {c.underlying_symbol for c in everything} == {"AAPL", "MSFT"}
    paged, token = [], None
    while True:   # alpaca-py does not page by itself
        page = trading.get_option_contracts(GetOptionContractsRequest(**request, limit=7, page_token=token))
        paged += page.option_contracts
        token = page.next_page_token
        if token is None:
            break
    assert [c.symbol for c in paged] == [c.symbol for c in everything]


def test_the_default_upper_expiry_is_the_coming_weekend(exchange_url: str) -> None:
    # Monday 2017-06-05: nothing expires by Sunday the 11th; the 16th is past it.
    trading = client(exchange_url)
    assert trading.get_option_contracts(GetOptionContractsRequest(underlying_symbols=["AAPL"])).option_contracts == []
    assert trading.get_option_contracts(GetOptionContractsRequest(
        underlying_symbols=["AAPL"], status=AssetStatus.INACTIVE,
        expiration_date_lte=dt.date(2018, 1, 1))).option_contracts == []


def test_good_friday_moves_the_expiry_to_thursday() -> None:
    assert monthly_expiry(2014, 4) == dt.date(2014, 4, 17)
    assert monthly_expiry(2017, 6) == dt.date(2017, 6, 16)


def test_options_enabled_follows_the_listing_tests(tmp_path: Path) -> None:
    """A penny stock and a thinly traded one have no options; the others do."""
    days = pl.date_range(dt.date(2016, 1, 4), dt.date(2017, 6, 2), "1d", eager=True)
    days = days.filter(days.dt.weekday() <= 5)
    rows = []
    for symbol, close, volume in (("LIQ", 50.0, 1e6), ("PENNY", 2.0, 1e7), ("THIN", 40.0, 100.0)):
        rows += [{"symbol": symbol, "date": d, "open": close, "high": close, "low": close, "close": close,
                  "volume": volume} for d in days]
    data = tmp_path / "bars.csv"
    pl.DataFrame(rows).write_csv(data)
    with serve_exchange(ExchangeConfig(data=data, start=OPEN, state=tmp_path / "x.sqlite")) as url:
        trading = client(url)
        enabled = trading.get_all_assets(GetAssetsRequest(attributes="options_enabled"))
        assert [a.symbol for a in enabled] == ["LIQ"]
        assert trading.get_asset("LIQ").attributes == ["options_enabled"]
        assert trading.get_asset("PENNY").attributes == []
        assert trading.get_option_contracts(GetOptionContractsRequest(
            underlying_symbols=["PENNY", "THIN"], expiration_date_lte=dt.date(2018, 1, 1))).option_contracts == []
