"""The data lake: incremental fetches, a manifest that tells the truth, resumption."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import polars as pl
import pytest

from kobe.config.errors import Diagnostic, KobeError
from kobe.data.bars import read_bars
from kobe.data.lake import Lake, fetch
from kobe.data.providers.files import FilesProvider

D0, D1, D2 = dt.date(2016, 1, 1), dt.date(2016, 6, 30), dt.date(2016, 12, 31)


class Recording:
    """A real provider (the embedded files) that records what it was asked for."""

    name = "embedded"
    adjusted = True

    def __init__(self, fail: set[str] | None = None) -> None:
        self.inner = FilesProvider(None)
        self.calls: list[tuple[str, dt.date, dt.date]] = []
        self.fail = fail or set()

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> pl.DataFrame:
        self.calls.append((symbol, start, end))
        if symbol in self.fail:
            raise KobeError(Diagnostic(f"{symbol} failed"))
        return self.inner.daily_bars(symbol, start, end)


def test_fetch_then_refetch_asks_for_nothing(tmp_path: Path) -> None:
    lake, provider = Lake(tmp_path / "lake"), Recording()
    report = fetch(lake, provider, ["AAPL", "MSFT"], D0, D1, workers=2)
    assert sorted(provider.calls) == [("AAPL", D0, D1), ("MSFT", D0, D1)]
    assert report.fetched_rows == 2 * 125
    provider.calls.clear()
    again = fetch(lake, provider, ["AAPL", "MSFT"], D0, D1)
    assert again.nothing_to_do and provider.calls == []


def test_extending_the_range_asks_only_for_the_new_part(tmp_path: Path) -> None:
    lake, provider = Lake(tmp_path / "lake"), Recording()
    fetch(lake, provider, ["AAPL"], D0, D1)
    provider.calls.clear()
    fetch(lake, provider, ["AAPL"], dt.date(2015, 12, 1), D2)
    # The back end stops at the last session (2016-12-30): 2016-12-31 is a Saturday, and a
    # range is asked up to the newest closed session in it, not to the calendar date.
    assert sorted(provider.calls) == [("AAPL", dt.date(2015, 12, 1), dt.date(2015, 12, 31)),
                                      ("AAPL", dt.date(2016, 7, 1), dt.date(2016, 12, 30))]
    stored = lake.scan(["AAPL"]).collect()
    expected = read_bars(symbols=["AAPL"], start=dt.date(2015, 12, 1), end=D2).collect()
    assert stored.equals(expected)


def test_manifest_records_what_the_file_holds(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    fetch(lake, Recording(), ["KO"], D0, D1)
    entry = lake.manifest()["KO"]
    data = lake.path("KO").read_bytes()
    assert entry.sha256 == hashlib.sha256(data).hexdigest()
    frame = pl.read_parquet(lake.path("KO"))
    assert (entry.rows, entry.first_date, entry.last_date) == (frame.height, "2016-01-04", "2016-06-30")
    # Coverage is the sessions received (2016-01-01 is a holiday), and asked_from the
    # start the vendor was asked from, so that start is not asked again.
    assert (entry.covered_from, entry.covered_to, entry.provider) == ("2016-01-04", "2016-06-30", "embedded")
    assert entry.asked_from == "2016-01-01"


def test_a_failing_symbol_does_not_stop_the_others_and_resumes(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    report = fetch(lake, Recording(fail={"MSFT"}), ["AAPL", "MSFT", "KO"], D0, D1)
    assert report.failed == {"MSFT": "MSFT failed"}
    assert lake.symbols() == ["AAPL", "KO"]
    provider = Recording()
    fetch(lake, provider, ["AAPL", "MSFT", "KO"], D0, D1)
    assert provider.calls == [("MSFT", D0, D1)]


def test_a_file_that_does_not_match_its_entry_is_refetched(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    fetch(lake, Recording(), ["AAPL"], D0, D1)
    # A crash between the file write and the manifest write leaves a file the manifest
    # does not describe: simulated by a file changed behind the manifest's back.
    pl.read_parquet(lake.path("AAPL")).head(3).write_parquet(lake.path("AAPL"))
    provider = Recording()
    fetch(lake, provider, ["AAPL"], D0, D1)
    assert provider.calls == [("AAPL", D0, D1)]
    assert lake.scan(["AAPL"]).collect().height == 125


def test_read_bars_reads_a_lake_with_pushdown(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    fetch(lake, Recording(), ["AAPL", "KO", "MSFT"], D0, D2)
    bars = read_bars(tmp_path / "lake", symbols=["KO"], start=D1).collect()
    assert set(bars["symbol"]) == {"KO"} and min(bars["date"].to_list()) >= D1
    plan = read_bars(tmp_path / "lake", symbols=["KO"], start=D1).explain()
    assert "SELECTION" in plan or "FILTER" in plan.upper()


def test_unreadable_manifest_is_a_clear_error(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.root.mkdir(parents=True)
    lake.manifest_path.write_text("{")
    with pytest.raises(KobeError, match="manifest is not JSON"):
        lake.manifest()
