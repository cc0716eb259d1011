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
import hashlib
import importlib.util
import itertools
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
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
    several times per request). Opens and closes are kept as POSIX seconds and made
    datetimes when asked for: most commands only ask which days are sessions.
    """

    days: tuple[dt.date, ...]
    opens: tuple[int, ...]
    closes: tuple[int, ...]
    index: dict[dt.date, int]
    first: dt.date
    last: dt.date


@functools.lru_cache(maxsize=1)
def _schedule() -> _Schedule:
    last = dt.date.today().replace(month=12, day=31) + dt.timedelta(days=365 * YEARS_AHEAD)
    path = _cache_path(last)
    table = _read_cache(path) if path is not None else None
    if table is None:
        table = _build(last)
        if path is not None:
            _write_cache(path, table)
    days = tuple(dt.date.fromordinal(d) for d in table[0])
    return _Schedule(days, table[1], table[2], {d: i for i, d in enumerate(days)}, FIRST_DAY, last)


_Table = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
"""Sessions as proleptic ordinals, their opens and closes as POSIX seconds."""


def _build(last: dt.date) -> _Table:
    import exchange_calendars as xcals  # type: ignore[import-untyped]

    with warnings.catch_warnings():
        # exchange_calendars 4.13 reads Series.values, which pandas 3.1 deprecates; the
        # values it reads are unchanged, so the notice is noise for Kobe's users.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        cal = xcals.get_calendar("XNYS", start=FIRST_DAY.isoformat(), end=last.isoformat())
    return (tuple(ts.date().toordinal() for ts in cal.sessions),
            tuple(int(ts.timestamp()) for ts in cal.opens),
            tuple(int(ts.timestamp()) for ts in cal.closes))


# The session table is cached on disk: building it imports pandas and exchange_calendars
# and runs their holiday rules, about 0.4 s, more than a whole daily scan otherwise takes.
# The cache is keyed by the range and by the installed exchange_calendars (its version
# and its NYSE files), so an upgrade that adds a closure is picked up at once. A cache
# that cannot be read or written is rebuilt or skipped, never an error.
CACHE_ENV = "KOBE_CACHE_DIR"
"""A folder for Kobe's caches; default ``$XDG_CACHE_HOME/kobe`` or ``~/.cache/kobe``."""


def _cache_path(last: dt.date) -> Path | None:
    folder = os.environ.get(CACHE_ENV)
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "kobe")
    spec = importlib.util.find_spec("exchange_calendars")
    if spec is None or spec.origin is None:
        return None
    package = Path(spec.origin).parent
    parts = sorted(p.name for p in package.parent.glob("exchange_calendars-*.dist-info"))
    for name in ("__init__.py", "exchange_calendar_xnys.py", "us_holidays.py"):
        try:
            info = (package / name).stat()
        except OSError:
            continue
        parts.append(f"{name}:{info.st_size}:{info.st_mtime_ns}")
    key = hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:16]
    return Path(folder) / f"xnys-{FIRST_DAY.isoformat()}-{last.isoformat()}-{key}.json"


def _read_cache(path: Path) -> _Table | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        table = (tuple(data["days"]), tuple(data["opens"]), tuple(data["closes"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    days, opens, closes = table
    sound = (len(days) == len(opens) == len(closes) > 0
             and all(type(v) is int for column in table for v in column)
             and all(a < b for a, b in itertools.pairwise(days))
             and all(o < c for o, c in zip(opens, closes)))
    return table if sound else None


def _write_cache(path: Path, table: _Table) -> None:
    from kobe.files import write_atomic

    days, opens, closes = table
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"days": days, "opens": opens, "closes": closes}))
    except (OSError, KobeError):
        pass  # a read-only home: every process builds the table, as before


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
    return (dt.datetime.fromtimestamp(table.opens[i], dt.UTC),
            dt.datetime.fromtimestamp(table.closes[i], dt.UTC))


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
