"""`kobe status` only looks: it never creates the order store (a project without one shows
an empty book and stays without one; a store deleted after trading is the store's damage,
named with the remedy), and a heartbeat that cannot be read shows as none instead of a
traceback."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kobe.audit.log import AuditLog
from kobe.cli import main
from kobe.oms.orders import OrderRecord
from kobe.oms.store import OrderStore, StoreCorrupt
from kobe.runner.heartbeat import write_heartbeat
from kobe.runner.status import snapshot

NOW = dt.datetime(2017, 6, 7, 15, 0, tzinfo=dt.UTC)
DAY = dt.date(2017, 6, 7)
CID = "kb-20170607-b-MSFT-0123456789ab"


def status(root: Path) -> Result:
    (root / "strategies.yaml").touch()
    return CliRunner().invoke(main, ["status", "--json", "--config", str(root / "strategies.yaml")])


def store(root: Path) -> Path:
    return root / "state" / "orders.sqlite"


def nothing(root: Path) -> None:
    pass


def trail_without_orders(root: Path) -> None:
    AuditLog(root / "logs").event("killswitch.set", who="test", reason="drill")


def heartbeat_of_an_idle_runner(root: Path) -> None:
    log = AuditLog(root / "logs")
    log.event("runner.started")
    write_heartbeat(root / "state" / "heartbeat.json", "paper", "waiting", "abc", now=NOW, audit_head=log.head())


NEVER_HAD_ONE = [
    pytest.param(nothing, id="a-new-project"),
    pytest.param(trail_without_orders, id="a-trail-without-orders"),
    pytest.param(heartbeat_of_an_idle_runner, id="an-idle-runners-heartbeat"),
]


@pytest.mark.parametrize("history", NEVER_HAD_ONE)
def test_status_never_creates_the_store(tmp_path: Path, history: Callable[[Path], None]) -> None:
    history(tmp_path)
    report = snapshot(tmp_path, None, NOW)
    assert (report.spent_usd, report.positions, report.last_orders, report.metrics["ioc_submitted"]) == (0, [], [], 0)
    shown = status(tmp_path)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["last_orders"] == []
    assert not store(tmp_path).exists() and not (tmp_path / "state" / "orders.sqlite-wal").exists()


def traded(root: Path) -> None:
    """A store with one order and the trail that recorded it, as trading leaves them."""
    book = OrderStore(store(root))
    log = AuditLog(root / "logs", anchors=[book.anchor_audit])
    order = OrderRecord(CID, "donchian_breakout", "MSFT", "buy", 2, 10.0, DAY)
    book.add(order)
    log.event("order.decided", client_order_id=CID, symbol="MSFT", side="buy", qty=2, trading_date=DAY.isoformat())
    book.close()


def delete_store(root: Path) -> None:
    for path in store(root).parent.glob("orders.sqlite*"):
        path.unlink()


def delete_store_and_logs(root: Path) -> None:
    write_heartbeat(root / "state" / "heartbeat.json", "paper", "cycle done", "abc", now=NOW,
                    audit_head=AuditLog(root / "logs").head())
    delete_store(root)
    for path in (root / "logs").glob("*.jsonl"):
        path.unlink()


@pytest.mark.parametrize(("delete", "evidence"), [
    pytest.param(delete_store, "the audit trail", id="store-deleted"),
    pytest.param(delete_store_and_logs, "the heartbeat", id="store-and-logs-deleted"),
])
def test_a_store_deleted_after_trading_is_damage_not_an_empty_book(tmp_path: Path, delete: Callable[[Path], None],
                                                                   evidence: str) -> None:
    traded(tmp_path)
    delete(tmp_path)
    with pytest.raises(StoreCorrupt, match=f"the order store is missing but {evidence}"):
        snapshot(tmp_path, None, NOW)
    shown = status(tmp_path)
    assert shown.exit_code == 2 and "Traceback" not in shown.output, shown.output
    assert f"{store(tmp_path)}: error: the order store is missing but {evidence}" in shown.output
    assert "`kobe reconcile --rebuild`" in shown.output
    assert not store(tmp_path).exists()


def beat(**changes: object) -> Callable[[Path], None]:
    def writing(root: Path) -> None:
        path = root / "state" / "heartbeat.json"
        write_heartbeat(path, "paper", "waiting", "abc", now=NOW)
        value = json.loads(path.read_text())
        value.update(changes)
        path.write_text(json.dumps(value))
    return writing


def raw(content: str) -> Callable[[Path], None]:
    def writing(root: Path) -> None:
        (root / "state").mkdir(parents=True, exist_ok=True)
        (root / "state" / "heartbeat.json").write_text(content)
    return writing


@pytest.mark.parametrize("harm", [
    pytest.param(beat(time="yesterday"), id="time-garbage"),
    pytest.param(beat(time="2017-06-07T15:00:00"), id="time-without-zone"),
    pytest.param(beat(audit_seq="x", audit_hash="y"), id="anchor-not-a-head"),
    pytest.param(beat(state=["running"]), id="state-a-list"),
    pytest.param(raw('{"time": 1}'), id="fields-missing"),
    pytest.param(raw("garbage"), id="not-json"),
])
def test_a_heartbeat_that_cannot_be_read_shows_as_none(tmp_path: Path, harm: Callable[[Path], None]) -> None:
    harm(tmp_path)
    report = snapshot(tmp_path, None, NOW)
    assert (report.heartbeat, report.heartbeat_age_seconds, report.running) == (None, None, False)
    shown = status(tmp_path)
    assert shown.exit_code == 0 and json.loads(shown.output)["heartbeat"] is None, shown.output
