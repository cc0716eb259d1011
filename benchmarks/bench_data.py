"""Market-data benchmarks: loading the lake into the scan, and the quality gate.

Run from the repository root:  python benchmarks/bench_data.py
Needs ../shared/data (the project's shared real data). Prints the machine and figures.
Targets (issue 5): the 505-symbol, 5-year lake loaded well under 1 s; `kobe data check`
on the 1.2M-bar 170-symbol set under 2 s.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from kobe.data.bars import read_bars
from kobe.data.lake import Lake, fetch
from kobe.data.providers.files import FilesProvider
from kobe.data.quality import check_bars

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, machine, timed

SHARED = REPO.parent / "shared" / "data"


def best(func, repeat: int = 5) -> float:
    return timed(func, repeat)[0]


def main() -> None:
    print(machine())
    sp500 = SHARED / "sp500_5yr_2013_2018.parquet"
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(Path(tmp) / "lake")
        symbols = pl.scan_parquet(sp500).select("symbol").unique().collect()["symbol"].sort().to_list()
        start = time.perf_counter()
        # The file ends on 2018-02-07: fetch as of the next day, so every session asked for has closed.
        fetch(lake, FilesProvider(sp500), symbols, dt.date(2013, 1, 1), dt.date(2018, 2, 7), workers=2,
              now=dt.datetime(2018, 2, 8, 12, tzinfo=dt.UTC))
        print(f"build the lake from the file ({len(symbols)} symbols): {time.perf_counter() - start:.2f} s (once)")
        load = best(lambda: read_bars(lake.root).collect())
        rows = read_bars(lake.root).collect().height
        print(f"load the lake into a frame ({rows:,} bars): {load * 1000:.0f} ms  (target: well under 1 s)")
        some = best(lambda: read_bars(lake.root, symbols=symbols[:40], start=dt.date(2017, 1, 1)).collect())
        print(f"load 40 symbols of 2017+ (pushdown): {some * 1000:.0f} ms")
    us = pl.read_parquet(SHARED / "us_stocks_170_1990_2017.parquet")
    gate = best(lambda: check_bars(us), repeat=3)
    print(f"quality gate on {us.height:,} bars of {us['symbol'].n_unique()} symbols: {gate:.2f} s  (target: under 2 s)")


if __name__ == "__main__":
    main()
