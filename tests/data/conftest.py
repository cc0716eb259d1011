"""The stand-in exchange fixture of the lake's tests (see lake_stand.py)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lake_stand import DATA, KEY_ID, POLYGON_KEY, SECRET, Stand

from kobe.broker.exchange import ExchangeAdmin, ExchangeConfig, serve_exchange


@pytest.fixture
def stand() -> Iterator[Callable[..., Stand]]:
    """``stand(at, **settings)``: an exchange whose clock stands at ``at`` (aware), its
    state in memory, keys required; stopped at the end of the test."""
    with contextlib.ExitStack() as stack:
        def start(at: dt.datetime, **settings: Any) -> Stand:
            config = ExchangeConfig(data=DATA, start=at, key_id=KEY_ID, secret_key=SECRET, polygon_key=POLYGON_KEY,
                                    hang_seconds=5.0, **settings)
            url = stack.enter_context(serve_exchange(config))
            return Stand(url, ExchangeAdmin(url, timeout=5.0))
        yield start
