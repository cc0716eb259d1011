"""Values inside a store SQLite finds sound: each one Kobe reads is checked, on open and
again when its row is read (a value changed under an open store), and one that cannot
be read is a StoreCorrupt naming the table, the row and the column, never a ValueError,
a TypeError or a wrong book. And a missing store is created only in a project that
never had one (kobe.oms.evidence); readers never create one."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from kobe.audit.log import AuditLog
from kobe.oms.orders import OrderRecord, OrderStatus, client_order_id
from kobe.oms.store import Fill, OrderStore, StoreCorrupt, damage
from kobe.runner.heartbeat import HEARTBEAT_NAME, write_heartbeat
from kobe.runner.run import HEARTBEAT_FILE
from kobe.trade.cycle import LOGS, ORDERS_FILE

DAY = dt.date(2026, 11, 24)
CID = client_order_id("donchian_breakout", "MSFT", DAY, "buy")


def stocked(path: Path) -> OrderStore:
    """A store of one filled order, its fill and an anchor."""
    store = OrderStore(path)
    order = OrderRecord(CID, "donchian_breakout", "MSFT", "buy", 3, 100.0, DAY)
    store.add(order)
    store.record(order.to(OrderStatus.FILLED, filled_qty=3.0, filled_avg_price=99.5), "filled",
                 Fill(f"{CID}:3", 3.0, 99.5, "2026-11-24T15:00:00+00:00"), expected=OrderStatus.NEW)
    store.anchor_audit(4, "b" * 64)
    return store


def sql(path: Path, statement: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(statement)
    conn.commit()
    conn.close()


READS: dict[str, Callable[[OrderStore], object]] = {
    "orders": lambda s: s.orders(), "get": lambda s: s.get(CID), "active": lambda s: s.active(),
    "spent": lambda s: s.spent(DAY), "fills": lambda s: s.fills(), "positions": lambda s: s.positions(),
    "audit_anchor": lambda s: s.audit_anchor(), "transitions": lambda s: s.transitions(CID),
}
EDITS = [
    pytest.param("UPDATE orders SET status = 'weird'", ("orders", "get", "spent"),
                 f"table orders, rowid 1 ({CID}), column status: 'weird' is not an order status", id="order-status"),
    pytest.param("UPDATE orders SET status = 'new', qty = 'abc'", ("orders", "get", "active", "spent"),
                 "column qty: 'abc' is not a finite number", id="order-qty-text"),
    pytest.param("UPDATE orders SET trading_date = 'garbage'", ("orders", "get"),
                 "column trading_date: 'garbage' is not a date", id="order-date-garbage"),
    pytest.param("UPDATE orders SET filled_qty = -1", ("orders", "get"),
                 "column filled_qty: -1.0 is not a finite number, zero or more", id="order-filled-negative"),
    pytest.param("UPDATE orders SET stop_price = 'high'", ("orders", "get"),
                 "column stop_price: 'high' is not a finite number", id="order-stop-text"),
    pytest.param("UPDATE fills SET price = 'x'", ("fills", "positions"),
                 f"table fills, rowid 1 ({CID}:3), column price: 'x' is not a finite number", id="fill-price-text"),
    pytest.param("UPDATE fills SET side = 'up'", ("fills", "positions"),
                 "column side: 'up' is not buy or sell", id="fill-side-unknown"),
    pytest.param("UPDATE fills SET qty = 9e999", ("fills", "positions"),
                 "column qty: inf is not a finite number", id="fill-qty-infinite"),
    pytest.param("UPDATE audit_anchor SET seq = 'x'", ("audit_anchor",),
                 "table audit_anchor, rowid 1, column seq: 'x' is not a whole number", id="anchor-seq-text"),
    pytest.param("UPDATE audit_anchor SET hash = 'Z'", ("audit_anchor",),
                 "column hash: 'Z' is not a SHA256 in hex", id="anchor-hash"),
    pytest.param("UPDATE transitions SET from_status = 'limbo' WHERE from_status IS NOT NULL", ("transitions",),
                 "column from_status: 'limbo' is not an order status", id="transition-from-unknown"),
]


@pytest.mark.parametrize(("statement", "reads", "says"), EDITS)
def test_a_value_changed_under_an_open_store_is_damage_when_read(tmp_path: Path, statement: str,
                                                                 reads: tuple[str, ...], says: str) -> None:
    path = tmp_path / "orders.sqlite"
    store = stocked(path)
    sql(path, statement)
    for name in reads:
        with pytest.raises(StoreCorrupt) as caught:
            READS[name](store)
        assert says in caught.value.reason, name
        assert "kobe reconcile --rebuild" in (caught.value.diagnostics[0].hint or "")
    store.close()
    # And on open: the same words, for any process that opens it next.
    with pytest.raises(StoreCorrupt) as opened:
        OrderStore(path)
    assert says in opened.value.reason
    assert isinstance(damage(path), StoreCorrupt)


def test_values_that_are_empty_where_allowed_are_read(tmp_path: Path) -> None:
    """What a sound store may hold: no limit (a market order), no broker id yet, no fills,
    no anchor; the numbers stored as text SQLite converted back (its column affinity)."""
    path = tmp_path / "orders.sqlite"
    store = stocked(path)
    sql(path, "UPDATE orders SET limit_price = NULL, broker_order_id = NULL, filled_avg_price = NULL, "
              "reason = NULL, qty = '3'")
    sql(path, "DELETE FROM audit_anchor")
    (order,) = store.orders()
    assert (order.qty, order.limit_price, order.broker_order_id, order.reason) == (3, None, None, "")
    assert store.audit_anchor() is None
    store.close()
    assert damage(path) is None


def trail(root: Path, *kinds: str) -> AuditLog:
    log = AuditLog(root / LOGS)
    for kind in kinds:
        log.event(kind, client_order_id=CID) if kind.startswith("order.") else log.event(kind)
    return log


def delete_chain(root: Path) -> None:
    (root / LOGS / "hash_chain.jsonl").unlink()


def garble_the_logs(root: Path) -> None:
    """Every line made unreadable but one order's line in events.jsonl."""
    for name in ("hash_chain.jsonl", "trades.jsonl"):
        (root / LOGS / name).write_text("not json\n")
    lines = (root / LOGS / "events.jsonl").read_text().splitlines()
    (root / LOGS / "events.jsonl").write_text("\n".join(["{torn", *lines[-1:]]) + "\n")


