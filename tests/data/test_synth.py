"""Synthetic bars: deterministic, well-formed, and shaped like markets where it matters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from click.testing import CliRunner

from kobe.cli import main
from kobe.data.bars import BAR_SCHEMA
from kobe.data.quality import check_bars
from kobe.data.synth import synth_bars


def test_shape_and_determinism() -> None:
    a = synth_bars(symbols=20, years=2, seed=7)
    assert a.schema == pl.Schema(BAR_SCHEMA)
    assert a["symbol"].n_unique() == 20
    assert a.height == 20 * a.filter(pl.col("symbol") == "S0000").height
    assert a.equals(synth_bars(symbols=20, years=2, seed=7))
    assert not a.equals(synth_bars(symbols=20, years=2, seed=8))
    assert all(d.weekday() < 5 for d in a["date"].unique().to_list())


def test_bars_pass_the_consistency_rules() -> None:
    report = check_bars(synth_bars(symbols=50, years=3, seed=1))
    assert set(report.counts()) <= {"suspicious_jump"}  # jumps are designed in; nothing else fails


def test_volume_rises_with_the_size_of_the_move() -> None:
    bars = synth_bars(symbols=30, years=4, seed=3).with_columns(
        (pl.col("close") / pl.col("close").shift(1).over("symbol")).log().abs().alias("move"))
    corr = bars.drop_nulls().group_by("symbol").agg(pl.corr("move", "volume").alias("c"))["c"]
    assert float(np.median(corr.to_numpy())) > 0.2


def test_cli_writes_parquet(tmp_path: Path) -> None:
    out = tmp_path / "synth.parquet"
    result = CliRunner().invoke(main, ["data", "synth", "--symbols", "3", "--years", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out).equals(synth_bars(3, 1, 1))
