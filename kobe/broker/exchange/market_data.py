"""Market data: Alpaca's latest quotes and daily bars, Polygon's daily aggregates.

Served from the bars file as of the exchange clock, with no lookahead: a daily bar is
served once its session has closed (the vendor also shows the forming bar of today; the
stand-in does not, so nothing of a replayed day leaks before its close), and the latest
quote is the one the venue trades against.

Paging is the vendors': Alpaca's ``next_page_token`` (an opaque offset; ``null`` on the
last page) and Polygon's ``next_url``, whose ``cursor`` carries every parameter of the
query, because the client sends nothing else on later pages. Pages hold at most the
vendor's maximum (10,000 and 50,000) or the exchange's ``page_size`` when smaller.

Data faults (:class:`~kobe.broker.exchange.faults.DataFault`: empty, short, partial,
duplicated, out-of-order answers, a missing bar) are drawn on an answer's first page and
applied to the whole answer before it is paged; the page token / cursor carries them, so
every page of one answer tells the same story.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from kobe.broker.exchange import wire
from kobe.broker.exchange.clock import last_session_closed, session_at
from kobe.broker.exchange.errors import VendorError, unprocessable
from kobe.broker.exchange.faults import DataFault
from kobe.broker.exchange.history import Bar
from kobe.broker.exchange.limits import integer, shown
from kobe.broker.exchange.quotes import mid_at
from kobe.broker.exchange.routing import Reply, Request, Route
from kobe.data.calendar import NEW_YORK, session_open_close, trading_date

if TYPE_CHECKING:
    from kobe.broker.exchange.app import Exchange

ALPACA_MAX_PAGE = 10_000
ALPACA_DEFAULT_LIMIT = 1_000
POLYGON_MAX_PAGE = 50_000
POLYGON_DEFAULT_LIMIT = 5_000
FEEDS = ("iex", "sip", "delayed_sip", "otc", "boats", "overnight")
ADJUSTMENTS = ("raw", "split", "dividend", "all")
FIRST_QUERY_DAY, LAST_QUERY_DAY = dt.date(1970, 1, 1), dt.date(2199, 12, 31)
"""The dates a query's start and end may name (epoch milliseconds too): any bars file
lies well inside."""
LAST_QUERY_MILLIS = int(dt.datetime.combine(LAST_QUERY_DAY, dt.time(), dt.UTC).timestamp() * 1000)


def midnight(day: dt.date) -> dt.datetime:
    """A daily bar's timestamp: midnight New York on its date, as an aware instant."""
    return dt.datetime.combine(day, dt.time(), NEW_YORK).astimezone(dt.UTC)


def _volume(v: float) -> float | int:
    return int(v) if float(v).is_integer() else v


def _symbols(req: Request) -> list[str]:
    raw = req.query.get("symbols")
    if not raw:
        raise VendorError(400, "symbols is required", 40010001)
    return sorted({s.strip().upper() for s in raw.split(",") if s.strip()})


