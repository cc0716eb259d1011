"""The stand-in exchange for the lake's tests (shared by tests/data's modules, which
cannot import conftest): the real vendor clients (massive, alpaca-py) fetch from it, its
clock frozen at the instant a test names, its data faults switched on through the admin
API like any other fault."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kobe.broker.exchange import ExchangeAdmin
from kobe.data.bars import embedded_path
from kobe.data.calendar import NEW_YORK
from kobe.data.providers import Provider, make_provider

KEY_ID, SECRET, POLYGON_KEY = "PKLAKETEST", "SKLAKETESTSECRET", "polygon-lake-test"
ENV = {"POLYGON_API_KEY": POLYGON_KEY, "ALPACA_API_KEY_ID": KEY_ID, "ALPACA_API_SECRET_KEY": SECRET}
# The file of issue 10 (the S&P 500, 2013-02-08 .. 2018-02-07) when the shared data is
# beside the repository, else the embedded sample, which ends on the same session.
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "sp500_5yr_2013_2018.parquet"
DATA = SHARED if SHARED.exists() else None
SOURCE = DATA or embedded_path()


def new_york(text: str) -> dt.datetime:
    """``YYYY-MM-DDTHH:MM`` in New York, as an aware UTC instant."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=NEW_YORK).astimezone(dt.UTC)


@dataclass
class Stand:
    url: str
    admin: ExchangeAdmin

    def provider(self, name: str) -> Provider:
        return make_provider(name, base_url=self.url, env=ENV, timeout=5.0)

    def data_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.admin.requests() if r["path"].startswith(("/v2/aggs/", "/v2/stocks/bars"))]
