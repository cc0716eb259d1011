"""The order store: orders, every state transition and every fill, in SQLite (WAL).

A transition is committed before the next network call, so after a crash the store
knows every order it ever decided to send, including those whose fate is unknown. What
was spent on a trading date, the open orders and the positions all derive from it.

**Checked on open.** A store that SQLite cannot read (garbage, a wiped header, a file
cut short), that fails ``PRAGMA quick_check``, that lacks a table or a column Kobe
needs, or a directory in its place raises :class:`StoreCorrupt`, a :class:`KobeError`
naming the file: nothing trades on a book that cannot be trusted. The same error comes
from any later read or write that meets such damage. The file is never touched; ``kobe
reconcile --rebuild`` (:mod:`kobe.trade.reconcile`) rebuilds the store from the broker's
orders and the audit trail and keeps the damaged file aside (:mod:`kobe.oms.repair`).

**Values are checked too.** Every row of ``orders``, ``fills`` and ``audit_anchor`` is
read on open as Kobe reads it (a status Kobe knows, a side ``buy`` or ``sell``, numbers
that are finite and not negative, dates and times that parse, an anchor that is a record
number and a SHA256), and ``transitions`` hold known states; a value that is not is
damage naming the table, the row and the column. A value changed under an open store is
found the same way when its row is read (:class:`RowReader`). Old stores are judged as
they are: no ``CHECK`` constraint is added to new stores (it would refuse the same edits
earlier, but an insert's ``IntegrityError`` would then no longer mean only "an id seen
before", which :meth:`OrderStore.add` relies on).

A new store is made whole beside its path and then linked into place, so a store at the
path always has its tables: an empty file there is damage (a store cut to nothing), not
a store to start afresh. **A missing store is created only in a project that never had
one**: when the audit trail has records of orders, or the heartbeat anchors records the
trail no longer has, the store was deleted, and its absence is damage too
(:mod:`kobe.oms.evidence`). Readers that only look (``kobe status``, ``orders``,
``positions``, ``audit verify``) never create a store (:meth:`OrderStore.existing`).

**The audit anchor.** The table ``audit_anchor`` holds the head of the audit chain (its
last record's ``seq`` and ``hash``, :meth:`OrderStore.anchor_audit`), so deleting or
truncating the logs cannot hide from ``kobe audit verify``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import os
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Concatenate, Literal, ParamSpec, TypeVar

import sqlite_utils

from kobe.config.errors import Diagnostic, KobeError
from kobe.oms.evidence import prior_use
from kobe.oms.orders import OrderRecord, OrderStatus
from kobe.risk.ledger import Ledger

FILL_ORDER = "at, rowid"
"""Fills in the broker's time order (``at`` is the broker's execution time, UTC ISO 8601);
equal times (a replayed clock standing still) keep the order they were recorded in,
which is the order the cycle sent them (exits before entries). Never by ``fill_id``: a
re-buy's id may sort before the sell it follows, and average cost would then be wrong."""

ACTIVE = (OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNKNOWN)

ANCHOR_TABLE = "audit_anchor"
SCHEMA_VERSION = 1
"""``PRAGMA user_version`` of a store with every table of :data:`TABLES`. A store of
version 0 predates the anchor table and gains it on open; from version 1 on a missing
anchor table is damage (dropping it must not pass for an old store)."""

TABLES: dict[str, frozenset[str]] = {
    "orders": frozenset({"client_order_id", "strategy", "symbol", "side", "qty", "limit_price", "trading_date",
                         "status", "broker_order_id", "filled_qty", "filled_avg_price", "reason", "created_at",
                         "updated_at"}),
    "transitions": frozenset({"id", "client_order_id", "from_status", "to_status", "at", "detail"}),
    "fills": frozenset({"fill_id", "client_order_id", "symbol", "side", "qty", "price", "at"}),
    ANCHOR_TABLE: frozenset({"id", "seq", "hash", "at"}),
}
"""The tables and columns Kobe reads; ``OrderStore.NEW_COLUMNS`` are added when missing."""

