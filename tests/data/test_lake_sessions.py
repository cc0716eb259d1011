"""Coverage is the sessions received, and a fetch brings every session closed since, as of
its ``now``: issue 10's reproduction (a lake ending 2018-02-06, a fetch at 21:01 New York
on 2018-02-07), early closes, weekends, a lake written by manifest version 1. Through the
real clients against the stand-in exchange, its clock at the fetch's ``now``."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from lake_stand import ENV, SOURCE, new_york

from kobe.broker.exchange import FaultPlan
from kobe.broker.exchange.faults import DataFault
from kobe.cli import main
from kobe.data import calendar
from kobe.data.lake import Lake, fetch

SYMBOLS = ["AAPL", "KO", "MSFT"]
PROVIDERS = ["polygon", "alpaca"]


@dataclass(frozen=True)
class Case:
    lake_until: dt.date     # the last session in the lake before the fetch
    now: str                # the fetch's now (and the exchange's clock), New York
    brings_to: dt.date      # the last session in the lake after it


CASES = {
    "issue-10-after-the-close": Case(dt.date(2018, 2, 6), "2018-02-07T21:01", dt.date(2018, 2, 7)),
    "issue-10-during-the-session": Case(dt.date(2018, 2, 6), "2018-02-07T15:00", dt.date(2018, 2, 6)),
    "at-the-closing-bell": Case(dt.date(2018, 2, 6), "2018-02-07T16:00", dt.date(2018, 2, 7)),
    "a-minute-before-the-bell": Case(dt.date(2018, 2, 6), "2018-02-07T15:59", dt.date(2018, 2, 6)),
    "the-next-morning": Case(dt.date(2018, 2, 6), "2018-02-08T09:00", dt.date(2018, 2, 7)),
    "a-week-behind": Case(dt.date(2018, 1, 31), "2018-02-07T21:01", dt.date(2018, 2, 7)),
    "early-close-before-13h": Case(dt.date(2017, 11, 22), "2017-11-24T12:59", dt.date(2017, 11, 22)),
    "early-close-after-13h": Case(dt.date(2017, 11, 22), "2017-11-24T13:01", dt.date(2017, 11, 24)),
    "july-3rd-after-13h": Case(dt.date(2017, 6, 30), "2017-07-03T13:30", dt.date(2017, 7, 3)),
    "july-3rd-before-13h": Case(dt.date(2017, 6, 30), "2017-07-03T12:30", dt.date(2017, 6, 30)),
    "july-4th-holiday": Case(dt.date(2017, 6, 30), "2017-07-04T18:00", dt.date(2017, 7, 3)),
    "saturday": Case(dt.date(2017, 6, 7), "2017-06-10T12:00", dt.date(2017, 6, 9)),
}


def fill(lake: Lake, provider, until: dt.date, now: dt.datetime) -> None:
    """The lake as a fetch ending on ``until`` left it (a month of bars)."""
    report = fetch(lake, provider, SYMBOLS, month_before(until), until, now=now)
    assert not report.failed
    assert {e.covered_to for e in lake.manifest().values()} == {until.isoformat()}


def month_before(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=30)


@pytest.mark.parametrize("provider_name", PROVIDERS)
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_fetch_brings_every_closed_session_and_nothing_else(stand, tmp_path: Path, case: Case,
                                                              provider_name: str) -> None:
    now = new_york(case.now)
    exchange = stand(now)
    provider = exchange.provider(provider_name)
    lake = Lake(tmp_path / "lake")
    fill(lake, provider, case.lake_until, now)
    # From here the vendor shows the forming bar of a session in progress, as real ones do.
    exchange.admin.set_faults(data=[DataFault("partial")])
    before = len(exchange.data_requests())
    start = month_before(case.lake_until)
    report = fetch(lake, provider, SYMBOLS, start, calendar.trading_date(now), now=now)
    assert not report.failed
    assert report.due == case.brings_to
    # Only the sessions missing are asked for: none at all when nothing has closed since.
    expected_asks = [] if case.brings_to == case.lake_until else [
        (s, case.lake_until + dt.timedelta(days=1), case.brings_to) for s in SYMBOLS]
    assert sorted(report.requested) == expected_asks
    assert len(exchange.data_requests()) - before == len(expected_asks)
    stored = lake.scan().collect()
    assert stored["date"].max() == case.brings_to  # no bar of a session still trading
    for entry in lake.manifest().values():
        assert (entry.covered_to, entry.last_date) == (case.brings_to.isoformat(),) * 2
    again = fetch(lake, provider, SYMBOLS, start, calendar.trading_date(now), now=now)
    assert again.nothing_to_do


def test_the_session_in_progress_is_brought_by_the_fetch_after_its_close(stand, tmp_path: Path) -> None:
    """The day of the issue, in order: a fetch during the session stores nothing of it,
    the one after the close brings it (before the fix, the second said "nothing fetched")."""
    exchange = stand(new_york("2018-02-07T15:00"))
    provider, lake = exchange.provider("polygon"), Lake(tmp_path / "lake")
    fill(lake, provider, dt.date(2018, 2, 6), new_york("2018-02-07T15:00"))
    during = fetch(lake, provider, SYMBOLS, dt.date(2018, 1, 7), dt.date(2018, 2, 7), now=new_york("2018-02-07T15:00"))
    assert during.nothing_to_do and lake.scan().collect()["date"].max() == dt.date(2018, 2, 6)
    exchange.admin.set_clock(new_york("2018-02-07T21:01"))
    after = fetch(lake, provider, SYMBOLS, dt.date(2018, 1, 7), dt.date(2018, 2, 7), now=new_york("2018-02-07T21:01"))
    assert sorted(after.requested) == [(s, dt.date(2018, 2, 7), dt.date(2018, 2, 7)) for s in SYMBOLS]
    assert after.fetched_rows == 3 and lake.scan().collect()["date"].max() == dt.date(2018, 2, 7)


def test_a_lake_of_manifest_version_1_is_read_and_brought_up_to_date(stand, tmp_path: Path) -> None:
    """Version 1 recorded the range asked: a fetch at 15:00 wrote covered_to 2018-02-07
    with the last bar 2018-02-06, so every later fetch skipped 2018-02-07."""
    exchange = stand(new_york("2018-02-07T21:01"))
    provider, lake = exchange.provider("alpaca"), Lake(tmp_path / "lake")
    fill(lake, provider, dt.date(2018, 2, 6), new_york("2018-02-07T21:01"))
    raw = json.loads(lake.manifest_path.read_text())
    for entry in raw["symbols"].values():
        entry["covered_from"], entry["covered_to"] = "2018-01-07", "2018-02-07"   # the asked range
        del entry["asked_from"]
    lake.manifest_path.write_text(json.dumps({"version": 1, "symbols": raw["symbols"]}))
    entry = lake.manifest()["KO"]
    assert (entry.covered_from, entry.covered_to, entry.asked_from) == ("2018-01-08", "2018-02-06", "2018-01-07")
    report = fetch(lake, provider, SYMBOLS, dt.date(2018, 1, 7), dt.date(2018, 2, 7), now=new_york("2018-02-07T21:01"))
    assert sorted(report.requested) == [(s, dt.date(2018, 2, 7), dt.date(2018, 2, 7)) for s in SYMBOLS]
    assert json.loads(lake.manifest_path.read_text())["version"] == 2
    assert lake.manifest()["KO"].covered_to == "2018-02-07"


def test_a_symbol_listed_after_the_start_is_not_asked_again_for_its_listing(stand, tmp_path: Path) -> None:
    exchange = stand(new_york("2018-02-07T21:01"))
    provider, lake = exchange.provider("polygon"), Lake(tmp_path / "lake")
    # Both files start on 2013-02-08: for the vendor, nothing of KO exists before it.
    report = fetch(lake, provider, ["KO"], dt.date(2012, 6, 1), dt.date(2013, 6, 28), now=new_york("2018-02-07T21:01"))
    assert not report.failed
    entry = lake.manifest()["KO"]
    assert (entry.asked_from, entry.covered_from) == ("2012-06-01", "2013-02-08")
    again = fetch(lake, provider, ["KO"], dt.date(2012, 6, 1), dt.date(2013, 6, 28), now=new_york("2018-02-07T21:01"))
    assert again.nothing_to_do
    # Asked from earlier still, the vendor's empty answer is the listing, not a fault.
    earlier = fetch(lake, provider, ["KO"], dt.date(2011, 1, 3), dt.date(2013, 6, 28), now=new_york("2018-02-07T21:01"))
    assert earlier.requested == [("KO", dt.date(2011, 1, 3), dt.date(2012, 5, 31))] and not earlier.failed
    assert lake.manifest()["KO"].asked_from == "2011-01-03"


def test_kobe_data_fetch_reproduces_issue_10_fixed(stand, tmp_path: Path) -> None:
    exchange = stand(new_york("2018-02-07T15:00"))
    (tmp_path / "u.csv").write_text("symbol\n" + "\n".join(SYMBOLS) + "\n")
    base = ["data", "fetch", "--provider", "polygon", "--base-url", exchange.url, "--universe",
            str(tmp_path / "u.csv"), "--start", "2018-01-02", "--lake", str(tmp_path / "lake"),
            "--config", str(tmp_path / "none.yaml")]
    runner = CliRunner(env=ENV)
    during = runner.invoke(main, [*base, "--now", "2018-02-07T15:00"])
    assert during.exit_code == 0, during.output
    assert "sessions closed through 2018-02-06" in during.output
    exchange.admin.set_clock(new_york("2018-02-07T21:01"))
    after = runner.invoke(main, [*base, "--now", "2018-02-07T21:01"])
    assert after.exit_code == 0, after.output
    assert "3 requests, 3 bars written" in after.output and "through 2018-02-07" in after.output
    last = runner.invoke(main, [*base, "--now", "2018-02-07T21:01"])
    assert "nothing fetched: the lake holds every session closed through 2018-02-07" in last.output
    assert pl.read_parquet(tmp_path / "lake" / "bars" / "KO.parquet")["date"].max() == dt.date(2018, 2, 7)


def test_a_naive_now_is_refused(tmp_path: Path) -> None:
    from kobe.config.errors import KobeError
    from kobe.data.providers.files import FilesProvider

    with pytest.raises(KobeError, match="has no timezone"):
        fetch(Lake(tmp_path / "lake"), FilesProvider(None), ["KO"], dt.date(2017, 1, 3), dt.date(2017, 1, 31),
              now=dt.datetime(2017, 2, 1, 12, 0))


def test_the_partial_fault_is_what_a_vendor_shows_during_the_session(stand) -> None:
    """The stand-in's `partial` fault, seen through massive: today's forming bar, on the
    price path so far, after the closed sessions."""
    exchange = stand(new_york("2018-02-07T12:00"), faults=FaultPlan(data=[DataFault("partial", symbol="KO")]))
    aggs = list(exchange.provider("polygon")._client.list_aggs("KO", 1, "day", "2018-02-05", "2018-02-06"))
    days = [dt.datetime.fromtimestamp(a.timestamp / 1000, calendar.NEW_YORK).date() for a in aggs]
    assert days == [dt.date(2018, 2, 5), dt.date(2018, 2, 6), dt.date(2018, 2, 7)]
    final = pl.read_parquet(SOURCE).filter((pl.col("symbol") == "KO") & (pl.col("date") == dt.date(2018, 2, 7)))
    assert aggs[-1].open == final["open"][0] and aggs[-1].volume < final["volume"][0]
    assert final["low"][0] <= aggs[-1].low <= aggs[-1].high <= final["high"][0]

