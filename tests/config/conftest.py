"""Shared fixtures of the config tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with universe/default.csv, made the working directory so file names in
    diagnostics are the relative ones the loader was given."""
    (tmp_path / "universe").mkdir()
    (tmp_path / "universe" / "default.csv").write_text("symbol\nAAPL\nMSFT\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path
