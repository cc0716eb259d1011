"""Whole-process times of the everyday commands: `kobe validate` and `kobe scan` (issue 12).

Run from the repository root:  python benchmarks/bench_cli.py [--repeat N]
Needs ../shared/data for the 505-symbol setting.

Each command runs as a fresh process N times (after one untimed run, which fills the
NYSE session cache a first run on a machine builds); the median wall time is reported
with its ratio to the issue's goal:

- `kobe validate` of the shipped project (goal 0.25 s);
- `kobe scan` of the latest session, the shipped project (embedded data, 40 symbols);
- `kobe scan` of the latest session over all 505 symbols of sp500_5yr_2013_2018.parquet
  (a copy of the project whose universe lists every symbol), goal 0.8 s;
- the reference for that scan: a fresh process that imports Polars, reads the same file
  and evaluates one of the two strategies' signals (donchian_breakout's entry and trend
  filter) on the latest session by hand. It is a floor, not the same work: the scan also
  loads and checks the config, runs the data-quality gate and both strategies.

The environment's PYTHONDONTWRITEBYTECODE is passed on and printed: with it set, Kobe's
own modules are compiled from source in every process (tens of milliseconds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, SP500, copy_project, machine, need

REFERENCE = """\
import sys
import polars as pl
bars = pl.scan_parquet(sys.argv[1])
day = bars.select(pl.col("date").max()).collect().item()
high20 = pl.col("high").rolling_max(20).shift(1).over("symbol", order_by="date")
sma200 = pl.col("close").rolling_mean(200).over("symbol", order_by="date")
picks = (bars.filter(pl.col("date") <= day)
         .with_columns(signal=(pl.col("close") > high20) & (pl.col("close") > sma200))
         .filter((pl.col("date") == day) & pl.col("signal")).select("symbol", "close").collect())
print(day, picks.height)
"""


def kobe() -> list[str]:
    script = Path(sys.executable).with_name("kobe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kobe.cli"]


def wall(command: Sequence[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(list(command), check=False, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")
    return seconds


def median_wall(command: Sequence[str], repeat: int, cwd: Path = REPO) -> tuple[float, float, float]:
    """Median, best and worst of ``repeat`` timed runs, after one untimed run."""
    wall(command, cwd)
    times = [wall(command, cwd) for _ in range(repeat)]
    return statistics.median(times), min(times), max(times)


def sp500_project(folder: Path) -> Path:
    """The shipped project with its universe replaced by every symbol of the 505 set."""
    import polars as pl

    copy_project(folder)
    symbols = pl.read_parquet(SP500, columns=["symbol"])["symbol"].unique().sort()
    for universe in (folder / "universe").glob("*.csv"):
        universe.write_text("symbol\n" + "\n".join(symbols) + "\n")
    return folder / "strategies.yaml"


def line(what: str, result: tuple[float, float, float], goal: float | None = None) -> None:
    median, best, worst = result
    versus = f"  {median / goal:.2f}x the goal of {goal:.2f} s" if goal else ""
    print(f"  {what:<44} median {median:6.3f} s  (best {best:.3f}, worst {worst:.3f}){versus}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    need(SP500)
    print(machine())
    print(f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}; "
          f"median of {args.repeat} fresh processes each")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        line("kobe validate (shipped project)", median_wall([*kobe(), "validate"], args.repeat), 0.25)
        line("kobe scan (shipped project, 40 symbols)",
             median_wall([*kobe(), "scan", "--out", str(folder / "picks40.csv")], args.repeat))
        config = sp500_project(folder)
        scan = median_wall([*kobe(), "scan", "--config", str(config), "--data", str(SP500),
                            "--out", str(folder / "picks505.csv")], args.repeat)
        line("kobe scan (505 symbols)", scan, 0.8)
        reference = median_wall([sys.executable, "-c", REFERENCE, str(SP500)], args.repeat)
        line("reference: Polars by hand, one strategy", reference)
        print(f"  kobe scan / reference: {scan[0] / reference[0]:.2f}x")


if __name__ == "__main__":
    main()
