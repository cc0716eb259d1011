"""The shipped risk.yaml, loaded once, for the decision core's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobe.config.model import RiskConfig
from kobe.project import load_project

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def risk_config() -> RiskConfig:
    return load_project(ROOT / "strategies.yaml").config.risk
