"""A client for the exchange's admin endpoints: move its clock, set its faults.

What tests and ``kobe run --paper`` use to replay days against a running exchange
(in-process or ``kobe exchange`` in another terminal), over the same HTTP as the
vendor clients, with a timeout on every call.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import requests

from kobe.broker.exchange.faults import FaultPlan, FaultRule
from kobe.clients import DEFAULT_TIMEOUT, TimeoutAdapter


class ExchangeAdmin:
    """The admin API of the exchange at ``base_url``; errors raise ``requests.HTTPError``."""

    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url
        self._session = requests.Session()
        self._session.mount("http://", TimeoutAdapter(timeout))

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._session.request(method, self.base_url + path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def clock(self) -> dict[str, Any]:
        """``now``, ``is_open``, ``next_open``, ``next_close`` (UTC), ``session``, ``speed``."""
        return self._call("GET", "/admin/clock")

    def set_clock(self, instant: dt.datetime) -> dict[str, Any]:
        """Jump to an aware ``instant`` (never backwards); working orders play forward."""
        if instant.tzinfo is None:
            raise ValueError("give an aware datetime")
        return self._call("POST", "/admin/clock", {"set": instant.isoformat()})

    def advance(self, seconds: float) -> dict[str, Any]:
        return self._call("POST", "/admin/clock", {"advance": seconds})

    def to_next_open(self) -> dict[str, Any]:
        return self._call("POST", "/admin/clock", {"to": "next_open"})

    def to_next_close(self) -> dict[str, Any]:
        return self._call("POST", "/admin/clock", {"to": "next_close"})

    def set_speed(self, speed: float) -> dict[str, Any]:
        return self._call("POST", "/admin/clock", {"speed": speed})

    def faults(self) -> FaultPlan:
        return FaultPlan.from_dict(self._call("GET", "/admin/faults"))

    def set_faults(self, plan: FaultPlan | None = None, **settings: Any) -> FaultPlan:
        """Replace the fault plan (and reseed it): a whole plan, or its fields by name,
        ``rules`` as :class:`FaultRule` values."""
        if plan is None:
            rules = [r if isinstance(r, FaultRule) else FaultRule(**r) for r in settings.pop("rules", [])]
            plan = FaultPlan(**settings, rules=rules)
        return FaultPlan.from_dict(self._call("POST", "/admin/faults", plan.to_dict()))

    def clear_faults(self) -> None:
        self._call("DELETE", "/admin/faults")

    def set_asset(self, symbol: str, *, shortable: bool | None = None,
                  easy_to_borrow: bool | None = None) -> dict[str, Any]:
        """Change an asset's short-sale flags (``None``: keep); returns the asset."""
        flags = {k: v for k, v in (("shortable", shortable), ("easy_to_borrow", easy_to_borrow)) if v is not None}
        return self._call("POST", "/admin/assets", {"symbol": symbol, **flags})

    def requests(self) -> list[dict[str, Any]]:
        """The recent vendor requests, oldest first: method, path, query, status, fault."""
        return self._call("GET", "/admin/requests")
