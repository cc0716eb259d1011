"""When the runner wakes: configured New York times on NYSE sessions only.

Scan times are wall-clock times in America/New_York (``09:35``, ``15:55``); they are
turned into instants per day with the zone's rules, so daylight-saving changes need no
special case. A time after a session's close (an early-close day) is skipped for that
day: no order can trade then.

With ``settle``, each session also gets a wake-up that long after its close (early
closes included): the settling cycle that fetches the day's bar, learns what the
resting stops did, and moves the trailing stops for the next session; it trades nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from kobe.data import calendar

NEW_YORK = calendar.NEW_YORK


def parse_times(values: Sequence[str]) -> tuple[dt.time, ...]:
    """``["09:35", "15:55"]`` as sorted, unique times; raises ValueError on a bad one."""
    times = set()
    for value in values:
        hour, _, minute = value.partition(":")
        times.add(dt.time(int(hour), int(minute)))
    return tuple(sorted(times))


@dataclass(frozen=True)
class Schedule:
    times: tuple[dt.time, ...]
    settle: dt.timedelta | None = None      # the settling cycle, this long after each close

    def slots(self, day: dt.date) -> list[dt.datetime]:
        """The wake-up instants (UTC) of ``day``: none unless it is a session, none after
        its close."""
        if not calendar.is_session(day):
            return []
        opens, closes = calendar.session_open_close(day)
        out = []
        for t in self.times:
            instant = dt.datetime.combine(day, t, NEW_YORK).astimezone(dt.UTC)
            if opens <= instant < closes:
                out.append(instant)
        if self.settle is not None:
            out.append((closes + self.settle).astimezone(dt.UTC))
        return sorted(set(out))

    def last_trading_slot(self, slot: dt.datetime) -> bool:
        """Whether ``slot`` is the session's last wake-up before its close (the cycle
        that sells the time stops due at the close)."""
        day = calendar.trading_date(slot)
        if not calendar.is_session(day):
            return False
        close = calendar.session_open_close(day)[1]
        return slot < close and self.next_after(slot) >= close

    def next_after(self, now: dt.datetime) -> dt.datetime:
        """The first wake-up instant strictly after ``now`` (an aware datetime)."""
        day = calendar.trading_date(now)
        for _ in range(15):  # the longest market closure since 2001 was four sessions
            for slot in self.slots(day):
                if slot > now:
                    return slot
            day = calendar.next_session(day)
        raise RuntimeError("no scan time within two weeks: check the configured times")

    def between(self, start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
        """Every wake-up instant in ``(start, end]``."""
        slot = self.next_after(start)
        while slot <= end:
            yield slot
            slot = self.next_after(slot)
