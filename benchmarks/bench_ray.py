"""A Donchian sweep over the 505-symbol S&P 500 set: one process against a local Ray
cluster of two worker CPUs, and where the Ray run's time goes (issue 16).

Run from the repository root:  python benchmarks/bench_ray.py [--points 1000]
Needs ../shared/data and Ray (pip install 'kobe[ray]'). Prints the machine and the figures.

The grid: ``channel_bars`` 10, 11, .. x ``trend_bars`` 100, 120, .. 280 x ``hold_bars``
3, 5 (the seed ``donchian_breakout`` otherwise unchanged): 20 points per channel value,
``--points`` / 20 channel values (1,000 points: channel_bars 10 .. 59). Every figure is
taken in the same run, so the ratios hold on a loaded machine:

- **one process**: ``run_sweep`` as ``kobe sweep`` runs it;
- **Ray**: the same ``run_sweep`` with a :class:`~kobe.scale.ray_executor.RayExecutor` on
  a local runtime of 2 CPUs (two worker processes), started before the clock;
- the Ray run's parts: **startup** (ray.init and the version check, once per command),
  **transfer** (ray.put of the market and the compiled grid, and a worker's first read
  of them), **scheduling** (a no-op task's round trip, times the tasks), **compute** (the
  tasks' own time inside the workers, summed, and over the two CPUs). The answers of the
  two runs are checked identical (every row of the ranking).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SP500, copy_project, machine, need

FIXED = "      channel_bars: 20\n      trend_bars: 200\n      atr_bars: 14\n      stop_atr: 2\n      hold_bars: 5\n"


def grid_text(points: int) -> str:
    channels = max(1, points // 20)
    return (f"      channel_bars: {{from: 10, to: {10 + channels - 1}, step: 1, default: 20}}\n"
            "      trend_bars: {from: 100, to: 280, step: 20, default: 200}\n"
            "      atr_bars: 14\n      stop_atr: 2\n      hold_bars: [3, 5]\n")


def project_copy(folder: Path, points: int) -> Path:
    path = copy_project(folder)
    text = path.read_text()
    assert FIXED in text, "the seed donchian_breakout params changed: update the benchmark"
    path.write_text(text.replace(FIXED, grid_text(points), 1))
    return path


def timed_block(*args: Any, step: Any = None) -> tuple[Any, float]:
    """A sweep task that also reports its own time in the worker."""
    from kobe.backtest.sweep import sweep_block

    start = time.perf_counter()
    out = sweep_block(*args, step=None)
    return out, time.perf_counter() - start


def noop(*args: Any, step: Any = None) -> int:
    return len(args)


def first_read(market: Any, grid: Any, *, step: Any = None) -> float:
    """What reading the shared inputs costs a worker: Ray resolved them before the call;
    this task's time is measured around it by the driver."""
    return float(market.rows + len(grid))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1000)
    points = parser.parse_args().points

    import ray

    from kobe.backtest.engine import resolve_settings, strategy_gates
    from kobe.backtest.market import scoped_market
    from kobe.backtest.sweep import COMPILED_FROM, block_label, compile_grid, run_sweep
    from kobe.data.bars import read_bars
    from kobe.project import load_project
    from kobe.scale import Task, split
    from kobe.scale.ray_executor import RayExecutor

    print(machine())
    need(SP500)
    # The workers import this module to run its tasks: ship them by value instead.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    bars = read_bars(SP500).collect()
    symbols = bars["symbol"].unique().sort().to_list()
    with tempfile.TemporaryDirectory() as tmp:
        project = load_project(project_copy(Path(tmp), points))
        grid = compile_grid(project, "donchian_breakout")
        market = scoped_market(bars, symbols, None)
        print(f"data: {SP500.name}, {bars.height:,} bars, {len(symbols)} symbols; grid: {len(grid)} points, "
              f"{len(grid.compiler.derived)} distinct indicator columns")
        sizes = {"market": len(pickle.dumps(market)), "grid": len(pickle.dumps(grid))}
        print(f"shared inputs, pickled: market {sizes['market'] / 1e6:.1f} MB, grid {sizes['grid'] / 1e6:.1f} MB")

        start = time.perf_counter()
        local = run_sweep(project, bars, "donchian_breakout", universe=symbols)
        t_local = time.perf_counter() - start
        print(f"one process: {t_local:.1f} s ({t_local / len(grid) * 1000:.0f} ms a point)")

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        executor = RayExecutor(None, num_cpus=2)
        start = time.perf_counter()
        executor.start()
        t_start = time.perf_counter() - start
        try:
            # Warm the two worker processes (Python and Kobe imported) as a long run would be.
            executor.map([Task(noop, (k,), "warm") for k in range(4)])
            start = time.perf_counter()
            on_ray = run_sweep(project, bars, "donchian_breakout", universe=symbols, executor=executor)
            t_ray = time.perf_counter() - start
            same = on_ray.rows == local.rows
            print(f"Ray, 2 CPUs: {t_ray:.1f} s, startup {t_start:.1f} s apart; speed-up {t_local / t_ray:.2f}x "
                  f"({t_local / (t_ray + t_start):.2f}x with the startup); the same rows: {same}")

            # Where the Ray run's time goes, measured on the same tasks.
            settings = resolve_settings(project, "donchian_breakout")
            gates = strategy_gates(project, "donchian_breakout", market, None)
            start = time.perf_counter()
            shared_market, shared_grid = executor.share(market), executor.share(grid)
            t_put = time.perf_counter() - start
            start = time.perf_counter()
            executor.map([Task(first_read, (shared_market, shared_grid), "read") for _ in range(2)])
            t_read = time.perf_counter() - start
            blocks = split(executor, len(grid))
            start = time.perf_counter()
            executor.map([Task(noop, (k,), "noop") for k in range(len(blocks) * 10)])
            t_task = (time.perf_counter() - start) / (len(blocks) * 10)
            compiled = len(grid) >= COMPILED_FROM
            tasks = [Task(timed_block, (shared_grid, shared_market, settings, symbols, 0, gates, b, compiled),
                          block_label(grid, b), weight=len(b)) for b in blocks]
            start = time.perf_counter()
            timed = executor.map(tasks)
            t_wall = time.perf_counter() - start
            compute = sum(seconds for _, seconds in timed)
            print(f"  {len(blocks)} tasks of ~{len(grid) // len(blocks)} points; wall {t_wall:.1f} s:")
            print(f"  transfer: ray.put {t_put:.2f} s; two workers' first read of it {t_read:.2f} s")
            print(f"  scheduling: {t_task * 1000:.1f} ms a task round trip, {t_task * len(blocks):.2f} s for all")
            print(f"  compute: {compute:.1f} s in the workers, {compute / 2:.1f} s over 2 CPUs "
                  f"({compute / 2 / t_wall:.0%} of the wall); one process's {t_local:.1f} s")
            print(f"  per point in a worker: {compute / len(grid) * 1000:.0f} ms; blocks' extra cost against the "
                  f"one process: {compute / t_local - 1:+.0%} (each block computes its own shared columns)")
        finally:
            executor.stop()


if __name__ == "__main__":
    main()
