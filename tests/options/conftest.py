"""A stand-in exchange for the options tests: frozen at the open of 2017-06-05 (inside the
embedded bars), any keys accepted, its state in a temporary file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from kobe.broker.exchange import ExchangeConfig, serve_exchange
from kobe.data.calendar import NEW_YORK

OPEN = dt.datetime(2017, 6, 5, 9, 30, tzinfo=NEW_YORK)


@pytest.fixture
def exchange_url(tmp_path) -> Iterator[str]:
    with serve_exchange(ExchangeConfig(start=OPEN, state=tmp_path / "exchange.sqlite")) as url:
        yield url
