"""Exchange time: a clock that can stand still, run, be set and be advanced.

The exchange replays past sessions, so its "now" is not the wall clock. It starts at a
chosen instant and then runs at ``speed`` exchange seconds per real second: 0 freezes it
(tests move it explicitly, so nothing depends on how fast the machine is), 1 is real
time, 60 plays a minute per second. Time never runs backwards: a venue whose orders
carry timestamps cannot be sent into their past. Nor does it leave the NYSE calendar's
range (:func:`clock_range`): set, advanced or running fast, it stops at the calendar's
end, where the next open could no longer be named.

:func:`market_clock` answers Alpaca's ``/v2/clock`` question for any instant, from the
NYSE calendar (:mod:`kobe.data.calendar`).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import threading
import time
from dataclasses import dataclass

from kobe.broker.exchange.limits import MAX_SPEED, number
from kobe.config.errors import KobeError
from kobe.data import calendar

UTC = dt.UTC


class BackInTimeError(ValueError):
    """A move of the clock into its past (the admin API answers 409)."""


def _aware(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None:
        raise ValueError("exchange time needs an aware datetime (UTC, or with an offset)")
    return instant.astimezone(UTC)


def _calendar_last_day() -> dt.date:
    # kobe.data.calendar covers 1990 to two years ahead of today and raises KobeError
    # beyond; it does not publish its end, so find it by bisection (some 22 look-ups).
    low, high = calendar.FIRST_DAY.toordinal(), dt.date.max.toordinal()
    while low < high:
        mid = (low + high + 1) // 2
        try:
            calendar.is_session(dt.date.fromordinal(mid))
        except KobeError:
            high = mid - 1
        else:
            low = mid
    return dt.date.fromordinal(low)


@functools.cache
def clock_range() -> tuple[dt.datetime, dt.datetime]:
    """The instants the exchange clock can stand at: from the close of the calendar's
    first session to the close of its last session but one. Anywhere else Alpaca's clock
    (:func:`market_clock`: the next open and close) or the last closed session would lie
    outside the calendar, and every request would fail until a restart."""
    first = calendar.sessions(calendar.FIRST_DAY, calendar.FIRST_DAY + dt.timedelta(days=14))[0]
    last_day = _calendar_last_day()
    penultimate = calendar.sessions(last_day - dt.timedelta(days=14), last_day)[-2]
    return calendar.session_open_close(first)[1], calendar.session_open_close(penultimate)[1]


def check_speed(value: float, name: str = "speed") -> float:
    """``value`` as a clock speed (finite, 0 to :data:`MAX_SPEED`), or ``ValueError``."""
    return number(value, name, 0.0, MAX_SPEED)


class ExchangeClock:
    """The venue's current instant (aware, UTC)."""

    def __init__(self, start: dt.datetime, speed: float = 0.0, closed_speed: float | None = None) -> None:
        self._speed = check_speed(speed)
        self._closed_speed = check_speed(closed_speed, "closed_speed") if closed_speed is not None else None
        self._first, self._last = clock_range()
        self._lock = threading.Lock()
        self._anchor = self._within(_aware(start))
        self._anchor_real = time.monotonic()
        # While the market is closed the clock may run faster (``--closed-speed``): a
        # replayed fortnight spends its real seconds in the sessions, where orders trade.

    def _within(self, instant: dt.datetime) -> dt.datetime:
        if not self._first <= instant <= self._last:
            raise ValueError(f"{instant.isoformat()} is outside the exchange clock's range "
                             f"({self._first.isoformat()} .. {self._last.isoformat()}, the NYSE calendar's)")
        return instant

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def closed_speed(self) -> float | None:
        return self._closed_speed

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now()

    def _now(self) -> dt.datetime:
        if self._speed == 0:
            return self._anchor
        real = time.monotonic()
        if self._closed_speed is None or self._closed_speed == self._speed:
            # A running clock stops at the calendar's end rather than run off it (and a
            # timedelta of a huge span would overflow before the comparison).
            seconds = min((real - self._anchor_real) * self._speed, (self._last - self._anchor).total_seconds())
            return self._anchor + dt.timedelta(seconds=seconds)
        # Piecewise: each stretch between an open and a close runs at its own speed. The
        # anchor moves to the result, so the walk never covers more than the last call's span.
        instant, left = self._anchor, real - self._anchor_real
        while left > 0 and instant < self._last:
            market = market_clock(instant)
            rate = self._speed if market.is_open else self._closed_speed
            boundary = min(market.next_close if market.is_open else market.next_open, self._last)
            if rate <= 0:
                break
            needed = (boundary - instant).total_seconds() / rate
            if left < needed:
                instant += dt.timedelta(seconds=left * rate)
                break
            instant, left = boundary, left - needed
        self._anchor, self._anchor_real = instant, real
        return instant

    def set(self, instant: dt.datetime) -> dt.datetime:
        """Jump to ``instant``; raises :class:`BackInTimeError` if that is in the past,
        ``ValueError`` if it is beyond the clock's range."""
        instant = _aware(instant)
        with self._lock:
            current = self._now()
            if instant < current:
                raise BackInTimeError(f"the clock cannot go back from {current.isoformat()} to {instant.isoformat()}")
            self._anchor, self._anchor_real = self._within(instant), time.monotonic()
            return instant

    def advance(self, seconds: float) -> dt.datetime:
        """Move ``seconds`` forward; ``ValueError`` (and no move) for a negative or
        non-finite span, or one that passes the clock's range."""
        seconds = number(seconds, "advance", 0.0, math.inf)
        with self._lock:
            current = self._now()
            room = (self._last - current).total_seconds()
            if seconds > room:
                raise ValueError(f"advance of {seconds:g} s would pass the exchange clock's end "
                                 f"({self._last.isoformat()}, {room:.0f} s ahead)")
            self._anchor, self._anchor_real = current + dt.timedelta(seconds=seconds), time.monotonic()
            return self._anchor

    def set_speed(self, speed: float) -> None:
        speed = check_speed(speed)
        with self._lock:
            self._anchor, self._anchor_real, self._speed = self._now(), time.monotonic(), speed


