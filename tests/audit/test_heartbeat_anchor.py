"""A heartbeat that cannot be read anchors nothing, and `kobe audit verify` says so (a
notice naming the file and why) instead of dropping it silently or failing with a
traceback; the chain is still checked against every anchor that can be read. A logs
folder the trail cannot be written to is a clean error for the commands that write it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kobe.audit.log import AuditLog
from kobe.cli import main
from kobe.config.errors import KobeError
from kobe.oms.store import OrderStore
from kobe.runner.heartbeat import (
    HeartbeatUnreadable,
    load_heartbeat,
    read_heartbeat,
    write_heartbeat,
)

RECORDS = 6


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def trail(root: Path) -> AuditLog:
    store = OrderStore(root / "state" / "orders.sqlite")
    log = AuditLog(root / "logs", anchors=[store.anchor_audit])
    for i in range(RECORDS):
        log.event("test", i=i)
    store.close()
    return log


def beat_fields(root: Path) -> dict[str, object]:
    beat = write_heartbeat(root / "state" / "heartbeat.json", "paper", "cycle done", "abc",
                           audit_head=AuditLog(root / "logs").head())
    return dict(beat.__dict__)


def text(content: str | bytes) -> Callable[[Path], None]:
    def writing(path: Path) -> None:
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return writing


def fields(**changes: object) -> Callable[[Path], None]:
    def changing(path: Path) -> None:
        value = json.loads(path.read_text())
        for key, new in changes.items():
            if new is Ellipsis:
                value.pop(key)
            else:
                value[key] = new
        path.write_text(json.dumps(value))
    return changing


def a_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


UNREADABLE = [
    pytest.param(text("garbage{"), "not JSON", id="garbage"),
    pytest.param(text(b"\xff\xfe{}"), "not UTF-8 text", id="not-utf8"),
    pytest.param(text(""), "not JSON", id="empty"),
    pytest.param(text("[1, 2]"), "not a JSON object", id="a-list"),
    pytest.param(text("[" * 100_000 + "]" * 100_000), "larger than 64 KiB", id="nested-past-the-size-limit"),
    pytest.param(text("[" * 30_000 + "]" * 30_000), "not JSON", id="nested-past-the-parsers-depth"),
    pytest.param(fields(audit_seq="x"), "audit_seq 'x' is not a record number", id="seq-text"),
    pytest.param(fields(audit_seq=-3), "audit_seq '-3' is not a record number", id="seq-negative"),
    pytest.param(fields(audit_seq=True), "audit_seq 'True' is not a record number", id="seq-a-boolean"),
    pytest.param(fields(audit_hash="abc"), "audit_hash 'abc' is not a SHA256 in hex", id="hash-short"),
    pytest.param(fields(audit_hash=None), "audit_seq and audit_hash come together", id="seq-without-hash"),
    pytest.param(fields(time="yesterday"), "time 'yesterday' is not an ISO 8601 time with its zone",
                 id="time-garbage"),
    pytest.param(fields(time="2026-11-24T15:00:00"), "time '2026-11-24T15:00:00' is not an ISO 8601 time with its zone",
                 id="time-naive"),
    pytest.param(fields(pid="me"), "pid 'me' is not a whole number", id="pid-text"),
    pytest.param(fields(mode=7), "mode '7' is not text", id="mode-a-number"),
    pytest.param(fields(time=...), "field 'time' is missing", id="time-missing"),
    pytest.param(fields(extra=1), "unknown field 'extra'", id="an-unknown-field"),
    pytest.param(a_folder, "cannot be read", id="a-folder"),
]


@pytest.mark.parametrize(("harm", "why"), UNREADABLE)
def test_an_unreadable_heartbeat_is_a_notice_and_the_other_anchors_still_count(
        tmp_path: Path, harm: Callable[[Path], None], why: str) -> None:
    trail(tmp_path)
    beat_fields(tmp_path)
    path = tmp_path / "state" / "heartbeat.json"
    harm(path)
    with pytest.raises(HeartbeatUnreadable, match=why.replace("(", r"\(")):
        load_heartbeat(path)
    assert read_heartbeat(path) is None

    checked = cli("audit", "verify", "--logs", str(tmp_path / "logs"))
    assert checked.exit_code == 0 and "Traceback" not in checked.output, checked.output
    assert f"notice: the heartbeat's anchor was not checked: it cannot be read: {why}" in checked.output
    assert str(path) in checked.output and "1 anchor(s) reached" in checked.output    # the store's
    as_json = json.loads(cli("audit", "verify", "--logs", str(tmp_path / "logs"), "--json").output)
    assert [n for n in as_json["notices"] if why in n] and [a["source"] for a in as_json["anchors"]] == \
        [f"the order store ({tmp_path / 'state' / 'orders.sqlite'})"]

    # The store's anchor still catches the logs deleted.
    for log in (tmp_path / "logs").glob("*.jsonl"):
        log.unlink()
    caught = cli("audit", "verify", "--logs", str(tmp_path / "logs"))
    assert caught.exit_code == 1 and "the order store" in caught.output and "records were removed" in caught.output


def test_a_readable_heartbeat_is_an_anchor(tmp_path: Path) -> None:
    trail(tmp_path)
    written = beat_fields(tmp_path)
    beat = load_heartbeat(tmp_path / "state" / "heartbeat.json")
    assert beat is not None and dict(beat.__dict__) == written and beat.audit_seq == RECORDS
    assert dt.datetime.fromisoformat(beat.time).tzinfo is not None
    checked = cli("audit", "verify", "--logs", str(tmp_path / "logs"))
    assert checked.exit_code == 0 and "2 anchor(s) reached" in checked.output and "notice" not in checked.output


def logs_a_file(root: Path) -> None:
    (root / "logs").write_text("not a folder\n")


def chain_a_folder(root: Path) -> None:
    (root / "logs" / "hash_chain.jsonl").mkdir(parents=True)


def events_a_folder(root: Path) -> None:
    (root / "logs" / "events.jsonl").mkdir(parents=True)


UNWRITABLE = [
    # what stands in the way, the file named, the chain's head after (the chain is written first)
    pytest.param(logs_a_file, "logs", None, id="logs-folder-is-a-file"),
    pytest.param(chain_a_folder, "hash_chain.jsonl", None, id="chain-is-a-folder"),
    pytest.param(events_a_folder, "events.jsonl", 1, id="events-log-is-a-folder"),
]


@pytest.mark.parametrize(("harm", "named", "head"), UNWRITABLE)
def test_a_trail_that_cannot_be_written_is_a_clean_error(tmp_path: Path, harm: Callable[[Path], None],
                                                         named: str, head: int | None) -> None:
    harm(tmp_path)
    with pytest.raises(KobeError, match="the audit trail cannot be written") as caught:
        AuditLog(tmp_path / "logs").event("test")
    assert (caught.value.diagnostics[0].file or "").endswith(named)
    found = AuditLog(tmp_path / "logs").head()          # read without an error, as the runner's heartbeat does
    assert (found[0] if found else None) == head
    (tmp_path / "strategies.yaml").write_text("")
    # `kobe kill` sets the switch first, then says the trail could not take its record.
    killed = cli("kill", "--reason", "drill", "--who", "test", "--config", str(tmp_path / "strategies.yaml"))
    assert killed.exit_code == 2 and "Traceback" not in killed.output, killed.output
    assert "the audit trail cannot be written" in killed.output
    assert (tmp_path / "state" / "KILL_SWITCH").exists()
