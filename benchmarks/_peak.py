"""Run a command in this process and report its peak memory: ``python _peak.py kobe ARGS...``.

Linux counts a child's memory from before its exec into its peak (ru_maxrss), so the
parent's size would leak into the figure; /proc/self/status's VmHWM after the exec does
not. Printed on stderr as ``PEAK_MB <n>`` when the process exits, however it exits.
"""

from __future__ import annotations

import atexit
import sys
from pathlib import Path


def vm_hwm_mb() -> float:
    """This process's peak resident memory since it started (its exec), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def report_at_exit() -> None:
    atexit.register(lambda: print(f"\nPEAK_MB {vm_hwm_mb():.1f}", file=sys.stderr, flush=True))


if __name__ == "__main__":
    report_at_exit()
    if sys.argv[1] == "kobe":
        from kobe.cli import main

        sys.argv = ["kobe", *sys.argv[2:]]
        main()
