"""The lake's manifest.json is input like any other: a file edited by hand, by a script,
or damaged on disk is never a traceback.

An entry that is not what Kobe writes (a field of the wrong type, a date that does not
exist, a hash that is not one, a key that is not a ticker or not its entry's symbol) makes
its symbol damaged (``bad_entry``): named with manifest.json by every reader and by
``kobe data check`` (exit 1), set aside by the refresh (the others go on), fetched again by
``kobe data fetch`` and ``kobe data repair``. A manifest that cannot be read at all (not
UTF-8, not JSON, not the expected shape) is a located error (exit 2) naming it.

A lake file without a recorded hash (a manifest of an older Kobe) is checked as a bars
file is before it is read: a close of ``inf`` keeping the row count is refused, never
traded or backtested."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from lake_stand import ENV, new_york

from kobe.cli import main
from kobe.config.errors import KobeError
from kobe.data.bars import read_bars
from kobe.data.lake import Lake, fetch
from kobe.data.providers.files import FilesProvider
from kobe.project import load_project

D0, D1 = dt.date(2016, 1, 4), dt.date(2016, 6, 30)
SYMBOLS = ["AAPL", "KO", "MSFT"]
NOWHERE = "none.yaml"      # a config that does not exist: the commands use their options alone

Entry = dict[str, Any]


def filled(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "lake")
    assert not fetch(lake, FilesProvider(None, name="embedded"), SYMBOLS, D0, D1).failed
    return lake


def edited(lake: Lake, change: Callable[[dict[str, Any]], Any]) -> None:
    raw = json.loads(lake.manifest_path.read_text())
    change(raw)
    lake.manifest_path.write_text(json.dumps(raw, indent=1))


def of_ko(change: Callable[[Entry], Any]) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        change(raw["symbols"]["KO"])
    return edit


def ko_is(value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        raw["symbols"]["KO"] = value
    return edit


def line_of(lake: Lake, key: str) -> int:
    """The line of ``key``'s entry in the manifest (as Kobe and :func:`edited` write it)."""
    lines = lake.manifest_path.read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if text.startswith(f"  {json.dumps(key)}: "))


def check(lake: Lake, *extra: str) -> Any:
    return CliRunner().invoke(main, ["data", "check", "--config", str(lake.root.parent / NOWHERE), "--data",
                                     str(lake.root), *extra])


# --- One entry is not what Kobe writes: its symbol is damaged, the others go on.

