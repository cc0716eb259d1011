"""The admin endpoints: the exchange's own controls, next to the vendor APIs.

Not part of any vendor API and not authenticated (the exchange listens on loopback).

- ``GET /admin/clock``; ``POST /admin/clock`` with one of ``{"set": "<RFC 3339>"}``,
  ``{"advance": <seconds>}``, ``{"to": "next_open" | "next_close"}``, ``{"speed": <x>}``.
  Moving the clock plays working orders forward at once (fills, expiries). Going back
  in time is refused with 409; a move past the NYSE calendar's end, a speed that is not
  a finite number from 0 to 1,000,000, anything not a number, with 400.
- ``GET /admin/faults``; ``POST /admin/faults`` with a whole :class:`FaultPlan` as JSON
  (it replaces the plan in force and reseeds it); ``DELETE /admin/faults`` clears it.
- ``POST /admin/assets`` with ``{"symbol": "AAPL", "shortable": <bool>, "easy_to_borrow":
  <bool>}`` (either flag may be left out: kept): the vendor's daily refresh of the
  short-sale flags, answered with the asset as ``GET /v2/assets/{symbol}`` serves it.
  Orders already working are left alone; shorts held are kept. 404 for an unknown symbol.
- ``GET /admin/requests``: the recent vendor requests, oldest first, each
  ``{"method", "path", "status", "fault"}`` (``status`` is ``null`` when no answer was
  sent). Tests read it to see what a client really sent, retries included.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from kobe.broker.exchange import wire
from kobe.broker.exchange.clock import BackInTimeError, check_speed, market_clock
from kobe.broker.exchange.errors import VendorError
from kobe.broker.exchange.faults import FaultPlan
from kobe.broker.exchange.limits import number
from kobe.broker.exchange.routing import Reply, Request, Route

if TYPE_CHECKING:
    from kobe.broker.exchange.app import Exchange


def clock_state(ex: Exchange) -> dict[str, Any]:
    now = ex.clock.now()
    mc = market_clock(now)
    return {"now": wire.timestamp(now), "is_open": mc.is_open, "next_open": wire.timestamp(mc.next_open),
            "next_close": wire.timestamp(mc.next_close),
            "session": mc.session.isoformat() if mc.session else None, "speed": ex.clock.speed}


def get_clock(ex: Exchange, req: Request) -> Reply:
    return Reply(body=clock_state(ex))


def post_clock(ex: Exchange, req: Request) -> Reply:
    body = req.body if isinstance(req.body, dict) else {}
    if len(body) != 1 or next(iter(body)) not in ("set", "advance", "to", "speed"):
        raise VendorError(400, 'give exactly one of "set", "advance", "to", "speed"')
    (key, value), = body.items()
    # Each move is checked in full (a finite number, inside the calendar) before the
    # clock changes: a refused move leaves the exchange as it was.
    try:
        if key == "set":
            if not isinstance(value, str):
                raise ValueError('"set" is an RFC 3339 instant with an offset')
            ex.venue.set_clock(dt.datetime.fromisoformat(value))
        elif key == "advance":
            ex.venue.advance(number(value, "advance", 0.0, math.inf))
        elif key == "to":
            mc = market_clock(ex.clock.now())
            if value not in ("next_open", "next_close"):
                raise VendorError(400, '"to" is "next_open" or "next_close"')
            ex.venue.set_clock(mc.next_open if value == "next_open" else mc.next_close)
        else:
            ex.clock.set_speed(check_speed(value))
    except BackInTimeError as err:
        raise VendorError(409, str(err)) from None
    except ValueError as err:
        raise VendorError(400, str(err)) from None
    return Reply(body=clock_state(ex))


def get_faults(ex: Exchange, req: Request) -> Reply:
    return Reply(body=ex.faults.plan.to_dict())


def post_faults(ex: Exchange, req: Request) -> Reply:
    if not isinstance(req.body, dict):
        raise VendorError(400, "the fault plan must be a JSON object")
    try:
        plan = FaultPlan.from_dict(req.body)
    except (TypeError, ValueError) as err:
        raise VendorError(400, str(err)) from None
    ex.faults.configure(plan)
    return Reply(body=plan.to_dict())


def delete_faults(ex: Exchange, req: Request) -> Reply:
    ex.faults.configure(FaultPlan())
    return Reply(status=204)


def post_assets(ex: Exchange, req: Request) -> Reply:
    body = req.body if isinstance(req.body, dict) else {}
    symbol = body.get("symbol")
    flags = {k: body[k] for k in ("shortable", "easy_to_borrow") if k in body}
    if not isinstance(symbol, str) or not flags or set(body) - {"symbol", "shortable", "easy_to_borrow"} \
            or any(not isinstance(v, bool) for v in flags.values()):
        raise VendorError(400, 'give "symbol" and one or both of the booleans "shortable", "easy_to_borrow"')
    return Reply(body=wire.asset(ex.venue.assets.set(symbol, **flags)))


def get_requests(ex: Exchange, req: Request) -> Reply:
    return Reply(body=list(ex.log))


ROUTES = [
    Route("GET", r"/admin/clock", "admin", get_clock),
    Route("POST", r"/admin/clock", "admin", post_clock),
    Route("GET", r"/admin/faults", "admin", get_faults),
    Route("POST", r"/admin/faults", "admin", post_faults),
    Route("DELETE", r"/admin/faults", "admin", delete_faults),
    Route("POST", r"/admin/assets", "admin", post_assets),
    Route("GET", r"/admin/requests", "admin", get_requests),
]
