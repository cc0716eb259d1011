"""Bar columns a rule can name: the raw OHLCV and a few derived from one bar.

Each derived column uses only its own bar, so it is as causal as the raw ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Column:
    name: str
    expr: pl.Expr
    doc: str


BAR_COLUMNS: dict[str, Column] = {c.name: c for c in (
    Column("open", pl.col("open"), "First trade of the session."),
    Column("high", pl.col("high"), "Highest trade of the session."),
    Column("low", pl.col("low"), "Lowest trade of the session."),
    Column("close", pl.col("close"), "Last trade of the session."),
    Column("volume", pl.col("volume").cast(pl.Float64), "Shares traded in the session."),
    Column("dollar_volume", pl.col("close") * pl.col("volume").cast(pl.Float64),
           "close × volume: the session's traded value in dollars (an estimate)."),
    Column("typical_price", (pl.col("high") + pl.col("low") + pl.col("close")) / 3, "(high + low + close) / 3."),
    Column("median_price", (pl.col("high") + pl.col("low")) / 2, "(high + low) / 2."),
    Column("range", pl.col("high") - pl.col("low"), "high − low."),
)}

# Names that exist only where a position is being opened: exits (stop, target,
# trailing_stop) are evaluated on the signal bar with the fill price as entry_price.
EXIT_COLUMNS: dict[str, Column] = {
    "entry_price": Column("entry_price", pl.col("entry_price"),
                          "The position's entry (fill) price; only in stop, target and trailing_stop."),
}

REQUIRED_BAR_FIELDS = ("symbol", "date", "open", "high", "low", "close", "volume")
