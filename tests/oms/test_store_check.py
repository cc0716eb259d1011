"""The order store checks itself on open (and when its schema changes under it): any damage
is a StoreCorrupt naming the file, never an sqlite3 traceback nor an empty book; a new
store is born whole; a damaged one is replaced without losing a byte of it."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlite_utils

from kobe.oms.orders import OrderRecord, client_order_id
from kobe.oms.repair import install, rebuild_path
from kobe.oms.store import (
    ANCHOR_TABLE,
    SCHEMA_VERSION,
    TABLES,
    OrderStore,
    StoreCorrupt,
    damage,
)

DAY = dt.date(2026, 11, 24)


def filled_store(path: Path, n: int = 200) -> bytes:
    """A store of ``n`` orders, closed and folded into its file; returns its bytes."""
    store = OrderStore(path)
    for i in range(n):
        symbol = f"S{i:03d}"
        store.add(OrderRecord(client_order_id("donchian_breakout", symbol, DAY, "buy"), "donchian_breakout", symbol,
                              "buy", 1, 10.0, DAY, reason="entry: a reason long enough to fill pages " * 3))
    store.anchor_audit(7, "a" * 64)
    store.close()
    return path.read_bytes()


def sql(path: Path, script: str) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.close()


def scribble_on(name: str) -> Callable[[Path], None]:
    """Bytes overwritten inside the root page of ``name`` (a table or an index): the
    file's header stays sound, SQLite opens it, only its integrity check sees it."""
    def scribble(path: Path) -> None:
        conn = sqlite3.connect(path)
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [name]).fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.close()
        data = bytearray(path.read_bytes())
        start = (root - 1) * size + 100
        data[start:start + 300] = b"\xff" * 300
        path.write_bytes(bytes(data))
    return scribble


DAMAGES = [
    pytest.param(lambda p: p.write_bytes(p.read_bytes()[:9000]), "malformed", id="cut-short"),
    pytest.param(lambda p: p.write_bytes(b""), "the file is empty", id="cut-to-nothing"),
    pytest.param(lambda p: p.write_bytes(os.urandom(8192)), "not a database", id="garbage"),
    pytest.param(lambda p: p.write_bytes(b"\0" * 100 + p.read_bytes()[100:]), "not a database", id="header-wiped"),
    pytest.param(scribble_on("idx_orders_trading_date"), "integrity check failed: .*page",
                 id="an-index-scribbled-on"),
    pytest.param(lambda p: (p.unlink(), p.mkdir()), "a directory is in its place", id="a-directory"),
    pytest.param(lambda p: sql(p, "DROP TABLE transitions"), "table transitions is missing", id="table-dropped"),
    pytest.param(lambda p: sql(p, "DROP TABLE audit_anchor"), "table audit_anchor is missing",
                 id="anchor-table-dropped"),
    pytest.param(lambda p: sql(p, "ALTER TABLE fills DROP COLUMN price"), "table fills lacks column price",
                 id="column-dropped"),
    pytest.param(lambda p: sql(p, ";".join(f"DROP TABLE {t}" for t in TABLES)), "none of the order store's tables",
                 id="every-table-dropped"),
]


@pytest.mark.parametrize(("harm", "says"), DAMAGES)
def test_damage_is_named_on_open_and_the_file_left_as_it_is(tmp_path: Path, harm: Callable[[Path], object],
                                                              says: str) -> None:
    path = tmp_path / "orders.sqlite"
    filled_store(path)
    harm(path)
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(StoreCorrupt, match=says) as caught:
        OrderStore(path)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.file == str(path) and "kobe reconcile --rebuild" in (diagnostic.hint or "")
    assert (path.read_bytes() if path.is_file() else None) == before
    assert isinstance(damage(path), StoreCorrupt)


