"""The NYSE calendar: holidays, early closes, unplanned closures, DST, and the API's
edges. The expected dates are the exchange's published history, typed here as the
specification (the module itself types none)."""

from __future__ import annotations

import datetime as dt

import pytest

from kobe.config.errors import KobeError
from kobe.data import calendar

UTC = dt.UTC


@pytest.mark.parametrize(("day", "expected"), [
    (dt.date(2017, 6, 5), True),
    (dt.date(2017, 6, 10), False),     # a Saturday
    (dt.date(2017, 11, 23), False),    # Thanksgiving
    (dt.date(2017, 11, 24), True),     # the day after: an early close, still a session
    (dt.date(2017, 7, 4), False),      # Independence Day
    (dt.date(2015, 7, 3), False),      # July 4th on a Saturday, observed on the Friday
    (dt.date(2017, 4, 14), False),     # Good Friday
    (dt.date(2012, 10, 29), False),    # Hurricane Sandy
    (dt.date(2012, 10, 30), False),
    (dt.date(2001, 9, 11), False),     # closed after the attacks, to 2001-09-14
    (dt.date(2001, 9, 17), True),
    (dt.date(2018, 12, 5), False),     # national day of mourning, George H. W. Bush
    (dt.date(2025, 1, 9), False),      # national day of mourning, Jimmy Carter
], ids=lambda v: v.isoformat() if isinstance(v, dt.date) else str(v))
def test_is_session(day: dt.date, expected: bool) -> None:
    assert calendar.is_session(day) is expected


@pytest.mark.parametrize(("day", "open_utc", "close_utc"), [
    (dt.date(2017, 1, 3), dt.datetime(2017, 1, 3, 14, 30, tzinfo=UTC), dt.datetime(2017, 1, 3, 21, 0, tzinfo=UTC)),
    (dt.date(2017, 6, 5), dt.datetime(2017, 6, 5, 13, 30, tzinfo=UTC), dt.datetime(2017, 6, 5, 20, 0, tzinfo=UTC)),
    (dt.date(2017, 11, 24), dt.datetime(2017, 11, 24, 14, 30, tzinfo=UTC),
     dt.datetime(2017, 11, 24, 18, 0, tzinfo=UTC)),                      # 13:00 New York
    (dt.date(2018, 7, 3), dt.datetime(2018, 7, 3, 13, 30, tzinfo=UTC), dt.datetime(2018, 7, 3, 17, 0, tzinfo=UTC)),
    (dt.date(2017, 3, 10), dt.datetime(2017, 3, 10, 14, 30, tzinfo=UTC),
     dt.datetime(2017, 3, 10, 21, 0, tzinfo=UTC)),                       # the Friday before DST starts
    (dt.date(2017, 3, 13), dt.datetime(2017, 3, 13, 13, 30, tzinfo=UTC),
     dt.datetime(2017, 3, 13, 20, 0, tzinfo=UTC)),                       # the Monday after
], ids=["winter", "summer", "after-thanksgiving", "july-3rd", "before-dst", "after-dst"])
def test_session_open_close_in_utc(day, open_utc, close_utc) -> None:
    got = calendar.session_open_close(day)
    assert got == (open_utc, close_utc)
    assert all(t.tzinfo is not None and t.utcoffset() == dt.timedelta(0) for t in got)


def test_sessions_span_both_ends_and_skip_holidays() -> None:
    assert calendar.sessions(dt.date(2017, 12, 22), dt.date(2018, 1, 2)) == [
        dt.date(2017, 12, 22), dt.date(2017, 12, 26), dt.date(2017, 12, 27), dt.date(2017, 12, 28),
        dt.date(2017, 12, 29), dt.date(2018, 1, 2)]
    assert len(calendar.sessions(dt.date(2017, 1, 1), dt.date(2017, 12, 31))) == 251
    assert calendar.sessions(dt.date(2017, 6, 10), dt.date(2017, 6, 11)) == []


@pytest.mark.parametrize(("day", "previous", "following"), [
    (dt.date(2017, 6, 5), dt.date(2017, 6, 2), dt.date(2017, 6, 6)),       # a Monday
    (dt.date(2017, 6, 10), dt.date(2017, 6, 9), dt.date(2017, 6, 12)),     # a Saturday
    (dt.date(2017, 11, 23), dt.date(2017, 11, 22), dt.date(2017, 11, 24)),  # Thanksgiving
    (dt.date(2018, 1, 2), dt.date(2017, 12, 29), dt.date(2018, 1, 3)),     # after New Year's Day
], ids=["monday", "saturday", "thanksgiving", "new-year"])
def test_previous_and_next_session_are_strict(day, previous, following) -> None:
    assert calendar.previous_session(day) == previous
    assert calendar.next_session(day) == following


def test_trading_date_is_the_new_york_date() -> None:
    assert calendar.trading_date(dt.datetime(2017, 6, 6, 2, 0, tzinfo=UTC)) == dt.date(2017, 6, 5)
    with pytest.raises(ValueError):
        calendar.trading_date(dt.datetime(2017, 6, 6, 2, 0))


def test_misuse_is_an_error_not_a_guess() -> None:
    with pytest.raises(KobeError, match="not an NYSE session"):
        calendar.session_open_close(dt.date(2017, 11, 23))
    with pytest.raises(KobeError, match="outside the NYSE calendar's range"):
        calendar.is_session(dt.date(1985, 1, 2))
    with pytest.raises(TypeError):
        calendar.is_session(dt.datetime(2017, 6, 5, 12, 0, tzinfo=UTC))
