"""The lake reads a file only while it is the file that was fetched (its SHA256 is the
manifest's). A file deleted or altered behind its back is named by every reader and by
`kobe data check` (exit 1), set aside by the refresh before a scan (not read, not traded,
the other symbols go on) and fetched again by `kobe data repair`, which records the new
hash. A manifest of an older Kobe (no hashes) is still read."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from lake_stand import ENV, new_york

from kobe.broker.exchange import ExchangeAdmin, ExchangeConfig, serve_exchange
from kobe.cli import main
from kobe.config.errors import KobeError
from kobe.config.pin import write_pin
from kobe.data.bars import read_bars
from kobe.data.calendar import NEW_YORK
from kobe.data.lake import Lake, fetch
from kobe.data.providers.files import FilesProvider
from kobe.data.refresh import refresh, untrusted
from kobe.project import Project, load_project
from kobe.runner.run import ReplayClock, Runner, paper_env
from kobe.runner.schedule import Schedule, parse_times
from kobe.trade.cycle import open_trader

D0, D1, D2 = dt.date(2016, 1, 4), dt.date(2016, 6, 30), dt.date(2016, 12, 30)
SYMBOLS = ["AAPL", "KO", "MSFT"]
NOWHERE = "none.yaml"      # a config that does not exist: the commands use their options alone


def filled(tmp_path: Path, end: dt.date = D1) -> Lake:
    lake = Lake(tmp_path / "lake")
    report = fetch(lake, FilesProvider(None, name="embedded"), SYMBOLS, D0, end)
    assert not report.failed
    return lake


def rewritten(change: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        change(pl.read_parquet(path)).write_parquet(path)
    return damage


def cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


DAMAGE = [
    pytest.param(Path.unlink, "missing", "the file is missing (the manifest records 125 bars, 2016-01-04 .. "
                 "2016-06-30)", id="deleted"),
    pytest.param(rewritten(lambda f: f.with_columns(pl.col("close") * 1.01)), "altered",
                 "the file changed after it was fetched", id="prices-changed"),
    pytest.param(rewritten(lambda f: f.head(100)), "altered", "the file changed after it was fetched",
                 id="rows-dropped"),
    pytest.param(cut, "altered", "the file changed after it was fetched", id="truncated"),
]


@pytest.mark.parametrize(("damage", "kind", "detail"), DAMAGE)
def test_a_damaged_file_is_named_and_never_read(project_dir: Path, damage: Callable[[Path], None], kind: str,
                                               detail: str) -> None:
    tmp_path = project_dir
    lake = filled(tmp_path)
    damage(lake.path("KO"))
    (found,) = lake.verify()
    assert (found.symbol, found.kind, found.path) == ("KO", kind, lake.path("KO"))
    assert found.detail.startswith(detail)
    with pytest.raises(KobeError) as caught:
        read_bars(lake.root)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.file == str(lake.path("KO")) and diagnostic.message.startswith(f"KO: {detail}")
    assert "kobe data repair" in (diagnostic.hint or "")
    # The others are read as ever: the damage is the symbol's, not the lake's.
    assert read_bars(lake.root, symbols=["AAPL", "MSFT"]).collect()["symbol"].unique().sort().to_list() == [
        "AAPL", "MSFT"]

    runner = CliRunner()
    check = runner.invoke(main, ["data", "check", "--config", str(tmp_path / NOWHERE), "--data", str(lake.root)])
    assert check.exit_code == 1 and "Traceback" not in check.output
    assert f"{lake.path('KO')}: error: KO: {detail}" in check.output
    assert "2 symbols; " in check.output        # AAPL and MSFT were checked
    backtest = runner.invoke(main, ["backtest", str(project_dir / "strategies.yaml"), "--data", str(lake.root)])
    assert backtest.exit_code == 2 and f"{lake.path('KO')}: error: KO: {detail}" in backtest.output
    status = runner.invoke(main, ["data", "status", "--lake", str(lake.root), "--now", "2016-07-01T09:00"])
    assert f"damaged, not read: KO ({kind})" in status.output


@pytest.mark.parametrize(("damage", "kind", "detail"), DAMAGE)
def test_kobe_data_repair_fetches_it_again_and_records_the_hash(tmp_path: Path, damage: Callable[[Path], None],
                                                               kind: str, detail: str) -> None:
    lake = filled(tmp_path)
    before = read_bars(lake.root).collect()
    damage(lake.path("KO"))
    result = CliRunner().invoke(main, ["data", "repair", "--config", str(tmp_path / NOWHERE), "--lake",
                                       str(lake.root)])
    assert result.exit_code == 0, result.output
    assert "repaired 1 symbol(s), 125 bars written" in result.output and "KO" in result.output
    entry = lake.manifest()["KO"]
    assert entry.sha256 == hashlib.sha256(lake.path("KO").read_bytes()).hexdigest()
    assert (entry.covered_from, entry.covered_to, entry.asked_from) == ("2016-01-04", "2016-06-30", "2016-01-04")
    assert lake.verify() == [] and read_bars(lake.root).collect().equals(before)
    again = CliRunner().invoke(main, ["data", "repair", "--config", str(tmp_path / NOWHERE), "--lake",
                                      str(lake.root)])
    assert (again.exit_code, again.output.strip()) == (
        0, "nothing to repair: every file of the lake is the file that was fetched")


def test_a_fetch_never_merges_a_damaged_file(tmp_path: Path) -> None:
    lake = filled(tmp_path)
    # A bar slipped into the file, where no fetch asks again (before the range): it must not survive.
    forged = pl.read_parquet(lake.path("KO")).head(1).with_columns(date=pl.lit(dt.date(2015, 12, 31)), close=pl.lit(1.0))
    pl.concat([forged, pl.read_parquet(lake.path("KO"))]).write_parquet(lake.path("KO"))
    fetch(lake, FilesProvider(None, name="embedded"), SYMBOLS, D0, D2)
    stored = read_bars(lake.root, symbols=["KO"]).collect()
    assert stored["date"].min() == D0
    assert stored.equals(read_bars(symbols=["KO"], start=D0, end=D2).collect())


def unhashed(lake: Lake) -> None:
    """The manifest as an older Kobe wrote it: no hashes."""
    raw = json.loads(lake.manifest_path.read_text())
    for entry in raw["symbols"].values():
        del entry["sha256"]
    lake.manifest_path.write_text(json.dumps(raw))


def test_a_manifest_without_hashes_is_read_and_its_next_fetch_records_them(tmp_path: Path) -> None:
    lake = filled(tmp_path)
    before = read_bars(lake.root).collect()
    unhashed(lake)
    assert lake.verify() == [] and read_bars(lake.root).collect().equals(before)
    check = CliRunner().invoke(main, ["data", "check", "--config", str(tmp_path / NOWHERE), "--data", str(lake.root)])
    assert check.exit_code == 0, check.output
    assert "no hash recorded (a manifest of an older Kobe) for AAPL, KO, MSFT" in check.output
    report = fetch(lake, FilesProvider(None, name="embedded"), SYMBOLS, D0, D2)
    assert sorted(report.requested) == [(s, dt.date(2016, 7, 1), D2) for s in SYMBOLS]    # nothing asked again
    assert all(e.sha256 == hashlib.sha256(lake.path(s).read_bytes()).hexdigest() for s, e in lake.manifest().items())


def test_without_a_hash_a_file_that_lost_rows_is_damaged(tmp_path: Path) -> None:
    lake = filled(tmp_path)
    unhashed(lake)
    pl.read_parquet(lake.path("MSFT")).head(10).write_parquet(lake.path("MSFT"))
    (found,) = lake.verify()
    assert (found.symbol, found.kind) == ("MSFT", "altered")
    assert found.detail == ("the file holds 10 bars, the manifest records 125 bars, 2016-01-04 .. 2016-06-30 "
                            "(and no hash recorded to trust it by: written by an older Kobe)")


# --- Against the stand-in vendor: the refresh before a scan, kobe data refresh and repair.

def lake_project(project_dir: Path, url: str) -> Project:
    path = project_dir / "strategies.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("\ndata:")] + f"\ndata:\n  provider: polygon\n  base_url: {url}\n"
                                                    "  lake: state/lake\n")
    (project_dir / "universe" / "default.csv").write_text("symbol\n" + "\n".join(SYMBOLS) + "\n")
    return load_project(path)


def test_the_refresh_sets_a_damaged_symbol_aside_and_the_others_go_on(stand, project_dir: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    exchange = stand(new_york("2018-01-31T21:00"))
    project = lake_project(project_dir, exchange.url)
    assert refresh(project, new_york("2018-01-31T21:00"), env=ENV, start=dt.date(2018, 1, 2)).fresh
    lake = Lake(project_dir / "state" / "lake")
    ko = read_bars(lake.root, symbols=["KO"]).collect()
    lake.path("KO").unlink()

    exchange.admin.set_clock(new_york("2018-02-07T21:01"))
    report = refresh(project, new_york("2018-02-07T21:01"), env=ENV)
    assert list(report.damaged) == ["KO"] and report.damaged["KO"].startswith("the file is missing")
    assert (report.fresh, report.stale) == (True, [])                        # judged on AAPL and MSFT
    assert sorted(s for s, _, _ in report.requested) == ["AAPL", "MSFT"]      # KO is not fetched behind anyone's back
    assert not lake.path("KO").exists() and report.failed["KO"] == report.damaged["KO"]
    assert "set aside, not traded (damaged lake files; `kobe data repair`): KO" in report.message
    assert untrusted(project) == {"KO": report.damaged["KO"]}
    # Set aside, it is left out of every read (and named by the check) until repaired.
    bars = read_bars(lake.root).collect()
    assert sorted(bars["symbol"].unique()) == ["AAPL", "MSFT"] and bars["date"].max() == dt.date(2018, 2, 7)
    # Never silently: every command reading the project's bars warns (on stderr).
    with caplog.at_level("WARNING", logger="kobe.project"):
        project.bars().collect()
    assert "KO is set aside in the lake since 2018-02-08T02:01:00+00:00" in caplog.text
    assert "left out until `kobe data repair KO`" in caplog.text

    runner = CliRunner(env=ENV)
    config = str(project_dir / "strategies.yaml")
    cli = runner.invoke(main, ["data", "refresh", "--config", config, "--now", "2018-02-07T21:30"])
    assert cli.exit_code == 1 and "set aside: KO: set aside at 2018-02-08T02:01:00+00:00" in cli.output
    check = runner.invoke(main, ["data", "check", "--config", config])
    assert check.exit_code == 1 and f"{lake.path('KO')}: error: KO: set aside at" in check.output

    repaired = runner.invoke(main, ["data", "repair", "--config", config, "--json"])
    assert repaired.exit_code == 0, repaired.output
    assert json.loads(repaired.output)["requested"] == [["KO", "2018-01-02", "2018-01-31"]]
    assert lake.set_aside_symbols() == {} and lake.verify() == [] and untrusted(project) == {}
    assert read_bars(lake.root, symbols=["KO"]).collect().equals(ko)
    assert refresh(project, new_york("2018-02-07T21:30"), env=ENV).requested == [
        ("KO", dt.date(2018, 2, 1), dt.date(2018, 2, 7))]


# --- The runner's cycle: a symbol set aside is not traded; the others are.

MONDAY = dt.datetime(2017, 6, 5, 9, 0, tzinfo=NEW_YORK)              # the lake ends on Friday 2017-06-02
TUESDAY_SCAN = dt.datetime(2017, 6, 6, 9, 35, tzinfo=NEW_YORK)       # buys MA, MSFT and V when all is well
WEDNESDAY_SCAN = dt.datetime(2017, 6, 7, 9, 35, tzinfo=NEW_YORK)


@dataclass
class Desk:
    root: Path
    lake: Lake
    admin: ExchangeAdmin
    runner: Runner

    def events(self, kind: str) -> list[dict[str, Any]]:
        lines = (self.root / "logs" / "events.jsonl").read_text().splitlines()
        return [e for e in map(json.loads, lines) if e["kind"] == kind]

    def orders(self, day: dt.date) -> list[tuple[str, str]]:
        return sorted((o.symbol, o.side) for o in self.runner.trader.store.orders(day))

    def cycle(self, at: dt.datetime) -> None:
        self.admin.set_clock(at)
        self.runner._cycle(at)


@pytest.fixture
def desk(project_dir: Path) -> Iterator[Desk]:
    """The runner of the repository's strategies (polygon, its lake filled to Friday)
    against the stand-in, in this process, as tests/runner drives it."""
    with serve_exchange(ExchangeConfig(start=MONDAY, state=project_dir / "exchange.sqlite", speed=0.0)) as url:
        text = (project_dir / "strategies.yaml").read_text().replace("amount_usd: 75", "amount_usd: 300")
        (project_dir / "strategies.yaml").write_text(text.replace("provider: embedded",
                                                                  f"provider: polygon\n  base_url: {url}"))
        risk = re.sub(r"^per_order_budget_usd: \S+", "per_order_budget_usd: 300",
                      (project_dir / "risk.yaml").read_text(), flags=re.MULTILINE)
        (project_dir / "risk.yaml").write_text(risk)
        project = load_project(project_dir / "strategies.yaml")
        write_pin(project_dir, project.fingerprint())
        env = {"POLYGON_API_KEY": "polygon-test"}
        assert refresh(project, MONDAY, env=env, start=dt.date(2016, 1, 1)).fresh
        admin = ExchangeAdmin(url)

        def sleep(seconds: float) -> None:      # waiting is the stand-in's clock moving on
            admin.advance(seconds)

        trader = open_trader(project, paper_env(url), paper=True, timeout=5, retry_wait=0, sleep=sleep)
        clock = ReplayClock(admin.set_clock, lambda: dt.datetime.fromisoformat(admin.clock()["now"]))
        runner = Runner(trader, lambda: project.bars(), Schedule(parse_times(["09:35", "15:55"])), clock,
                        health_port=None, monitoring=False, refresh=lambda now: refresh(project, now, env=env))
        runner.state.preflight_ok = True
        yield Desk(project_dir, Lake(project_dir / "state" / "lake"), admin, runner)


def test_a_symbol_whose_file_is_gone_is_not_bought_and_the_others_are(desk: Desk) -> None:
    desk.lake.path("MSFT").unlink()
    desk.cycle(TUESDAY_SCAN)
    assert desk.events("cycle.refused") == [] and desk.runner.state.blocked is None
    bought = [symbol for symbol, side in desk.orders(TUESDAY_SCAN.date()) if side == "buy"]
    assert "MSFT" not in bought and {"MA", "V"} <= set(bought)       # (and WMT, with the budget MSFT left)
    (refreshed,) = desk.events("data.refreshed")
    assert list(refreshed["failed"]) == ["MSFT"] and refreshed["fresh"] is True
    assert desk.runner.state.data is not None and list(desk.runner.state.data["damaged"]) == ["MSFT"]


def test_a_held_symbol_whose_file_was_altered_is_left_alone_and_the_others_trade(desk: Desk) -> None:
    desk.cycle(TUESDAY_SCAN)
    assert ("MSFT", "buy") in desk.orders(TUESDAY_SCAN.date())
    # Someone "fixes" a price in MSFT's file: its bars can no longer be trusted.
    rewritten(lambda f: f.with_columns(pl.col("close") * 0.5))(desk.lake.path("MSFT"))
    desk.cycle(WEDNESDAY_SCAN)
    assert desk.events("cycle.refused") == [] and desk.runner.state.blocked is None
    wednesday = desk.orders(WEDNESDAY_SCAN.date())
    assert wednesday and all(symbol != "MSFT" for symbol, _ in wednesday)     # no sale, no stop moved
    assert desk.runner.state.last_report is not None
    assert {(s["symbol"], s["reason"].split(":")[0]) for s in desk.runner.state.last_report["skipped"]
            if s["symbol"] == "MSFT"} == {("MSFT", "bars not trusted")}
    assert pl.read_parquet(desk.lake.path("MSFT"))["date"].max() == dt.date(2017, 6, 5)   # nor refreshed
