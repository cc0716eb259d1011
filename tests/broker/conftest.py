"""The stand-in exchange on a free loopback port, and the real vendor clients aimed at it.

Every client has an explicit timeout; alpaca-py's 429/504 back-off is set to 0 s so a
retry test does not sleep. The clock is frozen: tests move it through the admin API.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from kobe.clients import polygon_client, stock_data_client, trading_client
from kobe.broker.exchange import ExchangeAdmin, ExchangeConfig, serve_exchange
from kobe.data.calendar import NEW_YORK

from stand_keys import KEY_ID, POLYGON_KEY, SECRET  # shared with the test modules, which cannot import conftest
DAY = dt.date(2017, 6, 5)  # a Monday inside the embedded data
OPEN = dt.datetime(2017, 6, 5, 9, 30, tzinfo=NEW_YORK)
TIMEOUT = 5.0


@dataclass
class Stand:
    """A running exchange: its URL, its admin API and factories for the real clients."""

    url: str
    admin: ExchangeAdmin
    stop: Callable[[], None]

    def trading(self, timeout: float = TIMEOUT, **kwargs: Any):
        client = trading_client(kwargs.pop("key_id", KEY_ID), kwargs.pop("secret_key", SECRET), base_url=self.url,
                                timeout=timeout, retry_wait=0, **kwargs)
        # Gotcha 2: a client without the override would trade at the vendor's host.
        assert client._base_url.startswith("http://127.0.0.1")
        return client

    def data(self, timeout: float = TIMEOUT, **kwargs: Any):
        return stock_data_client(kwargs.pop("key_id", KEY_ID), kwargs.pop("secret_key", SECRET), base_url=self.url,
                                 timeout=timeout, retry_wait=0, **kwargs)

    def polygon(self, timeout: float = TIMEOUT, retries: int = 0, key: str = POLYGON_KEY):
        return polygon_client(key, base_url=self.url, timeout=timeout, retries=retries)

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.admin.requests() if path is None or r["path"] == path]


def config(tmp_path, **overrides: Any) -> ExchangeConfig:
    settings: dict[str, Any] = {"start": OPEN, "state": tmp_path / "exchange.sqlite", "key_id": KEY_ID,
                                    "secret_key": SECRET, "polygon_key": POLYGON_KEY, "hang_seconds": 10.0}
    settings.update(overrides)
    return ExchangeConfig(**settings)


@pytest.fixture
def start_exchange(tmp_path) -> Iterator[Callable[..., Stand]]:
    """Start an exchange with :func:`config`'s settings plus overrides (all share one
    state file); each is stopped at the end, or earlier by its ``stop()``."""
    with contextlib.ExitStack() as stack:
        def start(**overrides: Any) -> Stand:
            own = stack.enter_context(contextlib.ExitStack())
            url = own.enter_context(serve_exchange(config(tmp_path, **overrides)))
            return Stand(url, ExchangeAdmin(url, timeout=TIMEOUT), own.close)
        yield start


@pytest.fixture
def exchange(start_exchange) -> Stand:
    """An exchange at the open of 2017-06-05, $100,000 cash, keys required."""
    return start_exchange()


def _ask_bid(mid: float, spread_bps: float = 10.0) -> tuple[Decimal, Decimal]:
    half = Decimal(repr(spread_bps)) / 20000
    m = Decimal(repr(mid))
    return ((m * (1 + half)).quantize(Decimal("0.01"), rounding="ROUND_CEILING"),
            (m * (1 - half)).quantize(Decimal("0.01"), rounding="ROUND_FLOOR"))


@pytest.fixture
def ask_bid() -> Callable[..., tuple[Decimal, Decimal]]:
    """``ask_bid(mid, spread_bps=10)``: the quote docs/exchange.md promises around a mid
    (half the spread each side, rounded outwards to the cent), written out here
    independently of the exchange's code."""
    return _ask_bid
