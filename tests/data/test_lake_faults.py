"""A vendor's bad answer is refused for its symbol, named, and never stored: each data fault
of the stand-in exchange, through both real clients, against a lake that must keep its
previous content byte for byte while the other symbols go on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from lake_stand import ENV, new_york

from kobe.broker.exchange.faults import DataFault
from kobe.cli import main
from kobe.data.bars import BAR_SCHEMA
from kobe.data.lake import FAULTS, AnswerRefused, Lake, check_answer, fetch

SYMBOLS = ["AAPL", "KO", "MSFT"]
START, FILLED = dt.date(2018, 1, 2), dt.date(2018, 1, 31)
AFTER_CLOSE = "2018-02-07T21:01"


@dataclass(frozen=True)
class Case:
    fault: DataFault
    refused: str | None               # the fault named in the refusal; None: the answer is sound
    now: str = AFTER_CLOSE
    settings: dict[str, Any] = field(default_factory=dict)


CASES = {
    "empty-answer": Case(DataFault("empty", symbol="AAPL"), "empty"),
    "empty-for-the-newest-day": Case(DataFault("empty", symbol="AAPL", day="2018-02-07"), "empty"),
    "paging-stops-after-the-first-page": Case(DataFault("short", symbol="AAPL", bars=2), "short", settings={"page_size": 2}),
    "answer-cut-before-a-day": Case(DataFault("short", symbol="AAPL", day="2018-02-06"), "short"),
    "newest-closed-session-missing": Case(DataFault("missing", symbol="AAPL", day="2018-02-07"), "short"),
    "last-bar-twice": Case(DataFault("duplicate", symbol="AAPL"), "duplicate"),
    "a-bar-inside-twice": Case(DataFault("duplicate", symbol="AAPL", day="2018-02-05"), "duplicate"),
    "last-two-bars-swapped": Case(DataFault("out_of_order", symbol="AAPL"), "out_of_order"),
    "swapped-across-pages": Case(DataFault("out_of_order", symbol="AAPL", day="2018-02-05"), "out_of_order",
                                 settings={"page_size": 2}),
    "forming-bar-during-the-session": Case(DataFault("partial", symbol="AAPL"), "unclosed", now="2018-02-07T15:00"),
    "a-hole-inside-is-a-real-gap": Case(DataFault("missing", symbol="AAPL", day="2018-02-05"), None),
}


@pytest.mark.parametrize("provider_name", ["polygon", "alpaca"])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_answer_is_refused_by_name_and_the_lake_keeps_its_content(stand, tmp_path: Path, case: Case,
                                                                        provider_name: str) -> None:
    now = new_york(case.now)
    exchange = stand(now, **case.settings)
    provider, lake = exchange.provider(provider_name), Lake(tmp_path / "lake")
    assert not fetch(lake, provider, SYMBOLS, START, FILLED, now=now).failed
    before_bytes, before_entry = lake.path("AAPL").read_bytes(), lake.manifest()["AAPL"]
    exchange.admin.set_faults(data=[case.fault])

    report = fetch(lake, provider, SYMBOLS, START, dt.date(2018, 2, 7), now=now)
    due = report.due
    assert due == (dt.date(2018, 2, 6) if case.now != AFTER_CLOSE else dt.date(2018, 2, 7))
    for other in ("KO", "MSFT"):           # the other symbols go on
        assert lake.manifest()[other].covered_to == due.isoformat()
    if case.refused is None:
        assert not report.failed
        stored = pl.read_parquet(lake.path("AAPL"))["date"].to_list()
        assert dt.date(2018, 2, 5) not in stored and stored[-1] == due
        return
    assert report.refused == {"AAPL": case.refused}
    message = report.failed["AAPL"]
    assert message.startswith(f"AAPL: {case.refused}: ")
    assert lake.path("AAPL").read_bytes() == before_bytes and lake.manifest()["AAPL"] == before_entry

    exchange.admin.clear_faults()
    again = fetch(lake, provider, SYMBOLS, START, dt.date(2018, 2, 7), now=now)
    assert [s for s, _, _ in again.requested] == ["AAPL"] and not again.failed
    assert lake.manifest()["AAPL"].covered_to == due.isoformat()


def bars(*days: str) -> pl.DataFrame:
    rows = [("AAPL", dt.date.fromisoformat(d), 1.0, 1.0, 1.0, 1.0, 1.0) for d in days]
    return pl.DataFrame(rows, schema=BAR_SCHEMA, orient="row")


FIRST, LAST = dt.date(2018, 2, 1), dt.date(2018, 2, 7)
ANSWERS = {
    "whole": (bars("2018-02-01", "2018-02-02", "2018-02-05", "2018-02-06", "2018-02-07"), None),
    "a-halt-inside": (bars("2018-02-01", "2018-02-02", "2018-02-06", "2018-02-07"), None),
    "listed-mid-range": (bars("2018-02-06", "2018-02-07"), None),
    "empty": (bars(), "empty"),
    "ends-early": (bars("2018-02-01", "2018-02-02"), "short"),
    "two-of-a-date": (bars("2018-02-01", "2018-02-02", "2018-02-02", "2018-02-05", "2018-02-06", "2018-02-07"),
                      "duplicate"),
    "backwards": (bars("2018-02-07", "2018-02-06", "2018-02-05", "2018-02-02", "2018-02-01"), "out_of_order"),
    "a-bar-of-tomorrow": (bars("2018-02-06", "2018-02-07", "2018-02-08"), "unclosed"),
    "a-bar-before-the-range": (bars("2018-01-31", "2018-02-01", "2018-02-07"), "out_of_range"),
    "a-saturday-bar": (bars("2018-02-01", "2018-02-03", "2018-02-07"), "not_a_session"),
    "an-infinite-close": (bars("2018-02-06", "2018-02-07").with_columns(close=pl.Series([1.0, float("inf")])),
                          "unusable"),
    "a-negative-volume": (bars("2018-02-06", "2018-02-07").with_columns(volume=pl.Series([-5.0, 1.0])), "unusable"),
}


@pytest.mark.parametrize(("frame", "fault"), ANSWERS.values(), ids=ANSWERS.keys())
def test_what_counts_as_each_fault(frame: pl.DataFrame, fault: str | None) -> None:
    now = new_york(AFTER_CLOSE)
    if fault is None:
        check_answer("AAPL", frame, FIRST, LAST, now)
        return
    assert fault in FAULTS
    with pytest.raises(AnswerRefused) as refused:
        check_answer("AAPL", frame, FIRST, LAST, now)
    assert refused.value.fault == fault and refused.value.diagnostics[0].message.startswith(f"AAPL: {fault}: ")


def test_an_empty_answer_before_the_first_stored_bar_is_the_listing() -> None:
    check_answer("AAPL", bars(), dt.date(2012, 1, 3), dt.date(2013, 2, 7), new_york(AFTER_CLOSE),
                 listing_explains_empty=True)


def test_kobe_data_fetch_names_the_refusal_and_exits_1(stand, tmp_path: Path) -> None:
    exchange = stand(new_york(AFTER_CLOSE))
    exchange.admin.set_faults(data=[{"kind": "empty", "symbol": "KO"}])    # as JSON would send it
    (tmp_path / "u.csv").write_text("symbol\nAAPL\nKO\n")
    result = CliRunner(env=ENV).invoke(main, [
        "data", "fetch", "--provider", "alpaca", "--base-url", exchange.url, "--universe", str(tmp_path / "u.csv"),
        "--start", "2018-01-02", "--now", AFTER_CLOSE, "--lake", str(tmp_path / "lake"),
        "--config", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1
    assert "refused: KO: empty: no bar for 2018-01-02 .. 2018-02-07" in result.output
    assert Lake(tmp_path / "lake").symbols() == ["AAPL"]


@pytest.mark.parametrize("provider_name", ["polygon", "alpaca"])
def test_a_fault_with_a_count_spoils_that_many_answers_whatever_their_pages(stand, provider_name: str) -> None:
    """A paged answer is one answer: the fault its first page drew holds on its later
    pages (carried by next_url / next_page_token) and uses up one of the count."""
    exchange = stand(new_york(AFTER_CLOSE), page_size=2)
    exchange.admin.set_faults(data=[DataFault("out_of_order", symbol="KO", day="2018-02-05", count=1)])
    provider = exchange.provider(provider_name)
    first = provider.daily_bars("KO", dt.date(2018, 2, 1), dt.date(2018, 2, 7))["date"].to_list()
    assert first == [dt.date(2018, 2, d) for d in (1, 5, 2, 6, 7)]      # three pages, one story
    assert len(exchange.data_requests()) == 3
    second = provider.daily_bars("KO", dt.date(2018, 2, 1), dt.date(2018, 2, 7))["date"].to_list()
    assert second == sorted(first)
    assert exchange.admin.faults().data[0].count == 0
