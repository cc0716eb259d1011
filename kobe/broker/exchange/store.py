"""The venue's durable state: orders, fills, positions and the account, in SQLite.

One SQLite file (WAL mode) through sqlite-utils. Every change the venue makes to the
state is one transaction (:meth:`Store.transaction`, sqlite-utils 4's ``db.atomic()``,
which its own writes join instead of committing on their own), so a crash, ``kill -9`` included,
leaves the state of the last completed request: an order is never half filled on disk.
Decimals are stored as their exact strings and instants as ISO 8601 UTC text. With no
path the state lives in memory and ends with the exchange.

Tables: ``orders`` (one row per order, ``client_order_id`` unique), ``fills`` (one row per
execution), ``positions`` (one row per symbol held) and ``meta`` (cash, account id, the
clock's last instant).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from kobe.broker.exchange.records import Fill, Order, Position
from kobe.config.errors import Diagnostic, KobeError

_ORDER_DECIMALS = {"qty", "limit_price", "reserve_price", "filled_qty", "filled_avg_price", "stop_price"}
_ORDER_TIMES = {"created_at", "updated_at", "submitted_at", "live_from", "checked_until", "filled_at",
                "canceled_at", "expired_at", "failed_at", "triggered_at", "replaced_at"}
_ORDER_COLUMNS: dict[str, type] = {f.name: (int if f.name in ("seq", "reject") else str) for f in fields(Order)}


def _to_text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _order_from_row(row: dict[str, Any]) -> Order:
    values: dict[str, Any] = {}
    for name, value in row.items():
        if value is not None and name in _ORDER_DECIMALS:
            value = Decimal(value)
        elif value is not None and name in _ORDER_TIMES:
            value = dt.datetime.fromisoformat(value)
        elif name == "reject":
            value = bool(value)
        elif name == "position_intent":
            value = value or ""       # a row from before shorts: Order.intent derives it
        elif name == "order_class":
            value = value or ""       # a row from before OCO orders: a simple order
        values[name] = value
    return Order(**values)


@dataclass(frozen=True)
class Snapshot:
    orders: list[Order]
    positions: list[Position]
    meta: dict[str, str]


class Store:
    """Orders, fills, positions and account values in one SQLite database."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            # The HTTP server answers on several threads; the venue's lock serialises
            # every use of this one connection.
            conn = sqlite3.connect(str(path) if path is not None else ":memory:", check_same_thread=False)
            self.db = Database(conn)
            if path is not None:
                self.db.enable_wal()
            self._create()
        except sqlite3.DatabaseError as err:
            raise KobeError(Diagnostic(f"cannot open the exchange state: {err}", file=str(path),
                                       hint="give --state a new file, or the exchange's own SQLite file")) from None

    def _create(self) -> None:
        if "orders" not in self.db.table_names():
            self.db.table("orders").create(_ORDER_COLUMNS, pk="id")
            self.db.table("orders").create_index(["client_order_id"], unique=True)
            self.db.table("orders").create_index(["status"])
        else:
            # A state file written before stop orders, replaces, OCO orders and shorts existed
            # gains their columns, empty: its orders have no stop, were never replaced
            # and are simple orders.
            present = self.db.table("orders").columns_dict
            for name, kind in _ORDER_COLUMNS.items():
                if name not in present:
                    self.db.table("orders").add_column(name, kind)
        if "fills" not in self.db.table_names():
            self.db.table("fills").create({"id": int, "order_id": str, "symbol": str, "side": str, "qty": str,
                                     "price": str, "at": str}, pk="id")
            self.db.table("fills").create_index(["order_id"])
        if "positions" not in self.db.table_names():
            self.db.table("positions").create({"symbol": str, "qty": str, "cost_basis": str}, pk="symbol")
        if "meta" not in self.db.table_names():
            self.db.table("meta").create({"key": str, "value": str}, pk="key")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen together or not at all."""
        with self.db.atomic():
            yield

    def load(self) -> Snapshot:
        orders = [_order_from_row(row) for row in self.db.table("orders").rows_where(order_by="seq")]
        positions = [Position(r["symbol"], Decimal(r["qty"]), Decimal(r["cost_basis"]))
                     for r in self.db.table("positions").rows]
        meta = {r["key"]: r["value"] for r in self.db.table("meta").rows}
        return Snapshot(orders, positions, meta)

    def save_order(self, order: Order) -> None:
        self.db.table("orders").upsert({k: _to_text(v) for k, v in asdict(order).items()}, pk="id")

    def add_fill(self, fill: Fill) -> None:
        self.db.table("fills").insert({k: _to_text(v) for k, v in asdict(fill).items()})

    def fills(self, order_id: str | None = None) -> list[Fill]:
        rows = (self.db.table("fills").rows_where("order_id = ?", [order_id], order_by="id") if order_id
                else self.db.table("fills").rows_where(order_by="id"))
        return [Fill(r["order_id"], r["symbol"], r["side"], Decimal(r["qty"]), Decimal(r["price"]),
                     dt.datetime.fromisoformat(r["at"])) for r in rows]

    def save_position(self, position: Position) -> None:
        if position.qty == 0:
            self.db.table("positions").delete_where("symbol = ?", [position.symbol])
            return
        self.db.table("positions").upsert({"symbol": position.symbol, "qty": str(position.qty),
                                     "cost_basis": str(position.cost_basis)}, pk="symbol")

    def set_meta(self, key: str, value: str) -> None:
        self.db.table("meta").upsert({"key": key, "value": value}, pk="key")

    def close(self) -> None:
        self.db.close()
