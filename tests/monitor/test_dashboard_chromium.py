"""The dashboard rendered by Debian's Chromium, headless, from the live health server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from kobe.monitor.dashboard import render
from kobe.monitor.health import serve_health

from test_health import status

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (.ci/run installs it)"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=60)


def test_dashboard_renders_in_chromium(tmp_path: Path) -> None:
    with serve_health(lambda: status(), port=0, dashboard=render) as url:
        dom = chromium(tmp_path, "--dump-dom", url + "/").stdout
        shot = tmp_path / "dashboard.png"
        chromium(tmp_path, f"--screenshot={shot}", "--window-size=1000,700", url + "/")
    assert 'id="positions"' in dom and "AAPL" in dom and "kb-1" in dom
    assert 'id="card-kill-switch"' in dom and ">off<" in dom
    assert 'id="shadow"' in dom and 'id="drift"' in dom and "canceled with nothing filled" in dom
    # The screenshot shows a page, not a blank window: many pixels differ from the background.
    from PIL import Image  # noqa: PLC0415

    image = Image.open(shot).convert("L")
    histogram = image.histogram()
    background = max(range(256), key=lambda v: histogram[v])
    assert sum(histogram) - histogram[background] > 0.02 * sum(histogram)
