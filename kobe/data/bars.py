"""Daily bars: where they come from, the one shape every consumer sees, and what is refused.

A bars frame has the columns ``symbol`` (str), ``date`` (date), ``open high low close``
(float64) and ``volume`` (float64), one row per symbol and session, sorted by
(symbol, date). :func:`read_bars` reads the embedded sample (the default), a CSV or a
Parquet file, or a data lake folder (see :mod:`kobe.data.lake`); a file without a
``symbol`` column is one symbol named after the file (``GOOG_2004_2013.csv`` is ``GOOG``).

A file is checked as it is read, and refused (:class:`KobeError`) unless:

- it can be read: a CSV is UTF-8 text with a header line, and every other line has the
  header's number of fields (blank lines are skipped); a Parquet file is one polars reads;
- it has the columns ``date open high low close volume`` (and ``symbol``, or a name to
  take it from), each of its type, or text that parses as it (dates ``YYYY-MM-DD``);
- every value is usable (:func:`kobe.data.quality.unusable_values`: finite, positive,
  plausible prices and volumes, dates that exist). An empty cell is a *missing* value,
  not an unusable one: the quality gate's ``null_value`` rule keeps its symbol from
  trading;
- a symbol has at most one bar per date. The order of the rows is free: they are sorted.

The error names the file and, for each problem (the first :data:`SHOWN`), the line (CSV,
with the line's text) or the row index (Parquet, counted from 0 as polars and pyarrow
count them).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.data.quality import unusable_values

EMBEDDED = "embedded"
BAR_SCHEMA = {"symbol": pl.String, "date": pl.Date, "open": pl.Float64, "high": pl.Float64,
              "low": pl.Float64, "close": pl.Float64, "volume": pl.Float64}
NUMBERS = ("open", "high", "low", "close", "volume")
SHOWN = 10
"""Problems reported per file; a file with more says how many were left out."""

CSV_HINT = ("a bars CSV is UTF-8 text: the header symbol,date,open,high,low,close,volume (symbol may be left "
            "out: then the file's name gives it), one bar per line, dates as YYYY-MM-DD")
PARQUET_HINT = "write it again (e.g. polars' write_parquet) with symbol,date,open,high,low,close,volume"
HINTS = {
    "number": "prices and volume are plain numbers; leave a cell empty when the value is missing",
    "date": "dates are YYYY-MM-DD and must exist on the calendar",
    "missing": "every bar needs its symbol and date",
    "unusable": "no bar can be traded on this value: correct the row or remove it",
    "duplicate": "one bar per symbol and date: keep the right one",
}
_ROW = "_row"


def embedded_path() -> Path:
    """The package's sample bars (see ``kobe/data/embedded/SOURCE.md``)."""
    return Path(str(resources.files("kobe.data").joinpath("embedded/bars.parquet")))


def read_bars(source: str | Path | None = None, *, symbols: Sequence[str] | None = None,
              start: dt.date | None = None, end: dt.date | None = None) -> pl.LazyFrame:
    """Bars from ``source`` (a file, a lake folder, or ``None``/``"embedded"`` for the
    sample) in the standard shape, filtered to ``symbols`` and ``start <= date <= end``.

    A file is read and checked at once (the module doc), so a bad one fails here, with
    its file and line or row, never later inside a query; the filters are pushed down to
    a Parquet file whose columns already have their types. A lake is scanned lazily
    (:meth:`kobe.data.lake.Lake.scan`). Raises :class:`KobeError`.
    """
    path = embedded_path() if source in (None, EMBEDDED) else Path(source)
    if path.is_dir() and (path / "manifest.json").exists():
        from kobe.data.lake import Lake

        return Lake(path).scan(symbols, start, end)
    if not path.exists():
        raise KobeError(Diagnostic(f"no bars file {str(path)!r}", file=str(path),
                                   hint="give a CSV or Parquet file with symbol,date,open,high,low,close,volume"))
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame, where = _read_parquet(path, symbols, start, end)
    elif suffix == ".csv":
        frame, where = _read_csv(path)
    else:
        raise KobeError(Diagnostic(f"unsupported bars file {path.name!r}", file=str(path),
                                   hint="use .csv or .parquet (or a lake folder, with its manifest.json)"))
    try:
        bars = _checked(frame, where)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as err:
        # Never reached by any input the tests know (tests/data/test_bars_fuzz.py); if one
        # does, the file is still named and nothing is read from it.
        detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise KobeError(Diagnostic(f"the file's values could not be checked ({detail})", file=str(path),
                                   hint=CSV_HINT if suffix == ".csv" else PARQUET_HINT)) from None
    if symbols is not None:
        bars = bars.filter(pl.col("symbol").is_in(list(symbols)))
    if start is not None:
        bars = bars.filter(pl.col("date") >= start)
    if end is not None:
        bars = bars.filter(pl.col("date") <= end)
    # _checked sorted the rows (symbol and date are never null, never twice): filters keep the order.
    return bars.lazy()


