"""The vendor's error answers, raised inside the exchange and written by the server.

A :class:`VendorError` is what Alpaca or Polygon would answer instead of data: an HTTP
status, a message and, for Alpaca, a numeric ``code``. The server renders it in the
body shape of the API that was called (see ``server.error_body``), so one error raised in
the venue reads as Alpaca's ``{"code", "message"}`` or Polygon's ``{"status", "error"}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Alpaca's typical numeric codes (broker-apis.md 1.6); clients branch on the HTTP status.
BAD_REQUEST = 40010001
UNAUTHORIZED = 40110000
FORBIDDEN = 40310000
NOT_FOUND = 40410000
TIMED_OUT = 40810000
TOO_LARGE = 41310000
UNPROCESSABLE = 42210000
RATE_LIMITED = 42910000
INTERNAL = 50010000
NOT_IMPLEMENTED = 50110000


def alpaca_code(status: int) -> int:
    """The numeric code of an answer the stand-in gives with no code of its own (the
    vendor's pattern: the status, then 10000)."""
    return status * 100_000 + 10_000


@dataclass
class VendorError(Exception):
    """An error answer: ``status`` and ``message``; ``code`` and ``extra`` fields for
    Alpaca bodies; ``headers`` such as ``Retry-After``; ``html`` when the answer is a
    proxy's HTML page rather than the API's JSON."""

    status: int
    message: str
    code: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None  # a gateway's page instead of a JSON body

    def __post_init__(self) -> None:
        super().__init__(f"{self.status} {self.message}")


def unprocessable(message: str) -> VendorError:
    return VendorError(422, message, UNPROCESSABLE)


def not_found(message: str) -> VendorError:
    return VendorError(404, message, NOT_FOUND)


def forbidden(message: str, **extra: Any) -> VendorError:
    return VendorError(403, message, FORBIDDEN, extra)
