"""The scan's picks by side: a short strategy's signals are short picks, a both-sided
one's ``short_signal`` too, each with its side's stop; checked against a hand-written
Polars query of the same rules on the embedded bars."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from kobe.project import load_project
from kobe.scan import PICK_COLUMNS, _read_picks, scan, write_picks

DAY = dt.date(2018, 1, 26)
UP = "close > sma(close, 5)"
DOWN = "close < sma(close, 5)"


def project_with(root: Path, side: str) -> Path:
    text = (root / "strategies.yaml").read_text()
    head, _ = text.split("strategies:", 1)
    lines = ["strategies:", "  - name: s", "    universe: default", f"    side: {side}",
             f"    entry: {UP if side != 'short' else DOWN}"]
    if side == "both":
        lines.append(f"    short_entry: {DOWN}")
    lines += ["    exits:", f"      stop: entry_price {'+' if side == 'short' else '-'} 2 * atr(3)",
              "      time_stop_bars: 5"]
    if side == "both":
        lines += ["    short_exits:", "      stop: entry_price + 3 * atr(3)"]
    lines += ["    sizing:", "      method: fixed_dollars", "      amount_usd: 75"]
    (root / "strategies.yaml").write_text(head + "\n".join(lines) + "\n")
    return root / "strategies.yaml"


def expected(project_bars: pl.LazyFrame, symbols: list[str], rule: str, stop_atr: float,
             sign: float) -> dict[str, float]:
    """Symbol -> stop, by hand: the sma and a Wilder ATR over each symbol's bars."""
    frame = project_bars.filter(pl.col("symbol").is_in(symbols) & (pl.col("date") <= DAY)).sort(
        "symbol", "date").collect()
    out: dict[str, float] = {}
    for (symbol,), bars in frame.group_by("symbol"):
        close, high, low = bars["close"].to_list(), bars["high"].to_list(), bars["low"].to_list()
        true_range = [high[0] - low[0]] + [max(high[i], close[i - 1]) - min(low[i], close[i - 1])
                                           for i in range(1, len(close))]
        atr = sum(true_range[1:4]) / 3
        for value in true_range[4:]:
            atr = (atr * 2 + value) / 3
        sma = sum(close[-5:]) / 5
        if bars["date"][-1] == DAY and rule_holds(rule, close[-1], sma):
            out[str(symbol)] = close[-1] + sign * stop_atr * atr
    return out


def rule_holds(rule: str, close: float, sma: float) -> bool:
    return close > sma if rule == "up" else close < sma


@pytest.mark.parametrize(("side", "longs", "shorts"), [
    pytest.param("long", ("up", 2.0), None, id="long"),
    pytest.param("short", None, ("down", 2.0), id="short"),
    pytest.param("both", ("up", 2.0), ("down", 3.0), id="both"),
])
def test_picks_carry_their_side_and_that_sides_stop(project_dir: Path, side, longs, shorts) -> None:
    project = load_project(project_with(project_dir, side))
    bars = project.bars()
    symbols = project.universe(project.strategy("s").config)
    result = scan(project, bars, DAY)
    got = {(r["side"], r["symbol"]): r["stop"] for r in result.picks.iter_rows(named=True)}
    want: dict[tuple[str, str], float] = {}
    if longs:
        want |= {("long", s): v for s, v in expected(bars, symbols, longs[0], longs[1], -1).items()}
    if shorts:
        want |= {("short", s): v for s, v in expected(bars, symbols, shorts[0], shorts[1], 1).items()}
    assert want, "the case must have picks to compare"
    assert got.keys() == want.keys()
    for key, stop in want.items():
        assert got[key] == pytest.approx(stop, rel=1e-9), key
    assert set(result.picks["side"]) == {k[0] for k in want}


def test_a_picks_file_from_before_sides_reads_as_long_picks(tmp_path: Path) -> None:
    old = tmp_path / "daily_picks.csv"
    old.write_text("date,strategy,symbol,close,stop,rank_score\n2018-01-25,s,AAPL,10.5,9.5,\n")
    picks = _read_picks(old)
    assert picks.columns == list(PICK_COLUMNS)
    assert picks.row(0) == (dt.date(2018, 1, 25), "s", "AAPL", "long", 10.5, 9.5, None)


def test_a_rescan_keeps_earlier_days_and_their_sides(project_dir: Path) -> None:
    project = load_project(project_with(project_dir, "both"))
    path = project_dir / "picks.csv"
    first = scan(project, project.bars(), DAY - dt.timedelta(days=1))
    write_picks(first, path)
    write_picks(scan(project, project.bars(), DAY), path)
    written = _read_picks(path)
    assert set(written["date"]) == {DAY - dt.timedelta(days=1), DAY}
    assert written.filter(pl.col("date") == DAY - dt.timedelta(days=1)).sort("symbol", "side").select(
        "symbol", "side").rows() == first.picks.sort("symbol", "side").select("symbol", "side").rows()
