"""The data: section of strategies.yaml: defaults, errors at their place, and its effect
on where bars come from and on the quality gate."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

from kobe.config.errors import KobeError
from kobe.config.model import DataConfig
from kobe.project import load_project
from kobe.scan import scan

REPO = Path(__file__).resolve().parent.parent.parent


def set_data(project_dir: Path, block: str) -> Path:
    path = project_dir / "strategies.yaml"
    text = path.read_text()
    text = text[: text.index("\ndata:")] + "\n" + block
    path.write_text(text)
    return path


def test_shipped_section_and_defaults(project_dir: Path) -> None:
    data = load_project(project_dir / "strategies.yaml").config.data
    assert (data.provider, data.lake, data.quality.jump_pct) == ("embedded", "state/lake", 25)
    assert data.quality.actions == {"zero_volume": "warn", "missing_session": "warn"}
    set_data(project_dir, "")
    assert load_project(project_dir / "strategies.yaml").config.data == DataConfig()


@pytest.mark.parametrize(("block", "marker", "message"), [
    ("data:\n  provider: files\n", "provider", "'path' is required"),
    ("data:\n  provider: poligon\n", "poligon", "poligon"),
    ("data:\n  quality:\n    actions:\n      zero_volum: warn\n", "zero_volum", "unknown key 'zero_volum'"),
    ("data:\n  quality:\n    actions:\n      zero_volume: ignore\n", "ignore", "ignore"),
    ("data:\n  base_url: http://127.0.0.1:8765/v2\n", "http", "base_url"),
])
def test_errors_point_at_the_value(project_dir: Path, block: str, marker: str, message: str) -> None:
    path = set_data(project_dir, block)
    text = path.read_text()
    with pytest.raises(KobeError) as info:
        load_project(path)
    (diag,) = info.value.diagnostics
    line = text[: text.rindex(marker)].count("\n") + 1
    assert message in diag.message and diag.line in (line, line - 1), diag.render()


def test_files_provider_reads_its_path(project_dir: Path) -> None:
    shutil.copy(REPO / "tests" / "data" / "GOOG_2004_2013.csv", project_dir / "goog.csv")
    set_data(project_dir, "data:\n  provider: files\n  path: goog.csv\n")
    bars = load_project(project_dir / "strategies.yaml").bars().collect()
    assert set(bars["symbol"]) == {"GOOG"} and bars.height == 2148


def test_a_vendor_provider_needs_a_filled_lake(project_dir: Path) -> None:
    set_data(project_dir, "data:\n  provider: polygon\n")
    project = load_project(project_dir / "strategies.yaml")
    with pytest.raises(KobeError, match="the lake .* is empty"):
        project.bars()
    assert project.bars(str(REPO / "tests" / "data" / "GOOG_2004_2013.csv")).collect().height == 2148


def test_the_scan_follows_the_configured_policy(project_dir: Path) -> None:
    day = dt.date(2018, 1, 26)
    project = load_project(project_dir / "strategies.yaml")
    bars = project.bars().collect()
    broken = bars.with_columns(pl.when((pl.col("symbol") == "PFE") & (pl.col("date") == day))
                               .then(pl.col("close") * 2).otherwise(pl.col("close")).alias("close"))
    assert "PFE" in scan(project, broken.lazy(), day).quality.excluded
    set_data(project_dir, "data:\n  quality:\n    actions:\n      suspicious_jump: warn\n"
                          "      ohlc_inconsistent: warn\n")
    lenient = load_project(project_dir / "strategies.yaml")
    result = scan(lenient, broken.lazy(), day)
    assert "PFE" not in result.quality.excluded and "PFE" in result.picks["symbol"].to_list()
