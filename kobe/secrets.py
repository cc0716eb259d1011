"""API keys: read from the environment or a ``.env`` file, and never shown.

Every text that may reach a log, the audit trail, an error message or ``--json`` output
and that could contain a key goes through :func:`redact`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

SECRET_VARIABLES = ("POLYGON_API_KEY", "ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY")


def read_env(path: Path = Path(".env")) -> dict[str, str]:
    """The process environment, completed by a ``.env`` file (``KEY=value`` lines,
    ``export`` and quotes allowed). The process environment wins."""
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
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