def in_order(frame: pl.DataFrame) -> bool:
    """Whether ``frame``'s rows are in (symbol, date) order, with no null symbol or date:
    checking is much cheaper than sorting, and files and the lake usually are."""
    if frame.height < 2:
        return frame.height == 0 or frame.select(pl.col("symbol").is_not_null() & pl.col("date").is_not_null()).item()
    symbol, date = pl.col("symbol"), pl.col("date")
    later = (symbol > symbol.shift(1)) | ((symbol == symbol.shift(1)) & (date >= date.shift(1)))
    known = symbol.is_not_null().all() & date.is_not_null().all()
    return bool(frame.select(later.slice(1).all() & known).item())


@dataclass(frozen=True)
class _Where:
    """How to point at a row of the file being read: a CSV's rows have lines (and, when no
    field is quoted, their text, to show the cell); a Parquet file's rows only an index."""

    path: Path
    lines: Sequence[int] | None = None      # CSV: the line of each row
    texts: Sequence[str] | None = None      # CSV without quotes: the text of each row
    header: Sequence[str] = ()

    def file(self, message: str, hint: str | None = None, *, line: int | None = None,
             text: str | None = None) -> Diagnostic:
        return Diagnostic(message, file=str(self.path), line=line, source_line=text, hint=hint)

    def row(self, row: int, column: str, message: str, hint: str | None, context: str = "") -> Diagnostic:
        if self.lines is None:
            return Diagnostic(f"row {row}{context}: {message}", file=str(self.path), hint=hint)
        text = self.texts[row] if self.texts is not None else None
        col, width = None, 1
        if text is not None and column in self.header:
            fields = text.split(",")
            k = list(self.header).index(column)
            col, width = sum(len(f) + 1 for f in fields[:k]) + 1, max(1, len(fields[k]))
        return Diagnostic(message, file=str(self.path), line=self.lines[row], col=col, source_line=text,
                          width=width, hint=hint)


def _unreadable(path: Path, kind: str, err: BaseException, hint: str) -> KobeError:
    detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
    return KobeError(Diagnostic(f"not a readable {kind} file ({detail})", file=str(path), hint=hint))


READ_ERRORS = (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError, ValueError)
"""What polars raises on a file it cannot read (a panic included: a damaged file must
never end the process with a traceback)."""


def _read_parquet(path: Path, symbols: Sequence[str] | None, start: dt.date | None,
                  end: dt.date | None) -> tuple[pl.DataFrame, _Where]:
    try:
        scan = pl.scan_parquet(path, row_index_name=_ROW)
        schema = scan.collect_schema()
        if scan.select(pl.len()).collect().item() == 0:
            raise KobeError(Diagnostic("the file holds no bars", file=str(path), hint=PARQUET_HINT))
        # Typed as the standard shape: the filters go down to the file, and only the rows read are checked.
        if schema.get("date") == pl.Date and schema.get("symbol", pl.String) == pl.String:
            if symbols is not None and "symbol" in schema:
                scan = scan.filter(pl.col("symbol").is_in(list(symbols)))
            if start is not None:
                scan = scan.filter(pl.col("date") >= start)
            if end is not None:
                scan = scan.filter(pl.col("date") <= end)
        frame = scan.collect()
    except READ_ERRORS as err:
        raise _unreadable(path, "Parquet", err, PARQUET_HINT) from None
    return frame, _Where(path)