@dataclass(frozen=True)
class MarketClock:
    """The market as of ``timestamp``: whether a session is open and the next open and
    close. ``session`` is the trading date whose regular session holds ``timestamp``."""

    timestamp: dt.datetime
    is_open: bool
    next_open: dt.datetime
    next_close: dt.datetime
    session: dt.date | None


def session_at(instant: dt.datetime) -> dt.date | None:
    """The session open at ``instant`` (open <= instant < close), or ``None``."""
    day = calendar.trading_date(instant)
    if not calendar.is_session(day):
        return None
    open_, close = calendar.session_open_close(day)
    return day if open_ <= instant < close else None


def first_session_closing_after(instant: dt.datetime) -> dt.date:
    """The session that is open at ``instant`` or, when none is, the next one to open."""
    day = calendar.trading_date(instant)
    if calendar.is_session(day) and calendar.session_open_close(day)[1] > instant:
        return day
    return calendar.next_session(day)


def last_session_started(instant: dt.datetime) -> dt.date:
    """The latest session whose open is at or before ``instant`` (today's once it has
    opened, else the previous one)."""
    day = calendar.trading_date(instant)
    if calendar.is_session(day) and calendar.session_open_close(day)[0] <= instant:
        return day
    return calendar.previous_session(day)


def last_session_closed(instant: dt.datetime) -> dt.date:
    """The latest session whose close is at or before ``instant``: its daily bar is
    final, so it is the newest bar a data vendor may serve at ``instant``."""
    day = calendar.trading_date(instant)
    if calendar.is_session(day) and calendar.session_open_close(day)[1] <= instant:
        return day
    return calendar.previous_session(day)


def market_clock(instant: dt.datetime) -> MarketClock:
    """Alpaca's clock at ``instant``: during a session ``next_close`` is today's close and
    ``next_open`` tomorrow's open; outside, both belong to the next session."""
    instant = _aware(instant)
    current = session_at(instant)
    coming = first_session_closing_after(instant)
    open_, close = calendar.session_open_close(coming)
    if current is not None:
        next_open = calendar.session_open_close(calendar.next_session(current))[0]
        return MarketClock(instant, True, next_open, close, current)
    return MarketClock(instant, False, open_, close, None)
