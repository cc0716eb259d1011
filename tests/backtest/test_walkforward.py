"""Walk-forward: the splits, no lookahead, each fold's choice and test run, the stitching."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from kobe.backtest import run_backtest
from kobe.backtest.sweep import run_sweep
from kobe.backtest.walkforward import Fold, add_months, make_folds, run_walkforward
from kobe.cli import main
from kobe.project import load_project

FIXED = "      channel_bars: 20\n      trend_bars: 200\n"
GRID = "      channel_bars: [10, 30]\n      trend_bars: [100, 200]\n"
D = dt.date


def weekdays(first: dt.date, last: dt.date) -> list[dt.date]:
    days = np.arange(np.datetime64(first), np.datetime64(last) + 1)
    return [d.item() for d in days[np.is_busday(days)]]


@pytest.mark.parametrize(("day", "months", "expected"), [
    pytest.param(D(2020, 1, 31), 1, D(2020, 2, 29), id="clipped-to-leap-february"),
    pytest.param(D(2021, 1, 31), 1, D(2021, 2, 28), id="clipped-to-february"),
    pytest.param(D(2020, 11, 15), 3, D(2021, 2, 15), id="across-a-year"),
    pytest.param(D(2020, 3, 31), -1, D(2020, 2, 29), id="backwards"),
])
def test_add_months(day, months, expected) -> None:
    assert add_months(day, months) == expected


SESSIONS = weekdays(D(2020, 1, 1), D(2022, 8, 31))

# id, first session, train months, test months, anchored, expected folds
SPLITS = [
    pytest.param(0, 12, 6, False, [
        Fold(1, D(2020, 1, 1), D(2020, 12, 31), D(2021, 1, 1), D(2021, 6, 30)),
        Fold(2, D(2020, 7, 1), D(2021, 6, 30), D(2021, 7, 1), D(2021, 12, 31)),
        Fold(3, D(2021, 1, 1), D(2021, 12, 31), D(2022, 1, 3), D(2022, 6, 30)),
        Fold(4, D(2021, 7, 1), D(2022, 6, 30), D(2022, 7, 1), D(2022, 8, 31)),   # the data ends: a short test
    ], id="rolling"),
    pytest.param(0, 12, 6, True, [
        Fold(1, D(2020, 1, 1), D(2020, 12, 31), D(2021, 1, 1), D(2021, 6, 30)),
        Fold(2, D(2020, 1, 1), D(2021, 6, 30), D(2021, 7, 1), D(2021, 12, 31)),
        Fold(3, D(2020, 1, 1), D(2021, 12, 31), D(2022, 1, 3), D(2022, 6, 30)),
        Fold(4, D(2020, 1, 1), D(2022, 6, 30), D(2022, 7, 1), D(2022, 8, 31)),
    ], id="anchored"),
    pytest.param(SESSIONS.index(D(2021, 3, 1)), 12, 12, False, [
        Fold(1, D(2021, 3, 1), D(2022, 2, 28), D(2022, 3, 1), D(2022, 8, 31)),
    ], id="from-start"),
    pytest.param(0, 32, 6, False, [], id="too-short"),
]


@pytest.mark.parametrize(("first", "train", "test", "anchored", "expected"), SPLITS)
def test_splits(first, train, test, anchored, expected) -> None:
    assert make_folds(SESSIONS, first, train_months=train, test_months=test, anchored=anchored) == expected


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory, embedded_bars: pl.DataFrame):
    """A rolling walk-forward of a 4-point donchian grid on the embedded sample."""
    import shutil

    root = tmp_path_factory.mktemp("wf")
    repo = Path(__file__).resolve().parents[2]
    for name in ("strategies.yaml", "risk.yaml"):
        shutil.copy(repo / name, root / name)
    for folder in ("rules", "universe"):
        shutil.copytree(repo / folder, root / folder)
    path = root / "strategies.yaml"
    path.write_text(path.read_text().replace(FIXED, GRID, 1))
    project = load_project(path)
    result = run_walkforward(project, embedded_bars, "donchian_breakout", train_months=12, test_months=12,
                             start=D(2014, 1, 2), metric="sharpe")
    return path, project, result


def with_point(path: Path, point: dict) -> object:
    """The project with the grid replaced by one point's values."""
    text = path.read_text()
    fixed = f"      channel_bars: {point['channel_bars']}\n      trend_bars: {point['trend_bars']}\n"
    path.with_name("point.yaml").write_text(text.replace(GRID, fixed, 1))
    return load_project(path.with_name("point.yaml"))