BAD_ENTRIES = [
    pytest.param(of_ko(lambda e: e.update(sha256=5)), "sha256 5 is not a SHA256 (64 hex digits) or null", id="hash-a-number"),
    pytest.param(of_ko(lambda e: e.update(sha256="abc")), "sha256 'abc' is not a SHA256", id="hash-too-short"),
    pytest.param(of_ko(lambda e: e.update(sha256="Z" * 64)), "is not a SHA256", id="hash-not-hex"),
    pytest.param(of_ko(lambda e: e.update(sha256=e["sha256"] + "\n")), "is not a SHA256", id="hash-and-a-newline"),
    pytest.param(of_ko(lambda e: e.update(covered_to="2016-02-30")), "covered_to '2016-02-30' is not a date (YYYY-MM-DD)",
                 id="covered-to-no-such-day"),
    pytest.param(of_ko(lambda e: e.update(asked_from=7)), "asked_from 7 is not a date (YYYY-MM-DD) or null",
                 id="asked-from-a-number"),
    pytest.param(of_ko(lambda e: e.update(covered_to="2016-06-30\n")), r"covered_to '2016-06-30\n' is not a date",
                 id="date-and-a-newline"),
    pytest.param(of_ko(lambda e: e.update(covered_from="20160104")), "covered_from '20160104' is not a date (YYYY-MM-DD)",
                 id="date-without-dashes"),
    pytest.param(of_ko(lambda e: e.update(first_date="0001-01-01")), "first_date '0001-01-01' is outside 1800-01-01 .. "
                 "2199-12-31", id="date-out-of-range"),
    pytest.param(of_ko(lambda e: e.update(covered_from="2016-07-01")), "covered_from 2016-07-01 is after covered_to "
                 "2016-06-30", id="coverage-backwards"),
    pytest.param(of_ko(lambda e: e.update(covered_from=None)), "covered_from and covered_to are both dates or both null",
                 id="coverage-half"),
    pytest.param(of_ko(lambda e: e.update(rows="125")), "rows '125' is not a count of bars", id="rows-text"),
    pytest.param(of_ko(lambda e: e.update(rows=-1)), "rows -1 is not a count of bars", id="rows-negative"),
    pytest.param(of_ko(lambda e: e.update(rows=True)), "rows True is not a count of bars", id="rows-a-boolean"),
    pytest.param(of_ko(lambda e: e.update(rows=1e400)), "rows inf is not a count of bars", id="rows-infinite"),
    pytest.param(of_ko(lambda e: e.update(adjusted="yes")), "adjusted 'yes' is not true or false", id="adjusted-text"),
    pytest.param(of_ko(lambda e: e.update(provider=5)), "provider 5 is not a provider's name", id="provider-a-number"),
    pytest.param(of_ko(lambda e: e.update(fetched_at="yesterday")), "fetched_at 'yesterday' is not an ISO instant",
                 id="fetched-at-not-an-instant"),
    pytest.param(of_ko(lambda e: e.update(symbol="AAPL")), "the entry's symbol 'AAPL' is not its key 'KO'",
                 id="symbol-not-its-key"),
    pytest.param(of_ko(lambda e: e.update(symbol="../../x")), "the entry's symbol '../../x' is not its key 'KO'",
                 id="symbol-escapes-the-folder"),
    pytest.param(of_ko(lambda e: e.pop("rows")), "the entry lacks rows", id="field-missing"),
    pytest.param(of_ko(lambda e: e.update(note="hand-edited")), "the entry has a field Kobe does not write: note",
                 id="field-unknown"),
    pytest.param(ko_is({"0": 1}), "the entry lacks", id="entry-emptied"),
    pytest.param(ko_is([1]), "the entry is not an object", id="entry-a-list"),
    pytest.param(ko_is(None), "the entry is not an object", id="entry-null"),
]


@pytest.mark.parametrize(("change", "reason"), BAD_ENTRIES)
def test_a_bad_entry_damages_its_symbol_only(tmp_path: Path, change: Callable[[dict[str, Any]], None],
                                             reason: str) -> None:
    lake = filled(tmp_path)
    edited(lake, change)
    (found,) = lake.verify()
    line = line_of(lake, "KO")
    assert (found.symbol, found.kind, found.path, found.line) == ("KO", "bad_entry", lake.manifest_path, line)
    assert reason in found.detail and set(lake.manifest()) == {"AAPL", "MSFT"}

    result = check(lake)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"{lake.manifest_path}:{line}: error: KO: the manifest's entry is not one Kobe writes: " in result.output
    assert reason in result.output and "2 symbols; " in result.output       # AAPL and MSFT were checked
    assert json.loads(check(lake, "--json").output)["damaged"][0]["kind"] == "bad_entry"
    with pytest.raises(KobeError) as caught:
        read_bars(lake.root)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.file, diagnostic.line) == (str(lake.manifest_path), line) and reason in diagnostic.message
    assert read_bars(lake.root, symbols=["AAPL", "MSFT"]).collect()["symbol"].unique().len() == 2
    status = CliRunner().invoke(main, ["data", "status", "--lake", str(lake.root), "--now", "2016-07-01T09:00"])
    assert status.exit_code == 0 and "damaged, not read: KO (bad_entry)" in status.output


