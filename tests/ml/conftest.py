"""Fixtures of the meta-model's tests: the synthetic projects of :mod:`ml_synthetic`."""

from __future__ import annotations

from pathlib import Path

import pytest
from ml_synthetic import make_project


@pytest.fixture
def edge_project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "edge", edge=True)


@pytest.fixture
def noise_project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "noise", edge=False)