REBUILD_HINT = ("nothing trades until it is rebuilt: `kobe reconcile --rebuild` rebuilds it from the broker's "
                "orders and the audit trail and keeps this file aside (docs/trading.md)")


MISSING_HINT = ("nothing trades until it is rebuilt: `kobe reconcile --rebuild` rebuilds it from the broker's "
                "orders and the audit trail (docs/trading.md); a project that starts afresh starts in a new folder")


class StoreCorrupt(KobeError):
    """The order store at ``path`` cannot be trusted (module doc); ``reason`` says why."""

    def __init__(self, path: Path, reason: str, message: str | None = None, hint: str = REBUILD_HINT) -> None:
        self.path, self.reason = path, reason
        super().__init__(Diagnostic(message or f"the order store is damaged: {reason}", file=str(path), hint=hint))

    @classmethod
    def missing(cls, path: Path, why: str) -> StoreCorrupt:
        """The store at ``path`` is gone, though ``why`` shows it was there (:func:`prior_use`)."""
        return cls(path, f"it is missing but {why}", f"the order store is missing but {why}", MISSING_HINT)


def absence(path: Path) -> StoreCorrupt | None:
    """The damage of a store missing at ``path``: what shows it was there, or None."""
    why = prior_use(path)
    return StoreCorrupt.missing(path, why) if why is not None else None


DAMAGE = ("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_ERROR", "SQLITE_FORMAT", "SQLITE_SCHEMA", "SQLITE_RANGE")
"""SQLite's names for a file that is not the store it should be (``SQLITE_ERROR``: Kobe's
fixed statements meet a table or column that is gone)."""
BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")


def store_error(path: Path, err: sqlite3.DatabaseError) -> KobeError:
    """The user-facing error for SQLite's ``err`` on the store at ``path``: damage, a
    store held by another process past the timeout, or a file the system will not
    serve (disk full, permissions), each with its own remedy."""
    name = getattr(err, "sqlite_errorname", "") or ""
    if name.startswith(DAMAGE):
        return StoreCorrupt(path, str(err))
    if name.startswith(BUSY):
        return KobeError(Diagnostic(f"the order store is busy: {err}", file=str(path),
                                    hint="another Kobe process holds it; try again when it is done"))
    return KobeError(Diagnostic(f"the order store cannot be used: {err}", file=str(path),
                                hint="check the disk (space, errors) and the permissions of the file and its folder"))


def damage(path: Path) -> StoreCorrupt | None:
    """What keeps the store at ``path`` from opening, or None: it opens, or there is
    none and never was (:func:`absence`; nothing is created). Errors that are no damage
    (busy, disk) are raised."""
    if not os.path.lexists(path):
        return absence(path)
    try:
        OrderStore(path).close()
    except StoreCorrupt as err:
        return err
    return None


P = ParamSpec("P")
R = TypeVar("R")


