"""A 100-point parameter sweep of the Donchian strategy over the 505-symbol S&P 500 set.

Run from the repository root:  python benchmarks/bench_sweep.py
Needs ../shared/data. Prints the machine and the figures. Target (issue 4): under 60 s.

The grid: ``channel_bars`` 10, 15, .. 55 x ``trend_bars`` 100, 120, .. 280 (the seed
``donchian_breakout`` otherwise unchanged). It shows:

- the sweep in process (data in memory) and the whole `kobe sweep` command; its first
  run in process loads the compiled tier (numba, ``kobe.backtest.tier``) from numba's
  cache, and the command is run once more with that cache empty (compiling);
- the sharing: the distinct indicator columns the one plan computes, against the sum of
  the points' own; and the plan collected with Polars' common-subplan elimination on
  (how it runs: the shared frame once) and off (as if each point had its own plan).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    SP500,
    best_process,
    copy_project,
    kobe_command,
    machine,
    need,
    run_process,
    timed,
)

FIXED = "      channel_bars: 20\n      trend_bars: 200\n"
GRID = "      channel_bars: {from: 10, to: 55, step: 5, default: 20}\n" \
       "      trend_bars: {from: 100, to: 280, step: 20, default: 200}\n"


def project_copy(folder: Path, symbols: list[str]) -> Path:
    path = copy_project(folder)
    text = path.read_text()
    assert FIXED in text, "the seed donchian_breakout params changed: update the benchmark"
    path.write_text(text.replace(FIXED, GRID, 1))
    (folder / "sp500.csv").write_text("symbol\n" + "\n".join(symbols) + "\n")
    return path


def main() -> None:
    from kobe.backtest.market import scoped_market
    from kobe.backtest.sweep import compile_grid, grid_query, run_sweep
    from kobe.data.bars import read_bars
    from kobe.project import load_project
    from kobe.strategy import compile_strategy

    print(machine())
    need(SP500)
    bars = read_bars(SP500).collect()
    symbols = bars["symbol"].unique().sort().to_list()
    with tempfile.TemporaryDirectory() as tmp:
        path = project_copy(Path(tmp), symbols)
        project = load_project(path)
        grid = compile_grid(project, "donchian_breakout")
        own = sum(len(compile_strategy(c).compiler.derived) for c in grid.checked)
        print(f"data: {SP500.name}, {bars.height:,} bars, {len(symbols)} symbols; grid: {len(grid)} points "
              f"(channel_bars x trend_bars)")
        print(f"indicator columns: {len(grid.compiler.derived)} distinct in the one plan, "
              f"against {own} if each point had its own")

        start = time.perf_counter()
        result = run_sweep(project, bars, "donchian_breakout", universe=symbols)
        first = time.perf_counter() - start
        best, median = timed(lambda: run_sweep(project, bars, "donchian_breakout", universe=symbols), repeat=3)
        top = result.rows[0]
        print(f"sweep in process: best {best:.1f} s, median {median:.1f} s (first run {first:.1f} s); "
              f"best point channel_bars={top['channel_bars']}, trend_bars={top['trend_bars']}, "
              f"Sharpe {top['sharpe']:.2f}  (target: under 60 s)")

        market = scoped_market(bars, symbols)
        query = grid_query(grid, market, symbols=symbols)
        shared, _ = timed(lambda: query.collect(), repeat=2)
        alone, _ = timed(lambda: query.collect(optimizations=pl.QueryOptFlags(comm_subplan_elim=False)), repeat=1)
        print(f"  of which the grid's one Polars plan: {shared:.1f} s; the same plan with the shared frame "
              f"recomputed per point: {alone:.1f} s")

        command = [*kobe_command(), "sweep", str(path), "--data", str(SP500), "--universe",
                   str(Path(tmp) / "sp500.csv"), "--out", str(Path(tmp) / "out")]
        wall, peak, _ = best_process(command, repeat=2)
        print(f"whole `kobe sweep` command: best {wall:.1f} s, peak memory {peak:.0f} MB  (target: under 60 s)")
        # The compiled tier's kernels are compiled once per installation, then loaded from
        # numba's cache: the same command with an empty cache shows that first run.
        with tempfile.TemporaryDirectory() as cache:
            os.environ["NUMBA_CACHE_DIR"] = cache
            try:
                cold, _, _ = run_process(command)
            finally:
                del os.environ["NUMBA_CACHE_DIR"]
        print(f"  the same with numba's cache empty (its kernels compiled first): {cold:.1f} s")


if __name__ == "__main__":
    main()
