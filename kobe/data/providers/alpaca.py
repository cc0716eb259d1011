"""Alpaca daily bars through alpaca-py's ``StockHistoricalDataClient`` (adjusted for
splits and dividends, ``adjustment=all``); the client follows ``next_page_token``.
Bars come back as the vendor sent them (order, duplicates, range): the lake checks them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.data.bars import BAR_SCHEMA

NEW_YORK = ZoneInfo("America/New_York")


class AlpacaProvider:
    name = "alpaca"
    adjusted = True

    def __init__(self, key_id: str, secret_key: str, *, base_url: str | None = None, timeout: float = 10.0) -> None:
        from kobe.clients import stock_data_client

        self._client = stock_data_client(key_id, secret_key, base_url=base_url, timeout=timeout)
        self._secrets = (key_id, secret_key)

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> pl.DataFrame:
        from alpaca.data.enums import Adjustment
        from alpaca.data.requests import StockBarsRequest
        from alpaca.data.timeframe import TimeFrame

        request = StockBarsRequest(symbol_or_symbols=symbol, timeframe=TimeFrame.Day, adjustment=Adjustment.ALL,
                                   start=dt.datetime.combine(start, dt.time(), NEW_YORK),
                                   end=dt.datetime.combine(end, dt.time(23, 59), NEW_YORK))
        try:
            answer = self._client.get_stock_bars(request)
            bars = (answer if isinstance(answer, dict) else answer.data).get(symbol, [])
        except Exception as err:  # noqa: BLE001 (APIError, requests errors: end the fetch of this symbol)
            message = str(err)
            for secret in self._secrets:
                message = message.replace(secret, "***")
            raise KobeError(Diagnostic(f"alpaca: fetching {symbol} failed: {message[:300]}")) from None
        rows = [(symbol, b.timestamp.astimezone(NEW_YORK).date(), b.open, b.high, b.low, b.close, b.volume)
                for b in bars]
        # In the vendor's order and unfiltered: the lake judges the answer (kobe.data.lake.check_answer).
        return pl.DataFrame(rows, schema=BAR_SCHEMA, orient="row")