def heartbeat_ahead(root: Path) -> None:
    """The heartbeat anchors record 9 of a trail since cut to nothing."""
    write_heartbeat(root / HEARTBEAT_FILE, "paper", "cycle done", "abc", audit_head=(9, "c" * 64))
    for path in (root / LOGS).glob("*.jsonl"):
        path.unlink()


PRIOR = [
    pytest.param((), None, None, id="a-new-project"),
    pytest.param(("cycle.started", "killswitch.set", "cycle.no_entries"), None, None, id="a-trail-without-orders"),
    pytest.param(("cycle.started", "order.decided"), None, "the audit trail", id="an-order-decided"),
    pytest.param(("order.filled",), None, "has 1 record(s) of its orders", id="an-order-filled"),
    pytest.param(("order.decided", "order.submitted"), delete_chain, "has 2 record(s) of its orders",
                 id="the-chain-deleted-the-readable-logs-left"),
    pytest.param(("order.decided", "cycle.started"), garble_the_logs, None,
                 id="garbled-logs-without-a-readable-order"),
    pytest.param(("cycle.started", "order.decided"), garble_the_logs, "has 1 record(s) of its orders",
                 id="garbled-logs-with-one-readable-order"),
    pytest.param(("cycle.started",), heartbeat_ahead, "the heartbeat", id="the-heartbeat-anchoring-a-lost-trail"),
]


@pytest.mark.parametrize(("kinds", "harm", "says"), PRIOR)
def test_a_missing_store_is_created_only_where_there_never_was_one(
        tmp_path: Path, kinds: tuple[str, ...], harm: Callable[[Path], None] | None, says: str | None) -> None:
    trail(tmp_path, *kinds)
    if harm is not None:
        harm(tmp_path)
    path = tmp_path / ORDERS_FILE
    # Readers never create it, whatever the trail says.
    if says is None:
        assert OrderStore.existing(path) is None and damage(path) is None
    else:
        for call in (OrderStore.existing, damage, OrderStore):
            try:
                got = call(path)
            except StoreCorrupt as err:
                got = err
            assert isinstance(got, StoreCorrupt) and says in got.diagnostics[0].message, call
            assert got.diagnostics[0].message.startswith("the order store is missing but "), call
            assert "kobe reconcile --rebuild" in (got.diagnostics[0].hint or "")
    assert not path.exists()
    if says is None:
        OrderStore(path).close()           # trading's open creates it where there never was one
        assert path.is_file()
    else:
        OrderStore(path, create="always").close()     # the rebuild's own file is made regardless
        assert path.is_file()


def test_the_heartbeat_is_where_the_runner_writes_it() -> None:
    assert (HEARTBEAT_FILE.parent, HEARTBEAT_FILE.name) == (ORDERS_FILE.parent, HEARTBEAT_NAME)


def test_a_store_of_nothing_reads_as_an_empty_book(tmp_path: Path) -> None:
    store = OrderStore.empty()
    assert (store.orders(), store.fills(), store.positions(), store.audit_anchor(), store.spent(DAY)) == \
        ([], [], {}, None, 0)
    assert str(store.path) == ":memory:" and list(tmp_path.iterdir()) == []


def delete(path: Path) -> None:
    for name in path.parent.glob("orders.sqlite*"):
        name.unlink()


def replace_with_another(path: Path) -> None:
    other = path.with_name("other.sqlite")
    OrderStore(other, create="always").close()
    os.replace(other, path)


@pytest.mark.parametrize(("harm", "says"), [
    pytest.param(delete, "the order store is missing but this process had it open: it was deleted or moved",
                 id="deleted-under-it"),
    pytest.param(replace_with_another, "the order store is damaged: another file took its place while it was open",
                 id="replaced-under-it"),
])
def test_a_store_deleted_or_replaced_under_an_open_store_stops_its_next_use(
        tmp_path: Path, harm: Callable[[Path], None], says: str) -> None:
    """A running process would otherwise go on writing to a file no one can open again."""
    path = tmp_path / "orders.sqlite"
    store = stocked(path)
    harm(path)
    for name in ("orders", "positions", "audit_anchor"):
        with pytest.raises(StoreCorrupt) as caught:
            READS[name](store)
        assert caught.value.diagnostics[0].message.startswith(says), name
    with pytest.raises(StoreCorrupt):
        store.add(OrderRecord(client_order_id("x", "KO", DAY, "buy"), "x", "KO", "buy", 1, 50.0, DAY))
