"""The exchange assembled: its settings and the parts one running exchange is made of.

:class:`ExchangeConfig` holds every setting (the CLI's options map onto it one to one);
:meth:`Exchange.open` builds the bars, the clock, the state, the faults and the venue
from it. The HTTP server (:mod:`~kobe.broker.exchange.server`) only carries requests to
an :class:`Exchange`.

Where the clock starts: a state file remembers the clock's last instant and time never
runs backwards, so the clock starts at the later of the requested start and the stored
instant; with no requested start it resumes at the stored instant, and with neither it
starts at the open of the data's last session.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from kobe.broker.exchange.assets import Assets, symbols
from kobe.broker.exchange.clock import ExchangeClock, check_speed, clock_range
from kobe.broker.exchange.faults import FaultPlan, Faults
from kobe.broker.exchange.history import History, load_history
from kobe.broker.exchange.limits import (
    MAX_BODY,
    MAX_CASH,
    MAX_HANG_SECONDS,
    MAX_SPREAD_BPS,
    REQUEST_TIMEOUT,
    integer,
    number,
)
from kobe.broker.exchange.quotes import QuoteModel
from kobe.broker.exchange.store import Store
from kobe.broker.exchange.venue import Venue
from kobe.config.errors import Diagnostic, KobeError
from kobe.data import calendar

REQUEST_LOG_SIZE = 2000


@dataclass(frozen=True)
class ExchangeConfig:
    """How an exchange runs.

    ``data``: bars file (``None``: the embedded sample). ``start``: a session date (the
    clock starts at its open) or an aware instant. ``state``: SQLite file (``None``: in
    memory). ``port`` 0 picks a free port. Keys: when set, requests must carry them
    (Alpaca's key id and secret, Polygon's bearer key); when ``None`` any key passes.
    ``speed``: exchange seconds per real second (0 freezes the clock). ``spread_bps`` and
    ``depth`` shape the quotes (see :mod:`~kobe.broker.exchange.quotes`). ``page_size``
    caps data pages below the vendors' maxima. ``hang_seconds``: how long a hung or
    dropped request holds its connection before closing it unanswered.
    ``request_timeout``: seconds a request may take to arrive in full (and a write of
    its answer to drain); ``max_body``: the largest request body in bytes (413 beyond).
    ``shorting`` lets a sell with no shares held open a short, in symbols that are
    neither ``not_shortable`` nor ``hard_to_borrow`` (each a set of symbols of the bars).
    Out-of-range values (a NaN or infinite speed, a negative spread, ...) are a
    :class:`KobeError` here, before anything runs.
    """

    data: str | Path | None = None
    start: dt.date | dt.datetime | None = None
    state: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    key_id: str | None = None
    secret_key: str | None = None
    polygon_key: str | None = None
    cash: Decimal = Decimal(100000)
    spread_bps: float = 10.0
    depth: float = 1e-5
    speed: float = 0.0
    closed_speed: float | None = None     # the clock's speed while the market is closed (default: speed)
    page_size: int | None = None
    hang_seconds: float = 30.0
    faults: FaultPlan = field(default_factory=FaultPlan)
    request_timeout: float = REQUEST_TIMEOUT
    max_body: int = MAX_BODY
    shorting: bool = False                      # the account may sell short (``shorting_enabled``)
    not_shortable: frozenset[str] = frozenset()  # assets with ``shortable`` false
    hard_to_borrow: frozenset[str] = frozenset()  # assets with ``easy_to_borrow`` false

    def __post_init__(self) -> None:
        # "AAPL,msft" or any iterable of symbols, as upper-case sets.
        for name in ("not_shortable", "hard_to_borrow"):
            object.__setattr__(self, name, symbols(getattr(self, name)))
        checks: list[tuple[str, Callable[[], object]]] = [
            ("--port", lambda: integer(self.port, "port", 0, 65535)),
            ("--speed", lambda: check_speed(self.speed)),
            ("--closed-speed", lambda: self.closed_speed is None or check_speed(self.closed_speed, "closed_speed")),
            ("--spread-bps", lambda: number(self.spread_bps, "spread_bps", 0.0, MAX_SPREAD_BPS)),
            ("--depth", lambda: number(self.depth, "depth", 0.0, 1.0)),
            ("--page-size", lambda: self.page_size is None or integer(self.page_size, "page_size", 1)),
            ("--cash", lambda: _cash(self.cash)),
            ("hang_seconds", lambda: number(self.hang_seconds, "hang_seconds", 0.0, MAX_HANG_SECONDS)),
            ("--request-timeout",
             lambda: number(self.request_timeout, "request_timeout", 0.001, MAX_HANG_SECONDS)),
            ("--max-body", lambda: integer(self.max_body, "max_body", 0, 1 << 30)),
        ]
        problems = []
        for option, check in checks:
            try:
                check()
            except ValueError as err:
                problems.append(Diagnostic(str(err), hint=f"{option} on the command line"
                                           if option.startswith("--") else None))
        if problems:
            raise KobeError(problems)


def _cash(value: Decimal | float) -> None:
    # An int or a float is taken as the venue takes it (through its text).
    amount = Decimal(str(value)) if type(value) in (int, float, Decimal) else Decimal("NaN")
    if not amount.is_finite() or not 0 <= amount <= MAX_CASH:
        raise ValueError(f"cash must be an amount from 0 to {MAX_CASH}, not {value}")


def requested_start(start: dt.date | dt.datetime | None, history: History) -> dt.datetime:
    """The instant ``start`` asks for: a date's open, or the data's last session's open."""
    if isinstance(start, dt.datetime):
        if start.tzinfo is None:
            raise KobeError(Diagnostic(f"start {start.isoformat()} has no timezone",
                                       hint="give an offset, or a date to start at its open"))
        first, last = clock_range()
        if not first <= start <= last:
            raise KobeError(Diagnostic(f"start {start.isoformat()} is outside the NYSE calendar's range",
                                       hint=f"start from {first.isoformat()} to {last.isoformat()}"))
        return start.astimezone(dt.UTC)
    day = start or history.last_date
    if not calendar.is_session(day):
        raise KobeError(Diagnostic(f"{day.isoformat()} is not an NYSE session",
                                   hint=f"the next session is {calendar.next_session(day).isoformat()}"))
    return calendar.session_open_close(day)[0]


