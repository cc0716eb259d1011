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
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import polars as pl

from kobe.config.errors import Diagnostic, KobeError


class Provider(Protocol):
    name: str
    adjusted: bool

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> pl.DataFrame:
        """Bars of ``symbol`` with ``start <= date <= end``, sorted by date; empty if none."""
        ...


PROVIDERS = ("embedded", "files", "polygon", "alpaca")
SECRET_VARIABLES = ("POLYGON_API_KEY", "ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY")


def read_env(path: Path = Path(".env")) -> dict[str, str]:
    """The process environment, completed by a ``.env`` file (``KEY=value`` lines).

    The process environment wins. Values are never printed; :func:`redact` scrubs them
    from any text that might be shown.
    """
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    values.update({k: v for k, v in os.environ.items()})
    return values


def redact(text: str, env: Mapping[str, str]) -> str:
    """``text`` with every secret value of ``env`` replaced by ``***``."""
    for name in SECRET_VARIABLES:
        secret = env.get(name)
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


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
