"""Daily bars: where they come from and the one shape every consumer sees.

A bars frame has the columns ``symbol`` (str), ``date`` (date), ``open high low close``
(float64) and ``volume`` (float64), one row per symbol and session, sorted by
(symbol, date). :func:`read_bars` reads the embedded sample (the default), a CSV or a
Parquet file, or a data lake folder (see :mod:`kobe.data.lake`); a file without a
``symbol`` column is one symbol named after the file (``GOOG_2004_2013.csv`` is ``GOOG``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import polars as pl

from kobe.config.errors import Diagnostic, KobeError

EMBEDDED = "embedded"
BAR_SCHEMA = {"symbol": pl.String, "date": pl.Date, "open": pl.Float64, "high": pl.Float64,
              "low": pl.Float64, "close": pl.Float64, "volume": pl.Float64}


def embedded_path() -> Path:
    """The package's sample bars (see ``kobe/data/embedded/SOURCE.md``)."""
    return Path(str(resources.files("kobe.data").joinpath("embedded/bars.parquet")))


def read_bars(source: str | Path | None = None, *, symbols: Sequence[str] | None = None,
              start: dt.date | None = None, end: dt.date | None = None) -> pl.LazyFrame:
    """Bars from ``source`` (a file, or ``None``/``"embedded"`` for the sample) as a lazy
    frame in the standard shape, filtered to ``symbols`` and ``start <= date <= end``.

    Filters are pushed down to the file scan. Raises :class:`KobeError` when the file is
    missing or lacks a column.
    """
    path = embedded_path() if source in (None, EMBEDDED) else Path(source)
    if path.is_dir() and (path / "manifest.json").exists():
        from kobe.data.lake import Lake

        return Lake(path).scan(symbols, start, end)
    if not path.exists():
        raise KobeError(Diagnostic(f"no bars file {str(path)!r}", file=str(path),
                                   hint="give a CSV or Parquet file with symbol,date,open,high,low,close,volume"))
    if path.suffix.lower() == ".parquet":
        frame = pl.scan_parquet(path)
    elif path.suffix.lower() == ".csv":
        frame = pl.scan_csv(path, try_parse_dates=True)
    else:
        raise KobeError(Diagnostic(f"unsupported bars file {path.name!r}", file=str(path),
                                   hint="use .csv or .parquet"))
    columns = frame.collect_schema().names()
    if "symbol" not in columns:
        frame = frame.with_columns(pl.lit(path.stem.split("_")[0].upper()).alias("symbol"))
        columns.append("symbol")
    missing = [c for c in BAR_SCHEMA if c not in columns]
    if missing:
        raise KobeError(Diagnostic(f"bars file lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
                                   file=str(path)))
    frame = frame.select([pl.col(c).cast(t) for c, t in BAR_SCHEMA.items()])
    if symbols is not None:
        frame = frame.filter(pl.col("symbol").is_in(list(symbols)))
    if start is not None:
        frame = frame.filter(pl.col("date") >= start)
    if end is not None:
        frame = frame.filter(pl.col("date") <= end)
    return frame.sort("symbol", "date")
