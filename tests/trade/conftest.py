"""Fixtures of the trading tests: a desk (a pinned project and a running exchange)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from trade_desk import KEY_ID, SECRET, TEN_AM, Desk, make_project

from kobe.broker.exchange import ExchangeAdmin, ExchangeConfig, ExchangeServer


@pytest.fixture
def open_desk(tmp_path: Path) -> Iterator[Callable[..., Desk]]:
    """``open_desk(project=dict(...), **exchange settings)``: a desk. Its exchange runs
    in this process on a free port with a frozen clock; all are stopped at the end,
    together (each stop waits for its server loop's next poll)."""
    servers: list[ExchangeServer] = []

    def start(project: dict[str, Any] | None = None, **exchange: Any) -> Desk:
        home = tmp_path / f"desk{len(servers) + 1}"
        root = make_project(home / "project", **(project or {}))
        settings: dict[str, Any] = {"start": TEN_AM, "state": home / "exchange.sqlite", "key_id": KEY_ID,
                                    "secret_key": SECRET, "hang_seconds": 5.0}
        settings.update(exchange)
        server = ExchangeServer(ExchangeConfig(**settings)).start()
        servers.append(server)
        return Desk(root, server.url, ExchangeAdmin(server.url, timeout=5))

    try:
        yield start
    finally:
        with ThreadPoolExecutor(max_workers=max(1, len(servers))) as pool:
            list(pool.map(lambda server: server.stop(), servers))


@pytest.fixture
def desk(open_desk: Callable[..., Desk]) -> Desk:
    """At 10:00 New York on Monday 2017-06-05: $300 per order, $1,000 a day."""
    return open_desk()
