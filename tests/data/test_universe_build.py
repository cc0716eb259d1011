"""kobe universe build: each figure recomputed independently from the raw bars."""

from __future__ import annotations

import datetime as dt
import json
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


def test_a_lake_project_builds_from_its_lake_and_shows_its_status(tmp_path: Path, monkeypatch) -> None:
    """With `provider: polygon` the bars are the lake's (here three symbols stored in a
    lake at a folder of the config's choosing), for `kobe universe build` as for every
    other command, and `kobe data status` shows that lake without --lake."""
    from kobe.data.lake import Lake

    repo = Path(__file__).resolve().parents[2]
    text = (repo / "strategies.yaml").read_text().replace("provider: embedded", "provider: polygon")
    (tmp_path / "strategies.yaml").write_text(text.replace("lake: state/lake", "lake: bars/lake"))
    for name in ("risk.yaml",):
        (tmp_path / name).write_text((repo / name).read_text())
    for folder in ("rules", "universe"):
        for f in (repo / folder).iterdir():
            (tmp_path / folder).mkdir(exist_ok=True)
            (tmp_path / folder / f.name).write_text(f.read_text())
    lake = Lake(tmp_path / "bars" / "lake")
    sample = read_bars().collect()
    for symbol in ("AAPL", "KO", "XOM"):
        bars = sample.filter(pl.col("symbol") == symbol)
        lake.store(symbol, bars, "polygon", True, (bars["date"].min(), bars["date"].max()),
                   now=dt.datetime(2018, 2, 8, tzinfo=dt.UTC))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["universe", "build", "--min-adv", "0", "--min-price", "0", "--out", "u.csv"])
    assert result.exit_code == 0, result.output
    assert sorted(load_universe(tmp_path / "u.csv")) == ["AAPL", "KO", "XOM"]
    result = runner.invoke(main, ["data", "status", "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.output)) == ["AAPL", "KO", "XOM"]
