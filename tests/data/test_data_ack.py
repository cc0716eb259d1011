"""`kobe data ack`: a real earnings gap, once a person acknowledges it, warns instead of
excluding the symbol, in `kobe data check` and in the scan's gate alike.

The embedded sample's NVDA opened 17% above its close on 2016-11-11 (an earnings
report): within 260 sessions of 2017-06-01 the gate excludes NVDA for it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from kobe.cli import main
from kobe.data.acks import ACKS_FILE
from kobe.data.quality import QualityPolicy, check_bars

GAP = ("NVDA", "2016-11-11", "suspicious_jump")
AS_OF = "2017-06-01"


@pytest.fixture
def project(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(project_dir)
    return project_dir


def kobe(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def check() -> dict:
    code, out = kobe("data", "check", "--as-of", AS_OF, "--json")
    assert code == 0, out
    return json.loads(out)


def test_an_acknowledged_gap_warns_instead_of_excluding(project: Path) -> None:
    before = check()
    assert before["excluded"] == ["NVDA"]
    code, scan = kobe("scan", "--date", AS_OF, "--json")
    assert code == 0 and json.loads(scan)["quality"]["excluded"] == ["NVDA"]

    code, out = kobe("data", "ack", *GAP, "--reason", "earnings gap: Q3 report")
    assert code == 0, out
    assert "acknowledged suspicious_jump NVDA 2016-11-11" in out and "state/lake/acknowledged.json" in out

    after = check()
    assert after["excluded"] == [] and after["verdict"] == "ok, with warnings"
    (gap,) = [f for f in after["findings"] if (f["symbol"], f["date"], f["rule"]) == GAP]
    assert gap["action"] == "warn" and gap["acknowledged"] == "earnings gap: Q3 report"
    others = [f for f in after["findings"] if (f["symbol"], f["date"], f["rule"]) != GAP]
    assert all(f["acknowledged"] is None for f in others)
    code, text = kobe("data", "check", "--as-of", AS_OF)
    assert "NVDA   2016-11-11  previous close 67.77 -> open 79.51, close 87.97  [acknowledged: earnings gap: Q3 report]" \
        in text
    code, scan = kobe("scan", "--date", AS_OF, "--json")
    assert code == 0 and json.loads(scan)["quality"]["excluded"] == []

    recorded = json.loads((project / "state" / "lake" / ACKS_FILE).read_text())
    assert [(a["symbol"], a["date"], a["rule"], a["reason"]) for a in recorded] == [(*GAP, "earnings gap: Q3 report")]
    events = [json.loads(line) for line in (project / "logs" / "events.jsonl").read_text().splitlines()]
    assert [(e["kind"], e["symbol"], e["rule"]) for e in events] == [("data.acknowledged", "NVDA", "suspicious_jump")]
    code, out = kobe("audit", "verify")
    assert code == 0, out


def test_a_second_note_on_the_same_finding_replaces_the_first(project: Path) -> None:
    assert kobe("data", "ack", *GAP, "--reason", "first")[0] == 0
    assert kobe("data", "ack", *GAP, "--reason", "second, after reading the 8-K")[0] == 0
    recorded = json.loads((project / "state" / "lake" / ACKS_FILE).read_text())
    assert [a["reason"] for a in recorded] == ["second, after reading the 8-K"]


REFUSED = [
    pytest.param(("NVDA", "2016-11-11", "null_value", "--reason", "x"), "a null_value finding cannot be acknowledged",
                 id="a-broken-bar-rule"),
    pytest.param(("NVDA", "2016-11-11", "stale_last_bar", "--reason", "x"),
                 "a stale_last_bar finding cannot be acknowledged", id="a-stale-bar"),
    pytest.param(("NVDA", "2016-11-14", "suspicious_jump", "--reason", "x"),
                 "the bars have no suspicious_jump finding for NVDA on 2016-11-14", id="no-such-finding"),
    pytest.param(("AAPL", "2016-11-11", "suspicious_jump", "--reason", "x"),
                 "the bars have no suspicious_jump finding for AAPL on 2016-11-11", id="another-symbol"),
    pytest.param(("NVDA", "2016-11-11", "suspicious_jump", "--reason", "  "), "--reason is empty", id="empty-reason"),
    pytest.param(("NVDA", "2016-11-11", "suspicious_jump", "--reason", "x" * 501), "--reason is 501 characters",
                 id="reason-too-long"),
    pytest.param(("NVDA", "11/11/2016", "suspicious_jump", "--reason", "x"), "is not a date", id="bad-date"),
    pytest.param(("NVDA", "2016-11-11", "suspicious_jump"), "Missing option '--reason'", id="no-reason"),
]


@pytest.mark.parametrize(("args", "message"), REFUSED)
def test_what_cannot_be_acknowledged_is_refused(project: Path, args: tuple[str, ...], message: str) -> None:
    code, out = kobe("data", "ack", *args)
    assert code == 2 and message in out
    assert not (project / "state" / "lake" / ACKS_FILE).exists()


def test_a_damaged_acknowledgements_file_is_a_located_error(project: Path) -> None:
    lake = project / "state" / "lake"
    lake.mkdir(parents=True)
    (lake / ACKS_FILE).write_text('[\n {"symbol": "NVDA",\n  "date": }\n]\n')
    code, out = kobe("data", "check", "--as-of", AS_OF)
    assert code == 2 and "state/lake/acknowledged.json:3:11: error: not JSON" in out
    (lake / ACKS_FILE).write_text('[{"symbol": "NVDA"}]')
    code, out = kobe("scan", "--date", AS_OF)
    assert code == 2 and "entry 0 is not an acknowledgement" in out


def test_the_gate_reads_notes_by_symbol_date_and_rule() -> None:
    """The policy's notes turn exactly the finding they name into a warning, and with it
    the stop a wide exclusion would bring."""
    days = [dt.date(2024, 1, 2) + dt.timedelta(days=i) for i in range(3)]
    bars = pl.DataFrame({"symbol": [s for s in "ABC" for _ in days], "date": days * 3,
                         "open": [10.0, 20.0, 20.0] * 3, "high": [10.0, 20.0, 20.0] * 3,
                         "low": [10.0, 20.0, 20.0] * 3, "close": [10.0, 20.0, 20.0] * 3, "volume": [1.0] * 9})
    plain = check_bars(bars, QualityPolicy(), sessions=days)
    assert plain.excluded == {"A", "B", "C"} and plain.stop
    noted = QualityPolicy(acknowledged={("A", days[1], "suspicious_jump"): "split-free doubling",
                                        ("B", days[1], "suspicious_jump"): "takeover bid",
                                        ("C", days[2], "suspicious_jump"): "wrong day: names nothing"})
    report = check_bars(bars, noted, sessions=days)
    assert report.excluded == {"C"} and not report.stop
    acknowledged = {(f.symbol, f.acknowledged) for f in report.findings if f.acknowledged}
    assert acknowledged == {("A", "split-free doubling"), ("B", "takeover bid")}


def test_a_note_on_a_broken_bar_is_refused_in_the_file_and_ignored_by_the_gate(project: Path) -> None:
    """`kobe data ack` refuses such a note; one written into the file by hand is an error
    naming its entry, and the gate itself never waives a rule that marks a wrong or old
    bar, whatever its policy says."""
    lake = project / "state" / "lake"
    lake.mkdir(parents=True)
    (lake / ACKS_FILE).write_text(json.dumps([{"symbol": "NVDA", "date": "2016-11-11", "rule": "suspicious_jump",
                                               "reason": "earnings", "at": ""},
                                              {"symbol": "O", "date": "2015-08-14", "rule": "stale_last_bar",
                                               "reason": "by hand", "at": ""}]))
    code, out = kobe("data", "check", "--as-of", AS_OF)
    assert code == 2 and "entry 1 acknowledges a stale_last_bar finding, which no note may waive" in out
    days = [dt.date(2024, 1, 2) + dt.timedelta(days=i) for i in range(3)]
    bars = pl.DataFrame({"symbol": ["A"] * 3, "date": days, "open": [10.0, 10.0, 10.0], "high": [10.0, 9.0, 10.0],
                         "low": [10.0, 10.0, 10.0], "close": [10.0, 10.0, 10.0], "volume": [1.0] * 3})
    noted = QualityPolicy(acknowledged={("A", days[1], "ohlc_inconsistent"): "waved through by hand"})
    report = check_bars(bars, noted, sessions=days)
    assert report.excluded == {"A"}
    assert all(f.acknowledged is None for f in report.findings)