def _encode(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _decode(token: str, api: str) -> dict[str, Any]:
    """A page token / cursor the exchange wrote, checked field by field: the client sends
    it back, so it is input like any other (an offset that is no count, a fault that is
    no fault, would otherwise fail deep in the answer)."""
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(value, dict):
            raise TypeError("not an object")
        integer(value.get("offset", 0), "offset", 0)
        faults = value.get("faults", {} if api == "alpaca" else [])
        for drawn in (faults.values() if api == "alpaca" else [faults]):
            _replayed(drawn)
        if api == "polygon":
            integer(value["limit"], "limit", 1, POLYGON_MAX_PAGE)
    except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
        raise VendorError(400, "invalid page token" if api == "alpaca" else "invalid cursor", 40010001) from None
    return value


def _replayed(drawn: Any) -> list[DataFault]:
    if not isinstance(drawn, list) or not all(isinstance(d, dict) for d in drawn):
        raise TypeError("faults are a list of objects")
    return [DataFault(**d) for d in drawn]


def _visible_bars(ex: Exchange, symbol: str, first: dt.date, last: dt.date) -> list[Bar]:
    newest = last_session_closed(ex.clock.now())
    return ex.history.bars(symbol, first, min(last, newest))


def forming_bar(ex: Exchange, symbol: str) -> Bar | None:
    """The bar of the session in progress as a vendor shows it before the close: the
    price path so far (:func:`~kobe.broker.exchange.quotes.mid_at`) and the volume pro
    rata of the session elapsed; ``None`` while no session is open."""
    now = ex.clock.now()
    day = session_at(now)
    bar = ex.history.bar(symbol, day) if day is not None else None
    if day is None or bar is None:
        return None
    open_, close = session_open_close(day)
    corners = [open_ + (close - open_) * k / 3 for k in range(4)]
    path = [mid_at(bar, open_, close, t) for t in corners if t <= now] + [mid_at(bar, open_, close, now)]
    share = (now - open_) / (close - open_)
    return Bar(symbol, day, bar.open, max(path), min(path), path[-1], float(round(bar.volume * share)))


def _spoil(ex: Exchange, symbol: str, bars: list[Bar], faults: list[DataFault]) -> list[Bar]:
    """``bars`` (oldest first) as the data faults leave them, applied in order."""
    for fault in faults:
        day = fault.date
        at = next((i for i, b in enumerate(bars) if b.day == day), None) if day is not None else len(bars) - 1
        if fault.kind == "empty":
            bars = []
        elif fault.kind == "short":
            bars = [b for b in bars if b.day < day] if day is not None else bars[:fault.bars]
        elif fault.kind == "partial":
            forming = forming_bar(ex, symbol)
            bars = [*bars, forming] if forming is not None else bars
        elif at is None or at < 0:
            continue  # the bar it names is not in this answer
        elif fault.kind == "duplicate":
            bars = [*bars[:at + 1], bars[at], *bars[at + 1:]]
        elif fault.kind == "out_of_order" and at > 0:
            bars = [*bars[:at - 1], bars[at], bars[at - 1], *bars[at + 1:]]
        elif fault.kind == "missing":
            bars = bars[:at] + bars[at + 1:]
    return bars


def _answer(ex: Exchange, api: str, symbol: str, first: dt.date, last: dt.date, drawn: list[dict[str, Any]] | None,
            keep: Any = None) -> tuple[list[Bar], list[dict[str, Any]]]:
    """The bars of one answer (oldest first), faults applied, and the faults as the page
    token carries them: drawn now on a first page (``drawn`` is ``None``), else replayed."""
    bars = _visible_bars(ex, symbol, first, last)
    if keep is not None:
        bars = [b for b in bars if keep(b)]
    faults = ex.faults.data_faults(api, symbol, first, last) if drawn is None else _replayed(drawn)
    return _spoil(ex, symbol, bars, faults), [asdict(f) for f in faults]


# -- Alpaca -------------------------------------------------------------------------

def latest_quotes(ex: Exchange, req: Request) -> Reply:
    symbols = _symbols(req)
    if req.query.get("feed") not in (None, *FEEDS):
        raise unprocessable(f"invalid feed {req.query['feed']!r}")
    now = ex.clock.now()
    quotes = {}
    for symbol in symbols:
        quote = ex.venue.latest_quote(symbol, now)
        if quote is not None:
            quotes[symbol] = wire.quote(quote)
    return Reply(body={"quotes": quotes})


def _instant(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        if len(value) == 10:
            return midnight(_in_range(dt.date.fromisoformat(value)))
        instant = dt.datetime.fromisoformat(value)
        instant = instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)
        _in_range(instant.astimezone(dt.UTC).date())
    except (ValueError, OverflowError):
        raise unprocessable(f"invalid {name}: {shown(value)}") from None
    return instant


def _in_range(day: dt.date) -> dt.date:
    # Days near datetime's ends overflow when moved to New York and back; no bar is there.
    if not FIRST_QUERY_DAY <= day <= LAST_QUERY_DAY:
        raise ValueError(f"{day} is outside {FIRST_QUERY_DAY} .. {LAST_QUERY_DAY}")
    return day


def stock_bars(ex: Exchange, req: Request) -> Reply:
    """``GET /v2/stocks/bars``: daily bars of several symbols, by symbol then time."""
    q = req.query
    symbols = _symbols(req)
    if q.get("timeframe") not in ("1Day", "1D"):
        raise unprocessable(f"timeframe {q.get('timeframe')!r} is not served: the stand-in has daily bars only")
    if q.get("adjustment", "raw") not in ADJUSTMENTS:
        raise unprocessable(f"invalid adjustment {q['adjustment']!r}")
    if q.get("feed") not in (None, *FEEDS):
        raise unprocessable(f"invalid feed {q['feed']!r}")
    sort = q.get("sort", "asc")
    if sort not in ("asc", "desc"):
        raise unprocessable(f"invalid sort {sort!r}")
    try:
        limit = int(q.get("limit", ALPACA_DEFAULT_LIMIT))
    except ValueError:
        raise unprocessable("invalid limit") from None
    if not 0 < limit <= ALPACA_MAX_PAGE:
        raise unprocessable(f"invalid limit: must be between 1 and {ALPACA_MAX_PAGE}")
    now = ex.clock.now()
    start = _instant(q.get("start"), "start") or midnight(trading_date(now))
    end = _instant(q.get("end"), "end") or now
    first = trading_date(start) if midnight(trading_date(start)) >= start else trading_date(start) + dt.timedelta(1)
    token = _decode(q["page_token"], "alpaca") if q.get("page_token") else {}
    # A later page replays what the first page drew (an empty set included), never draws anew.
    carried: dict[str, list[dict[str, Any]]] | None = token.get("faults", {}) if token else None
    drawn: dict[str, list[dict[str, Any]]] = {}
    rows: list[tuple[str, Bar]] = []
    for symbol in symbols:
        bars, drawn[symbol] = _answer(ex, "alpaca", symbol, first, trading_date(end),
                                      None if carried is None else carried.get(symbol, []))
        rows.extend((symbol, b) for b in (reversed(bars) if sort == "desc" else bars))
    offset = int(token.get("offset", 0))
    size = min(limit, ex.config.page_size or ALPACA_MAX_PAGE, ALPACA_MAX_PAGE)
    page = rows[offset:offset + size]
    out: dict[str, list[dict[str, Any]]] = {}
    for symbol, bar in page:
        out.setdefault(symbol, []).append({
            "t": wire.timestamp(midnight(bar.day)), "o": bar.open, "h": bar.high, "l": bar.low, "c": bar.close,
            "v": _volume(bar.volume), "n": None, "vw": None})
    more = offset + size < len(rows)
    following = {"offset": offset + size, "faults": {symbol: f for symbol, f in drawn.items() if f}}
    return Reply(body={"bars": out, "next_page_token": _encode(following) if more else None})


# -- Polygon ------------------------------------------------------------------------

def _bound(value: str, name: str) -> int:
    """A ``from``/``to`` path segment as epoch milliseconds: a date means its midnight
    in New York, digits are milliseconds already; both within the query range."""
    try:
        if value.isascii() and value.isdigit():
            millis = int(value)
            if millis > LAST_QUERY_MILLIS:
                raise ValueError(f"{millis} is after {LAST_QUERY_DAY}")
            return millis
        return int(midnight(_in_range(dt.date.fromisoformat(value))).timestamp() * 1000)
    except ValueError:
        raise VendorError(400, f"invalid {name} {shown(value)}: use YYYY-MM-DD or epoch milliseconds from "
                               f"{FIRST_QUERY_DAY} to {LAST_QUERY_DAY}") from None


def aggregates(ex: Exchange, req: Request) -> Reply:
    """``GET /v2/aggs/ticker/{T}/range/1/day/{from}/{to}``."""
    p, q = req.params, req.query
    if p["multiplier"] != "1" or p["timespan"] != "day":
        raise VendorError(400, f"{p['multiplier']}/{p['timespan']} aggregates are not served: the stand-in "
                               "has 1/day only")
    settings: dict[str, Any]
    if q.get("cursor"):
        settings = _decode(q["cursor"], "polygon")
    else:
        try:
            limit = int(q.get("limit", POLYGON_DEFAULT_LIMIT))
        except ValueError:
            raise VendorError(400, "invalid limit") from None
        # Polygon clamps a limit out of range rather than refuse it.
        settings = {"offset": 0, "adjusted": q.get("adjusted", "true"), "sort": q.get("sort", "asc"),
                    "limit": min(max(limit, 1), POLYGON_MAX_PAGE)}
    if settings.get("sort") not in ("asc", "desc") or settings.get("adjusted") not in ("true", "false"):
        raise VendorError(400, "sort must be asc or desc and adjusted true or false")
    ticker = p["ticker"].upper()
    low, high = _bound(p["start"], "from"), _bound(p["end"], "to")
    first = trading_date(dt.datetime.fromtimestamp(low / 1000, dt.UTC))
    last = trading_date(dt.datetime.fromtimestamp(high / 1000, dt.UTC))
    bars, drawn = _answer(ex, "polygon", ticker, first, last, settings.get("faults"),
                          lambda b: low <= int(midnight(b.day).timestamp() * 1000) <= high)
    settings = {**settings, "faults": drawn}  # later pages replay them, never draw anew
    if settings["sort"] == "desc":
        bars.reverse()
    offset = int(settings.get("offset", 0))
    size = min(int(settings["limit"]), ex.config.page_size or POLYGON_MAX_PAGE)
    page = bars[offset:offset + size]
    body: dict[str, Any] = {"ticker": ticker, "queryCount": len(page), "resultsCount": len(page),
                            "adjusted": settings["adjusted"] == "true", "status": "OK",
                            "request_id": uuid.uuid4().hex, "count": len(page)}
    if page:
        body["results"] = [{"v": _volume(b.volume), "o": b.open, "c": b.close, "h": b.high, "l": b.low,
                            "t": int(midnight(b.day).timestamp() * 1000)} for b in page]
    if offset + size < len(bars):
        cursor = _encode({**settings, "offset": offset + size})
        body["next_url"] = (f"{req.base_url}/v2/aggs/ticker/{ticker}/range/1/day/{p['start']}/{p['end']}"
                            f"?cursor={cursor}")
    return Reply(body=body)


ROUTES = [
    Route("GET", r"/v2/stocks/quotes/latest", "alpaca", latest_quotes),
    Route("GET", r"/v2/stocks/bars", "alpaca", stock_bars),
    Route("GET", r"/v2/aggs/ticker/(?P<ticker>[^/]+)/range/(?P<multiplier>\d+)/(?P<timespan>[a-z]+)"
                 r"/(?P<start>[^/]+)/(?P<end>[^/]+)", "polygon", aggregates),
]
