"""``kobe exchange``: a local stand-in for Alpaca (trading and market data) and Polygon.

The real vendor clients talk to it over HTTP on 127.0.0.1 with a base-URL override, so
paper trading and every broker test run offline, against the replayed bars of a file:

    >>> from kobe.broker.exchange import ExchangeConfig, serve_exchange  # doctest: +SKIP
    >>> with serve_exchange(ExchangeConfig(start=dt.date(2017, 6, 5))) as url:
    ...     trading = trading_client("key", "secret", base_url=url)

The parts, one concept per module: ``app`` (config and assembly), ``server`` (HTTP),
``routing``, ``trading_api``, ``market_data`` and ``admin_api`` (the endpoints), ``venue``
(the account and the vendor's order rules), ``matching``, ``stops``, ``oco``, ``quotes``, ``history`` (the
bars), ``clock``, ``records``, ``store`` (SQLite), ``faults``, ``wire`` (JSON shapes),
``errors``, and ``admin`` (a client for the admin endpoints). See ``docs/exchange.md``.
"""

from kobe.broker.exchange.admin import ExchangeAdmin
from kobe.broker.exchange.app import Exchange, ExchangeConfig
from kobe.broker.exchange.faults import FaultPlan, FaultRule
from kobe.broker.exchange.server import ExchangeServer, serve_exchange

__all__ = ["Exchange", "ExchangeAdmin", "ExchangeConfig", "ExchangeServer", "FaultPlan", "FaultRule",
           "serve_exchange"]
