"""The HTML report: self-contained, reproducible, and what headless Chromium shows of it.

The rendering tests load the file in Debian's Chromium (``/usr/bin/chromium``; the README's test command
installs it) with name resolution switched off, so the page can only draw what it
carries inline. Without Chromium they fail: an unrendered report must not pass unseen.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from kobe.backtest.report import CHART_IDS, render_report
from kobe.cli import main

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND",          # no network: everything must be inline
         "--hide-scrollbars", "--virtual-time-budget=10000"]  # let the page's scripts finish drawing


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A report of both seed strategies on the embedded sample, written by the CLI."""
    root = tmp_path_factory.mktemp("project")
    for name in ("strategies.yaml", "risk.yaml"):
        shutil.copy(REPO / name, root / name)
    for folder in ("rules", "universe"):
        shutil.copytree(REPO / folder, root / folder)
    result = CliRunner().invoke(main, ["backtest", str(root / "strategies.yaml"), "--out", str(root / "out"),
                                       "--report", str(root / "report.html"), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root / "report.html", json.loads(result.output)


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is needed to check the report renders: apt-get install -y chromium")
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=True)


def test_the_report_is_self_contained(report) -> None:
    path, data = report
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", text), "a script loaded from elsewhere"
    assert not re.search(r"<link[^>]*\bhref=", text), "a stylesheet loaded from elsewhere"
    assert "Plotly" in text and len(text) > 3_000_000          # plotly.js itself is inlined
    assert data["receipt"]["config_sha256"] in text
    for chart in CHART_IDS:
        assert f'id="{chart}"' in text


def test_the_same_backtest_gives_the_same_report(report, project_dir: Path) -> None:
    from kobe.backtest import run_backtest
    from kobe.backtest.outputs import summary
    from kobe.backtest.receipt import make_receipt
    from kobe.data.bars import read_bars
    from kobe.project import load_project

    project = load_project(project_dir / "strategies.yaml")
    pages = []
    for _ in range(2):
        result = run_backtest(project, read_bars(), strategy="donchian_breakout")
        receipt = make_receipt(command="kobe backtest", config_sha256="c" * 64, bars=result.market.bars,
                               data_source="embedded")
        pages.append(render_report(result, summary(result, receipt), receipt))
    assert pages[0] == pages[1]


def test_headless_chromium_draws_every_chart(report, tmp_path: Path) -> None:
    path, data = report
    dom = chromium(path, tmp_path / "profile", "--dump-dom").stdout
    # Plotly marks a div it has drawn into and puts its SVG inside.
    for chart in CHART_IDS:
        drawn = re.search(rf'<div id="{chart}" class="[^"]*js-plotly-plot[^"]*".*?<svg class="main-svg"', dom, re.DOTALL)
        assert drawn, f"{chart} was not drawn"
    assert dom.count('class="js-line"') >= 4 + 3       # equity lines (3 accounts + benchmark), drawdowns
    assert "heatmaplayer" in dom
    assert data["receipt"]["config_sha256"] in dom
    rows = re.search(r'<div class="scroll" id="trades">(.*?)</div>', dom, re.DOTALL)
    metrics = data["combined"]["metrics"]
    assert rows and rows.group(1).count("<tr>") == metrics["trades"] + metrics["open_trades"] + 1   # + the header


def test_the_screenshot_shows_charts(report, tmp_path: Path) -> None:
    path, _ = report
    shot = tmp_path / "report.png"
    chromium(path, tmp_path / "profile", "--window-size=1280,2400", f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    # Measured: the drawn report is about 34% non-white and 13% coloured; the same page
    # with its charts undrawn (text and tables only) about 2% and 0%.
    non_white = (pixels.min(axis=2) < 240).mean()
    coloured = ((pixels.max(axis=2) - pixels.min(axis=2)) > 60).mean()
    assert non_white > 0.15, f"only {non_white:.1%} of the page is not white"
    assert coloured > 0.03, f"only {coloured:.1%} of the page is coloured: no charts?"
