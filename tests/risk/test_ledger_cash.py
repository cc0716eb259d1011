"""The ledger (kobe/risk/ledger.py) against the cash it must account for: whatever the
fills, long or short or crossing zero, realized plus unrealized P&L at any mark equals
the cash the fills moved plus the position's value at that mark."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kobe.risk.ledger import Ledger

fills = st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.integers(1, 50),
                           st.integers(100, 20_000).map(lambda cents: cents / 100)), max_size=30)


@given(fills, st.integers(100, 20_000).map(lambda cents: cents / 100))
def test_realized_plus_unrealized_is_the_cash_plus_the_position(seq, mark) -> None:
    ledger = Ledger()
    cash, shares = 0.0, 0
    for side, qty, price in seq:
        ledger.apply("A", side, qty, price)
        sign = 1 if side == "buy" else -1
        cash -= sign * qty * price
        shares += sign * qty
    book = ledger.books.get("A")
    qty, cost, realized = (book.qty, book.cost, book.realized) if book else (0.0, 0.0, 0.0)
    assert qty == shares
    assert realized + qty * (mark - cost) == pytest.approx(cash + shares * mark, abs=1e-6)


@pytest.mark.parametrize(("seq", "closed"), [
    pytest.param([("sell", 4, 20.0), ("buy", 1, 18.0)], [(-1, 1, 20.0, 18.0, 2.0)], id="a-short-covered-in-part"),
    pytest.param([("buy", 2, 10.0), ("sell", 5, 12.0)], [(1, 2, 10.0, 12.0, 4.0)], id="past-zero-closes-the-long-only"),
    pytest.param([("buy", 2, 10.0), ("buy", 2, 14.0), ("sell", 4, 11.0)], [(1, 4, 12.0, 11.0, -4.0)],
                 id="closed-at-the-average"),
])
def test_what_each_fill_closes_by_hand(seq, closed) -> None:
    got = [(c.side, c.shares, c.cost, c.price, c.pnl)
           for _, c, _ in Ledger().walk({"symbol": "A", "side": s, "qty": q, "price": p} for s, q, p in seq)
           if c is not None]
    assert got == [pytest.approx(c) for c in closed]
