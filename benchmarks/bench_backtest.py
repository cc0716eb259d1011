"""Backtest benchmarks: both seed strategies over the 505-symbol S&P 500 set.

Run from the repository root:  python benchmarks/bench_backtest.py
Needs ../shared/data (the project's shared real data). Prints the machine and figures.
Targets (issue 4): the engine well under 1 s, the whole `kobe backtest` command (a fresh
process: imports, config, reading the Parquet file, writing the outputs) under 3 s.

The whole command is also measured against the Polars floor (issue 12, goal <= 2.0x):
a fresh process (``REFERENCE``) that reads the same Parquet file and computes by hand
in Polars the indicators, entry and filter signals of both shipped strategies, their
fill at the next open and their ATR stop, and writes them out. Both are timed as whole
processes, median of ``--repeat``, in the same run; the hand-written signals, fills and
stops are checked against Kobe's candidates (the same set, the same prices).

"Engine" is :func:`kobe.backtest.run_backtest` on bars already in memory: the Polars
plans of both strategies, the exit search, the portfolio pass and the equity curves.
The best of several runs is reported (the machine is shared; the minimum is the
least disturbed figure), with the median beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl


from kobe.backtest import load_market, resolve_settings, run_backtest, run_strategy
from kobe.backtest.candidates import Candidates, find_candidates
from kobe.data.bars import read_bars
from kobe.project import load_project

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, kobe_command, machine, timed  # noqa: E402

SP500 = REPO.parent / "shared" / "data" / "sp500_5yr_2013_2018.parquet"
STRATEGIES = ("donchian_breakout", "ict_turtle_soup")

# The Polars floor: both shipped strategies written by hand (strategies.yaml, rules/channels.kobe).
# Nothing is approximated: atr(14) is TA-Lib's Wilder ATR (seeded on bar 14 with the mean of
# the true ranges of bars 1..14, then y = y_prev + (tr - y_prev) / 14), prior_low_age(20) is
# the lag of the latest bar holding the prior 20-bar low (ties: the latest), ibs() is null
# on a bar with high == low. A signal needs a next bar to fill at (its open).
REFERENCE = """\
import sys
import polars as pl

# Sorted by symbol and date as the engine sorts them (the file's order is not assumed).
bars = pl.read_parquet(sys.argv[1]).sort("symbol", "date")
o, h, l, c = pl.col("open"), pl.col("high"), pl.col("low"), pl.col("close")
i = pl.int_range(pl.len()).over("symbol")
prev_close = c.shift(1).over("symbol")
tr = pl.max_horizontal(h - l, (h - prev_close).abs(), (l - prev_close).abs())
ind = bars.lazy().with_columns(
    idx=i,
    tr=pl.when(prev_close.is_null()).then(None).otherwise(tr),
    high20=h.rolling_max(20).shift(1).over("symbol"),
    low20=l.rolling_min(20).shift(1).over("symbol"),
    sma200=c.rolling_mean(200).over("symbol"),
    ibs=pl.when(h == l).then(None).otherwise((c - l) / (h - l)),
    next_open=o.shift(-1).over("symbol"),
).with_columns(
    # prior_low_age(20): bars back (1..20) to the latest bar holding the prior 20-bar low.
    low_age=pl.min_horizontal([pl.when(l.shift(k) == pl.col("low20")).then(k) for k in range(1, 21)]).over("symbol"),
    # atr(14), Wilder as TA-Lib: seeded on bar 14 with the mean of true ranges 1..14.
    atr14=pl.when(pl.col("idx") < 14).then(None)
            .when(pl.col("idx") == 14).then(pl.col("tr").rolling_mean(14))
            .otherwise(pl.col("tr"))
            .ewm_mean(alpha=1 / 14, adjust=False, ignore_nulls=True).over("symbol"),
).with_columns(
    trend=c > pl.col("sma200"),
    fills=pl.col("next_open").is_not_null(),
)
donchian = (c > pl.col("high20")) & pl.col("trend") & pl.col("fills")
soup = ((l < pl.col("low20")) & (pl.col("low_age") >= 3) & (c > pl.col("low20"))
        & (pl.col("ibs") < 0.2) & pl.col("trend") & pl.col("fills"))
out = ("symbol", "date", pl.col("next_open").alias("fill"), (pl.col("next_open") - 2 * pl.col("atr14")).alias("stop"))
frames = pl.collect_all([ind.filter(donchian).select(*out).with_columns(strategy=pl.lit("donchian_breakout")),
                         ind.filter(soup).select(*out).with_columns(strategy=pl.lit("ict_turtle_soup"))])
pl.concat(frames).write_parquet(sys.argv[2])
"""


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, check=False, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command[:4])} ...\n{done.stderr[-2000:]}")
    return seconds


def median_wall(command: list[str], repeat: int) -> tuple[float, float]:
    """Median and best wall time of ``repeat`` fresh processes, after one untimed run."""
    wall(command)
    times = [wall(command) for _ in range(repeat)]
    return statistics.median(times), min(times)


def signals_agree(name: str, market, candidates: Candidates, reference: pl.DataFrame) -> bool:
    """Print and return whether the hand-written signals of ``name`` are Kobe's candidates:
    the same (symbol, date) set, the same fill price and the same stop."""
    kobe = (market.bars[candidates.row].select(pl.col("symbol").cast(pl.String), "date")
            .with_columns(kobe_fill=candidates.entry_price, kobe_stop=candidates.stop))
    mine = reference.filter(pl.col("strategy") == name)
    both = kobe.join(mine, on=["symbol", "date"], how="full", coalesce=True)
    unmatched = both.filter(pl.col("fill").is_null() | pl.col("kobe_fill").is_null()).height
    fill_diff = (both["fill"] - both["kobe_fill"]).abs().max() or 0.0
    stop_diff = (both["stop"] - both["kobe_stop"]).abs().max() or 0.0
    ok = unmatched == 0 and fill_diff < 1e-9 and stop_diff < 1e-9
    print(f"  check {name}: Kobe {len(candidates):,} signals, by hand {mine.height:,}, unmatched {unmatched}, "
          f"max |fill diff| {fill_diff:.1e}, max |stop diff| {stop_diff:.1e}: {'agree' if ok else 'DISAGREE'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5,
                        help="fresh processes timed for the whole command and the Polars floor (median)")
    args = parser.parse_args()
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
        data = os.path.relpath(SP500, REPO)
        command = [*kobe_command(), "backtest", "strategies.yaml", "--data", data,
                   "--universe", str(universe), "--out", str(Path(tmp) / "out")]
        signals = Path(tmp) / "reference.parquet"
        reference = [sys.executable, "-c", REFERENCE, data, str(signals)]
        print(f"whole processes, median of {args.repeat} (after one untimed run each):")
        backtest, best = median_wall(command, args.repeat)
        print(f"  whole `kobe backtest` command:         median {backtest:.2f} s, best {best:.2f} s  (target: under 3 s)")
        floor, best = median_wall(reference, args.repeat)
        print(f"  Polars floor (both strategies by hand): median {floor:.2f} s, best {best:.2f} s")
        checks = [signals_agree(name, market, find_candidates(project.compiled(name), market),
                                pl.read_parquet(signals)) for name in STRATEGIES]   # every one printed
        agree = all(checks)
    print(f"kobe backtest / Polars floor: {backtest / floor:.2f}x (goal 2.0x)"
          + ("" if agree else "  (the hand-written signals DISAGREE with Kobe's: the floor is not the same work)"))


if __name__ == "__main__":
    main()