def _drop_and_die(path: str) -> None:
    """Drop a table, then die without closing: the change stays in the WAL, unfolded."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE transitions")
    conn.commit()
    os._exit(0)


def test_the_check_never_writes_to_a_damaged_store(tmp_path: Path) -> None:
    """Not even by SQLite folding the WAL in as a last connection closes."""
    path = tmp_path / "orders.sqlite"
    filled_store(path)
    child = multiprocessing.get_context("fork").Process(target=_drop_and_die, args=(str(path),))
    child.start()
    child.join()
    wal = path.with_name(path.name + "-wal")
    before = (path.read_bytes(), wal.read_bytes())
    assert before[1], "the drop should still be in the WAL"
    with pytest.raises(StoreCorrupt, match="table transitions is missing"):
        OrderStore(path)
    assert (path.read_bytes(), wal.read_bytes()) == before


def test_a_sound_or_absent_store_has_no_damage(tmp_path: Path) -> None:
    path = tmp_path / "orders.sqlite"
    assert damage(path) is None and not path.exists()                # looking creates nothing
    filled_store(path)
    assert damage(path) is None


def test_a_table_dropped_under_an_open_store_stops_it(tmp_path: Path) -> None:
    """Read through sqlite-utils, a missing table would read as empty: a book of nothing."""
    path = tmp_path / "orders.sqlite"
    filled_store(path)
    store = OrderStore(path)
    assert len(store.orders()) == 200
    sql(path, "DROP TABLE fills")
    with pytest.raises(StoreCorrupt, match="table fills is missing"):
        store.positions()


def test_a_new_store_is_born_whole(tmp_path: Path) -> None:
    path = tmp_path / "state" / "orders.sqlite"
    store = OrderStore(path)
    assert set(store.db.table_names()) >= set(TABLES) and store.audit_anchor() is None
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.startswith("orders.sqlite")) == []


def _open(path: str) -> None:
    OrderStore(Path(path)).orders()


def test_processes_creating_the_same_new_store_at_once_all_open_it(tmp_path: Path) -> None:
    path = tmp_path / "orders.sqlite"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_open, args=(str(path),)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0] * 6
    assert damage(path) is None


def test_a_store_from_before_the_anchor_gains_it(tmp_path: Path) -> None:
    """Version 0: no anchor table, no user_version, and not yet the newer order columns."""
    path = tmp_path / "orders.sqlite"
    db = sqlite_utils.Database(path)
    columns: dict[str, type] = {c: str for c in TABLES["orders"]}
    db.table("orders").create(columns, pk="client_order_id")
    db.table("transitions").create({c: str for c in TABLES["transitions"]})
    db.table("fills").create({c: str for c in TABLES["fills"]}, pk="fill_id")
    db.close()
    store = OrderStore(path)
    store.anchor_audit(3, "b" * 64)
    assert store.audit_anchor() == (3, "b" * 64)
    assert set(OrderStore.NEW_COLUMNS) <= set(store.db.table("orders").columns_dict)
    assert ANCHOR_TABLE in store.db.table_names()
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def rebuilt_beside(path: Path) -> Path:
    fresh = rebuild_path(path)
    OrderStore(fresh).close()
    return fresh


@pytest.mark.parametrize("shape", [
    pytest.param("file with its wal", id="damaged-file"),
    pytest.param("directory", id="a-directory"),
    pytest.param("absent", id="no-store"),
])
def test_install_keeps_the_damaged_store_aside_byte_for_byte(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "orders.sqlite"
    kept: dict[str, bytes] = {}
    if shape == "file with its wal":
        for suffix, data in (("", os.urandom(5000)), ("-wal", b"its wal"), ("-shm", b"its shm")):
            path.with_name(path.name + suffix).write_bytes(data)
            kept[suffix] = data
    elif shape == "directory":
        path.mkdir()
        (path / "inside").write_text("kept")
    now = dt.datetime(2026, 11, 25, 14, 30, tzinfo=dt.UTC)
    aside = install(rebuilt_beside(path), path, now)
    assert damage(path) is None and not rebuild_path(path).exists()
    if shape == "absent":
        assert aside is None
        return
    assert aside == tmp_path / "orders.sqlite.corrupt-20261125T143000Z"
    if shape == "directory":
        assert (aside / "inside").read_text() == "kept"
    else:
        assert {s: aside.with_name(aside.name + s).read_bytes() for s in kept} == kept
        assert not path.with_name(path.name + "-wal").exists()     # never replayed into the new store
    second = install(rebuilt_beside(path), path, now)              # the same second: another name, nothing lost
    assert second == tmp_path / "orders.sqlite.corrupt-20261125T143000Z-2" and aside.exists()
