"""The ledger: signed positions at average cost from fills, in one place.

Every reader of the fills that needs positions or closed shares walks them through
:class:`Ledger`: the order store's positions and realized P&L, the Kelly cap's closed
trade returns, the live round trips the drift check compares with the backtest, and the
wins and losses of the metrics. So a short is booked the same way everywhere. (It lives
with the risk rules, below the decisions and the order store, because the Kelly cap
reads it too.)

- a quantity is **signed**: a long positive, a short negative;
- a fill on the position's side (or from flat) averages into its cost (for a short, the
  average price it was sold at);
- a fill against it **closes** ``min(fill, |position|)`` shares at the average cost,
  realizing ``(price - cost) x shares`` for a long and ``(cost - price) x shares`` for a
  short; what goes past zero opens the other side at the fill's price.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

FLAT = 1e-9


@dataclass(frozen=True, slots=True)
class Closed:
    """Shares a fill closed: ``side`` of the position (+1 long, -1 short), at ``cost``
    (the position's average) and ``price`` (the fill's)."""

    symbol: str
    side: int
    shares: float
    cost: float
    price: float
    fill: Mapping[str, Any]

    @property
    def pnl(self) -> float:
        return self.side * (self.price - self.cost) * self.shares


@dataclass(slots=True)
class Book:
    qty: float = 0.0        # signed
    cost: float = 0.0       # average price of the shares held
    realized: float = 0.0


class Ledger:
    """Positions per symbol, moved one fill at a time (the module doc)."""

    def __init__(self) -> None:
        self.books: dict[str, Book] = {}

    def apply(self, symbol: str, side: str, qty: float, price: float,
              fill: Mapping[str, Any] | None = None) -> tuple[Closed | None, bool]:
        """Book one fill; returns what it closed (or None) and whether it opened shares
        (from flat, added to the position, or past zero)."""
        book = self.books.setdefault(symbol, Book())
        change = qty if side == "buy" else -qty
        if abs(book.qty) < FLAT or (book.qty > 0) == (change > 0):
            total = abs(book.qty) + qty
            book.cost = (abs(book.qty) * book.cost + qty * price) / total if total else 0.0
            book.qty += change
            return None, qty > 0
        held = 1 if book.qty > 0 else -1
        closed = Closed(symbol, held, min(qty, abs(book.qty)), book.cost, price, fill or {})
        book.realized += closed.pnl
        book.qty += change
        if abs(book.qty) < FLAT:
            book.qty, book.cost = 0.0, 0.0
            return closed, False
        if (book.qty > 0) == (change > 0):
            book.cost = price                 # past zero: the rest opened the other side here
            return closed, True
        return closed, False

    @classmethod
    def of(cls, fills: Iterable[Mapping[str, Any]]) -> Ledger:
        """The ledger after ``fills``."""
        ledger = cls()
        for _ in ledger.walk(fills):
            pass
        return ledger

    def walk(self, fills: Iterable[Mapping[str, Any]]) -> Iterator[tuple[Mapping[str, Any], Closed | None, bool]]:
        """Book ``fills`` (rows with ``symbol``, ``side``, ``qty``, ``price``) in their
        order, yielding each with what it closed and whether it opened shares."""
        for fill in fills:
            closed, opened = self.apply(str(fill["symbol"]), str(fill["side"]), float(fill["qty"]),
                                        float(fill["price"]), fill)
            yield fill, closed, opened
