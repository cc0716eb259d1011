"""Reading bars and universes: the standard shape, and clear errors for bad files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from kobe.config.errors import KobeError
from kobe.data.bars import BAR_SCHEMA, read_bars
from kobe.data.universe import load_universe

DATA = Path(__file__).resolve().parent


def test_embedded_sample_shape() -> None:
    bars = read_bars().collect()
    assert bars.schema == pl.Schema(BAR_SCHEMA)
    assert bars["symbol"].n_unique() == 40
    assert (bars["date"].min(), bars["date"].max()) == (dt.date(2013, 2, 8), dt.date(2018, 2, 7))
    assert bars.select(pl.struct("symbol", "date").is_unique().all()).item()
    # Sorted by (symbol, date): the compiled rules rely on it.
    assert bars.equals(bars.sort("symbol", "date"))


def test_embedded_universe_matches_the_sample() -> None:
    repo = DATA.parent.parent
    symbols = load_universe(repo / "universe" / "default.csv")
    assert sorted(symbols) == sorted(read_bars().collect()["symbol"].unique().to_list())


def test_single_symbol_csv_is_named_after_the_file_and_filtered() -> None:
    bars = read_bars(DATA / "GOOG_2004_2013.csv", start=dt.date(2005, 1, 1), end=dt.date(2005, 1, 31)).collect()
    assert set(bars["symbol"]) == {"GOOG"}
    assert bars.height == 20  # January 2005 had 20 sessions
    # The first session of 2005, as printed in the source file.
    assert bars.row(0) == ("GOOG", dt.date(2005, 1, 3), 197.4, 203.64, 195.46, 202.71, 15844200.0)


def test_missing_file_and_missing_column(tmp_path: Path) -> None:
    with pytest.raises(KobeError, match="no bars file"):
        read_bars(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("date,open,high,low,close\n2020-01-02,1,2,0.5,1.5\n")
    with pytest.raises(KobeError, match="lacks column volume"):
        read_bars(bad)


@pytest.mark.parametrize(("text", "line", "message"), [
    ("symbol\nAAPL\nMSFT\nAAPL\n", 4, "duplicate ticker 'AAPL'"),
    ("symbol\nAAPL\naapl\n", 3, "malformed ticker 'aapl'"),
    ("symbol\nAAPL\nBRK B\n", 3, "malformed ticker 'BRK B'"),
    ("ticker\nAAPL\n", 1, "universe file needs a 'symbol' column"),
])
def test_bad_universe_files(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "u.csv"
    path.write_text(text)
    with pytest.raises(KobeError) as info:
        load_universe(path, "universe/u.csv")
    (diag,) = info.value.diagnostics
    assert (diag.file, diag.line, diag.message) == ("universe/u.csv", line, message)


def test_class_shares_are_valid_tickers(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("symbol,name\nBRK.B,Berkshire\nBF.B,Brown-Forman\n")
    assert load_universe(path) == ["BRK.B", "BF.B"]