def _read_csv(path: Path) -> tuple[pl.DataFrame, _Where]:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise _unreadable(path, "CSV", err, CSV_HINT) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line_start = raw.rfind(b"\n", 0, err.start) + 1
        raise KobeError(Diagnostic(f"byte 0x{raw[err.start]:02x} is not UTF-8 text", file=str(path),
                                   line=raw.count(b"\n", 0, err.start) + 1, col=err.start - line_start + 1,
                                   hint=CSV_HINT)) from None
    if not text.strip():
        raise KobeError(Diagnostic("the file is empty: no header, no bars", file=str(path), hint=CSV_HINT))
    if '"' in text:
        return _read_quoted_csv(path, text)
    # No quotes: a line is a row, and its fields are its commas' pieces. Polars reads it,
    # one row per line after the header (blank lines included), so a row's line is its index + 2.
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    header, body = lines[0].split(","), lines[1:]
    if body and body[-1] == "":
        body.pop()
    where = _Where(path, range(2, len(body) + 2), body, header)
    _check_header(where, header, lines[0])
    texts = pl.Series(_ROW + "_text", body, dtype=pl.String)
    counts = texts.str.count_matches(",", literal=True) + 1
    blank = texts.str.strip_chars() == ""
    _check_fields(where, counts, blank, len(header))
    try:
        frame = pl.read_csv(io.BytesIO(raw), infer_schema=False, row_index_name=_ROW)
    except READ_ERRORS as err:
        raise _unreadable(path, "CSV", err, CSV_HINT) from None
    if frame.height != len(body):   # a line polars split otherwise than at its commas
        raise KobeError(where.file(f"{frame.height} rows read from {len(body)} lines", CSV_HINT))
    return frame.filter(~blank), where


def _read_quoted_csv(path: Path, text: str) -> tuple[pl.DataFrame, _Where]:
    """A CSV with quoted fields, through the csv module, which knows each row's line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for fields in reader:
            rows.append(fields)
            lines.append(reader.line_num)
    except csv.Error as err:
        raise KobeError(Diagnostic(f"not a readable CSV file ({err})", file=str(path), line=reader.line_num + 1,
                                   hint=CSV_HINT)) from None
    header, body, body_lines = rows[0], rows[1:], lines[1:]
    where = _Where(path, body_lines, None, header)
    _check_header(where, header, text.splitlines()[0])
    blank = pl.Series([all(not f.strip() for f in fields) for fields in body], dtype=pl.Boolean)
    _check_fields(where, pl.Series([len(fields) for fields in body], dtype=pl.Int64), blank, len(header))
    body = [fields or [""] * len(header) for fields in body]     # a blank line: read as nothing, then dropped
    columns = {name: pl.Series(name, [fields[i] for fields in body], dtype=pl.String) for i, name in enumerate(header)}
    frame = pl.DataFrame(columns).with_row_index(_ROW).with_columns(
        [pl.col(name).replace("", None) for name in header])
    return frame.filter(~blank), where


def _check_header(where: _Where, header: Sequence[str], text: str) -> None:
    twice = sorted({name for name in header if header.count(name) > 1 and name in BAR_SCHEMA})
    if twice:
        raise KobeError(where.file(f"the header names {', '.join(twice)} more than once", CSV_HINT, line=1,
                                   text=text))


def _check_fields(where: _Where, counts: pl.Series, blank: pl.Series, expected: int) -> None:
    """Every line that is not blank has the header's number of fields."""
    ragged = (counts != expected) & ~blank
    if not ragged.any():
        return
    rows = ragged.arg_true().to_list()
    hint = "a line cut short (a truncated file?), a stray comma, or a field with a comma not in quotes"
    diagnostics = [where.file(f"{counts[r]} fields, the header has {expected}", hint, line=where.lines[r] if where.lines
                              else None, text=where.texts[r] if where.texts is not None else None)
                   for r in rows[:SHOWN]]
    raise KobeError(_capped(where, diagnostics, len(rows)))