def guarded(method: Callable[Concatenate[OrderStore, P], R]) -> Callable[Concatenate[OrderStore, P], R]:
    """SQLite's errors of ``method`` as Kobe's (:func:`store_error`). Integrity and
    programming errors pass unchanged: those are Kobe's own logic, not the file's state."""
    @functools.wraps(method)
    def wrapper(self: OrderStore, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            self._still_sound()
            return method(self, *args, **kwargs)
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise
        except sqlite3.DatabaseError as err:
            raise store_error(self.path, err) from None
    return wrapper


@dataclass(frozen=True)
class Position:
    symbol: str
    qty: float               # signed: a short is negative
    avg_cost: float          # average price of the shares held (sold, for a short)
    realized_pnl: float      # from closing fills, against the average cost


@dataclass(frozen=True)
class Fill:
    """An execution as the store keeps it. ``fill_id`` makes recording it idempotent:
    the executor derives it from the order and the broker's cumulative filled quantity
    (``<client_order_id>:<filled_qty>``), so any process seeing the same broker state
    names the same fill."""

    fill_id: str
    qty: float
    price: float
    at: str


@dataclass(frozen=True)
class Transition:
    """One line of an order's history, as :meth:`OrderStore.restore` writes it."""

    from_status: str | None
    to_status: str
    at: str
    detail: str


def _create_tables(db: sqlite_utils.Database, new_columns: dict[str, type]) -> None:
    db.table("orders").create({
        "client_order_id": str, "strategy": str, "symbol": str, "side": str, "qty": int,
        "limit_price": float, "trading_date": str, "status": str, "broker_order_id": str,
        "filled_qty": float, "filled_avg_price": float, "reason": str, "created_at": str, "updated_at": str,
        **new_columns,
    }, pk="client_order_id", not_null={"strategy", "symbol", "side", "qty", "trading_date", "status"})
    db.table("orders").create_index(["trading_date"])
    db.table("transitions").create({"id": int, "client_order_id": str, "from_status": str,
                                    "to_status": str, "at": str, "detail": str}, pk="id")
    db.table("fills").create({"fill_id": str, "client_order_id": str, "symbol": str, "side": str,
                              "qty": float, "price": float, "at": str}, pk="fill_id")
    _create_anchor_table(db)


def _create_anchor_table(db: sqlite_utils.Database) -> None:
    db.table(ANCHOR_TABLE).create({"id": int, "seq": int, "hash": str, "at": str}, pk="id",
                                  not_null={"seq", "hash", "at"})


def fsync_path(path: Path) -> None:
    """Make ``path`` (a file or a folder: its entries) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sqlite_files(path: Path) -> tuple[Path, Path, Path]:
    """The database file and the two SQLite keeps beside it in WAL mode."""
    return path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _create_file(path: Path, new_columns: dict[str, type]) -> None:
    """A new, complete store at ``path``: built under a temporary name, then hard-linked
    into place, which fails when another process put its own there first (theirs is as
    good). So no process ever sees a store at ``path`` without its tables."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    os.close(fd)
    fresh = Path(name)
    try:
        os.chmod(fresh, 0o644)
        conn = sqlite3.connect(fresh, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            _create_tables(sqlite_utils.Database(conn), new_columns)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        finally:
            conn.close()  # the last connection: the WAL is folded into the file and removed
        fsync_path(fresh)
        with contextlib.suppress(FileExistsError):
            os.link(fresh, path)
        fsync_path(path.parent)
    finally:
        for leftover in sqlite_files(fresh):
            leftover.unlink(missing_ok=True)


STATUSES = frozenset(s.value for s in OrderStatus)
SIDES = frozenset({"buy", "sell"})
SHA256 = re.compile(r"[0-9a-f]{64}")
ROWID = "_rowid_"
"""The key of a row's rowid in the rows read (``SELECT rowid AS _rowid_, *``)."""
SELECT = f"rowid AS {ROWID}, *"
KEYS = {"orders": "client_order_id", "fills": "fill_id", "transitions": "client_order_id", ANCHOR_TABLE: "id"}


class RowReader:
    """One row of ``table`` (a dict with its rowid under :data:`ROWID`) read as Kobe
    reads it. A value that cannot be (the wrong type, not finite, negative, a status or
    a side Kobe does not know, a date that does not parse) is a :class:`StoreCorrupt`
    naming the table, the row and the column: ``ValueError``, ``TypeError``,
    ``KeyError`` and ``OverflowError`` while decoding never leave it."""

    def __init__(self, path: Path, table: str, row: dict[str, object]) -> None:
        self.path, self.table, self.row = path, table, row

    def bad(self, column: str, want: str) -> StoreCorrupt:
        shown = repr(self.row.get(column))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        key = self.row.get(KEYS.get(self.table, ""))
        which = f"rowid {self.row.get(ROWID)}" + (f" ({str(key)[:60]})" if isinstance(key, str) and key else "")
        return StoreCorrupt(self.path, f"table {self.table}, {which}, column {column}: {shown} is not {want}")

    def _read(self, column: str, want: str, convert: Callable[[object], R]) -> R:
        try:
            return convert(self.row[column])
        except (ValueError, TypeError, KeyError, OverflowError):
            raise self.bad(column, want) from None

    def text(self, column: str) -> str:
        def convert(value: object) -> str:
            if not isinstance(value, str) or not value:
                raise TypeError(value)
            return value
        return self._read(column, "text", convert)

    def maybe_text(self, column: str) -> str | None:
        """A text column that may be empty, or absent from an old store."""
        return None if self.row.get(column) is None else self._read(column, "text", _str)

    def choice(self, column: str, allowed: frozenset[str], want: str) -> str:
        def convert(value: object) -> str:
            if value not in allowed:
                raise ValueError(value)
            return _str(value)
        return self._read(column, want, convert)

    def number(self, column: str) -> float:
        """A finite number, zero or more."""
        def convert(value: object) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(value)
            number = float(value)
            if not math.isfinite(number) or number < 0:
                raise ValueError(value)
            return number
        return self._read(column, "a finite number, zero or more", convert)

    def maybe_number(self, column: str) -> float | None:
        return None if self.row.get(column) is None else self.number(column)

    def whole(self, column: str) -> int:
        def convert(value: object) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(value)
            return value
        return self._read(column, "a whole number, zero or more", convert)

    def date(self, column: str) -> dt.date:
        return self._read(column, "a date (YYYY-MM-DD)", lambda value: dt.date.fromisoformat(_str(value)))

    def time(self, column: str) -> str:
        """An ISO 8601 time, as written."""
        def convert(value: object) -> str:
            dt.datetime.fromisoformat(_str(value))
            return _str(value)
        return self._read(column, "an ISO 8601 time", convert)

    def sha256(self, column: str) -> str:
        def convert(value: object) -> str:
            if not SHA256.fullmatch(_str(value)):
                raise ValueError(value)
            return _str(value)
        return self._read(column, "a SHA256 in hex", convert)

    # -- the tables' rows ---------------------------------------------------------------

    def order(self) -> OrderRecord:
        return OrderRecord(
            client_order_id=self.text("client_order_id"), strategy=self.text("strategy"), symbol=self.text("symbol"),
            side=self.choice("side", SIDES, "buy or sell"), qty=int(self.number("qty")),
            limit_price=self.maybe_number("limit_price"), trading_date=self.date("trading_date"),
            status=OrderStatus(self.choice("status", STATUSES, "an order status")),
            broker_order_id=self.maybe_text("broker_order_id"), filled_qty=self.maybe_number("filled_qty") or 0.0,
            filled_avg_price=self.maybe_number("filled_avg_price"), reason=self.maybe_text("reason") or "",
            order_type=self.maybe_text("order_type") or "limit", stop_price=self.maybe_number("stop_price"),
            time_in_force=self.maybe_text("time_in_force") or "ioc")

    def fill(self) -> dict[str, object]:
        return {"fill_id": self.text("fill_id"), "client_order_id": self.maybe_text("client_order_id"),
                "symbol": self.text("symbol"), "side": self.choice("side", SIDES, "buy or sell"),
                "qty": self.number("qty"), "price": self.number("price"), "at": self.time("at")}

    def anchor(self) -> tuple[int, str]:
        return self.whole("seq"), self.sha256("hash")

    def transition(self) -> tuple[str | None, str]:
        before = None if self.row.get("from_status") is None else \
            self.choice("from_status", STATUSES, "an order status")
        return before, self.choice("to_status", STATUSES, "an order status")


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def check_values(path: Path, db: sqlite_utils.Database) -> None:
    """Read every row of the tables Kobe decodes (:class:`RowReader`); the first value
    that cannot be read is a :class:`StoreCorrupt`. ``audit_anchor`` only when there."""
    readers: dict[str, Callable[[RowReader], object]] = {
        "orders": RowReader.order, "fills": RowReader.fill, "transitions": RowReader.transition,
        ANCHOR_TABLE: RowReader.anchor}
    tables = set(db.table_names())
    for table, read in readers.items():
        if table in tables:
            for row in db.query(f"SELECT {SELECT} FROM [{table}]"):
                read(RowReader(path, table, row))


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file is at ``path`` (device, inode); None when none is."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _version(db: sqlite_utils.Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _schema_version(db: sqlite_utils.Database) -> int:
    return int(db.execute("PRAGMA schema_version").fetchone()[0])


Creation = Literal["unless-used", "always", "never"]


class OrderStore:
    NEW_COLUMNS: ClassVar[dict[str, type]] = {"order_type": str, "stop_price": float, "time_in_force": str}
    """Columns added after the first stores were written: a store from before gains them."""

    def __init__(self, path: Path, *, create: Creation = "unless-used") -> None:
        """Open the store at ``path``, checked (module doc). Where there is none,
        ``create`` says what to do: ``"unless-used"`` creates it unless the project shows
        it had one (:func:`absence`: then that is the damage raised); ``"always"`` creates
        it (a file of Kobe's own that is not the project's store: the rebuild's);
        ``"never"`` raises :class:`StoreCorrupt` (:meth:`existing` is the reader's way)."""
        self.path = path
        if os.path.islink(path) and not path.exists():
            raise StoreCorrupt(path, "a link to nothing is in its place")
        if path.exists() and not path.is_file():
            raise StoreCorrupt(path, "a directory is in its place" if path.is_dir() else "it is not a regular file")
        if not path.exists():
            missing = absence(path) if create != "always" else None
            if missing is not None:
                raise missing
            if create == "never":
                raise StoreCorrupt(path, "it disappeared while it was opened")
            _create_file(path, self.NEW_COLUMNS)
        elif path.stat().st_size == 0:
            # Never a store (those are born whole); asked of SQLite, it would pass for a new one.
            raise StoreCorrupt(path, "the file is empty")
        self._inspect()
        try:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        except sqlite3.DatabaseError as err:
            raise store_error(path, err) from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # a committed transition survives power loss
            self.db = sqlite_utils.Database(conn)
            if _version(self.db) < SCHEMA_VERSION or set(self.NEW_COLUMNS) - set(self.db.table("orders").columns_dict):
                self._migrate()
            self._schema = _schema_version(self.db)
            self._file = _identity(path)
        except BaseException as err:
            conn.close()
            if isinstance(err, sqlite3.DatabaseError):
                raise store_error(self.path, err) from None
            raise

    @classmethod
    def existing(cls, path: Path) -> OrderStore | None:
        """The store at ``path`` for a reader that only looks: None where there is none
        and never was; never created. A store that should be there and is not is its
        damage (:func:`absence`), raised."""
        if not os.path.lexists(path):
            missing = absence(path)
            if missing is not None:
                raise missing
            return None
        return cls(path, create="never")

    @classmethod
    def empty(cls) -> OrderStore:
        """A store of nothing, in memory: what a reader shows of a project that never had one."""
        store = cls.__new__(cls)
        store.path = Path(":memory:")
        store.db = sqlite_utils.Database(sqlite3.connect(":memory:", isolation_level=None))
        _create_tables(store.db, cls.NEW_COLUMNS)
        store.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        store._schema = _schema_version(store.db)
        store._file = None
        return store

    def close(self) -> None:
        self.db.conn.close()

    def _inspect(self) -> None:
        """Raise :class:`StoreCorrupt` unless the file is a sound store (module doc).
        Through a read-only connection: a damaged file is never written to, not even by
        SQLite folding its WAL into it when the connection closes."""
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        except sqlite3.DatabaseError as err:
            raise store_error(self.path, err) from None
        try:
            db = sqlite_utils.Database(conn)
            problems = [line for row in db.execute("PRAGMA quick_check").fetchall()
                        for line in str(row[0]).splitlines() if not line.startswith("*** in database")]
            if problems != ["ok"]:
                raise StoreCorrupt(self.path, "SQLite's integrity check failed: " + "; ".join(problems[:3]))
            self._check_tables(db)
            check_values(self.path, db)
        except sqlite3.DatabaseError as err:
            raise store_error(self.path, err) from None
        finally:
            conn.close()

    def _check_tables(self, db: sqlite_utils.Database) -> None:
        tables = set(db.table_names())
        if not tables & set(TABLES):
            raise StoreCorrupt(self.path, "it holds none of the order store's tables")
        old = _version(db) < SCHEMA_VERSION
        missing = [t for t in TABLES if t not in tables and not (t == ANCHOR_TABLE and old)]
        if missing:
            raise StoreCorrupt(self.path, f"table {', '.join(missing)} is missing")
        for table in sorted(tables & set(TABLES)):
            lacking = sorted(TABLES[table] - set(db.table(table).columns_dict))
            if lacking:
                raise StoreCorrupt(self.path, f"table {table} lacks column {', '.join(lacking)}")

    def _still_sound(self) -> None:
        """Look at the tables again when the schema changed since they were checked: a
        table dropped under a running process must stop it, not read as empty (and
        sqlite-utils would create a missing table anew on the next insert). And the file
        must still be the one opened: a store deleted or replaced under a running
        process would otherwise be written to unseen (its inode lives on, unlinked)."""
        if self._file is not None and _identity(self.path) != self._file:
            if not os.path.lexists(self.path):
                raise StoreCorrupt.missing(self.path, "this process had it open: it was deleted or moved while in use")
            raise StoreCorrupt(self.path, "another file took its place while it was open (replaced or moved)")
        if _schema_version(self.db) != self._schema:
            self._check_tables(self.db)
            self._schema = _schema_version(self.db)

    def _migrate(self) -> None:
        """Add what a store of an older version lacks; under the write lock, looking again,
        since another process may be doing the same."""
        with self._tx():
            orders = self.db.table("orders")
            for column, kind in self.NEW_COLUMNS.items():
                if column not in orders.columns_dict:
                    orders.add_column(column, kind)
            if ANCHOR_TABLE not in self.db.table_names():
                _create_anchor_table(self.db)
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``).

        The connection is in autocommit mode, where ``with conn:`` opens no transaction:
        each statement would commit alone, and a crash could leave an order without its
        first transition or a fill without its order's new quantity. ``IMMEDIATE`` takes
        the write lock before the first read, so two processes never interleave a
        read-then-write (a deferred transaction would fail its upgrade at once).
        """
        self.db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.conn.execute("ROLLBACK")
            raise
        self.db.conn.execute("COMMIT")

    @staticmethod
    def _now() -> str:
        return dt.datetime.now(dt.UTC).isoformat()

    def _row(self, order: OrderRecord) -> dict[str, object]:
        return {"client_order_id": order.client_order_id, "strategy": order.strategy, "symbol": order.symbol,
                "side": order.side, "qty": order.qty, "limit_price": order.limit_price,
                "trading_date": order.trading_date.isoformat(), "status": order.status.value,
                "broker_order_id": order.broker_order_id, "filled_qty": order.filled_qty,
                "filled_avg_price": order.filled_avg_price, "reason": order.reason,
                "order_type": order.order_type, "stop_price": order.stop_price, "time_in_force": order.time_in_force}

    def _record(self, row: dict[str, object]) -> OrderRecord:
        return RowReader(self.path, "orders", row).order()

    def _orders(self, where: str | None, args: Sequence[object], order_by: str | None = None) -> list[OrderRecord]:
        return [self._record(r) for r in self.db.table("orders").rows_where(where, args, order_by=order_by,
                                                                            select=SELECT)]

    @guarded
    def add(self, order: OrderRecord) -> bool:
        """Record a new order; False (and nothing written) if its id exists already."""
        now = self._now()
        with self._tx():
            try:
                self.db.table("orders").insert({**self._row(order), "created_at": now, "updated_at": now})
            except sqlite3.IntegrityError:
                return False
            self.db.table("transitions").insert({"client_order_id": order.client_order_id, "from_status": None,
                                           "to_status": order.status.value, "at": now, "detail": order.reason})
        return True

    @guarded
    def get(self, client_order_id: str) -> OrderRecord | None:
        rows = self._orders("client_order_id = ?", [client_order_id])
        return rows[0] if rows else None

    @guarded
    def update(self, order: OrderRecord, detail: str = "") -> OrderRecord:
        """Persist a transition of ``order`` (already validated by ``OrderRecord.to``)."""
        now = self._now()
        with self._tx():
            old = self.db.execute("SELECT status FROM orders WHERE client_order_id = ?",
                                  [order.client_order_id]).fetchone()
            self.db.table("orders").update(order.client_order_id, {**self._row(order), "updated_at": now})
            self.db.table("transitions").insert({"client_order_id": order.client_order_id,
                                           "from_status": old[0] if old else None,
                                           "to_status": order.status.value, "at": now, "detail": detail})
        return order

    @guarded
    def add_fill(self, fill_id: str, order: OrderRecord, qty: float, price: float, at: str | None = None) -> bool:
        """Record a fill once (a fill id seen before is ignored); True when new."""
        with self._tx():
            try:
                self.db.table("fills").insert({"fill_id": fill_id, "client_order_id": order.client_order_id,
                                         "symbol": order.symbol, "side": order.side, "qty": qty, "price": price,
                                         "at": at or self._now()})
            except sqlite3.IntegrityError:
                return False
        return True

    @guarded
    def record(self, order: OrderRecord, detail: str = "", fill: Fill | None = None,
               expected: OrderStatus | None = None) -> bool:
        """Persist ``order``'s new state, its transition and the fill that moved it there,
        all in one transaction, so the order's ``filled_qty`` always equals the sum of its
        fills, whatever instant a crash picks.

        Returns False and changes nothing when another process got there first: the
        store's status is no longer ``expected`` (the state the caller moved from; a
        compare-and-set, so a writer holding a stale copy can never overwrite a newer
        state, a terminal one above all), or the fill id is recorded already.
        """
        now = self._now()
        with self._tx():
            old = self.db.execute("SELECT status FROM orders WHERE client_order_id = ?",
                                  [order.client_order_id]).fetchone()
            if expected is not None and old is not None and old[0] != expected.value:
                return False
            if fill is not None:
                seen = self.db.execute("SELECT 1 FROM fills WHERE fill_id = ?", [fill.fill_id]).fetchone()
                if seen:
                    return False
                self.db.table("fills").insert({"fill_id": fill.fill_id, "client_order_id": order.client_order_id,
                                         "symbol": order.symbol, "side": order.side, "qty": fill.qty,
                                         "price": fill.price, "at": fill.at})
            if old is None:
                self.db.table("orders").insert({**self._row(order), "created_at": now, "updated_at": now})
            else:
                self.db.table("orders").update(order.client_order_id, {**self._row(order), "updated_at": now})
            self.db.table("transitions").insert({"client_order_id": order.client_order_id,
                                           "from_status": old[0] if old else None,
                                           "to_status": order.status.value, "at": now, "detail": detail})
        return True

    @guarded
    def add_adjustment(self, fill_id: str, symbol: str, side: str, qty: float, price: float,
                       at: str | None = None) -> bool:
        """A fill that belongs to no order of Kobe's: ``kobe reconcile --adopt`` uses it to
        bring a position to the broker's quantity. Recorded once per ``fill_id``."""
        with self._tx():
            try:
                self.db.table("fills").insert({"fill_id": fill_id, "client_order_id": None, "symbol": symbol,
                                         "side": side, "qty": qty, "price": price, "at": at or self._now()})
            except sqlite3.IntegrityError:
                return False
        return True

    @guarded
    def fills(self, client_order_id: str | None = None) -> list[dict[str, object]]:
        """Fills in the order they happened (all, or one order's)."""
        where, args = ("client_order_id = ?", [client_order_id]) if client_order_id else (None, [])
        return [RowReader(self.path, "fills", row).fill()
                for row in self.db.table("fills").rows_where(where, args, order_by=FILL_ORDER, select=SELECT)]

    @guarded
    def orders(self, trading_date: dt.date | None = None) -> list[OrderRecord]:
        where, args = ("trading_date = ?", [trading_date.isoformat()]) if trading_date else (None, [])
        return self._orders(where, args, order_by="created_at")

    @guarded
    def active(self) -> list[OrderRecord]:
        """Orders whose fate is not known to be final."""
        marks = ", ".join("?" for _ in ACTIVE)
        return self._orders(f"status IN ({marks})", [s.value for s in ACTIVE])

    @guarded
    def spent(self, trading_date: dt.date) -> float:
        """Dollars committed on ``trading_date`` by entries, longs and shorts alike (a short's
        notional is exposure as a long's is; see ``OrderRecord.committed``)."""
        return sum(o.committed for o in self.orders(trading_date) if o.opens)

    @guarded
    def positions(self) -> dict[str, Position]:
        """Positions from fills, in fill order: signed quantities (a short is negative) at
        average cost, with the realized P&L (:class:`kobe.risk.ledger.Ledger`)."""
        books = Ledger.of(self.fills()).books
        return {s: Position(s, b.qty, b.cost, b.realized) for s, b in sorted(books.items())}

    @guarded
    def anchor_audit(self, seq: int, digest: str) -> None:
        """Record the audit chain's head (its last record's ``seq`` and ``hash``). Called
        after each append (:class:`kobe.audit.log.AuditLog`), so the anchor is never ahead
        of the chain; it only moves forward (two writers may finish out of order).

        Committed without waiting for the disk (``synchronous=NORMAL``; WAL keeps it
        consistent): a power loss may only lose the latest anchors, which leaves the
        anchor behind the chain, the direction ``kobe audit verify`` accepts."""
        self.db.conn.execute("PRAGMA synchronous=NORMAL")
        try:
            with self._tx():
                self.db.execute(f"INSERT INTO {ANCHOR_TABLE} (id, seq, hash, at) VALUES (1, ?, ?, ?) "
                                f"ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
                                f"at = excluded.at WHERE excluded.seq > {ANCHOR_TABLE}.seq",
                                [seq, digest, self._now()])
        finally:
            self.db.conn.execute("PRAGMA synchronous=FULL")

    @guarded
    def audit_anchor(self) -> tuple[int, str] | None:
        """The audit chain's head as last recorded here: ``(seq, hash)``, or None."""
        rows = list(self.db.query(f"SELECT {SELECT} FROM {ANCHOR_TABLE} WHERE id = 1"))
        return RowReader(self.path, ANCHOR_TABLE, rows[0]).anchor() if rows else None

    @guarded
    def restore(self, order: OrderRecord, history: Sequence[Transition], fills: Sequence[Fill],
                created_at: str) -> None:
        """Write ``order`` as ``kobe reconcile --rebuild`` recovered it, with its
        ``history`` and its ``fills``, in one transaction."""
        with self._tx():
            self.db.table("orders").insert({**self._row(order), "created_at": created_at,
                                            "updated_at": history[-1].at if history else created_at})
            self.db.table("transitions").insert_all(
                [{"client_order_id": order.client_order_id, "from_status": t.from_status,
                  "to_status": t.to_status, "at": t.at, "detail": t.detail} for t in history])
            self.db.table("fills").insert_all(
                [{"fill_id": f.fill_id, "client_order_id": order.client_order_id, "symbol": order.symbol,
                  "side": order.side, "qty": f.qty, "price": f.price, "at": f.at} for f in fills])

    @guarded
    def transitions(self, client_order_id: str) -> list[tuple[str | None, str]]:
        return [RowReader(self.path, "transitions", r).transition() for r in
                self.db.table("transitions").rows_where("client_order_id = ?", [client_order_id], order_by="id",
                                                        select=SELECT)]