class Exchange:
    """One running exchange: config, bars, clock, state, faults, venue, request log."""

    def __init__(self, config: ExchangeConfig, history: History, clock: ExchangeClock, store: Store,
                 faults: Faults, venue: Venue) -> None:
        self.config, self.history, self.clock, self.store = config, history, clock, store
        self.faults, self.venue = faults, venue
        self.log: collections.deque[dict[str, object]] = collections.deque(maxlen=REQUEST_LOG_SIZE)
        self.resumed_from: dt.datetime | None = None

    @classmethod
    def open(cls, config: ExchangeConfig) -> Exchange:
        history = load_history(config.data)
        store = Store(config.state)
        try:
            stored = store.load().meta.get("clock")
            resumed = dt.datetime.fromisoformat(stored) if stored else None
            if resumed is not None and config.start is None:
                start = resumed
            else:
                start = requested_start(config.start, history)
                if resumed is not None and resumed > start:
                    start = resumed
            try:
                clock = ExchangeClock(start, config.speed, config.closed_speed)
            except ValueError as err:   # a stored clock the calendar no longer covers
                raise KobeError(Diagnostic(str(err), file=str(config.state),
                                           hint="delete the state file to start over")) from None
            faults = Faults(config.faults)
            unknown = sorted((config.not_shortable | config.hard_to_borrow) - history.symbols)
            if unknown:
                raise KobeError(Diagnostic(f"no bars for {', '.join(unknown)}",
                                           hint="--not-shortable and --hard-to-borrow name symbols of the data"))
            assets = Assets(history.symbols, config.not_shortable, config.hard_to_borrow)
            venue = Venue(history, clock, store, faults, QuoteModel(config.spread_bps, config.depth), config.cash,
                          assets, config.shorting)
        except BaseException:
            store.close()
            raise
        exchange = cls(config, history, clock, store, faults, venue)
        exchange.resumed_from = resumed if resumed is not None and resumed == start else None
        return exchange

    def close(self) -> None:
        with self.venue.lock:
            self.store.close()
