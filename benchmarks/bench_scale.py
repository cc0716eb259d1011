"""Scale: time and peak memory as the bars grow (issue 4).

Run from the repository root:  python benchmarks/bench_scale.py
Needs ../shared/data for part 1. Prints the machine and a table per part.

1. The 170-symbol US set, 1990-2017 (about 1.2M bars): both seed strategies over every
   symbol, the engine in process and the whole `kobe backtest` command.
2. Synthetic universes (kobe.data.synth.synth_bars) of 10 years at 1x, 4x, 16x and 64x
   the bars: 56, 225, 900 and 3,600 symbols, so 16x is the 900-symbol x 10-year universe
   (about 2.3M bars) and 64x about 9.4M bars. Each size runs in a fresh process that
   reads the Parquet file and runs the engine, so its peak memory is that run's alone
   (imports included: the first line shows what an empty run costs). Targets: cost
   growing linearly in the bars (seconds per million bars roughly flat), peak memory
   under 2 GB at 900 x 10 years, and at most 150 bytes per bar (issue 12): printed as
   the peak over the bars at each size and as the marginal bytes per bar between the
   two largest sizes (the slope, without the fixed cost of the imports).

The seed strategies size $75 orders with risk.yaml's gates on, as shipped.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO,
    US170,
    best_process,
    kobe_command,
    machine,
    need,
    run_process,
    timed,
)
from _peak import report_at_exit, vm_hwm_mb

SCALES = ((1, 56), (4, 225), (16, 900), (64, 3600))   # x bars, symbols (10 years each)


def child(path: str) -> None:
    """One size in a fresh process: read the bars, run the engine (best of 3), report."""
    from kobe.backtest import run_backtest
    from kobe.data.bars import read_bars
    from kobe.project import load_project

    report_at_exit()
    project = load_project(REPO / "strategies.yaml")
    baseline = vm_hwm_mb()
    start = time.perf_counter()
    bars = read_bars(Path(path)).collect() if path != "-" else None
    read = time.perf_counter() - start
    if bars is None:
        print(json.dumps({"peak_mb": vm_hwm_mb(), "baseline_mb": baseline}))
        return
    symbols = bars["symbol"].unique().sort().to_list()
    best, _ = timed(lambda: run_backtest(project, bars, universe=symbols), repeat=3)
    result = run_backtest(project, bars, universe=symbols)
    trades = sum(r.trades.height + r.open_trades.height for r in result.strategies)
    print(json.dumps({"bars": bars.height, "symbols": len(symbols), "sessions": bars["date"].n_unique(),
                      "read_s": read, "engine_s": best, "trades": trades, "peak_mb": vm_hwm_mb(),
                      "baseline_mb": baseline}))


def measure(path: Path) -> dict:
    _, peak, out = run_process([sys.executable, __file__, "--child", str(path)])
    data = json.loads(out)
    data["process_peak_mb"] = peak
    return data


def main() -> None:
    print(machine())
    empty = measure(Path("-"))
    print(f"an empty run (imports and config only): peak {empty['process_peak_mb']:.0f} MB")

    print("\n1. the 170-symbol US set, 1990-2017, both seed strategies")
    need(US170)
    one = measure(US170)
    print(f"   {one['bars']:,} bars, {one['symbols']} symbols, {one['sessions']:,} sessions, {one['trades']:,} trades")
    print(f"   engine (in process, best of 3): {one['engine_s']:.2f} s; reading the file {one['read_s']:.2f} s; "
          f"peak memory {one['process_peak_mb']:.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        universe = Path(tmp) / "all.csv"
        universe.write_text("symbol\n" + "\n".join(pl.read_parquet(US170, columns=["symbol"])["symbol"]
                                                   .unique().sort()) + "\n")
        wall, peak, _ = best_process([*kobe_command(), "backtest", "strategies.yaml", "--data", str(US170),
                                      "--universe", str(universe), "--out", str(Path(tmp) / "out")], repeat=3)
        print(f"   whole `kobe backtest` command: {wall:.2f} s (best of 3), peak memory {peak:.0f} MB")

    print("\n2. synthetic 10-year universes (kobe.data.synth), both seed strategies")
    from kobe.data.synth import synth_bars

    header = (f"   {'scale':>5}  {'symbols':>7}  {'bars':>10}  {'engine s':>8}  {'s / M bars':>10}  {'peak MB':>7}"
              f"  {'B / bar':>7}")
    print(header)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for scale, symbols in SCALES:
            path = Path(tmp) / f"synth_{symbols}.parquet"
            synth_bars(symbols=symbols, years=10, seed=1).write_parquet(path)
            data = measure(path)
            rows.append((scale, data))
            print(f"   {scale:>4}x  {symbols:>7}  {data['bars']:>10,}  {data['engine_s']:>8.2f}  "
                  f"{data['engine_s'] / data['bars'] * 1e6:>10.3f}  {data['process_peak_mb']:>7.0f}"
                  f"  {data['process_peak_mb'] * 2**20 / data['bars']:>7.0f}")
    (s1, d1), (s_big, d_big) = rows[0], rows[-1]
    d900 = next(d for _, d in rows if d["symbols"] == 900)
    growth = d_big["engine_s"] / d1["engine_s"]
    print(f"   {s_big}x the bars cost {growth:.1f}x the engine time (linear: {s_big / s1:.0f}x); "
          f"peak memory at 900 x 10 years: {d900['process_peak_mb']:.0f} MB (target: under 2,048 MB)")
    (_, d_a), (_, d_b) = rows[-2], rows[-1]
    marginal = (d_b["process_peak_mb"] - d_a["process_peak_mb"]) * 2**20 / (d_b["bars"] - d_a["bars"])
    print(f"   peak memory per bar at {d_b['bars']:,} bars: {d_b['process_peak_mb'] * 2**20 / d_b['bars']:.0f} B "
          f"(imports included); marginal {d_a['bars']:,} -> {d_b['bars']:,} bars: {marginal:.0f} B/bar "
          f"(goal: at most 150)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
