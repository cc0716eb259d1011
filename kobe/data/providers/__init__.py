"""Where daily bars come from, behind one interface.

A provider answers :meth:`Provider.daily_bars` for one symbol and a date range with a
frame in the standard bar shape (see :mod:`kobe.data.bars`). ``polygon`` and ``alpaca``
reach the vendors through their real client libraries (pointed at ``kobe exchange`` in
tests and offline use); ``files`` reads a CSV/Parquet file or a folder of them;
``embedded`` is the package's sample. :func:`make_provider` builds one from the
``data:`` settings and the environment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.secrets import read_env


class Provider(Protocol):
    name: str
    adjusted: bool

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> pl.DataFrame:
        """Bars of ``symbol`` with ``start <= date <= end``, sorted by date; empty if none."""
        ...


PROVIDERS = ("embedded", "files", "polygon", "alpaca")


def make_provider(name: str, *, base_url: str | None = None, path: str | None = None,
                  env: Mapping[str, str] | None = None, timeout: float = 10.0) -> Provider:
    """The provider called ``name``; keys come from ``env`` (default: :func:`read_env`)."""
    env = read_env() if env is None else env
    if name == "embedded":
        from kobe.data.providers.files import FilesProvider

        return FilesProvider(None, name="embedded")
    if name == "files":
        from kobe.data.providers.files import FilesProvider

        if not path:
            raise KobeError(Diagnostic("the files provider needs a path", hint="set data.path"))
        return FilesProvider(Path(path))
    if name == "polygon":
        from kobe.data.providers.polygon import PolygonProvider

        key = env.get("POLYGON_API_KEY")
        if not key:
            raise KobeError(Diagnostic("POLYGON_API_KEY is not set", hint="set it in the environment or .env"))
        return PolygonProvider(key, base_url=base_url or env.get("POLYGON_BASE_URL"), timeout=timeout)
    if name == "alpaca":
        from kobe.data.providers.alpaca import AlpacaProvider

        key_id, secret = env.get("ALPACA_API_KEY_ID"), env.get("ALPACA_API_SECRET_KEY")
        if not key_id or not secret:
            raise KobeError(Diagnostic("ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY must be set",
                                       hint="set them in the environment or .env"))
        return AlpacaProvider(key_id, secret, base_url=base_url or env.get("ALPACA_DATA_URL"), timeout=timeout)
    raise KobeError(Diagnostic(f"unknown data provider {name!r}", hint=f"one of {', '.join(PROVIDERS)}"))
