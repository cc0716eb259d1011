"""Polygon daily aggregates through the official client (``massive``).

``list_aggs`` follows ``next_url`` (``get_aggs`` silently stops after one page); the
client retries 429 and 5xx with backoff (urllib3) and raises ``MaxRetryError`` when the
retries run out, which becomes a :class:`KobeError` naming the symbol, never the key.
Bars come back as the vendor sent them (order, duplicates, range): the lake checks them.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.data.bars import BAR_SCHEMA

NEW_YORK = ZoneInfo("America/New_York")


class PolygonProvider:
    name = "polygon"
    adjusted = True

    def __init__(self, api_key: str, *, base_url: str | None = None, timeout: float = 10.0, retries: int = 3) -> None:
        from kobe.clients import polygon_client

        self._client = polygon_client(api_key, base_url=base_url, timeout=timeout, retries=retries)
        self._secret = api_key

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> pl.DataFrame:
        rows = []
        try:
            for agg in self._client.list_aggs(symbol, 1, "day", start.isoformat(), end.isoformat(),
                                              adjusted=self.adjusted, sort="asc", limit=50000):
                # A daily aggregate is stamped at midnight New York time, in ms since the epoch.
                day = dt.datetime.fromtimestamp(agg.timestamp / 1000, tz=NEW_YORK).date()
                rows.append((symbol, day, agg.open, agg.high, agg.low, agg.close, agg.volume))
        except Exception as err:  # noqa: BLE001 (urllib3 MaxRetryError, BadResponse, ...: all end this symbol)
            message = str(err).replace(self._secret, "***")
            raise KobeError(Diagnostic(f"polygon: fetching {symbol} failed: {message[:300]}",
                                       hint="the fetch can be re-run; what was written is kept")) from None
        # In the vendor's order and unfiltered: the lake judges the answer (kobe.data.lake.check_answer),
        # and a bar outside the range asked is a fault to report, not to hide.
        return pl.DataFrame(rows, schema=BAR_SCHEMA, orient="row")