def _capped(where: _Where, diagnostics: list[Diagnostic], total: int) -> list[Diagnostic]:
    if total > len(diagnostics):
        diagnostics.append(where.file(f"{total - len(diagnostics)} more problem(s) in this file not shown"))
    return diagnostics


def _converted(frame: pl.DataFrame, where: _Where) -> tuple[pl.LazyFrame, list[str]]:
    """The standard columns of ``frame`` in their types, and the columns that came as text
    (their original cells are kept as ``<name>_text`` to say what did not parse)."""
    if "symbol" not in frame.columns:
        frame = frame.with_columns(pl.lit(where.path.stem.split("_")[0].upper()).alias("symbol"))
    missing = [c for c in BAR_SCHEMA if c not in frame.columns]
    if missing:
        header = ",".join(where.header) if where.header else None
        raise KobeError(where.file(f"bars file lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
                                   CSV_HINT if where.lines is not None else PARQUET_HINT,
                                   line=1 if header is not None else None, text=header))
    exprs: list[pl.Expr] = []
    texts: list[str] = []
    wrong: list[Diagnostic] = []
    for name, dtype in BAR_SCHEMA.items():
        given = frame.schema[name]
        column = pl.col(name)
        if given == pl.String:
            texts.append(name)
            cell = column.str.strip_chars()
            if name == "date":
                # A time of day after the date is allowed (some exports write midnight).
                parsed = cell.str.replace(r"^(\d+-\d+-\d+)[T ].*$", "$1").str.to_date("%Y-%m-%d", strict=False)
            elif name == "symbol":
                parsed = pl.when(cell == "").then(None).otherwise(cell)
            else:
                parsed = cell.cast(pl.Float64, strict=False)
            exprs += [column.alias(f"{name}_text"), parsed.alias(name)]
        elif given == pl.Null or (name == "symbol" and isinstance(given, pl.Categorical | pl.Enum)) \
                or (name in NUMBERS and given.is_numeric()) or (name == "date" and given == pl.Date):
            exprs.append(column.cast(dtype))
        elif name == "date" and isinstance(given, pl.Datetime):
            exprs.append(column.dt.date())
        else:
            wrong.append(where.file(f"column {name} holds {given}, not {'text' if dtype == pl.String else dtype}",
                                    CSV_HINT if where.lines is not None else PARQUET_HINT))
    if wrong:
        raise KobeError(wrong)
    return frame.lazy().select(_ROW, *exprs), texts


