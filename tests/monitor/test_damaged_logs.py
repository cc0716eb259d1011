"""Damaged logs never crash what reads them for a report (issue 11).

The status page, the metrics and the shadow check read the audit events and the session
reports; a line or a file that does not parse (not UTF-8, cut, not an object) is skipped
there: `kobe audit verify`, not a report, is where damage is reported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kobe.audit.log import read_events
from kobe.monitor.session import DRIFT_DIR, latest_drift
from kobe.monitor.shadow import SHADOW_DIR, latest_report

GOOD = {"kind": "order.submitted", "symbol": "AAPL"}


@pytest.mark.parametrize("bad", [
    pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
    pytest.param(b'{"kind": "order.sub', id="cut"),
    pytest.param(b"[1, 2, 3]", id="a-list"),
    pytest.param(b"42", id="a-number"),
    pytest.param(b"", id="empty-line"),
])
def test_read_events_skips_a_damaged_line(tmp_path: Path, bad: bytes) -> None:
    path = tmp_path / "events.jsonl"
    line = json.dumps(GOOD).encode()
    path.write_bytes(line + b"\n" + bad + b"\n" + line + b"\n")
    assert read_events(path) == [GOOD, GOOD]


@pytest.mark.parametrize(("folder", "latest"), [
    pytest.param(SHADOW_DIR, latest_report, id="shadow"),
    pytest.param(DRIFT_DIR, latest_drift, id="drift"),
])
@pytest.mark.parametrize("bad", [
    pytest.param(b"\xff\xfe", id="not-utf8"),
    pytest.param(b"[1]", id="a-list"),
    pytest.param(b'{"x": ', id="cut"),
    pytest.param(None, id="a-folder"),
])
def test_latest_report_skips_a_damaged_newer_file(tmp_path: Path, folder: str, latest: object,
                                                  bad: bytes | None) -> None:
    where = tmp_path / folder
    where.mkdir(parents=True)
    (where / "2024-01-02.json").write_text(json.dumps({"session": "2024-01-02"}))
    newer = where / "2024-01-03.json"
    if bad is None:
        newer.mkdir()
    else:
        newer.write_bytes(bad)
    assert latest(tmp_path) == {"session": "2024-01-02"}  # type: ignore[operator]
