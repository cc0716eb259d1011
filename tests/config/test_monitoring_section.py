"""risk.yaml's monitoring: section: the shipped values, defaults, errors at their place,
and the bounds the runner's checks are built with."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobe.config.errors import KobeError
from kobe.config.model import MonitoringBounds
from kobe.monitor.drift import DriftBounds
from kobe.monitor.shadow import ShadowBounds
from kobe.project import load_project



def set_monitoring(project_dir: Path, block: str) -> Path:
    path = project_dir / "risk.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("\nmonitoring:")] + "\n" + block)
    return path


def test_shipped_values_are_the_defaults(project_dir: Path) -> None:
    bounds = load_project(project_dir / "strategies.yaml").config.risk.monitoring
    assert bounds == MonitoringBounds()
    assert ShadowBounds.from_config(bounds) == ShadowBounds()
    assert DriftBounds.from_config(bounds) == DriftBounds()


def test_written_bounds_reach_the_checks(project_dir: Path) -> None:
    set_monitoring(project_dir, "monitoring:\n  shadow:\n    max_unexpected: 3\n  drift:\n    cusum_h: 8\n"
                                "    min_trades: 30\n")
    bounds = load_project(project_dir / "strategies.yaml").config.risk.monitoring
    assert ShadowBounds.from_config(bounds) == ShadowBounds(max_unexpected=3)
    assert DriftBounds.from_config(bounds) == DriftBounds(h=8.0, min_trades=30)


@pytest.mark.parametrize(("block", "marker", "message"), [
    ("monitoring:\n  shadow:\n    max_missed_share: 1.5\n", "1.5", "max_missed_share"),
    ("monitoring:\n  drift:\n    alpah: 0.05\n", "alpah", "unknown key 'alpah'"),
    ("monitoring:\n  drift:\n    min_trades: 1\n", "1\n", "min_trades"),
])
def test_errors_point_at_their_line(project_dir: Path, block: str, marker: str, message: str) -> None:
    path = set_monitoring(project_dir, block)
    text = path.read_text()
    with pytest.raises(KobeError) as info:
        load_project(project_dir / "strategies.yaml")
    (diag,) = info.value.diagnostics
    assert diag.file.endswith("risk.yaml") and message in diag.message
    assert diag.line == text[: text.rindex(marker)].count("\n") + 1
