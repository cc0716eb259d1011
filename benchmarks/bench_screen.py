"""The alpha screen over the 505-symbol S&P 500 set: 18 alphas (and the whole library),
horizons 1, 5 and 20, five folds.

Run from the repository root:  python benchmarks/bench_screen.py
Needs ../shared/data. Prints the machine and the figures. Target (issue 14): 18 alphas x
505 symbols x 5 years in under 10 s.

It shows:

- the screen in process (bars in memory), and its two parts: the alphas computed by the
  rule compiler (``evaluate``), then the statistics (``daily_statistics``: ranks per
  date, ICs, quintiles, turnover) and the fold figures;
- the reference, measured in the same run on the same alpha columns and cross-section:
  the daily Spearman ICs written by hand the plain Polars way, ``pl.corr(alpha,
  forward, method="spearman")`` per date in a ``group_by``, one expression per alpha and
  horizon (ICs only: no quintiles, turnover or folds). The ratio is what a shared
  machine cannot blur; the largest difference between the two sets of ICs checks that
  they measure the same thing;
- the whole ``kobe research screen`` command, in a fresh process, with its peak memory.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO,
    SP500,
    best_process,
    copy_project,
    kobe_command,
    machine,
    need,
    timed,
)

HORIZONS = (1, 5, 20)
ALPHAS = 18


def reference_ics(frame: pl.DataFrame, alphas: list[str]) -> pl.DataFrame:
    """Daily Spearman ICs, the plain way: forward returns, the screen's cross-section
    (every alpha and forward return present), then pl.corr per date."""
    symbol, opened = pl.col("symbol"), pl.col("open")
    frame = frame.with_columns(
        pl.when(symbol.shift(-1 - h) == symbol).then(opened.shift(-1 - h) / opened.shift(-1) - 1).alias(f"f{h}")
        for h in HORIZONS)
    inside = pl.all_horizontal([pl.col(c).is_not_null() for c in [*alphas, *(f"f{h}" for h in HORIZONS)]])
    frame = frame.filter(inside)
    return frame.group_by("date").agg(
        pl.corr(a, f"f{h}", method="spearman").alias(f"ic|{a}|{h}") for a in alphas for h in HORIZONS).sort("date")


def measure(bars: pl.DataFrame, definitions: dict, names: list[str]) -> None:
    from kobe.research.library import check_entries, evaluate
    from kobe.research.screen import daily_statistics, screen

    label = f"{len(names)} alphas"
    items = check_entries(definitions, names)
    start = time.perf_counter()
    screen(bars, definitions, names, horizons=HORIZONS)
    first = time.perf_counter() - start
    best, median = timed(lambda: screen(bars, definitions, names, horizons=HORIZONS), repeat=2)
    print(f"{label}: screen in process best {best:.2f} s, median {median:.2f} s (first run {first:.2f} s)"
          + ("  (target: under 10 s)" if len(names) == ALPHAS else ""))

    def alphas() -> pl.DataFrame:
        return evaluate(bars.lazy(), items).select("symbol", "date", "open", *names).collect()

    frame = alphas()
    compute, _ = timed(alphas, repeat=2)
    stats, _ = timed(lambda: daily_statistics(frame, names, HORIZONS), repeat=2)
    reference, _ = timed(lambda: reference_ics(frame, names), repeat=2)
    ours = daily_statistics(frame, names, HORIZONS)
    theirs = reference_ics(frame, names)
    joined = ours.join(theirs, on="date", suffix="_ref")
    worst = max(float(joined.select((pl.col(c) - pl.col(f"{c}_ref")).abs().max()).item() or 0.0)
                for c in theirs.columns if c != "date")
    print(f"  the alphas computed: {compute:.2f} s; the statistics (ICs, quintiles, turnover): {stats:.2f} s")
    print(f"  reference, hand-written Polars Spearman ICs only: {reference:.2f} s; statistics / reference = "
          f"{stats / reference:.2f}x; largest IC difference {worst:.1e}")


def main() -> None:
    from kobe.data.bars import read_bars
    from kobe.project import load_definitions
    from kobe.research.screen import alpha_names

    print(machine())
    need(SP500)
    bars = read_bars(SP500).collect()
    definitions, _, _ = load_definitions(REPO)
    library = alpha_names(definitions)
    print(f"data: {SP500.name}, {bars.height:,} bars, {bars['symbol'].n_unique()} symbols, "
          f"{bars['date'].n_unique():,} sessions; horizons {HORIZONS}, 5 folds; library: {len(library)} alphas")

    for names in (library[:ALPHAS], library):
        measure(bars, definitions, names)

    with tempfile.TemporaryDirectory() as tmp:
        copy_project(Path(tmp))
        command = [*kobe_command(), "research", "screen", str(Path(tmp) / "strategies.yaml"), "--data", str(SP500),
                   "--alphas", ",".join(library[:ALPHAS]), "--json"]
        wall, peak, _ = best_process(command, repeat=2)
        print(f"whole `kobe research screen` command, {ALPHAS} alphas: best {wall:.2f} s, peak memory {peak:.0f} MB")


if __name__ == "__main__":
    main()
