"""Market data through the real clients: alpaca-py's latest quotes and daily bars (paged
by next_page_token) and massive's aggregates (paged by next_url), checked value for
value against the bars file, with no lookahead past the exchange clock."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import parse_qs

import polars as pl
import pytest
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest
from alpaca.data.timeframe import TimeFrame

from kobe.clients import PolygonBadResponse
from kobe.data.bars import read_bars
from kobe.data.calendar import NEW_YORK

UTC = dt.UTC


def file_bars(symbol: str, start: dt.date, end: dt.date) -> list[tuple]:
    frame = read_bars(symbols=[symbol], start=start, end=end).collect()
    return frame.select("date", "open", "high", "low", "close", "volume").rows()


def midnight_ny(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), NEW_YORK).astimezone(UTC)


def test_latest_quote_is_the_spread_around_the_path_with_size_from_volume(exchange, ask_bid) -> None:
    data = exchange.data()
    quotes = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=["AAPL", "MSFT", "ZZZZ"]))
    assert set(quotes) == {"AAPL", "MSFT"}                  # unknown symbols are left out
    aapl = quotes["AAPL"]
    ask, bid = ask_bid(154.34)
    assert (Decimal(repr(aapl.ask_price)), Decimal(repr(aapl.bid_price))) == (ask, bid)
    assert aapl.ask_size == aapl.bid_size == 253
    assert aapl.timestamp == dt.datetime(2017, 6, 5, 13, 30, tzinfo=UTC)
    exchange.admin.set_clock(dt.datetime(2017, 6, 5, 13, 50, tzinfo=NEW_YORK))   # the path's low
    low = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="AAPL"))["AAPL"]
    assert (Decimal(repr(low.ask_price)), Decimal(repr(low.bid_price))) == ask_bid(153.46)


def test_wider_spread_setting_widens_the_quote(start_exchange, ask_bid) -> None:
    quote = start_exchange(spread_bps=50).data().get_stock_latest_quote(
        StockLatestQuoteRequest(symbol_or_symbols="AAPL"))["AAPL"]
    assert (Decimal(repr(quote.ask_price)), Decimal(repr(quote.bid_price))) == ask_bid(154.34, 50)


def test_latest_quote_over_a_weekend_stands_at_the_last_close(exchange, ask_bid) -> None:
    exchange.admin.set_clock(dt.datetime(2017, 6, 10, 12, 0, tzinfo=NEW_YORK))     # a Saturday
    quote = exchange.data().get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="AAPL"))["AAPL"]
    friday_close = file_bars("AAPL", dt.date(2017, 6, 9), dt.date(2017, 6, 9))[0][4]
    assert (Decimal(repr(quote.ask_price)), Decimal(repr(quote.bid_price))) == ask_bid(friday_close)
    assert quote.timestamp == dt.datetime(2017, 6, 9, 20, 0, tzinfo=UTC)


def test_alpaca_daily_bars_page_through_a_long_range_and_match_the_file(start_exchange) -> None:
    exchange = start_exchange(page_size=100)
    barset = exchange.data().get_stock_bars(StockBarsRequest(
        symbol_or_symbols=["AAPL", "MSFT"], timeframe=TimeFrame.Day, start=dt.date(2013, 1, 1),
        end=dt.date(2017, 6, 30)))
    for symbol in ("AAPL", "MSFT"):
        expected = file_bars(symbol, dt.date(2013, 1, 1), dt.date(2017, 6, 2))  # sessions closed by now
        got = [(b.timestamp, b.open, b.high, b.low, b.close, b.volume) for b in barset[symbol]]
        assert got == [(midnight_ny(d), o, h, low, c, v) for d, o, h, low, c, v in expected]
    pages = exchange.requests("/v2/stocks/bars")
    assert len(pages) == -(-2 * len(expected) // 100)
    assert "page_token" not in parse_qs(pages[0]["query"]) and "page_token" in parse_qs(pages[1]["query"])


def test_daily_bar_timestamps_are_midnight_new_york_in_utc(exchange) -> None:
    barset = exchange.data().get_stock_bars(StockBarsRequest(
        symbol_or_symbols="AAPL", timeframe=TimeFrame.Day, start=dt.date(2016, 12, 28), end=dt.date(2017, 6, 3)))
    stamps = {b.timestamp.date(): b.timestamp.time() for b in barset["AAPL"]}
    assert stamps[dt.date(2017, 1, 3)] == dt.time(5, 0)   # EST
    assert stamps[dt.date(2017, 6, 2)] == dt.time(4, 0)   # EDT


def test_an_end_date_is_midnight_utc_so_that_days_bar_is_left_out(exchange) -> None:
    # alpaca-py sends end=date(2017, 6, 2) as 2017-06-02T00:00:00+00:00, before the bar's
    # 04:00Z stamp: ask for the day after to include a day's bar.
    barset = exchange.data().get_stock_bars(StockBarsRequest(
        symbol_or_symbols="AAPL", timeframe=TimeFrame.Day, start=dt.date(2017, 6, 1), end=dt.date(2017, 6, 2)))
    assert barset_days(barset) == [dt.date(2017, 6, 1)]


def test_a_user_limit_counts_bars_across_symbols(start_exchange) -> None:
    exchange = start_exchange(page_size=5)
    barset = exchange.data().get_stock_bars(StockBarsRequest(
        symbol_or_symbols=["AAPL", "MSFT"], timeframe=TimeFrame.Day, start=dt.date(2017, 1, 1), limit=12))
    assert sum(len(bars) for bars in barset.data.values()) == 12
    sent_limits = [parse_qs(r["query"])["limit"][0] for r in exchange.requests("/v2/stocks/bars")]
    assert sent_limits == ["12", "7", "2"]


def test_no_bar_of_the_running_session_before_its_close(exchange) -> None:
    request = StockBarsRequest(symbol_or_symbols="AAPL", timeframe=TimeFrame.Day, start=dt.date(2017, 6, 1),
                               end=dt.date(2017, 6, 6))
    data, polygon = exchange.data(), exchange.polygon()
    assert barset_days(data.get_stock_bars(request)) == [dt.date(2017, 6, 1), dt.date(2017, 6, 2)]
    assert len(list(polygon.list_aggs("AAPL", 1, "day", "2017-06-01", "2017-06-05"))) == 2
    exchange.admin.to_next_close()
    assert barset_days(data.get_stock_bars(request))[-1] == dt.date(2017, 6, 5)
    assert len(list(polygon.list_aggs("AAPL", 1, "day", "2017-06-01", "2017-06-05"))) == 3


def barset_days(barset) -> list[dt.date]:
    return [b.timestamp.astimezone(NEW_YORK).date() for b in barset.data.get("AAPL", [])]


def test_no_data_is_an_empty_barset_not_a_crash(exchange) -> None:
    barset = exchange.data().get_stock_bars(StockBarsRequest(
        symbol_or_symbols="ZZZZ", timeframe=TimeFrame.Day, start=dt.date(2017, 1, 1)))
    assert barset.data == {}


def test_polygon_list_aggs_follows_next_url_through_a_long_range(start_exchange) -> None:
    exchange = start_exchange(page_size=250)
    aggs = list(exchange.polygon().list_aggs("MSFT", 1, "day", "2013-01-01", "2017-12-31"))
    expected = file_bars("MSFT", dt.date(2013, 1, 1), dt.date(2017, 6, 2))
    got = [(a.timestamp, a.open, a.high, a.low, a.close, a.volume) for a in aggs]
    assert got == [(int(midnight_ny(d).timestamp() * 1000), o, h, low, c, v) for d, o, h, low, c, v in expected]
    assert len(exchange.requests()) == -(-len(expected) // 250)


def test_polygon_get_aggs_ignores_next_url_and_cuts_a_long_range_short(start_exchange) -> None:
    exchange = start_exchange(page_size=250)
    assert len(exchange.polygon().get_aggs("MSFT", 1, "day", "2013-01-01", "2017-12-31")) == 250


def test_next_url_carries_every_parameter(start_exchange) -> None:
    exchange = start_exchange(page_size=1000)
    polygon = exchange.polygon()
    newest_first = list(polygon.list_aggs("AAPL", 1, "day", dt.date(2017, 1, 1), dt.date(2017, 5, 31),
                                          sort="desc", limit=7, adjusted=False))
    stamps = [a.timestamp for a in newest_first]
    assert stamps == sorted(stamps, reverse=True) and len(stamps) == len(file_bars("AAPL", dt.date(2017, 1, 1),
                                                                                   dt.date(2017, 5, 31)))
    queries = [parse_qs(r["query"]) for r in exchange.requests()]
    assert queries[0] == {"adjusted": ["false"], "sort": ["desc"], "limit": ["7"]}
    assert all(set(q) == {"cursor"} for q in queries[1:])   # the client sends nothing else later
    assert len(queries) == -(-len(stamps) // 7)


def test_polygon_unknown_ticker_is_an_empty_list(exchange) -> None:
    assert list(exchange.polygon().list_aggs("ZZZZ", 1, "day", "2017-01-01", "2017-05-31")) == []


def test_polygon_refuses_what_it_does_not_serve_with_bad_response(exchange) -> None:
    with pytest.raises(PolygonBadResponse) as refused:
        exchange.polygon().get_aggs("AAPL", 1, "week", "2017-01-01", "2017-05-31")
    assert "1/day only" in str(refused.value)


def test_any_shared_data_file_can_be_served(start_exchange) -> None:
    from pathlib import Path

    shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "SPY_2005_2017.csv"
    source = shared if shared.exists() else Path(__file__).resolve().parents[1] / "data" / "GOOG_2004_2013.csv"
    symbol = source.name.split("_")[0]
    frame = read_bars(source).collect()
    last = frame["date"].max()
    exchange = start_exchange(data=source, start=last)
    aggs = list(exchange.polygon().list_aggs(symbol, 1, "day", "1990-01-01", last.isoformat()))
    assert len(aggs) == frame.filter(pl.col("date") < last).height
