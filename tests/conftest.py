"""Shared fixtures: the repository's own config, the embedded bars, golden files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"

# The stand-in servers of later tests listen on loopback; never send that to a proxy.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="Rewrite golden files instead of comparing.")


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """Compare text with ``tests/golden/<name>``; ``--update-goldens`` rewrites it."""
    update = request.config.getoption("--update-goldens")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update or not path.exists():
            if not update:
                pytest.fail(f"golden file {name} is missing; run pytest --update-goldens and review it")
            path.write_text(text, encoding="utf-8")
        assert text == path.read_text(encoding="utf-8"), f"differs from golden {name} (pytest --update-goldens)"

    return check


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A copy of the repository's config (strategies, risk, rules, universes) to edit."""
    for name in ("strategies.yaml", "risk.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    for folder in ("rules", "universe"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    return tmp_path


@pytest.fixture
def pinned_project_dir(project_dir: Path) -> Path:
    """:func:`project_dir` with its config pinned, as trading requires."""
    from kobe.config.pin import write_pin
    from kobe.project import load_project

    project = load_project(project_dir / "strategies.yaml")
    write_pin(project.root, project.fingerprint())
    return project_dir


@pytest.fixture(scope="session")
def embedded_bars() -> pl.DataFrame:
    from kobe.data.bars import read_bars

    return read_bars().collect()