def test_each_fold_picks_the_best_point_of_its_train_window(walk, embedded_bars: pl.DataFrame) -> None:
    path, project, result = walk
    assert [f["fold"] for f in result.folds] == [1, 2, 3, 4]
    for fold in result.folds:
        train = run_sweep(project, embedded_bars, "donchian_breakout", metric="sharpe",
                          start=D.fromisoformat(fold["train_start"]), end=D.fromisoformat(fold["train_end"]))
        best = train.rows[0]
        assert (fold["channel_bars"], fold["trend_bars"]) == (best["channel_bars"], best["trend_bars"])
        assert fold["train_sharpe"] == best["sharpe"]


def test_a_test_window_is_a_backtest_of_the_choice_warmed_up_on_earlier_bars(walk, embedded_bars) -> None:
    path, _, result = walk
    first = result.folds[0]
    plain = run_backtest(with_point(path, first), embedded_bars, strategy="donchian_breakout",
                         start=D.fromisoformat(first["test_start"]), end=D.fromisoformat(first["test_end"]))
    equity = result.equity.filter(pl.col("fold") == 1)
    assert equity["equity"].to_list() == plain.strategies[0].equity["equity"].to_list()
    assert first["test_trades"] == plain.strategies[0].trades.height


def test_no_lookahead_later_bars_change_nothing_before_them(walk, embedded_bars: pl.DataFrame) -> None:
    path, project, result = walk
    cut = D.fromisoformat(result.folds[1]["test_end"])
    # Scramble every price after fold 2's test window: folds 1 and 2 must not notice.
    rng = np.random.default_rng(7)
    noise = pl.Series(rng.uniform(0.5, 1.5, embedded_bars.height))
    later = pl.col("date") > cut
    scrambled = embedded_bars.with_columns(
        [pl.when(later).then(pl.col(c) * noise).otherwise(pl.col(c)).alias(c) for c in ("open", "close")]
        + [pl.when(later).then(pl.max_horizontal("high", pl.col("open") * noise, pl.col("close") * noise) * 1.01)
           .otherwise(pl.col("high")).alias("high")])
    again = run_walkforward(project, scrambled, "donchian_breakout", train_months=12, test_months=12,
                            start=D(2014, 1, 2), metric="sharpe")
    assert again.folds[:2] == result.folds[:2]
    before = pl.col("date") <= cut
    assert again.equity.filter(before).equals(result.equity.filter(before))
    assert again.equity.filter(~before)["equity"].to_list() != result.equity.filter(~before)["equity"].to_list()


def test_the_stitched_curve(walk) -> None:
    _, project, result = walk
    dates = result.equity["date"]
    assert dates.is_sorted() and dates.n_unique() == len(dates)
    assert dates[0].isoformat() == result.folds[0]["test_start"]
    assert dates[-1].isoformat() == result.folds[-1]["test_end"]
    # Each fold starts with the cash the previous one ended with: the end is the start
    # plus every trade's P&L, realised or marked.
    pnl = result.trades["pnl"].sum() + result.open_trades["pnl"].sum()
    assert result.metrics()["final_equity"] == pytest.approx(result.initial_cash + pnl)
    assert result.folds[-1]["test_final_equity"] == pytest.approx(result.equity["equity"][-1])
    assert result.equity["benchmark"][0] == pytest.approx(result.initial_cash)


def test_cli_walkforward(walk, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _, result = walk
    monkeypatch.chdir(path.parent)
    args = ["walkforward", "--start", "2014-01-02", "--train-months", "12", "--test-months", "12", "--out", "wf"]
    out = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["folds"] == json.loads(json.dumps(result.folds))
    assert data["splits"] == "rolling" and data["params"] == ["channel_bars", "trend_bars"]
    assert sorted(p.name for p in (path.parent / "wf").iterdir()) == [
        "equity.csv", "folds.csv", "open_trades.csv", "receipt.json", "trades.csv", "walkforward.json"]
    shown = CliRunner().invoke(main, args, catch_exceptions=False).stdout
    assert "walk-forward donchian_breakout: 4 folds (rolling" in shown and "out of sample" in shown
    short = CliRunner().invoke(main, ["walkforward", "--train-months", "60", "--out", "wf"])
    assert short.exit_code == 2 and "shorter than one train window and a test window" in short.stderr
