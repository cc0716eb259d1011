"""Parameter sweeps: every point is exactly the backtest of the strategy with those
values, shared indicator columns are computed once, the ranking, errors, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from kobe.backtest import run_backtest
from kobe.backtest.sweep import compile_grid, ranking, run_sweep
from kobe.cli import main
from kobe.config.errors import KobeError
from kobe.project import load_project
from kobe.strategy import compile_strategy

FIXED = "      channel_bars: 20\n      trend_bars: 200\n      atr_bars: 14\n      stop_atr: 2\n      hold_bars: 5\n"


def sweep_donchian(project_dir: Path, params: str) -> Path:
    """The repository's config with donchian_breakout's params replaced by ``params``."""
    path = project_dir / "strategies.yaml"
    text = path.read_text()
    assert text.count(FIXED) == 1 and text.index(FIXED) < text.index("ict_turtle_soup")
    path.write_text(text.replace(FIXED, params, 1))
    return path


GRID = "      channel_bars: [10, 20]\n      trend_bars: 200\n      atr_bars: 14\n      stop_atr: [1, 2.5]\n" \
       "      hold_bars: {from: 3, to: 5, step: 2}\n"


def test_every_point_is_the_backtest_of_those_values(project_dir: Path, embedded_bars: pl.DataFrame) -> None:
    path = sweep_donchian(project_dir, GRID)
    result = run_sweep(load_project(path), embedded_bars, "donchian_breakout", metric="total_return")
    assert len(result.rows) == 8
    for row in result.rows:
        fixed = (f"      channel_bars: {row['channel_bars']}\n      trend_bars: 200\n      atr_bars: 14\n"
                 f"      stop_atr: {row['stop_atr']}\n      hold_bars: {row['hold_bars']}\n")
        path.write_text(path.read_text().replace(GRID, fixed))
        plain = run_backtest(load_project(path), embedded_bars, strategy="donchian_breakout").strategies[0]
        path.write_text(path.read_text().replace(fixed, GRID))
        expected = plain.metrics()
        assert {k: row[k] for k in expected} == expected, row
        assert (row["signals"], row["skipped"]) == (plain.signals, plain.skipped)


def test_distinct_indicator_columns_are_computed_once(project_dir: Path) -> None:
    path = sweep_donchian(project_dir, GRID)
    grid = compile_grid(load_project(path), "donchian_breakout")
    alone = [set(compile_strategy(c).compiler.derived) for c in grid.checked]
    shared = set(grid.compiler.derived)
    assert shared == set().union(*alone)
    # 8 points, but only channel_bars changes an indicator: 2 channels' columns + the shared ones.
    assert len(shared) == len(alone[0]) + 2
    assert sum(len(a) for a in alone) == 8 * len(alone[0])
    assert {"highest(high, 10)", "highest(high, 20)", "sma(close, 200)", "atr(14)"} <= shared


def test_a_bad_point_is_reported_once_with_the_point(project_dir: Path) -> None:
    path = sweep_donchian(project_dir, FIXED.replace("channel_bars: 20", "channel_bars: {from: 10, to: 11, step: 0.5}"))
    project = load_project(path)       # validate checks the default point (10) only
    with pytest.raises(KobeError) as caught:
        compile_grid(project, "donchian_breakout")
    problems = caught.value.diagnostics
    assert [d.message for d in problems] == [
        "window 'n' of highest() must be a positive integer, got 10.5",
    ] * len(problems) and len(problems) == len({(d.line, d.col) for d in problems})
    assert all(d.hint and d.hint.startswith("at the sweep point channel_bars=10.5") for d in problems)


# id, metric values in grid order, metric, expected order
RANKINGS = [
    pytest.param([1.0, 3.0, 2.0], "sharpe", [1, 2, 0], id="higher-first"),
    pytest.param([1.0, None, 2.0], "sharpe", [2, 0, 1], id="undefined-last"),
    pytest.param([2.0, 1.0, 2.0], "sharpe", [0, 2, 1], id="ties-keep-grid-order"),
    pytest.param([-0.3, -0.1, -0.2], "max_drawdown", [1, 2, 0], id="shallowest-drawdown-first"),
    pytest.param([0.2, 0.1, None], "volatility", [1, 0, 2], id="lower-volatility-first"),
]


@pytest.mark.parametrize(("values", "metric", "expected"), RANKINGS)
def test_ranking(values, metric, expected) -> None:
    assert ranking([{metric: v} for v in values], metric) == expected


def test_cli_sweep_json_table_and_files(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sweep_donchian(project_dir, GRID)
    monkeypatch.chdir(project_dir)
    result = CliRunner().invoke(main, ["sweep", "--metric", "sortino", "--out", "out", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)          # the progress bar goes to stderr
    assert data["strategy"] == "donchian_breakout" and data["metric"] == "sortino"
    assert data["grid"] == {"channel_bars": [10, 20], "stop_atr": [1, 2.5], "hold_bars": [3, 5]}
    scores = [p["sortino"] for p in data["points"]]
    assert scores == sorted(scores, reverse=True) and [p["rank"] for p in data["points"]] == list(range(1, 9))
    assert data["receipt"]["command"] == "kobe sweep strategies.yaml --metric sortino --top 20 --out out --json"
    assert "sweep donchian_breakout" in result.stderr
    table = pl.read_csv(project_dir / "out" / "sweep.csv")
    assert table.height == 8 and table["sortino"].to_list() == scores
    assert table.columns[:5] == ["rank", "point", "channel_bars", "stop_atr", "hold_bars"]

    shown = CliRunner().invoke(main, ["sweep", "--top", "3", "--out", "out"], catch_exceptions=False)
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("sweep donchian_breakout: 8 points")
    assert lines[1].split()[:4] == ["rank", "channel_bars", "stop_atr", "hold_bars"]
    assert [line.split()[0] for line in lines[3:6]] == ["1", "2", "3"] and lines[6].startswith("config sha256")


def test_cli_sweep_needs_swept_params(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project_dir)
    result = CliRunner().invoke(main, ["sweep", "--out", "out"])
    assert result.exit_code == 2
    assert "name the strategy to sweep with --strategy" in result.stderr
    assert "write a param as a list or a range" in result.stderr
