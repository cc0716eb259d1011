"""Monte Carlo of the trade sequence: the path statistics, the two resamplings, the
risk of ruin, reproducibility, the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from kobe.backtest.montecarlo import monte_carlo, path_stats, resample, trade_sequence
from kobe.cli import main

# id, initial cash, P&L in order, (final return, max drawdown, lowest value / initial cash)
PATHS = [
    pytest.param(100, [10, -30, 5], (-0.15, 80 / 110 - 1, 0.8), id="peak-then-fall"),
    pytest.param(100, [-10, -10, 40], (0.2, -0.2, 0.8), id="below-the-initial-cash-first"),
    pytest.param(100, [5, 5], (0.1, 0.0, 1.0), id="never-down"),
    pytest.param(100, [-150, 20], (-1.3, -1.0, -0.5), id="wiped-out"),
    pytest.param(100, [], (0.0, 0.0, 1.0), id="no-trade"),
]


@pytest.mark.parametrize(("cash", "pnl", "expected"), PATHS)
def test_path_statistics(cash, pnl, expected) -> None:
    stats = path_stats(np.array([pnl], dtype=float).reshape(1, len(pnl)), cash)
    assert (stats.final_return[0], stats.max_drawdown[0], stats.low[0]) == pytest.approx(expected)


PNL = np.random.default_rng(0).normal(2.0, 50.0, 300)


def test_seeded_and_reproducible() -> None:
    one = resample(PNL, 10_000, method="bootstrap", runs=2_500, seed=42)
    two = resample(PNL, 10_000, method="bootstrap", runs=2_500, seed=42)
    other = resample(PNL, 10_000, method="bootstrap", runs=2_500, seed=43)
    assert np.array_equal(one.final_return, two.final_return) and np.array_equal(one.max_drawdown, two.max_drawdown)
    assert not np.array_equal(one.final_return, other.final_return)
    # More runs extend the same stream: the first 2,500 paths stay what they were.
    more = resample(PNL, 10_000, method="bootstrap", runs=3_000, seed=42)
    assert np.array_equal(more.final_return[:2_500], one.final_return)


def test_shuffle_keeps_the_final_return_and_moves_the_drawdown() -> None:
    paths = resample(PNL, 10_000, method="shuffle", runs=500, seed=1)
    assert paths.final_return == pytest.approx(np.full(500, PNL.sum() / 10_000))
    assert np.unique(paths.max_drawdown.round(12)).size > 400


def test_bootstrap_draws_trades_with_replacement() -> None:
    paths = resample(PNL, 10_000, method="bootstrap", runs=4_000, seed=1)
    # Each path sums 300 draws: its mean is the trades' total, its spread sqrt(300) x their std.
    assert paths.final_return.mean() == pytest.approx(PNL.sum() / 10_000, abs=0.01)
    assert paths.final_return.std() == pytest.approx(PNL.std() * np.sqrt(300) / 10_000, rel=0.1)


def test_risk_of_ruin_levels() -> None:
    trades = pl.DataFrame({"strategy": ["s"] * 5, "symbol": list("ABCDE"), "pnl": [-10.0] * 5,
                           "entry_date": [dt.date(2020, 1, i + 1) for i in range(5)],
                           "exit_date": [dt.date(2020, 1, i + 2) for i in range(5)]})
    result = monte_carlo(trades, 100, runs=50, seed=3, ruin_levels=(0.25, 0.5, 0.6))
    for method in ("bootstrap", "shuffle"):
        assert result.methods[method]["risk_of_ruin"] == {"0.25": 1.0, "0.5": 1.0, "0.6": 0.0}
        assert result.methods[method]["final_return"]["p50"] == pytest.approx(-0.5)
    assert result.actual == pytest.approx({"final_return": -0.5, "max_drawdown": -0.5})


def test_trades_are_taken_in_the_order_they_closed() -> None:
    trades = pl.DataFrame({"strategy": ["s", "s", "s"], "symbol": ["B", "A", "C"], "pnl": [1.0, 2.0, 3.0],
                           "entry_date": [dt.date(2020, 1, 2), dt.date(2020, 1, 2), dt.date(2020, 1, 1)],
                           "exit_date": [dt.date(2020, 1, 5), dt.date(2020, 1, 5), dt.date(2020, 1, 9)]})
    assert trade_sequence(trades).tolist() == [2.0, 1.0, 3.0]


def test_cli_montecarlo(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project_dir)
    args = ["montecarlo", "--strategy", "donchian_breakout", "--runs", "300", "--seed", "5", "--ruin", "0.001,0.5",
            "--out", "mc"]
    runs = [CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False) for _ in range(2)]
    assert runs[0].exit_code == 0, runs[0].output
    data = json.loads(runs[0].stdout)
    assert data == json.loads(runs[1].stdout)
    assert data["account"] == "donchian_breakout" and data["runs"] == 300 and data["trades"] > 100
    for method in ("bootstrap", "shuffle"):
        stats = data["methods"][method]
        assert list(stats["final_return"]) == ["p5", "p25", "p50", "p75", "p95"]
        assert list(stats["final_return"].values()) == sorted(stats["final_return"].values())
        assert stats["risk_of_ruin"]["0.5"] == 0.0 and 0 < stats["risk_of_ruin"]["0.001"] <= 1
    assert data["methods"]["shuffle"]["final_return"]["p5"] == pytest.approx(data["actual"]["final_return"])
    paths = pl.read_csv(project_dir / "mc" / "runs.csv")
    assert paths.height == 600 and set(paths["method"]) == {"bootstrap", "shuffle"}
    shown = CliRunner().invoke(main, args, catch_exceptions=False).stdout
    assert "bootstrap max drawdown" in shown and "lose 50%" in shown
    bad = CliRunner().invoke(main, ["montecarlo", "--ruin", "2"])
    assert bad.exit_code == 2 and "at most 1" in bad.output
