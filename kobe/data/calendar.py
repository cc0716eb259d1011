"""The NYSE trading calendar: which days are sessions and when each opens and closes.

Backed by ``exchange_calendars`` (its ``XNYS`` calendar), so holidays, early closes
(13:00 New York on the day after Thanksgiving, most Christmas Eves and July 3rds) and
unplanned closures (Hurricane Sandy on 2012-10-29/30, national days of mourning such as
2018-12-05) come from a maintained source, never from a hand-typed list.

Conventions, as everywhere in Kobe: a *trading date* is a :class:`datetime.date` in
America/New_York; an *instant* is a timezone-aware :class:`datetime.datetime` in UTC.
The calendar covers 1990-01-01 to two years after today; asking outside that range is a
:class:`KobeError`, because an answer there would be a guess.

    >>> import datetime as dt
    >>> is_session(dt.date(2017, 11, 23))            # Thanksgiving
    False
    >>> session_open_close(dt.date(2017, 11, 24))    # the early close after it
    (datetime.datetime(2017, 11, 24, 14, 30, tzinfo=datetime.timezone.utc), datetime.datetime(2017, 11, 24, 18, 0, tzinfo=datetime.timezone.utc))
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import warnings
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from kobe.config.errors import Diagnostic, KobeError

NEW_YORK = ZoneInfo("America/New_York")
FIRST_DAY = dt.date(1990, 1, 1)
YEARS_AHEAD = 2


@dataclass(frozen=True)
class _Schedule:
    """Every session in range with its open and close, for bisect look-ups.

    exchange_calendars answers through pandas; one conversion to plain lists at load
    keeps each look-up a bisect instead of an index lookup (the stand-in exchange asks
    several times per request).
    """

    days: tuple[dt.date, ...]
    opens: tuple[dt.datetime, ...]
    closes: tuple[dt.datetime, ...]
    index: dict[dt.date, int]
    first: dt.date
    last: dt.date


@functools.lru_cache(maxsize=1)
def _schedule() -> _Schedule:
    import exchange_calendars as xcals  # type: ignore[import-untyped]

    last = dt.date.today().replace(month=12, day=31) + dt.timedelta(days=365 * YEARS_AHEAD)
    with warnings.catch_warnings():
        # exchange_calendars 4.13 reads Series.values, which pandas 3.1 deprecates; the
        # values it reads are unchanged, so the notice is noise for Kobe's users.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        cal = xcals.get_calendar("XNYS", start=FIRST_DAY.isoformat(), end=last.isoformat())
    days = tuple(ts.date() for ts in cal.sessions)
    opens = tuple(ts.to_pydatetime().astimezone(dt.UTC) for ts in cal.opens)
    closes = tuple(ts.to_pydatetime().astimezone(dt.UTC) for ts in cal.closes)
    return _Schedule(days, opens, closes, {d: i for i, d in enumerate(days)}, FIRST_DAY, last)


def _checked(day: dt.date) -> _Schedule:
    if isinstance(day, dt.datetime):
        raise TypeError("the calendar takes trading dates (datetime.date), not datetimes")
    table = _schedule()
    if not table.first <= day <= table.last:
        raise KobeError(Diagnostic(f"{day.isoformat()} is outside the NYSE calendar's range",
                                   hint=f"the calendar covers {table.first} .. {table.last}"))
    return table


def is_session(day: dt.date) -> bool:
    """Whether the NYSE holds a regular session on ``day`` (a New York date)."""
    return day in _checked(day).index


def sessions(start: dt.date, end: dt.date) -> list[dt.date]:
    """The sessions from ``start`` to ``end``, both included, oldest first."""
    table = _checked(start)
    _checked(end)
    return list(table.days[bisect.bisect_left(table.days, start):bisect.bisect_right(table.days, end)])


def previous_session(day: dt.date) -> dt.date:
    """The last session strictly before ``day`` (``day`` need not be a session)."""
    table = _checked(day)
    i = bisect.bisect_left(table.days, day) - 1
    if i < 0:
        raise KobeError(Diagnostic(f"no session before {day.isoformat()} in the calendar"))
    return table.days[i]


def next_session(day: dt.date) -> dt.date:
    """The first session strictly after ``day`` (``day`` need not be a session)."""
    table = _checked(day)
    i = bisect.bisect_right(table.days, day)
    if i >= len(table.days):
        raise KobeError(Diagnostic(f"no session after {day.isoformat()} in the calendar"))
    return table.days[i]


def session_open_close(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The regular session's open and close on ``day`` as UTC instants.

    Early closes are included (13:00 New York is 18:00 UTC in November). Raises
    :class:`KobeError` when ``day`` is not a session.
    """
    table = _checked(day)
    i = table.index.get(day)
    if i is None:
        raise KobeError(Diagnostic(f"{day.isoformat()} is not an NYSE session",
                                   hint=f"the next session is {next_session(day).isoformat()}"))
    return table.opens[i], table.closes[i]


def trading_date(instant: dt.datetime) -> dt.date:
    """The New York calendar date of an aware instant (which need not be a session)."""
    if instant.tzinfo is None:
        raise ValueError("a naive datetime has no trading date; give an aware (UTC) instant")
    return instant.astimezone(NEW_YORK).date()


def session_closed(day: dt.date, instant: dt.datetime) -> bool:
    """Whether the session of ``day`` has closed at ``instant``: its daily bar is final.

    The close is the session's real one, early closes included (13:00 New York the day
    after Thanksgiving), so a bar of such a day counts from 13:00 on, not from 16:00.
    ``day`` must be a session.
    """
    if instant.tzinfo is None:
        raise ValueError("a naive datetime cannot be compared with a session's close; give an aware (UTC) instant")
    return session_open_close(day)[1] <= instant


def last_closed_session(instant: dt.datetime) -> dt.date:
    """The latest session whose close is at or before ``instant``: the newest daily bar
    that can be final at ``instant`` (today's once the bell has rung, else the previous
    session's)."""
    day = trading_date(instant)
    if is_session(day) and session_closed(day, instant):
        return day
    return previous_session(day)
