"""The order store: orders, every state transition and every fill, in SQLite (WAL).

A transition is committed before the next network call, so after a crash the store
knows every order it ever decided to send, including those whose fate is unknown. What
was spent on a trading date, the open orders and the positions all derive from it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import sqlite_utils

from kobe.oms.orders import OrderRecord, OrderStatus

FILL_ORDER = "at, rowid"
"""Fills in the broker's time order (``at`` is the broker's execution time, UTC ISO 8601);
equal times (a replayed clock standing still) keep the order they were recorded in,
which is the order the cycle sent them (exits before entries). Never by ``fill_id``: a
re-buy's id may sort before the sell it follows, and average cost would then be wrong."""

ACTIVE = (OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNKNOWN)


@dataclass(frozen=True)
class Position:
    symbol: str
    qty: float
    avg_cost: float          # average cost of the shares held
    realized_pnl: float      # from sells, against the average cost


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


class OrderStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # a committed transition survives power loss
        self.db = sqlite_utils.Database(conn)
        self._create()

    def _create(self) -> None:
        if "orders" in self.db.table_names():
            self._migrate()
            return
        # Two processes opening a new store at once: the write lock first, then look again
        # (a deferred transaction would fail its upgrade at once instead of waiting).
        with self._tx():
            if "orders" not in self.db.table_names():
                self._create_tables()

    NEW_COLUMNS: ClassVar[dict[str, type]] = {"order_type": str, "stop_price": float, "time_in_force": str}
    """Columns added after the first stores were written: a store from before gains them."""

    def _migrate(self) -> None:
        missing = {c: t for c, t in self.NEW_COLUMNS.items() if c not in self.db.table("orders").columns_dict}
        if missing:
            with self._tx():
                for column, kind in missing.items():
                    if column not in self.db.table("orders").columns_dict:
                        self.db.table("orders").add_column(column, kind)

    def _create_tables(self) -> None:
        self.db.table("orders").create({
            "client_order_id": str, "strategy": str, "symbol": str, "side": str, "qty": int,
            "limit_price": float, "trading_date": str, "status": str, "broker_order_id": str,
            "filled_qty": float, "filled_avg_price": float, "reason": str, "created_at": str, "updated_at": str,
            **self.NEW_COLUMNS,
        }, pk="client_order_id", not_null={"strategy", "symbol", "side", "qty", "trading_date", "status"})
        self.db.table("orders").create_index(["trading_date"])
        self.db.table("transitions").create({"id": int, "client_order_id": str, "from_status": str,
                                       "to_status": str, "at": str, "detail": str}, pk="id")
        self.db.table("fills").create({"fill_id": str, "client_order_id": str, "symbol": str, "side": str,
                                 "qty": float, "price": float, "at": str}, pk="fill_id")

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

    @staticmethod
    def _record(row: dict[str, object]) -> OrderRecord:
        return OrderRecord(
            client_order_id=str(row["client_order_id"]), strategy=str(row["strategy"]), symbol=str(row["symbol"]),
            side=str(row["side"]), qty=int(float(str(row["qty"]))),
            limit_price=row["limit_price"],  # type: ignore[arg-type]
            trading_date=dt.date.fromisoformat(str(row["trading_date"])), status=OrderStatus(row["status"]),
            broker_order_id=row["broker_order_id"],  # type: ignore[arg-type]
            filled_qty=float(row["filled_qty"] or 0), filled_avg_price=row["filled_avg_price"],  # type: ignore[arg-type]
            reason=str(row["reason"] or ""), order_type=str(row.get("order_type") or "limit"),
            stop_price=row.get("stop_price"),  # type: ignore[arg-type]
            time_in_force=str(row.get("time_in_force") or "ioc"))

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

    def get(self, client_order_id: str) -> OrderRecord | None:
        rows = list(self.db.table("orders").rows_where("client_order_id = ?", [client_order_id]))
        return self._record(rows[0]) if rows else None

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

    def fills(self, client_order_id: str | None = None) -> list[dict[str, object]]:
        """Fills in the order they happened (all, or one order's)."""
        where, args = ("client_order_id = ?", [client_order_id]) if client_order_id else (None, [])
        return list(self.db.table("fills").rows_where(where, args, order_by=FILL_ORDER))

    def orders(self, trading_date: dt.date | None = None) -> list[OrderRecord]:
        where, args = ("trading_date = ?", [trading_date.isoformat()]) if trading_date else (None, [])
        return [self._record(r) for r in self.db.table("orders").rows_where(where, args, order_by="created_at")]

    def active(self) -> list[OrderRecord]:
        """Orders whose fate is not known to be final."""
        marks = ", ".join("?" for _ in ACTIVE)
        return [self._record(r) for r in self.db.table("orders").rows_where(f"status IN ({marks})",
                                                                      [s.value for s in ACTIVE])]

    def spent(self, trading_date: dt.date) -> float:
        """Dollars committed on ``trading_date`` by buy orders (see ``OrderRecord.committed``)."""
        return sum(o.committed for o in self.orders(trading_date) if o.side == "buy")

    def positions(self) -> dict[str, Position]:
        """Positions from fills, in fill order; average-cost accounting for realized P&L."""
        book: dict[str, list[float]] = {}   # symbol -> [qty, avg_cost, realized]
        for fill in self.fills():
            symbol = str(fill["symbol"])
            qty, cost, realized = book.get(symbol, [0.0, 0.0, 0.0])
            q, p = float(str(fill["qty"])), float(str(fill["price"]))
            if fill["side"] == "buy":
                cost = (qty * cost + q * p) / (qty + q) if qty + q else 0.0
                qty += q
            else:
                realized += q * (p - cost)
                qty -= q
                if abs(qty) < 1e-9:
                    qty, cost = 0.0, 0.0
            book[symbol] = [qty, cost, realized]
        return {s: Position(s, q, c, r) for s, (q, c, r) in sorted(book.items())}

    def transitions(self, client_order_id: str) -> list[tuple[str | None, str]]:
        return [(r["from_status"], r["to_status"]) for r in
                self.db.table("transitions").rows_where("client_order_id = ?", [client_order_id], order_by="id")]
