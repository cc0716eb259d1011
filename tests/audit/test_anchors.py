"""The audit chain's head is anchored where deleting the logs cannot reach it (the order
store, the runner's heartbeat, a head exported with `kobe audit head`): `kobe audit
verify` reports a chain shorter than an anchor, or not the anchored one, as tampering,
and accepts a chain longer than its anchor (a crash between an append and its anchor)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kobe.audit.chain import GENESIS
from kobe.audit.log import AuditLog
from kobe.cli import main
from kobe.oms.store import OrderStore
from kobe.runner.heartbeat import read_heartbeat, write_heartbeat

RECORDS = 8


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def anchored(root: Path, n: int = RECORDS) -> AuditLog:
    """A project's trail of ``n`` records, each anchored in its order store as trading does."""
    store = OrderStore(root / "state" / "orders.sqlite")
    log = AuditLog(root / "logs", anchors=[store.anchor_audit])
    for i in range(n):
        (log.event if i % 2 else log.trade)("test", i=i)
    return log


def delete_logs(root: Path) -> None:
    shutil.rmtree(root / "logs")


def cut_all_at(seq: int) -> Callable[[Path], None]:
    """All three logs cut at the same record: consistent with each other."""
    def cut(root: Path) -> None:
        for path in (root / "logs").glob("*.jsonl"):
            keep = [line for line in path.read_text().splitlines(keepends=True) if json.loads(line)["seq"] <= seq]
            path.write_text("".join(keep))
    return cut


def forged(n: int) -> Callable[[Path], None]:
    """The logs replaced by a chain of ``n`` records written afresh: intact on its own."""
    def forge(root: Path) -> None:
        delete_logs(root)
        log = AuditLog(root / "logs")
        for i in range(n):
            log.event("forged", i=i)
    return forge


TAMPERING = [
    pytest.param(delete_logs, "there is no chain at all, but", id="all-three-logs-deleted"),
    pytest.param(cut_all_at(3), "the chain ends at record 3, but", id="all-three-cut-at-the-same-record"),
    pytest.param(forged(RECORDS), f"record {RECORDS} is not the one", id="replaced-by-a-forged-chain-as-long"),
    pytest.param(forged(RECORDS + 4), f"record {RECORDS} is not the one", id="replaced-by-a-longer-forged-chain"),
]


def only_the_store(root: Path) -> list[str]:
    return []


def only_the_heartbeat(root: Path) -> list[str]:
    write_heartbeat(root / "state" / "heartbeat.json", "paper", "cycle done", "abc",
                    audit_head=AuditLog(root / "logs").head())
    (root / "state" / "orders.sqlite").unlink()
    return []


def only_an_exported_head(root: Path) -> list[str]:
    head = cli("audit", "head", "--logs", str(root / "logs"))
    assert head.exit_code == 0, head.output
    shutil.rmtree(root / "state")
    return ["--anchor", head.output.strip()]


SOURCES = [
    pytest.param(only_the_store, "the order store", id="anchored-in-the-store"),
    pytest.param(only_the_heartbeat, "the heartbeat", id="anchored-in-the-heartbeat"),
    pytest.param(only_an_exported_head, "--anchor", id="anchored-off-the-machine"),
]


@pytest.mark.parametrize(("tamper", "says"), TAMPERING)
@pytest.mark.parametrize(("keep", "source"), SOURCES)
def test_a_chain_cut_or_replaced_is_caught_by_its_anchor(tmp_path: Path, tamper: Callable[[Path], None], says: str,
                                                         keep: Callable[[Path], list[str]], source: str) -> None:
    anchored(tmp_path)
    flags = keep(tmp_path)
    intact = cli("audit", "verify", "--logs", str(tmp_path / "logs"), *flags)
    assert intact.exit_code == 0 and "1 anchor(s) reached" in intact.output, intact.output
    tamper(tmp_path)
    result = cli("audit", "verify", "--logs", str(tmp_path / "logs"), *flags)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert says in result.output and source in result.output


def test_a_chain_longer_than_its_anchor_is_accepted(tmp_path: Path) -> None:
    """A crash after an append, before its anchor: the append comes first, so the chain
    is ahead of the anchor, which is no tampering."""
    anchored(tmp_path)
    AuditLog(tmp_path / "logs").event("appended, never anchored")
    anchor = OrderStore(tmp_path / "state" / "orders.sqlite").audit_anchor()
    assert anchor is not None and anchor[0] == RECORDS
    result = cli("audit", "verify", "--logs", str(tmp_path / "logs"))
    assert result.exit_code == 0 and f"ok: {RECORDS + 1} records" in result.output, result.output


