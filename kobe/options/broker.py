"""What the broker lists for options, read with alpaca-py against ``ALPACA_BASE_URL``
(Alpaca, or a running ``kobe exchange``), with the keys of the environment or ``.env``
as every trading command reads them (:class:`kobe.broker.alpaca.BrokerSettings`).

- :func:`optionable_symbols`: the assets carrying Alpaca's ``options_enabled`` attribute
  (``GET /v2/assets?status=active&attributes=options_enabled``), the underlyings with
  listed options; ``kobe universe build --optionable`` keeps only those.
- :func:`option_chain`: the contracts of one underlying expiring in a date range
  (``GET /v2/options/contracts``, every page: alpaca-py does not page by itself).

Read-only calls, so the live host is allowed; no key is ever printed (errors are redacted).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from kobe.config.errors import Diagnostic, KobeError
from kobe.options.strikes import Contract

MAX_PAGES = 1000   # 10 million contracts: a broker that keeps answering pages is broken


def _client(env: Mapping[str, str], timeout: float) -> tuple[Any, list[str]]:
    from kobe.broker.alpaca import BrokerSettings
    from kobe.clients import trading_client
    from kobe.secrets import redact

    settings = BrokerSettings.from_env(env, paper=False)
    try:
        client = trading_client(settings.key_id, settings.secret_key, base_url=settings.base_url, timeout=timeout)
    except ValueError as err:
        raise KobeError(Diagnostic(redact(str(err), settings.secrets), hint="check ALPACA_BASE_URL")) from None
    return client, settings.secrets


def _unavailable(err: Exception, secrets: list[str], what: str) -> KobeError:
    from kobe.secrets import redact

    text = redact(f"{type(err).__name__}: {str(err).strip()[:300]}", secrets)
    return KobeError(Diagnostic(f"the broker could not list {what}: {text}",
                                hint="check ALPACA_BASE_URL (a running `kobe exchange`?), the keys and the "
                                     "broker's status"))


def optionable_symbols(env: Mapping[str, str], *, timeout: float = 10.0) -> set[str]:
    """The symbols whose asset has ``options_enabled`` (active assets only)."""
    from alpaca.trading.enums import AssetStatus
    from alpaca.trading.requests import GetAssetsRequest

    client, secrets = _client(env, timeout)
    try:
        assets = client.get_all_assets(GetAssetsRequest(status=AssetStatus.ACTIVE, attributes="options_enabled"))
    except Exception as err:  # noqa: BLE001 - any failure of the call (network, HTTP, parsing) is the broker's
        raise _unavailable(err, secrets, "the optionable assets") from None
    # The filter is the server's; the attribute is checked again so a server that
    # ignores the filter cannot let every asset through.
    return {a.symbol for a in assets if "options_enabled" in (a.attributes or [])}


def option_chain(env: Mapping[str, str], symbol: str, first: dt.date, last: dt.date, *,
                 timeout: float = 10.0) -> list[Contract]:
    """Every active contract of ``symbol`` expiring from ``first`` to ``last``."""
    from alpaca.trading.requests import GetOptionContractsRequest

    client, secrets = _client(env, timeout)
    out: list[Contract] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        try:
            page = client.get_option_contracts(GetOptionContractsRequest(
                underlying_symbols=[symbol], expiration_date_gte=first, expiration_date_lte=last, limit=10000,
                page_token=token))
        except Exception as err:  # noqa: BLE001 - as above
            raise _unavailable(err, secrets, f"the option contracts of {symbol}") from None
        out += [Contract(c.symbol, c.expiration_date, c.type.value, float(c.strike_price))
                for c in page.option_contracts or []]
        token = page.next_page_token
        if not token:
            return out
    raise KobeError(Diagnostic(f"the broker answered more than {MAX_PAGES} pages of {symbol} contracts"))
