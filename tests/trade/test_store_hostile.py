"""Hostile states of the order store met through the CLI, each a clean error (exit 2, the
file named, the remedy) and never a traceback, a fresh empty book or an order:

- a store **deleted** after trading is damage, not a new project: `kobe trade`,
  `reconcile`, `orders`, `positions` and `status` refuse it, none of them (nor `audit
  verify`) creates it, and `kobe reconcile --rebuild` brings the book back;
- a project that **never had** a store is left without one by the commands that only
  look, and its first `kobe trade` creates it as before;
- **values** edited inside a store that SQLite finds sound are damage naming the table,
  the row and the column; `--rebuild` takes such a store as damaged and keeps it aside;
- what stands **in the rebuild's way** (a logs folder that is a file, a log that is a
  folder, a folder where the rebuild builds) stops it before anything changes."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from test_store_corrupt_cli import book, garbage, run, store_path, traded
from trade_desk import Desk

from kobe.audit.log import AuditLog
from kobe.cli import main
from kobe.runner.heartbeat import write_heartbeat

READERS = (["orders"], ["positions"], ["status"])
COMMANDS = (["trade", "--paper", "--once"], ["reconcile"], *READERS)


def sent(desk: Desk) -> int:
    return len(desk.posts()) + len(desk.posts(stops=True))


def verify(desk: Desk) -> Result:
    return CliRunner().invoke(main, ["audit", "verify", "--logs", str(desk.root / "logs")])


def assert_clean(result: Result, *says: str) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    for text in says:
        assert text in result.output, (text, result.output)


def delete_store(desk: Desk) -> None:
    for name in store_path(desk).parent.glob("orders.sqlite*"):
        name.unlink()


def delete_store_and_chain(desk: Desk) -> None:
    delete_store(desk)
    (desk.root / "logs" / "hash_chain.jsonl").unlink()


def delete_store_and_logs(desk: Desk) -> None:
    """As a runner's heartbeat would have it: the trail's head, then the store and every log gone."""
    write_heartbeat(desk.root / "state" / "heartbeat.json", "paper", "cycle done", "abc",
                    audit_head=AuditLog(desk.root / "logs").head())
    delete_store(desk)
    shutil.rmtree(desk.root / "logs")


MISSING = [
    pytest.param(delete_store, "the audit trail", id="store-deleted"),
    pytest.param(delete_store_and_chain, "the audit trail", id="store-and-chain-deleted-readable-logs-left"),
    pytest.param(delete_store_and_logs, "the heartbeat", id="store-and-every-log-deleted-heartbeat-left"),
]


@pytest.mark.parametrize(("delete", "evidence"), MISSING)
def test_a_deleted_store_is_damage_that_nothing_recreates(desk: Desk, delete: Callable[[Desk], None],
                                                          evidence: str) -> None:
    before = traded(desk)
    delete(desk)
    count = sent(desk)
    for command in COMMANDS:
        result = run(desk, *command)
        assert_clean(result, f"{store_path(desk)}: error: the order store is missing but {evidence}",
                     "`kobe reconcile --rebuild`")
        assert not store_path(desk).exists(), command
    checked = verify(desk)
    assert "the order store's anchor was not checked: the order store is missing but" in checked.output, \
        checked.output
    assert not store_path(desk).exists() and sent(desk) == count

    rebuilt = run(desk, "reconcile", "--rebuild", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    report = json.loads(rebuilt.output)["rebuilt"]
    assert report["damage"].startswith("it is missing but") and report["kept_aside"] is None
    after = book(store_path(desk))
    assert after["positions"] == before["positions"]
    assert set(after["orders"]) == set(before["orders"])
    assert run(desk, "trade", "--paper", "--once").exit_code == 0


def kill_and_resume(desk: Desk) -> None:
    """Audit records, none of an order: the kill switch set and cleared before any trade."""
    assert run(desk, "kill", "--reason", "drill").exit_code == 0
    assert run(desk, "resume", "--yes").exit_code == 0


def runner_decided_nothing(desk: Desk) -> None:
    """A heartbeat anchoring the whole trail, which holds no order."""
    log = AuditLog(desk.root / "logs")
    log.event("cycle.started")
    log.event("cycle.no_entries")
    write_heartbeat(desk.root / "state" / "heartbeat.json", "paper", "cycle done", "abc", audit_head=log.head())


NEVER_HAD_ONE = [
    pytest.param(lambda desk: None, id="a-new-project"),
    pytest.param(kill_and_resume, id="kill-switch-set-and-cleared-before-the-first-trade"),
    pytest.param(runner_decided_nothing, id="heartbeat-anchoring-a-trail-without-orders"),
]


@pytest.mark.parametrize("history", NEVER_HAD_ONE)
def test_a_project_that_never_had_a_store_gets_one_only_by_trading(desk: Desk,
                                                                   history: Callable[[Desk], None]) -> None:
    history(desk)
    for command in READERS:
        result = run(desk, *command)
        assert "Traceback" not in result.output and "missing" not in result.output, result.output
        assert not store_path(desk).exists(), command
    assert verify(desk).exit_code == 0 and not store_path(desk).exists()
    traded = run(desk, "trade", "--paper", "--once")
    assert traded.exit_code == 0, traded.output
    assert store_path(desk).is_file()


def edit(statement: str) -> Callable[[Path], None]:
    def editing(path: Path) -> None:
        conn = sqlite3.connect(path)
        conn.execute(statement)
        conn.commit()
        conn.close()
    return editing


ORDER_ROW = r"table orders, rowid 1 \(kb-[^)]+\), column "
FILL_ROW = r"table fills, rowid 1 \(kb-[^)]+\), column "
VALUES = [
    pytest.param(edit("UPDATE orders SET status = 'weird' WHERE rowid = 1"),
                 ORDER_ROW + "status: 'weird' is not an order status", id="order-status-unknown"),
    pytest.param(edit("UPDATE orders SET qty = 'abc' WHERE rowid = 1"),
                 ORDER_ROW + "qty: 'abc' is not a finite number", id="order-qty-text"),
    pytest.param(edit("UPDATE orders SET qty = -4 WHERE rowid = 1"),
                 ORDER_ROW + "qty: -4 is not a finite number, zero or more", id="order-qty-negative"),
    pytest.param(edit("UPDATE orders SET trading_date = 'garbage' WHERE rowid = 1"),
                 ORDER_ROW + "trading_date: 'garbage' is not a date", id="order-trading-date-garbage"),
    pytest.param(edit("UPDATE orders SET side = 'up' WHERE rowid = 1"),
                 ORDER_ROW + "side: 'up' is not buy or sell", id="order-side-unknown"),
    pytest.param(edit("UPDATE orders SET limit_price = 9e999 WHERE rowid = 1"),
                 ORDER_ROW + "limit_price: inf is not a finite number", id="order-limit-infinite"),
    pytest.param(edit("UPDATE orders SET symbol = X'00ff' WHERE rowid = 1"),
                 ORDER_ROW + r"symbol: b'\\x00\\xff' is not text", id="order-symbol-a-blob"),
    pytest.param(edit("UPDATE fills SET price = 'x' WHERE rowid = 1"),
                 FILL_ROW + "price: 'x' is not a finite number", id="fill-price-text"),
    pytest.param(edit("UPDATE fills SET side = 'up' WHERE rowid = 1"),
                 FILL_ROW + "side: 'up' is not buy or sell", id="fill-side-unknown"),
    pytest.param(edit("UPDATE fills SET at = 'yesterday' WHERE rowid = 1"),
                 FILL_ROW + "at: 'yesterday' is not an ISO 8601 time", id="fill-time-garbage"),
    pytest.param(edit("UPDATE audit_anchor SET seq = 'x'"),
                 r"table audit_anchor, rowid 1, column seq: 'x' is not a whole number", id="anchor-seq-text"),
    pytest.param(edit("UPDATE audit_anchor SET hash = 'abc'"),
                 r"table audit_anchor, rowid 1, column hash: 'abc' is not a SHA256", id="anchor-hash-short"),
    pytest.param(edit("UPDATE transitions SET to_status = 'weird' WHERE rowid = 1"),
                 r"table transitions, rowid 1 \(kb-[^)]+\), column to_status: 'weird' is not an order status",
                 id="transition-status-unknown"),
]


@pytest.mark.parametrize(("harm", "says"), VALUES)
def test_a_value_that_cannot_be_read_is_damage_named_by_table_row_and_column(
        desk: Desk, harm: Callable[[Path], None], says: str) -> None:
    before = traded(desk)
    harm(store_path(desk))
    kept = store_path(desk).read_bytes()
    count = sent(desk)
    for command in COMMANDS:
        result = run(desk, *command)
        assert_clean(result, f"{store_path(desk)}: error: the order store is damaged: ", "`kobe reconcile --rebuild`")
        assert re.search(says, result.output), (command, result.output)
    checked = verify(desk)
    assert checked.exit_code == 0 and "the order store's anchor was not checked" in checked.output, checked.output
    assert sent(desk) == count and store_path(desk).read_bytes() == kept

    rebuilt = run(desk, "reconcile", "--rebuild", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    report = json.loads(rebuilt.output)["rebuilt"]
    assert re.search(says, report["damage"]), report["damage"]
    assert Path(report["kept_aside"]).read_bytes() == kept
    assert book(store_path(desk)) == before


def logs_a_file(desk: Desk) -> Path:
    (desk.root / "logs").rename(desk.root / "logs.kept")
    (desk.root / "logs").write_text("not a folder\n")
    return desk.root / "logs"


def chain_a_folder(desk: Desk) -> Path:
    chain = desk.root / "logs" / "hash_chain.jsonl"
    chain.rename(chain.with_name("chain.kept"))
    chain.mkdir()
    return chain


def folder_at(name: str) -> Callable[[Desk], Path]:
    def making(desk: Desk) -> Path:
        (store_path(desk).parent / name).mkdir()
        return store_path(desk).parent / name
    return making


IN_THE_WAY = [
    pytest.param(logs_a_file, "the audit trail cannot be used: logs is not a folder", id="logs-folder-is-a-file"),
    pytest.param(chain_a_folder, "the audit trail cannot be used: hash_chain.jsonl is not a file",
                 id="chain-is-a-folder"),
    pytest.param(folder_at("orders.sqlite.rebuild"), "orders.sqlite.rebuild is in the way of the rebuild",
                 id="rebuild-file-is-a-folder"),
    pytest.param(folder_at("orders.sqlite.rebuild-wal"), "orders.sqlite.rebuild-wal is in the way of the rebuild",
                 id="rebuild-wal-is-a-folder"),
]


@pytest.mark.parametrize(("obstacle", "says"), IN_THE_WAY)
def test_what_stands_in_the_rebuilds_way_stops_it_before_anything_changes(
        desk: Desk, obstacle: Callable[[Desk], Path], says: str) -> None:
    traded(desk)
    garbage(store_path(desk))
    kept = store_path(desk).read_bytes()
    where = obstacle(desk)
    result = run(desk, "reconcile", "--rebuild")
    assert_clean(result, f"{where}: error: {says}", "nothing was changed; the damaged store is where it was")
    assert store_path(desk).read_bytes() == kept
    assert [p.name for p in store_path(desk).parent.glob("orders.sqlite.corrupt-*")] == []
    assert os.path.isdir(where) or os.path.isfile(where)     # left as it was found