def _checked(frame: pl.DataFrame, where: _Where) -> pl.DataFrame:
    """``frame`` in the standard shape, sorted, or a :class:`KobeError` naming every
    problem's row."""
    if frame.height == 0 and where.lines is not None:
        raise KobeError(where.file("the file holds no bars, only its header", CSV_HINT))
    converted, texts = _converted(frame, where)
    lazy = converted.lazy()
    problems = [_parse_failures(lazy, name) for name in texts]
    problems += [lazy.filter(pl.col(name).is_null() & ~_failed(name, texts))
                 .select(_ROW, pl.lit(name).alias("column"), pl.lit("missing").alias("kind"),
                         pl.lit("is missing").alias("fault"))
                 for name in ("symbol", "date")]
    values = unusable_values(lazy.select(_ROW, *BAR_SCHEMA))
    problems.append(values.select(_ROW, "column", pl.lit("unusable").alias("kind"), "fault"))
    # Rows strictly in (symbol, date) order (the usual file) need no sort and hold no second
    # bar of a date. One parallel query for the columns and every check.
    symbol, date = pl.col("symbol"), pl.col("date")
    strictly = ((symbol > symbol.shift(1)) | ((symbol == symbol.shift(1)) & (date > date.shift(1)))).slice(1).all()
    ordered = strictly & symbol.is_not_null().all() & date.is_not_null().all()
    # Only the standard columns are kept: the row numbers and the cells as text are read
    # again on the rare paths that need them (a sort, a message).
    bars, order, *found_parts = pl.collect_all([lazy.select(*BAR_SCHEMA), lazy.select(ordered), *problems])
    parts = list(found_parts)
    if order.item():
        if not any(p.height for p in parts):
            return bars
    else:
        # Sorted, a row whose (symbol, date) is its predecessor's is a second bar; it points back at that one.
        typed = lazy.collect()
        if not in_order(typed):
            typed = typed.sort("symbol", "date", maintain_order=True, nulls_last=True)
        same = (symbol == symbol.shift(1)) & (date == date.shift(1))
        parts.append(typed.select(_ROW, pl.lit("date").alias("column"), pl.lit("duplicate").alias("kind"),
                                  pl.col(_ROW).shift(1).cast(pl.String).alias("fault"), same.alias("_same"))
                     .filter(pl.col("_same").fill_null(False)).drop("_same"))
    found = pl.concat([p.with_columns(pl.col(_ROW).cast(pl.Int64)) for p in parts]).sort(_ROW, maintain_order=True)
    if found.height == 0:
        return typed.select(*BAR_SCHEMA)
    typed = lazy.collect() if order.item() else typed
    # Dates as text, polars' own: a date beyond Python's years (a damaged file) has no Python value.
    day = pl.col("date")
    readable = pl.when(day.dt.year().is_between(1, 9999)).then(day).otherwise(None).cast(pl.String)
    rows = {r[_ROW]: r for r in typed.filter(pl.col(_ROW).is_in(found[_ROW].head(SHOWN).implode()))
            .with_columns(readable.fill_null(pl.format("day {} of the epoch", day.cast(pl.Int64))).alias("date"))
            .iter_rows(named=True)}
    diagnostics = [_diagnostic(where, rows[row], column, kind, fault)
                   for row, column, kind, fault in found.head(SHOWN).iter_rows()]
    raise KobeError(_capped(where, diagnostics, found.height))


def _failed(name: str, texts: Sequence[str]) -> pl.Expr:
    """Rows where the text of column ``name`` was given but did not parse."""
    if name not in texts:
        return pl.lit(False)
    given = pl.col(f"{name}_text").str.strip_chars().fill_null("") != ""
    return given & pl.col(name).is_null()


def _parse_failures(typed: pl.LazyFrame, name: str) -> pl.LazyFrame:
    kind = "date" if name == "date" else "number"
    fault = "is not a date (YYYY-MM-DD)" if name == "date" else "is not a number"
    return (typed.filter(_failed(name, [name]))
            .select(_ROW, pl.lit(name).alias("column"), pl.lit(kind).alias("kind"), pl.lit(fault).alias("fault")))


def _shown(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _diagnostic(where: _Where, row: dict[str, object], column: str, kind: str, fault: str) -> Diagnostic:
    index = int(str(row[_ROW]))
    symbol, day = row.get("symbol"), row.get("date")
    # A CSV diagnostic shows the line itself; a Parquet row is named by its symbol and date.
    context = f" ({symbol} {day})" if where.lines is None and symbol is not None and day is not None else ""
    if kind == "duplicate":
        first = int(fault)
        there = f"line {where.lines[first]}" if where.lines is not None else f"row {first}"
        return where.row(index, column, f"a second bar for {symbol} on {day}; another is at {there}",
                         HINTS[kind], context)
    # As written in the file when it came as text: "1e308", not the float it parses to.
    value = row.get(f"{column}_text", row.get(column))
    shown = "" if kind == "missing" else f" {_shown(value)}"
    return where.row(index, column, f"{column}{shown} {fault}", HINTS[kind], context)
