"""The exchange's routing table: which handler answers which request.

A route is a method, a full-path regex with named groups and the API it belongs to
(``alpaca``, ``polygon`` or ``admin``), which decides the authentication and the error
body's shape. Handlers are plain functions ``(exchange, request) -> Reply``; the server
does the HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kobe.broker.exchange.app import Exchange

APIS = ("alpaca", "polygon", "admin")


@dataclass(frozen=True)
class Request:
    """One parsed request: ``query`` keeps the last value of each parameter, ``params``
    the path's named groups, ``base_url`` the address the client used."""

    method: str
    path: str
    query: Mapping[str, str]
    body: Any
    headers: Mapping[str, str]
    params: Mapping[str, str]
    base_url: str


@dataclass(frozen=True)
class Reply:
    """An answer: ``body`` is JSON-able, or ``None`` for an empty body (a 204); ``html``
    replaces it with a page (a gateway's error)."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    html: str | None = None


Handler = Callable[["Exchange", Request], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    api: str
    handler: Handler
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.api not in APIS:
            raise ValueError(f"unknown API {self.api!r}")
        object.__setattr__(self, "regex", re.compile(f"^{self.pattern}$"))


def find(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | tuple[None, str | None]:
    """The route for ``method path`` and its path parameters; otherwise ``None`` and the
    API the path belongs to (if any path of it matches), for the error's shape."""
    api = None
    for route in routes:
        match = route.regex.match(path)
        if match:
            if route.method == method:
                return route, match.groupdict()
            api = route.api
    return None, api or api_of(path)


def api_of(path: str) -> str | None:
    """The API a path would belong to: Polygon's aggregates, the admin, else Alpaca."""
    if path.startswith("/v2/aggs/"):
        return "polygon"
    if path.startswith("/admin/"):
        return "admin"
    return "alpaca" if path.startswith("/v2/") else None
