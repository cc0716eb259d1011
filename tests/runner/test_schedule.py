"""The runner's schedule: scan times on sessions only, across a holiday, a daylight-saving
change and an early close."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from kobe.runner.schedule import Schedule, parse_times

NY = ZoneInfo("America/New_York")
UTC = dt.UTC
SCHEDULE = Schedule(parse_times(["15:55", "09:35", "10:30"]))


def ny(y: int, m: int, d: int, hh: int, mm: int) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=NY)


def test_times_are_sorted_and_checked() -> None:
    assert SCHEDULE.times == (dt.time(9, 35), dt.time(10, 30), dt.time(15, 55))
    with pytest.raises(ValueError):
        parse_times(["25:00"])


def test_a_week_with_a_holiday_and_an_early_close() -> None:
    # Thanksgiving 2017: Thursday 23rd closed, Friday 24th closes at 13:00.
    slots = list(SCHEDULE.between(ny(2017, 11, 20, 0, 0), ny(2017, 11, 26, 0, 0)))
    days = [s.astimezone(NY).date().day for s in slots]
    assert days == [20, 20, 20, 21, 21, 21, 22, 22, 22, 24, 24]  # no 23rd; no 15:55 on the 24th
    assert all(s.tzinfo is not None for s in slots)


def test_daylight_saving_change_keeps_new_york_wall_time() -> None:
    # DST began on Sunday 2017-03-12: 09:35 New York is 14:35 UTC before, 13:35 UTC after.
    friday = SCHEDULE.next_after(ny(2017, 3, 10, 9, 0))
    monday = SCHEDULE.next_after(ny(2017, 3, 10, 16, 0))
    assert friday.astimezone(UTC).time() == dt.time(14, 35)
    assert monday.astimezone(UTC).time() == dt.time(13, 35)
    assert monday.astimezone(NY) == ny(2017, 3, 13, 9, 35)


def test_next_after_is_strict_and_skips_weekends() -> None:
    assert SCHEDULE.next_after(ny(2017, 6, 5, 9, 35)) == ny(2017, 6, 5, 10, 30)
    assert SCHEDULE.next_after(ny(2017, 6, 9, 15, 55)) == ny(2017, 6, 12, 9, 35)  # Friday -> Monday
