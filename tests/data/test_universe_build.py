"""kobe universe build: each figure recomputed independently from the raw bars."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from kobe.cli import main
from kobe.data.bars import read_bars
from kobe.data.universe import build_universe, load_universe


def _by_hand(as_of: dt.date, min_price: float, min_adv: float, years: float, days: int) -> list[tuple[str, float]]:
    rows = {}
    for (symbol,), frame in read_bars(end=as_of).collect().group_by("symbol"):
        frame = frame.sort("date")
        dates, close, volume = frame["date"].to_list(), frame["close"].to_list(), frame["volume"].to_list()
        if dates[-1] != as_of:
            continue
        last = list(zip(close, volume))[-days:]
        adv = sum(c * v for c, v in last) / len(last)
        history = (dates[-1] - dates[0]).days / 365.25
        if close[-1] >= min_price and adv >= min_adv and history >= years:
            rows[symbol] = adv
    return sorted(rows.items(), key=lambda kv: (-kv[1], kv[0]))


def test_matches_a_hand_computation() -> None:
    as_of = dt.date(2016, 6, 30)
    table = build_universe(read_bars(), min_price=50, min_adv_usd=5e8, min_history_years=3, adv_days=20, as_of=as_of)
    expected = _by_hand(as_of, 50, 5e8, 3, 20)
    assert 3 < len(expected) < 40  # the filters bite
    assert table["symbol"].to_list() == [s for s, _ in expected]
    for got, (_, adv) in zip(table["adv_usd"].to_list(), expected):
        assert abs(got - adv) <= 0.5
    assert table["adv_rank"].to_list() == list(range(1, len(expected) + 1))


def test_top_and_stale_symbols() -> None:
    bars = read_bars().collect()
    stale = bars.filter(~((pl.col("symbol") == "AAPL") & (pl.col("date") > dt.date(2018, 1, 1))))
    table = build_universe(stale, min_price=1, min_adv_usd=0, min_history_years=0, top=5)
    assert table.height == 5 and "AAPL" not in table["symbol"].to_list()


def test_cli_writes_a_loadable_universe(tmp_path: Path) -> None:
    out = tmp_path / "liquid.csv"
    result = CliRunner().invoke(main, ["universe", "build", "--min-adv", "1e9", "--top", "10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(load_universe(out)) == 10
    assert pl.read_csv(out).columns == ["symbol", "adv_rank", "last_close", "adv_usd", "history_years", "bars",
                                        "last_date"]
