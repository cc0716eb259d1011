"""The receipt's data hash: its value is fixed by the canonical form documented in
:func:`kobe.backtest.receipt.data_sha256`, whatever the row order, the symbol's type or
the slicing used to feed the digest."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from kobe.backtest import receipt
from kobe.backtest.market import load_market
from kobe.backtest.receipt import data_sha256

# The hash of BARS below, computed from the canonical form (kobe-bars-v1) when it was
# introduced: sort, then one `symbol\tcount\n` line per symbol, int32 days, float64 columns.
GOLDEN = "2709048f4051557aa3287e586acba8a6c61e303e66afe40efc03d0107de3732c"

BARS = pl.DataFrame({
    "symbol": ["MSFT", "AAPL", "AAPL", "MSFT", "AAPL"],
    "date": [dt.date(2020, 1, 2), dt.date(2020, 1, 3), dt.date(2020, 1, 2), dt.date(2020, 1, 3), dt.date(2020, 1, 6)],
    "open": [1.0, 2.0, 3.0, 4.0, 5.0], "high": [1.5, 2.5, 3.5, 4.5, 5.5], "low": [0.5, 1.5, 2.5, 3.5, 4.5],
    "close": [1.25, 2.25, 3.25, 4.25, 5.25], "volume": [100, 200, 300, 400, 500],
})


def test_hash_value_is_the_canonical_form() -> None:
    assert data_sha256(BARS) == GOLDEN


def test_hash_ignores_row_order_and_symbol_type() -> None:
    ordered = BARS.sort("symbol", "date")
    assert data_sha256(ordered) == GOLDEN
    assert data_sha256(load_market(BARS).bars) == GOLDEN          # Enum symbols, extra _row column
    assert data_sha256(BARS.reverse()) == GOLDEN


def test_hash_does_not_depend_on_the_slice_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receipt, "_HASH_SLICE_ROWS", 2)
    assert data_sha256(BARS) == GOLDEN
    assert data_sha256(BARS.sort("symbol", "date")) == GOLDEN


def test_hash_sees_every_value() -> None:
    for column, value in (("close", 9.0), ("volume", 7), ("date", dt.date(2020, 1, 7))):
        changed = BARS.with_columns(pl.when(pl.int_range(pl.len()) == 4).then(pl.lit(value))
                                    .otherwise(pl.col(column)).alias(column))
        assert data_sha256(changed) != GOLDEN
    assert data_sha256(BARS.with_columns(pl.col("symbol").replace("MSFT", "MSFU"))) != GOLDEN
