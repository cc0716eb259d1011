"""Bar columns a rule can name: the raw OHLCV and a few derived from one bar.

Each derived column uses only its own bar, so it is as causal as the raw ones.

The table holds names and docs only; each column's Polars expression is built when a
rule is compiled (:attr:`Column.expr`). Checking a rule (``kobe validate``) reads names,
and importing Polars to build expressions nobody evaluates costs ~150 ms per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class Column:
    name: str
    doc: str

    @property
    def expr(self) -> pl.Expr:
        """The column's Polars expression over a frame of bars (imports Polars)."""
        return _expressions()[self.name]


@cache
def _expressions() -> dict[str, pl.Expr]:
    import polars as pl

    high, low, close = pl.col("high"), pl.col("low"), pl.col("close")
    volume = pl.col("volume").cast(pl.Float64)
    return {
        "open": pl.col("open"),
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "dollar_volume": close * volume,
        "typical_price": (high + low + close) / 3,
        "median_price": (high + low) / 2,
        "range": high - low,
        "entry_price": pl.col("entry_price"),
        # Not computed from the bar: the meta-model's probability, joined onto the bars
        # by the backtest and the scan (kobe.research.ml.meta); null where there is none.
        "meta_prob": pl.col("meta_prob"),
    }


BAR_COLUMNS: dict[str, Column] = {c.name: c for c in (
    Column("open", "First trade of the session."),
    Column("high", "Highest trade of the session."),
    Column("low", "Lowest trade of the session."),
    Column("close", "Last trade of the session."),
    Column("volume", "Shares traded in the session."),
    Column("dollar_volume", "close × volume: the session's traded value in dollars (an estimate)."),
    Column("typical_price", "(high + low + close) / 3."),
    Column("median_price", "(high + low) / 2."),
    Column("range", "high − low."),
    Column("meta_prob", "The meta-model's probability that this bar's signal wins (`kobe ml train`); "
                        "only in filters, null where no model speaks."),
)}

# Names that exist only where a position is being opened: exits (stop, target,
# trailing_stop) are evaluated on the signal bar with the fill price as entry_price.
EXIT_COLUMNS: dict[str, Column] = {
    "entry_price": Column("entry_price", "The position's entry (fill) price; only in stop, target and trailing_stop."),
}

REQUIRED_BAR_FIELDS = ("symbol", "date", "open", "high", "low", "close", "volume")
