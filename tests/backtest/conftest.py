"""Fixtures of the backtest tests: a tiny project around one synthetic strategy."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from backtest_synthetic import Bar, bars_frame

from kobe.backtest import BacktestResult, run_backtest
from kobe.project import load_project

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def backtest(tmp_path: Path):
    """Run one synthetic strategy: ``backtest(bars, exits=..., side=..., ...)``."""
    shutil.copy(REPO / "risk.yaml", tmp_path / "risk.yaml")
    (tmp_path / "universe").mkdir()
    (tmp_path / "universe" / "all.csv").write_text("symbol\nAAA\nBBB\nCCC\n")

    def run(rows: dict[str, list[Bar]], *, exits: str = "time_stop_bars: 100", side: str = "long",
            fill: str = "next_open", rank: str | None = None, sizing: str = "method: all_cash",
            settings: str = "initial_cash: 10000", entry: str = "volume == 2",
            start: dt.date | None = None, short_entry: str | None = None) -> BacktestResult:
        lines = ["strategies:", "  - name: s", "    universe: all", f"    side: {side}", f"    fill: {fill}",
                 f"    entry: {entry}", "    exits:"]
        if short_entry is not None:       # side: both; its shorts end by a long signal only
            lines.insert(-1, f"    short_entry: {short_entry}")
        lines += [f"      {line}" for line in exits.splitlines()]
        lines += ["    sizing:"] + [f"      {line}" for line in sizing.splitlines()]
        if rank is not None:
            lines.append(f"    rank: {rank}")
        lines += ["backtest:"] + [f"  {line}" for line in settings.splitlines()]
        strategy = "\n".join(lines) + "\n"
        (tmp_path / "strategies.yaml").write_text(strategy)
        project = load_project(tmp_path / "strategies.yaml")
        return run_backtest(project, bars_frame(rows), universe=list(rows), start=start)

    return run
