"""Backtest benchmarks: both seed strategies over the 505-symbol S&P 500 set.

Run from the repository root:  python benchmarks/bench_backtest.py
Needs ../shared/data (the project's shared real data). Prints the machine and figures.
Targets (issue 4): the engine well under 1 s, the whole `kobe backtest` command (a fresh
process: imports, config, reading the Parquet file, writing the outputs) under 3 s.

"Engine" is :func:`kobe.backtest.run_backtest` on bars already in memory: the Polars
plans of both strategies, the exit search, the portfolio pass and the equity curves.
The best of several runs is reported (the machine is shared; the minimum is the
least disturbed figure), with the median beside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path


from kobe.backtest import load_market, resolve_settings, run_backtest, run_strategy
from kobe.backtest.candidates import find_candidates
from kobe.data.bars import read_bars
from kobe.project import load_project

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, kobe_command, machine, timed  # noqa: E402

SP500 = REPO.parent / "shared" / "data" / "sp500_5yr_2013_2018.parquet"
STRATEGIES = ("donchian_breakout", "ict_turtle_soup")


def main() -> None:
    print(machine())
    project = load_project(REPO / "strategies.yaml")
    bars = read_bars(SP500).collect()
    symbols = bars["symbol"].unique().sort().to_list()
    print(f"data: {SP500.name}, {bars.height:,} bars, {len(symbols)} symbols, "
          f"{bars['date'].n_unique():,} sessions; strategies: {', '.join(STRATEGIES)}")

    result = run_backtest(project, bars, universe=symbols)            # warm up (and a sanity check)
    trades = {r.name: r.trades.height + r.open_trades.height for r in result.strategies}
    print(f"trades: {trades}")

    best, median = timed(lambda: run_backtest(project, bars, universe=symbols), repeat=7)
    print(f"engine, both strategies:        best {best * 1000:4.0f} ms, median {median * 1000:4.0f} ms"
          "  (target: well under 1 s)")

    market = load_market(bars)
    best, _ = timed(lambda: load_market(bars), repeat=7)
    print(f"  bars -> arrays (load_market):  best {best * 1000:4.0f} ms")
    for name in STRATEGIES:
        compiled = project.compiled(name)
        settings = resolve_settings(project, name)
        best, _ = timed(lambda c=compiled: find_candidates(c, market), repeat=5)
        candidates = find_candidates(compiled, market)
        print(f"  {name}: signals (Polars plan) best {best * 1000:4.0f} ms, {len(candidates):,} candidates")
        best, _ = timed(lambda c=compiled, s=settings, k=candidates: run_strategy(c, market, s, candidates=k),
                        repeat=7)
        print(f"  {name}: exits + portfolio + equity best {best * 1000:4.0f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        universe = Path(tmp) / "sp500.csv"
        universe.write_text("symbol\n" + "\n".join(symbols) + "\n")
        command = [*kobe_command(), "backtest", "strategies.yaml", "--data", os.path.relpath(SP500, REPO),
                   "--universe", str(universe), "--out", str(Path(tmp) / "out")]

        def run() -> None:
            subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)

        best, median = timed(run, repeat=5)
        print(f"whole `kobe backtest` command:  best {best:.2f} s, median {median:.2f} s  (target: under 3 s)")


if __name__ == "__main__":
    main()