def test_the_store_anchor_only_moves_forward(tmp_path: Path) -> None:
    """Two writers may anchor out of order; the head recorded stays the furthest."""
    log = anchored(tmp_path)
    store = OrderStore(tmp_path / "state" / "orders.sqlite")
    head = log.head()
    assert store.audit_anchor() == head and head is not None
    store.anchor_audit(head[0] - 3, "an older head")
    assert store.audit_anchor() == head


def test_the_heartbeat_keeps_a_head_further_than_the_chain_it_reads(tmp_path: Path) -> None:
    """A heartbeat written after the chain was cut keeps the head it saw before: the evidence."""
    log = anchored(tmp_path)
    path = tmp_path / "state" / "heartbeat.json"
    write_heartbeat(path, "paper", "cycle done", "abc", audit_head=log.head())
    cut_all_at(3)(tmp_path)
    write_heartbeat(path, "paper", "waiting", "abc", audit_head=log.head())
    beat = read_heartbeat(path)
    assert beat is not None and beat.audit_seq == RECORDS


def test_the_head_is_printed_to_keep_and_refused_for_a_broken_trail(tmp_path: Path) -> None:
    log = anchored(tmp_path)
    last = log.chain.records()[-1]
    head = cli("audit", "head", "--logs", str(tmp_path / "logs"))
    assert (head.exit_code, head.output) == (0, f"{RECORDS}:{last['hash']}\n")
    as_json = json.loads(cli("audit", "head", "--logs", str(tmp_path / "logs"), "--json").output)
    assert as_json == {"seq": RECORDS, "hash": last["hash"], "ts": last["ts"]}
    cut_all_at(3)(tmp_path)                       # the store's anchor catches it: no head to keep
    broken = cli("audit", "head", "--logs", str(tmp_path / "logs"))
    assert broken.exit_code == 1 and "the chain ends at record 3" in broken.output
    assert f"3:{log.chain.records()[-1]['hash']}" not in broken.output
    empty = cli("audit", "head", "--logs", str(tmp_path / "another project" / "logs"))
    assert (empty.exit_code, empty.output) == (0, f"0:{GENESIS}\n")


@pytest.mark.parametrize("anchor", [
    pytest.param("12", id="no-hash"),
    pytest.param("x:" + "a" * 64, id="no-number"),
    pytest.param("3:" + "a" * 63, id="hash-too-short"),
    pytest.param("3:" + "A" * 64, id="hash-not-lowercase-hex"),
])
def test_a_malformed_exported_head_is_a_usage_error(tmp_path: Path, anchor: str) -> None:
    anchored(tmp_path)
    result = cli("audit", "verify", "--logs", str(tmp_path / "logs"), "--anchor", anchor)
    assert result.exit_code == 2 and "SEQ:HASH" in result.output


def test_a_damaged_store_is_a_notice_and_the_other_anchors_still_count(tmp_path: Path) -> None:
    log = anchored(tmp_path)
    write_heartbeat(tmp_path / "state" / "heartbeat.json", "paper", "cycle done", "abc", audit_head=log.head())
    (tmp_path / "state" / "orders.sqlite").write_bytes(b"not a database at all" * 100)
    ok = cli("audit", "verify", "--logs", str(tmp_path / "logs"))
    assert ok.exit_code == 0 and "notice: the order store's anchor was not checked" in ok.output, ok.output
    delete_logs(tmp_path)
    caught = cli("audit", "verify", "--logs", str(tmp_path / "logs"))
    assert caught.exit_code == 1 and "the heartbeat" in caught.output


def test_the_runner_anchors_the_chain_in_its_heartbeat(pinned_project_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(pinned_project_dir)
    for name in ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY", "ALPACA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    ran = cli("run", "--paper", "--once", "--from", "2018-01-26", "--health-port", "0")
    assert ran.exit_code == 0, ran.output
    beat = read_heartbeat(pinned_project_dir / "state" / "heartbeat.json")
    records = AuditLog(pinned_project_dir / "logs").chain.records()
    # The last beat ("stopped") comes just before the trail's last event, runner.stopped.
    assert beat is not None and beat.audit_seq == len(records) - 1
    assert beat.audit_hash == records[beat.audit_seq - 1]["hash"]
    assert OrderStore(pinned_project_dir / "state" / "orders.sqlite").audit_anchor() is not None
    delete_logs(pinned_project_dir)
    (pinned_project_dir / "state" / "orders.sqlite").unlink()
    caught = cli("audit", "verify")
    assert caught.exit_code == 1 and "the heartbeat" in caught.output and "records were removed" in caught.output
