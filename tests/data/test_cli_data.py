"""kobe data check, and the gate inside kobe scan."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from kobe.cli import main
from kobe.data.bars import read_bars
from kobe.project import load_project
from kobe.scan import scan

DATA = Path(__file__).resolve().parent
REPO = DATA.parent.parent


def test_data_check_embedded_is_ok() -> None:
    result = CliRunner().invoke(main, ["data", "check", "--json"])
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["stop"] is False and report["excluded"] == []
    # ORCL misses two sessions in the source (SOURCES.md of the shared data).
    assert [(f["symbol"], f["rule"]) for f in report["findings"] if f["rule"] == "missing_session"] == [
        ("ORCL", "missing_session")] * 2


def test_data_check_stops_on_a_broken_feed() -> None:
    result = CliRunner().invoke(main, ["data", "check", "--data", str(DATA / "quality_faults.parquet")])
    assert result.exit_code == 1
    assert "LNT    2016-05-19" in result.output and "verdict: STOP" in result.output


@pytest.mark.parametrize(("as_of", "code", "shown"), [
    # The embedded bars end on 2018-02-07.
    pytest.param("2018-01-26", 0, "verdict: ok", id="within-the-data"),
    pytest.param("2019-06-03", 1, "stale_last_bar", id="past-the-data-every-feed-stale"),
    pytest.param("2030-01-02", 2, "error: 2030-01-02 is outside the NYSE calendar's range", id="past-the-calendar"),
    pytest.param("1990-01-02", 2, "error: no bars on or before 1990-01-02", id="before-every-bar"),
])
def test_data_check_as_of_never_passes_what_it_cannot_judge(as_of: str, code: int, shown: str) -> None:
    result = CliRunner().invoke(main, ["data", "check", "--as-of", as_of])
    assert result.exit_code == code, result.output
    assert shown in result.output


def test_data_check_as_of_reads_no_bar_after_it() -> None:
    """A finding after the as-of date (ORCL's missing sessions of 2013-07) is not one yet."""
    before = json.loads(CliRunner().invoke(main, ["data", "check", "--as-of", "2013-07-12", "--json"]).output)
    after = json.loads(CliRunner().invoke(main, ["data", "check", "--as-of", "2013-07-17", "--json"]).output)
    assert not [f for f in before["findings"] if f["date"] > "2013-07-12"]
    assert [f["date"] for f in after["findings"] if f["rule"] == "missing_session"] == ["2013-07-15", "2013-07-16"]


def test_scan_excludes_a_symbol_with_a_bad_print_today() -> None:
    project = load_project(REPO / "strategies.yaml")
    day = dt.date(2018, 1, 26)
    bars = read_bars().collect()
    before = scan(project, bars.lazy(), day)
    assert "PFE" in before.picks["symbol"].to_list()
    # A bad print on PFE's bar that day: the close doubles and the OHLC no longer agree.
    broken = bars.with_columns(pl.when((pl.col("symbol") == "PFE") & (pl.col("date") == day))
                               .then(pl.col("close") * 2).otherwise(pl.col("close")).alias("close"))
    after = scan(project, broken.lazy(), day)
    assert "PFE" in after.quality.excluded
    assert "PFE" not in after.picks["symbol"].to_list()
    assert set(after.picks["symbol"]) == set(before.picks["symbol"]) - {"PFE"}


def test_scan_refuses_when_the_gate_says_stop(tmp_path: Path) -> None:
    from kobe.config.errors import KobeError

    project = load_project(REPO / "strategies.yaml")
    day = dt.date(2018, 1, 26)
    bars = read_bars().collect()
    # Most symbols lost their last bars: the feed is broken.
    broken = bars.filter(~((pl.col("date") >= dt.date(2018, 1, 24)) & (pl.col("symbol") > "C")))
    with pytest.raises(KobeError, match="data-quality gate: feed_broken"):
        scan(project, broken.lazy(), day)
