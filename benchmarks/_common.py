"""What the benchmarks share: the machine line, timing, peak memory, the `kobe` command."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
SP500 = SHARED / "sp500_5yr_2013_2018.parquet"
US170 = SHARED / "us_stocks_170_1990_2017.parquet"


def machine() -> str:
    """CPU, cores, memory, Python and Polars: printed first by every benchmark."""
    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
               platform.processor())
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"machine: {cpu}, {os.cpu_count()} cores, {memory:.0f} GiB; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, polars {pl.__version__}")


def timed(func: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best and median wall time of ``repeat`` runs, in seconds (the best is the least
    disturbed on a shared machine; the median shows the spread)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def run_process(command: Sequence[str], cwd: Path = REPO) -> tuple[float, float, str]:
    """Run ``command`` to completion: wall seconds, its own peak memory in MiB (the
    ``PEAK_MB`` line it prints on stderr, see ``_peak.py``), stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        code = subprocess.run(list(command), cwd=cwd, stdout=out, stderr=err).returncode
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        errors = err.read()
        if code != 0:
            raise SystemExit(f"failed ({code}): {' '.join(command)}\n{errors[-2000:]}")
        peaks = [float(line.split()[1]) for line in errors.splitlines() if line.startswith("PEAK_MB ")]
        return wall, peaks[-1] if peaks else float("nan"), out.read()


def best_process(command: Sequence[str], repeat: int, cwd: Path = REPO) -> tuple[float, float, str]:
    """The best wall time of ``repeat`` runs of ``command`` (and the last run's peak and output)."""
    runs = [run_process(command, cwd) for _ in range(repeat)]
    return min(r[0] for r in runs), runs[-1][1], runs[-1][2]


def kobe_command() -> list[str]:
    """``kobe`` in a fresh process that reports its peak memory (``_peak.py``)."""
    return [sys.executable, str(Path(__file__).with_name("_peak.py")), "kobe"]


def copy_project(folder: Path) -> Path:
    """The shipped project (strategies, risk, rules, universes) copied into ``folder``;
    returns its strategies file."""
    import shutil

    for name in ("strategies.yaml", "risk.yaml"):
        shutil.copy(REPO / name, folder / name)
    for sub in ("rules", "universe"):
        shutil.copytree(REPO / sub, folder / sub)
    return folder / "strategies.yaml"


def need(path: Path) -> None:
    if not path.exists():
        raise SystemExit(f"{path} is missing: the benchmarks read the project's shared data (../shared/data)")
