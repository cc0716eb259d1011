"""The receipt's data hash computed in the background during a backtest (issue 12) is
the hash of the frame asked for, never another's."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from kobe.backtest import receipt as receipt_module
from kobe.backtest import run_backtest
from kobe.backtest.receipt import _data_sha256, data_sha256, start_data_sha256
from kobe.data.bars import read_bars
from kobe.project import load_project


def test_a_started_hash_is_the_frames_own() -> None:
    bars = read_bars().collect()
    other = bars.with_columns(pl.col("close") * 2)
    want, want_other = _data_sha256(bars), _data_sha256(other)
    assert want != want_other
    start_data_sha256(bars)
    assert data_sha256(other) == want_other      # not the started one's
    assert data_sha256(bars) == want
    start_data_sha256(bars)
    start_data_sha256(other)                     # only the latest is kept
    assert data_sha256(bars) == want and data_sha256(other) == want_other


def test_a_backtest_starts_the_hash_of_its_market(project_dir: Path) -> None:
    project = load_project(project_dir / "strategies.yaml")
    result = run_backtest(project, read_bars())
    assert id(result.market.bars) in receipt_module._started
    assert data_sha256(result.market.bars) == _data_sha256(result.market.bars)
    assert id(result.market.bars) not in receipt_module._started
