"""The vendor clients, built one way everywhere: with timeouts, and pointed where asked.

A leaf module (it imports nothing of Kobe), so the data layer (market-data providers)
and the broker layer (the executor, the exchange tests) both build their clients here.

Kobe talks to Alpaca through alpaca-py and to Polygon through ``massive`` (the renamed
official Polygon client, which applies its timeouts where polygon-api-client 1.16 does
not). This module is the only one that imports ``massive``, and every client Kobe uses
comes from one of its factories, so no call can hang forever:

- alpaca-py passes no timeout to its ``requests.Session``; :class:`TimeoutAdapter` is
  mounted on the client's session and fills one in for every request (a hung server
  then raises ``requests.exceptions.ReadTimeout``).
- alpaca-py retries HTTP 429 and 504 three times, sleeping 3 s each; ``retry_wait``
  sets that sleep (tests use 0).
- massive gets ``connect_timeout``/``read_timeout`` and its urllib3 ``retries``.

A ``base_url`` is ``scheme://host:port`` with no trailing ``/`` and no ``/v2`` (both
clients add ``/v2/...`` themselves); ``None`` means the vendor's own host. Use
``kobe exchange``'s URL to trade against the local stand-in.
"""

from __future__ import annotations

from typing import Any

import requests
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from massive import RESTClient as PolygonClient
from massive.exceptions import BadResponse as PolygonBadResponse
from requests.adapters import HTTPAdapter

DEFAULT_TIMEOUT = 10.0
"""Seconds to wait for a connection and then for each read, on every vendor call."""

__all__ = ["DEFAULT_TIMEOUT", "PolygonBadResponse", "PolygonClient", "TimeoutAdapter", "polygon_client",
           "stock_data_client", "trading_client"]


class TimeoutAdapter(HTTPAdapter):
    """A requests transport that applies ``timeout`` to every request that names none.

    alpaca-py calls ``session.request(...)`` without a timeout; requests then hands
    ``timeout=None`` to the adapter, which is where this one substitutes its own.
    """

    def __init__(self, timeout: float | tuple[float, float], **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def _check_base(base_url: str | None) -> None:
    if base_url is not None and (base_url.endswith("/") or base_url.rstrip("/").endswith("/v2")):
        raise ValueError(f"base URL {base_url!r} must be scheme://host:port with no trailing '/' and no '/v2'")


def _with_timeout(client: Any, timeout: float, retry_wait: float | None) -> Any:
    adapter = TimeoutAdapter(timeout)
    # _session is alpaca-py's requests.Session (alpaca/common/rest.py); it has no public
    # hook for timeouts, so the adapter goes on it directly.
    client._session.mount("http://", adapter)
    client._session.mount("https://", adapter)
    if retry_wait is not None:
        client._retry_wait = retry_wait
    return client


def trading_client(key_id: str, secret_key: str, *, base_url: str | None = None, paper: bool = True,
                   timeout: float = DEFAULT_TIMEOUT, retry_wait: float | None = None) -> TradingClient:
    """alpaca-py's ``TradingClient`` (account, clock, orders, positions) with a timeout.

    ``paper`` picks Alpaca's paper or live host when ``base_url`` is ``None``; with a
    ``base_url`` it has no effect. ``retry_wait`` is the sleep before each of the
    client's retries of a 429 or 504 (alpaca-py's default is 3 s).
    """
    _check_base(base_url)
    client = TradingClient(api_key=key_id, secret_key=secret_key, paper=paper, url_override=base_url)
    return _with_timeout(client, timeout, retry_wait)


def stock_data_client(key_id: str, secret_key: str, *, base_url: str | None = None,
                      timeout: float = DEFAULT_TIMEOUT, retry_wait: float | None = None) -> StockHistoricalDataClient:
    """alpaca-py's ``StockHistoricalDataClient`` (latest quotes, daily bars) with a timeout."""
    _check_base(base_url)
    client = StockHistoricalDataClient(api_key=key_id, secret_key=secret_key, url_override=base_url)
    return _with_timeout(client, timeout, retry_wait)


def polygon_client(api_key: str, *, base_url: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                   retries: int = 3) -> PolygonClient:
    """The Polygon aggregates client (``massive.RESTClient``) with timeouts.

    Use ``list_aggs`` for ranges: ``get_aggs`` ignores ``next_url`` and silently returns
    only the first page. Other 4xx answers raise :data:`PolygonBadResponse` (its text is
    the body; it keeps no status). When ``retries`` run out (429, 5xx, timeouts),
    urllib3's ``MaxRetryError`` is raised instead.
    """
    _check_base(base_url)
    kwargs: dict[str, Any] = {"base": base_url} if base_url is not None else {}
    return PolygonClient(api_key=api_key, connect_timeout=timeout, read_timeout=timeout, retries=retries,
                         **kwargs)