BAD_KEYS = [
    pytest.param("../../../etc/passwd", id="a-path"),
    pytest.param("ko", id="lower-case"),
    pytest.param("", id="empty"),
    pytest.param("A" * 40, id="too-long"),
    pytest.param("KO/../../x", id="a-path-after-a-ticker"),
    pytest.param("KO\n", id="a-ticker-and-a-newline"),
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_a_key_that_is_not_a_ticker_is_named_never_followed(tmp_path: Path, key: str) -> None:
    lake = filled(tmp_path)
    edited(lake, lambda raw: raw["symbols"].update({key: {**raw["symbols"]["KO"], "symbol": key}}))
    result = check(lake)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"{lake.manifest_path}:{line_of(lake, key)}: error: {key}: the manifest's entry is not one Kobe writes: " \
           f"the key {key!r} is not a ticker" in result.output
    assert "remove the entry from manifest.json" in result.output
    assert "3 symbols; " in result.output
    with pytest.raises(KobeError, match="is not a ticker"):
        read_bars(lake.root)
    # Repair cannot fetch what is not a ticker: it says what to do, and repairs nothing else.
    repair = CliRunner().invoke(main, ["data", "repair", "--config", str(tmp_path / NOWHERE), "--lake",
                                       str(lake.root)])
    assert repair.exit_code == 1 and "Traceback" not in repair.output, repair.output
    assert "not a ticker: remove the entry from manifest.json" in repair.output


# --- A manifest that cannot be read at all: a located error naming it, exit 2.

def not_json(lake: Lake) -> None:
    lake.manifest_path.write_text('{"version": 2,\n "symbols": {,}}\n')


def not_utf8(lake: Lake) -> None:
    lake.manifest_path.write_bytes(b'{"version": 2,\n "symbols": {"\xff": 1}}\n')


def deep(lake: Lake) -> None:
    lake.manifest_path.write_text("[" * 100_000 + "]" * 100_000)


def a_folder(lake: Lake) -> None:
    lake.manifest_path.unlink()
    lake.manifest_path.mkdir()


def shaped(document: Any) -> Callable[[Lake], None]:
    def write(lake: Lake) -> None:
        lake.manifest_path.write_text(json.dumps(document))
    return write


BAD_MANIFESTS = [
    pytest.param(not_json, ":2:14: error: the lake's manifest is not JSON (expecting property name", id="not-json"),
    pytest.param(not_utf8, ":2:15: error: the lake's manifest is not UTF-8 text (byte 0xff)", id="not-utf8"),
    pytest.param(deep, ": error: the lake's manifest is not JSON (nested too deeply)", id="nested-too-deeply"),
    pytest.param(a_folder, ": error: the lake's manifest cannot be read", id="a-folder"),
    pytest.param(shaped([1, 2]), ": error: the lake's manifest is not an object with 'version' and 'symbols'",
                 id="a-list"),
    pytest.param(shaped({"version": 2, "symbols": [1]}), ": error: the lake's manifest's 'symbols' is not an object",
                 id="symbols-a-list"),
    pytest.param(shaped({"version": 2}), ": error: the lake's manifest is not an object with 'version' and "
                 "'symbols'", id="symbols-missing"),
    pytest.param(shaped({"version": "2", "symbols": {}}), ": error: the lake's manifest's version '2' is not 1 or 2",
                 id="version-text"),
    pytest.param(shaped({"version": 3, "symbols": {}}), ": error: the lake's manifest's version 3 is not 1 or 2",
                 id="version-newer"),
    pytest.param(shaped({"version": 2, "symbols": {}, "set_aside": [1]}),
                 ": error: the lake's manifest's 'set_aside' is not an object", id="set-aside-a-list"),
]


@pytest.mark.parametrize(("damage", "message"), BAD_MANIFESTS)
def test_a_manifest_that_cannot_be_read_is_a_located_error(tmp_path: Path, damage: Callable[[Lake], None],
                                                           message: str) -> None:
    lake = filled(tmp_path)
    damage(lake)
    for args in (["data", "check", "--config", str(tmp_path / NOWHERE), "--data", str(lake.root)],
                 ["data", "status", "--lake", str(lake.root)],
                 ["data", "repair", "--config", str(tmp_path / NOWHERE), "--lake", str(lake.root)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and "Traceback" not in result.output, (args, result.output)
        assert f"{lake.manifest_path}{message}" in result.output, (args, result.output)


# --- What a bad entry costs: the symbol is fetched again; nothing else is touched.

def test_kobe_data_fetch_over_a_bad_entry_fetches_it_again(tmp_path: Path) -> None:
    lake = filled(tmp_path)
    before = read_bars(lake.root).collect()
    aapl = lake.path("AAPL").read_bytes()
    edited(lake, of_ko(lambda e: e.update(asked_from=7)))
    (tmp_path / "universe.csv").write_text("symbol\nAAPL\nKO\n")
    result = CliRunner().invoke(main, ["data", "fetch", "--config", str(tmp_path / NOWHERE), "--provider", "embedded",
                                       "--universe", str(tmp_path / "universe.csv"), "--start", str(D0),
                                       "--end", str(D1), "--now", "2016-07-05T09:00", "--lake", str(lake.root),
                                       "--json"])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert json.loads(result.output)["requested"] == [["KO", str(D0), str(D1)]]
    assert lake.verify() == [] and read_bars(lake.root).collect().equals(before)
    assert lake.path("AAPL").read_bytes() == aapl


def test_kobe_data_repair_fetches_a_bad_entry_again_over_the_lakes_range(tmp_path: Path) -> None:
    lake = filled(tmp_path)
    before = read_bars(lake.root).collect()
    edited(lake, of_ko(lambda e: e.update(sha256=5, covered_to="2016-02-30")))
    result = CliRunner().invoke(main, ["data", "repair", "--config", str(tmp_path / NOWHERE), "--lake",
                                       str(lake.root), "--json"])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert json.loads(result.output)["requested"] == [["KO", str(D0), str(D1)]]
    assert lake.manifest()["KO"].sha256 == hashlib.sha256(lake.path("KO").read_bytes()).hexdigest()
    assert lake.verify() == [] and read_bars(lake.root).collect().equals(before)


def test_writing_the_manifest_keeps_a_bad_entry_as_it_was(tmp_path: Path) -> None:
    """A fetch of another symbol rewrites the manifest: the bad entry stays, still
    damaged, never dropped (which would make the symbol silently unknown)."""
    lake = filled(tmp_path)
    edited(lake, of_ko(lambda e: e.update(rows="many")))
    assert not fetch(lake, FilesProvider(None, name="embedded"), ["AAPL"], D0, dt.date(2016, 12, 30)).failed
    assert json.loads(lake.manifest_path.read_text())["symbols"]["KO"]["rows"] == "many"
    assert [(d.symbol, d.kind) for d in lake.verify()] == [("KO", "bad_entry")]


def test_the_refresh_sets_a_bad_entry_aside_and_the_others_go_on(stand, project_dir: Path) -> None:
    """`covered_to: 2018-02-30` crashed the refresh the runner runs before every scan."""
    exchange = stand(new_york("2018-02-07T21:01"))
    path = project_dir / "strategies.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("\ndata:")] + f"\ndata:\n  provider: polygon\n  base_url: {exchange.url}\n"
                                                    "  lake: state/lake\n")
    (project_dir / "universe" / "default.csv").write_text("symbol\n" + "\n".join(SYMBOLS) + "\n")
    runner = CliRunner(env=ENV)
    first = runner.invoke(main, ["data", "refresh", "--config", str(path), "--now", "2018-02-06T21:01"])
    assert first.exit_code == 0, first.output
    lake = Lake(project_dir / "state" / "lake")
    edited(lake, of_ko(lambda e: e.update(covered_to="2018-02-30")))

    result = runner.invoke(main, ["data", "refresh", "--config", str(path), "--now", "2018-02-07T21:01", "--json"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    report = json.loads(result.output)
    assert list(report["damaged"]) == ["KO"] and "covered_to '2018-02-30' is not a date" in report["damaged"]["KO"]
    assert report["fresh"] is True and sorted(s for s, _, _ in report["requested"]) == ["AAPL", "MSFT"]
    assert lake.set_aside_symbols()["KO"]["why"] == report["damaged"]["KO"]
    bars = load_project(path).bars().collect()
    assert sorted(bars["symbol"].unique()) == ["AAPL", "MSFT"] and bars["date"].max() == dt.date(2018, 2, 7)

    repaired = runner.invoke(main, ["data", "repair", "--config", str(path), "--now", "2018-02-07T21:30"])
    assert repaired.exit_code == 0, repaired.output
    assert lake.verify() == [] and lake.set_aside_symbols() == {}


# --- A file without a recorded hash is checked as a bars file is, before it is read.

def unhashed(lake: Lake) -> None:
    """The manifest as an older Kobe wrote it: no hashes."""
    edited(lake, lambda raw: [entry.update(sha256=None) for entry in raw["symbols"].values()])


def rewritten(change: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        change(pl.read_parquet(path)).write_parquet(path)
    return damage


def at_row(column: str, value: Any, row: int = 7) -> Callable[[Path], None]:
    return rewritten(lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)))


def garbage(path: Path) -> None:
    path.write_bytes(b"PAR1" + b"\x00" * 5000 + b"PAR1")


UNHASHED_DAMAGE = [
    pytest.param(at_row("close", float("inf")), "unreadable", "row 7 (AAPL 2016-01-13): close inf is not a finite number",
                 id="close-inf"),
    pytest.param(at_row("close", float("nan")), "unreadable", "row 7 (AAPL 2016-01-13): close nan is not a finite number",
                 id="close-nan"),
    pytest.param(at_row("open", -3.0), "unreadable", "row 7 (AAPL 2016-01-13): open -3.0 is not a positive price",
                 id="open-negative"),
    pytest.param(at_row("volume", 1e300), "unreadable", "volume 1e+300 is above 1e+15: not a volume", id="volume-absurd"),
    pytest.param(at_row("date", dt.date(2016, 1, 12)), "unreadable", "a second bar for AAPL on 2016-01-12", id="a-date-twice"),
    pytest.param(at_row("symbol", "MSFT"), "altered", "holds bars of MSFT, not only AAPL", id="another-symbol"),
    pytest.param(at_row("date", dt.date(2015, 12, 31), row=0), "altered", "the file's bars run 2015-12-31 .. "
                 "2016-06-30, the manifest records 125 bars, 2016-01-04 .. 2016-06-30", id="coverage-not-the-entrys"),
    pytest.param(garbage, "unreadable", "not a readable Parquet file", id="not-parquet"),
]


@pytest.mark.parametrize(("damage", "kind", "detail"), UNHASHED_DAMAGE)
def test_a_file_without_a_hash_is_checked_before_it_is_read(project_dir: Path, damage: Callable[[Path], None],
                                                           kind: str, detail: str) -> None:
    lake = filled(project_dir)
    unhashed(lake)
    damage(lake.path("AAPL"))
    (found,) = lake.verify()
    assert (found.symbol, found.kind, found.path) == ("AAPL", kind, lake.path("AAPL"))
    assert detail in found.detail and "no hash recorded" in found.detail

    result = check(lake)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"{lake.path('AAPL')}: error: AAPL: " in result.output and detail in result.output
    assert "2 symbols; " in result.output
    for extra in ([], ["--json"]):
        backtest = CliRunner().invoke(main, ["backtest", str(project_dir / "strategies.yaml"), "--data",
                                             str(lake.root), "--out", str(project_dir / "out"), *extra])
        assert backtest.exit_code == 2 and "Traceback" not in backtest.output, backtest.output
        assert f"{lake.path('AAPL')}: error: AAPL: " in backtest.output and detail in backtest.output


def test_a_clean_file_without_a_hash_is_read_as_it_was(tmp_path: Path) -> None:
    lake = filled(tmp_path)
    before = read_bars(lake.root).collect()
    unhashed(lake)
    assert lake.verify() == [] and read_bars(lake.root).collect().equals(before)
    assert all(e.sha256 is None for e in lake.manifest().values())      # checked at each read, never written by one
