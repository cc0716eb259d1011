"""refresh(): what the runner calls before every scan, with the broker's clock. Nothing to
do for embedded and files; for polygon and alpaca, only the sessions closed since the
lake's last bars, through the real clients against the stand-in; freshness judged on the
universe's symbols."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from lake_stand import ENV, new_york

from kobe.broker.exchange.faults import DataFault
from kobe.cli import main
from kobe.data.bars import read_bars
from kobe.data.refresh import refresh
from kobe.project import Project, load_project

UNIVERSE = ["AAPL", "KO", "MSFT"]


def project_with(project_dir: Path, block: str, universe: list[str] | None = None) -> Project:
    path = project_dir / "strategies.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("\ndata:")] + "\n" + block)
    if universe is not None:
        (project_dir / "universe" / "default.csv").write_text("symbol\n" + "\n".join(universe) + "\n")
    return load_project(path)


def test_embedded_is_read_directly_and_judged_fresh(project_dir: Path) -> None:
    project = load_project(project_dir / "strategies.yaml")
    report = refresh(project, new_york("2018-02-08T09:00"))
    assert (report.provider, report.action, report.requested) == ("embedded", "none", [])
    assert report.session == dt.date(2018, 2, 7) and report.fresh and report.stale == []
    assert "embedded is read directly: nothing to fetch" in report.message
    late = refresh(project, new_york("2018-02-09T09:00"))      # the sample ends on 2018-02-07
    assert not late.fresh and late.stale == sorted(late.symbols) and len(late.symbols) == 40


def test_files_are_read_directly_and_a_symbol_without_the_last_session_is_stale(project_dir: Path) -> None:
    bars = read_bars(symbols=UNIVERSE, end=dt.date(2018, 2, 7)).collect()
    bars.filter(~((pl.col("symbol") == "KO") & (pl.col("date") == dt.date(2018, 2, 7)))).write_parquet(
        project_dir / "bars.parquet")
    project = project_with(project_dir, "data:\n  provider: files\n  path: bars.parquet\n", UNIVERSE)
    report = refresh(project, new_york("2018-02-07T21:01"))
    assert (report.action, report.stale, report.fresh) == ("none", ["KO"], False)
    assert "1 of 3 symbols lack the bar of 2018-02-07: KO" in report.message
    assert refresh(project, new_york("2018-02-07T15:00")).fresh     # before the close, 2018-02-06 is the bar


def lake_project(project_dir: Path, provider: str, url: str, universe: list[str] = UNIVERSE) -> Project:
    return project_with(project_dir, f"data:\n  provider: {provider}\n  base_url: {url}\n  lake: state/lake\n",
                        universe)


@pytest.mark.parametrize("provider", ["polygon", "alpaca"])
def test_a_vendor_refresh_asks_only_for_the_sessions_closed_since(stand, project_dir: Path, provider: str) -> None:
    exchange = stand(new_york("2018-01-31T21:00"))
    project = lake_project(project_dir, provider, exchange.url)
    first = refresh(project, new_york("2018-01-31T21:00"), env=ENV, start=dt.date(2018, 1, 2))
    assert (first.action, first.session, first.fresh) == ("fetched", dt.date(2018, 1, 31), True)
    assert sorted(first.requested) == [(s, dt.date(2018, 1, 2), dt.date(2018, 1, 31)) for s in UNIVERSE]

    exchange.admin.set_clock(new_york("2018-02-07T21:01"))
    before = len(exchange.data_requests())
    report = refresh(project, new_york("2018-02-07T21:01"), env=ENV)
    assert (report.action, report.session, report.fresh, report.stale) == ("fetched", dt.date(2018, 2, 7), True, [])
    assert sorted(report.requested) == [(s, dt.date(2018, 2, 1), dt.date(2018, 2, 7)) for s in UNIVERSE]
    assert report.fetched_rows == 15 and len(exchange.data_requests()) - before == 3
    lake = read_bars(project_dir / "state" / "lake").collect()
    assert lake.equals(read_bars(exchange_source(), symbols=UNIVERSE, start=dt.date(2018, 1, 2),
                                 end=dt.date(2018, 2, 7)).collect())

    again = refresh(project, new_york("2018-02-07T21:30"), env=ENV)
    assert (again.action, again.requested, again.fresh) == ("up_to_date", [], True)
    assert json.loads(json.dumps(again.to_dict()))["message"] == "nothing missing: nothing fetched; fresh through 2018-02-07"


def exchange_source() -> Path:
    from lake_stand import SOURCE

    return SOURCE


def test_a_refused_symbol_is_named_stale_and_the_others_are_refreshed(stand, project_dir: Path) -> None:
    exchange = stand(new_york("2018-01-31T21:00"))
    project = lake_project(project_dir, "polygon", exchange.url)
    refresh(project, new_york("2018-01-31T21:00"), env=ENV, start=dt.date(2018, 1, 2))
    exchange.admin.set_clock(new_york("2018-02-07T21:01"))
    exchange.admin.set_faults(data=[DataFault("short", symbol="KO", day="2018-02-07")])
    report = refresh(project, new_york("2018-02-07T21:01"), env=ENV)
    assert (report.fresh, report.stale, report.refused) == (False, ["KO"], {"KO": "short"})
    assert report.failed["KO"].startswith("KO: short: the bars end at 2018-02-06")
    out = report.to_dict()
    assert out["fresh"] is False and out["stale"] == ["KO"] and out["refused"] == {"KO": "short"}


def test_a_symbol_new_to_the_universe_gets_the_lakes_history(stand, project_dir: Path) -> None:
    exchange = stand(new_york("2018-02-06T21:00"))
    project = lake_project(project_dir, "alpaca", exchange.url, ["AAPL", "KO"])
    refresh(project, new_york("2018-02-06T21:00"), env=ENV, start=dt.date(2018, 1, 2))
    exchange.admin.set_clock(new_york("2018-02-07T21:01"))
    project = lake_project(project_dir, "alpaca", exchange.url, UNIVERSE)
    report = refresh(project, new_york("2018-02-07T21:01"), env=ENV)
    assert sorted(report.requested) == [("AAPL", dt.date(2018, 2, 7), dt.date(2018, 2, 7)),
                                        ("KO", dt.date(2018, 2, 7), dt.date(2018, 2, 7)),
                                        ("MSFT", dt.date(2018, 1, 2), dt.date(2018, 2, 7))]
    assert report.fresh


def test_during_the_session_the_previous_one_is_what_fresh_means(stand, project_dir: Path) -> None:
    exchange = stand(new_york("2018-02-07T15:00"))
    exchange.admin.set_faults(data=[DataFault("partial")])
    project = lake_project(project_dir, "polygon", exchange.url)
    first = refresh(project, new_york("2018-02-07T15:00"), env=ENV, start=dt.date(2018, 1, 2))
    # The vendor shows today's forming bar after the closed sessions: refused, never stored.
    assert first.refused == dict.fromkeys(UNIVERSE, "unclosed") and not first.fresh
    exchange.admin.clear_faults()
    report = refresh(project, new_york("2018-02-07T15:05"), env=ENV, start=dt.date(2018, 1, 2))
    assert (report.session, report.fresh) == (dt.date(2018, 2, 6), True)
    assert read_bars(project_dir / "state" / "lake").collect()["date"].max() == dt.date(2018, 2, 6)


def test_kobe_data_refresh_prints_the_report(stand, project_dir: Path) -> None:
    exchange = stand(new_york("2018-02-07T21:01"))
    lake_project(project_dir, "polygon", exchange.url)
    result = CliRunner(env=ENV).invoke(main, ["data", "refresh", "--config", str(project_dir / "strategies.yaml"),
                                              "--now", "2018-02-07T21:01", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["action"], report["session"], report["fresh"]) == ("fetched", "2018-02-07", True)


def test_missing_keys_are_a_clear_error(project_dir: Path) -> None:
    from kobe.config.errors import KobeError

    project = lake_project(project_dir, "polygon", "http://127.0.0.1:9")
    with pytest.raises(KobeError, match="POLYGON_API_KEY is not set"):
        refresh(project, new_york("2018-02-07T21:01"), env={})


def test_the_data_layer_imports_nothing_above_it() -> None:
    code = ("import sys, kobe.data.refresh, kobe.data.lake; "
            "print(sorted(m for m in sys.modules if m.startswith(('kobe.broker', 'kobe.runner', 'kobe.cycle', "
            "'kobe.trade', 'kobe.oms', 'kobe.project'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
