"""`kobe validate` imports no data-frame library (issue 12: validate in 0.25 s).

Importing Polars alone costs ~150 ms per process, more than half the budget, and
validating (parsing, checking, signatures, types, lookbacks) needs none of it: only
compiling builds Polars expressions. These tests run fresh processes, because the
test process itself has long imported Polars.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Heavy imports the validate path must not pull in (pyarrow and numpy come with Polars'
# and pandas' interop).
HEAVY = frozenset({"polars", "pandas", "numpy", "pyarrow"})


def _imported(args: list[str], cwd: Path) -> set[str]:
    """Top-level packages a fresh ``python -X importtime <args>`` imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    names = set()
    for line in done.stderr.splitlines():
        # import time: self [us] | cumulative | imported package
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_kobe_validate_imports_no_polars(project_dir: Path) -> None:
    imported = _imported(["-m", "kobe.cli", "validate"], project_dir)
    assert "kobe" in imported  # the probe sees the imports at all
    assert not imported & HEAVY, f"kobe validate imported {sorted(imported & HEAVY)}"


def test_compiling_does_import_polars(project_dir: Path) -> None:
    # The control: the same probe sees Polars once a strategy is compiled, so the test
    # above fails when something on the validate path compiles or imports it again.
    script = ("from pathlib import Path\nfrom kobe.project import load_project\n"
              "project = load_project(Path('strategies.yaml'))\n"
              "project.compiled(project.strategies[0].name)\n")
    assert "polars" in _imported(["-c", script], project_dir)
