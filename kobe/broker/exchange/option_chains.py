"""Alpaca's option contracts (broker-apis.md 10): deterministic chains from the bars.

The bars say nothing about listed options, so the stand-in derives them, the same on
every run, from what an options exchange looks at (docs/exchange.md, *Option chains*):

- **Which underlyings.** A symbol has options when it meets the price and volume tests
  of Cboe's initial listing criteria for an underlying (Cboe Rule 4.3, Interpretation
  .01), judged on the bars of the sessions closed before today: a close of at least $3
  on each of the last 5 sessions, and at least 2,400,000 shares traded over the last
  12 months. (The rule's float and holder counts are not in the bars.) The symbol's
  asset then carries the attribute ``options_enabled``, as Alpaca's do.
- **Expiries.** The next :data:`MONTHS` standard monthly expiries: the third Friday of
  each month, or the Thursday before when that Friday is no NYSE session (Good Friday),
  today's included until it is past.
- **Strikes.** :data:`STRIKES_EACH_SIDE` strikes either side of the strike nearest the
  last close (the close of the last session closed), on the standard grid: $2.50 apart
  below a $25 close, $5 up to $200, $10 above; only positive strikes.
- **Contracts.** A call and a put per expiry and strike; American style (as every US
  equity option), size 100, ``id`` a UUID derived from the OCC symbol.

``GET /v2/options/contracts`` filters them by ``underlying_symbols``, ``status``,
``expiration_date``, ``expiration_date_gte`` / ``_lte`` (default ``_lte``: the coming
Sunday, the vendor's "coming weekend"), ``root_symbol``, ``type``, ``style``,
``strike_price_gte`` / ``_lte``, and pages them by ``limit`` (default 100, at most
10,000) and ``page_token``. Contracts are sorted by underlying, expiry, type, strike.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import itertools
import math
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kobe.broker.exchange.clock import last_session_closed
from kobe.broker.exchange.errors import VendorError, not_found, unprocessable
from kobe.broker.exchange.records import asset_id
from kobe.broker.exchange.routing import Reply, Request, Route
from kobe.data import calendar

if TYPE_CHECKING:
    from kobe.broker.exchange.app import Exchange
    from kobe.broker.exchange.history import History

MONTHS = 6
STRIKES_EACH_SIDE = 20
MIN_CLOSE = 3.0            # Cboe Rule 4.3 .01: $3 closes ...
CLOSE_SESSIONS = 5         # ... on the previous five business days
MIN_YEAR_VOLUME = 2_400_000  # shares traded in the preceding twelve months
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
CONTRACT_NAMESPACE = uuid.UUID("5b0c7a3e-61f4-4d0e-9a0b-6f7a1c2d3e4f")
OPTIONS_ENABLED = "options_enabled"


@dataclass(frozen=True)
class Contract:
    underlying: str
    expiry: dt.date
    kind: str            # "call" | "put"
    strike: float

    @property
    def symbol(self) -> str:
        """The OCC symbol without padding: root, YYMMDD, C or P, strike x 1000 in 8 digits."""
        return f"{self.underlying}{self.expiry:%y%m%d}{self.kind[0].upper()}{round(self.strike * 1000):08d}"

    @property
    def id(self) -> str:
        return str(uuid.uuid5(CONTRACT_NAMESPACE, self.symbol))

    def wire(self) -> dict[str, Any]:
        """The contract as Alpaca writes it: strike and size as strings."""
        strike = f"{self.strike:g}" if self.strike == int(self.strike) else f"{self.strike:.2f}"
        return {"id": self.id, "symbol": self.symbol,
                "name": f"{self.underlying} {self.expiry:%b} {self.expiry.day} {self.expiry.year} {strike} "
                        f"{self.kind.capitalize()}",
                "status": "active", "tradable": True, "expiration_date": self.expiry.isoformat(),
                "root_symbol": self.underlying, "underlying_symbol": self.underlying,
                "underlying_asset_id": asset_id(self.underlying), "type": self.kind, "style": "american",
                "strike_price": strike, "size": "100", "multiplier": "100"}


def monthly_expiry(year: int, month: int) -> dt.date:
    """The third Friday of the month, or the session before it when it is a holiday."""
    first = dt.date(year, month, 1)
    friday = first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)
    return friday if calendar.is_session(friday) else calendar.previous_session(friday)


def expiries(today: dt.date, months: int = MONTHS) -> list[dt.date]:
    """The next ``months`` monthly expiries on or after ``today``."""
    out: list[dt.date] = []
    year, month = today.year, today.month
    while len(out) < months:
        day = monthly_expiry(year, month)
        if day >= today:
            out.append(day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def strike_step(close: float) -> float:
    return 2.5 if close < 25 else 5.0 if close <= 200 else 10.0


def strikes(close: float) -> list[float]:
    """The strikes listed around ``close`` (module doc)."""
    step = strike_step(close)
    middle = round(close / step)
    return [k * step for k in range(max(1, middle - STRIKES_EACH_SIDE), middle + STRIKES_EACH_SIDE + 1)]


@functools.lru_cache(maxsize=65536)
def _optionable(history: History, symbol: str, closed: dt.date) -> float | None:
    """The last close of ``symbol`` up to the session ``closed`` when it passes the
    listing tests, else ``None``. Cached: the answer only changes once a session."""
    bars = history.bars(symbol, closed - dt.timedelta(days=365), closed)
    if len(bars) < CLOSE_SESSIONS or bars[-1].day != closed:
        return None    # not traded in the last session: no new options on it either
    if any(b.close < MIN_CLOSE for b in bars[-CLOSE_SESSIONS:]) or sum(b.volume for b in bars) < MIN_YEAR_VOLUME:
        return None
    return bars[-1].close


def last_closed(ex: Exchange) -> dt.date:
    return last_session_closed(ex.clock.now())


def optionable(ex: Exchange, symbol: str) -> bool:
    """Whether ``symbol`` has listed options now (its asset's ``options_enabled``)."""
    return _optionable(ex.history, symbol, last_closed(ex)) is not None


def chain(ex: Exchange, symbol: str) -> list[Contract]:
    """Every contract of ``symbol`` listed now, sorted by expiry, type and strike."""
    close = _optionable(ex.history, symbol, last_closed(ex))
    if close is None:
        return []
    today = calendar.trading_date(ex.clock.now())
    return [Contract(symbol, expiry, kind, strike) for expiry in expiries(today)
            for kind in ("call", "put") for strike in strikes(close)]


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise unprocessable(f"invalid {name} {value!r}: use YYYY-MM-DD") from None


def _number(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise unprocessable(f"invalid {name} {value!r}")
    return number


def _offset(token: str | None) -> int:
    """Alpaca's page token is the base64 of an offset ("MTAw" is 100)."""
    if token is None:
        return 0
    try:
        offset = int(base64.b64decode(token.encode(), validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise VendorError(400, "invalid page token", 40010001) from None
    if offset < 0:
        raise VendorError(400, "invalid page token", 40010001)
    return offset


def list_contracts(ex: Exchange, req: Request) -> Reply:
    q = req.query
    today = calendar.trading_date(ex.clock.now())
    status = q.get("status")
    if status not in (None, "active", "inactive"):
        raise unprocessable(f"invalid status {status!r}")
    kind = q.get("type")
    if kind not in (None, "call", "put"):
        raise unprocessable(f"invalid type {kind!r}")
    style = q.get("style")
    if style not in (None, "american", "european"):
        raise unprocessable(f"invalid style {style!r}")
    exact = _date(q.get("expiration_date"), "expiration_date")
    gte = _date(q.get("expiration_date_gte"), "expiration_date_gte")
    # The vendor's default upper bound: the coming weekend (its Sunday).
    lte = _date(q.get("expiration_date_lte"), "expiration_date_lte") or \
        today + dt.timedelta(days=6 - today.weekday())
    low = _number(q.get("strike_price_gte"), "strike_price_gte")
    high = _number(q.get("strike_price_lte"), "strike_price_lte")
    limit_text = q.get("limit")
    try:
        limit = DEFAULT_LIMIT if limit_text is None else int(limit_text)
    except ValueError:
        raise unprocessable(f"invalid limit {limit_text!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise unprocessable(f"limit must be from 1 to {MAX_LIMIT}")
    offset = _offset(q.get("page_token"))
    wanted = q.get("underlying_symbols")
    names = sorted({s.strip().upper() for s in wanted.split(",") if s.strip()}) if wanted else sorted(ex.history.symbols)
    root = q.get("root_symbol")
    if root is not None:
        names = [n for n in names if n == root.upper()]
    if status == "inactive" or style == "european":
        names = []      # every stand-in contract is active and American
    found = (c for name in names if name in ex.history.symbols for c in chain(ex, name)
             if (exact is None or c.expiry == exact) and (gte is None or c.expiry >= gte) and c.expiry <= lte
             and (kind is None or c.kind == kind) and (low is None or c.strike >= low)
             and (high is None or c.strike <= high))
    # Lazily, and one past the page: whether a next page exists, without building every
    # chain of every symbol when no underlying is named.
    page = list(itertools.islice(found, offset, offset + limit + 1))
    following = offset + limit
    token = base64.b64encode(str(following).encode()).decode() if len(page) > limit else None
    return Reply(body={"option_contracts": [c.wire() for c in page[:limit]], "next_page_token": token})


def _parse_occ(text: str) -> Contract | None:
    """An OCC symbol read from the right (its last 15 characters are fixed)."""
    if len(text) < 16:
        return None
    root, date, kind, strike = text[:-15], text[-15:-9], text[-9], text[-8:]
    try:
        expiry = dt.datetime.strptime(date, "%y%m%d").date()
    except ValueError:
        return None
    if kind not in "CP" or not strike.isdigit():
        return None
    return Contract(root.upper(), expiry, "call" if kind == "C" else "put", int(strike) / 1000)


def get_contract(ex: Exchange, req: Request) -> Reply:
    """One listed contract by OCC symbol or id; 404 otherwise."""
    key = req.params["symbol_or_id"]
    wanted = _parse_occ(key.upper())
    names = [wanted.underlying] if wanted is not None else sorted(ex.history.symbols)
    for name in names:
        if name not in ex.history.symbols:
            continue
        for c in chain(ex, name):
            if c == wanted or c.id == key.lower():
                return Reply(body=c.wire())
    raise not_found("option contract not found")


ROUTES = [
    Route("GET", r"/v2/options/contracts", "alpaca", list_contracts),
    Route("GET", r"/v2/options/contracts/(?P<symbol_or_id>[^/]+)", "alpaca", get_contract),
]
