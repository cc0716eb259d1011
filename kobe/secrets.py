"""API keys: read from the environment or a ``.env`` file, and never shown.

Every text that may reach a log, the audit trail, an error message or ``--json`` output
and that could contain a key goes through :func:`redact`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from dotenv import dotenv_values

from kobe.config.text import read_text

SECRET_VARIABLES = ("POLYGON_API_KEY", "ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY")


def read_env(path: Path = Path(".env")) -> dict[str, str]:
    """The process environment, completed by a ``.env`` file (``KEY=value`` lines,
    ``export`` and quotes allowed, read by python-dotenv without interpolation: a key
    may contain ``$``). The process environment wins. A ``.env`` that is not UTF-8 or
    not a file is a located :class:`~kobe.config.errors.KobeError`."""
    values: dict[str, str] = {}
    if path.exists():
        text = read_text(path, str(path))
        values = {k: v for k, v in dotenv_values(stream=io.StringIO(text), interpolate=False).items()
                  if v is not None}
    values.update(os.environ)
    return values


def secret_values(env: Mapping[str, str]) -> list[str]:
    """The values of the secret variables that are set (long enough to be keys)."""
    return [env[name] for name in SECRET_VARIABLES if len(env.get(name) or "") >= 4]


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
