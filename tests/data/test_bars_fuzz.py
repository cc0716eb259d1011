"""A property over bar files: whatever happens to a small valid CSV or Parquet file
(truncation, byte garbage, a cell replaced by text, nan, inf, a negative or huge number,
a garbled date, rows duplicated or shuffled, a column dropped or retyped), reading it
either succeeds with bars every consumer can use, or raises a KobeError naming the file
(and the line or row of a bad row); never another exception.

CI runs a modest number of examples; ``KOBE_FUZZ_EXAMPLES=10000 pytest
tests/data/test_bars_fuzz.py`` runs as many as asked."""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kobe.backtest.market import load_market
from kobe.config.errors import KobeError
from kobe.data.bars import BAR_SCHEMA, read_bars
from kobe.data.quality import DATE_RANGE, MAX_VOLUME, PRICE_RANGE, check_bars

EXAMPLES = int(os.environ.get("KOBE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BASE = read_bars(symbols=["KO", "PFE"], start=dt.date(2017, 3, 1), end=dt.date(2017, 3, 10)).collect()
COLUMNS = list(BAR_SCHEMA)
# A diagnostic about the whole file rather than one of its rows.
FILE_LEVEL = re.compile(r"the file is empty|holds no bars|not a readable|rows read from|lacks column|"
                        r"more problem\(s\)|column \w+ holds|names .* more than once")

CELLS = st.one_of(
    st.sampled_from(["", "abc", "nan", "NaN", "inf", "-inf", "Infinity", "1e308", "1e400", "-1", "0", "-0.0",
                     "1e-9", "0x10", "1_000", " 12.5 ", "2017-03-01", "2017-02-30", "2017-13-01", "99999-01-01",
                     "17-03-01", "1800-01-01", "2200-01-01", "2017-03-01T09:30", "NULL", "\x00", "é", "\ufeff"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)).map(dt.date.isoformat),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),    # quotes, commas and line ends too
)

Lines = list[str]


def csv_mutations() -> st.SearchStrategy[Callable[[Lines], Lines]]:
    def cell(row: int, column: int, value: str) -> Callable[[Lines], Lines]:
        def apply(lines: Lines) -> Lines:
            if len(lines) < 2:
                return lines
            at = 1 + row % (len(lines) - 1)
            fields = lines[at].split(",")
            fields[column % len(fields)] = value
            return [*lines[:at], ",".join(fields), *lines[at + 1:]]
        return apply

    def quote(row: int, column: int) -> Callable[[Lines], Lines]:
        """A cell in double quotes, as spreadsheets write them: the same value, read by the csv module."""
        def apply(lines: Lines) -> Lines:
            at = row % len(lines)
            fields = lines[at].split(",")
            fields[column % len(fields)] = '"' + fields[column % len(fields)].replace('"', '""') + '"'
            return [*lines[:at], ",".join(fields), *lines[at + 1:]]
        return apply

    def duplicate(row: int) -> Callable[[Lines], Lines]:
        return lambda lines: [*lines, lines[row % len(lines)]]

    def shuffle(order: list[int]) -> Callable[[Lines], Lines]:
        def apply(lines: Lines) -> Lines:
            body = lines[1:]
            keys = order + list(range(len(order), len(body)))
            return [lines[0], *[b for _, b in sorted(zip(keys, body, strict=False), key=lambda kb: kb[0])]]
        return apply

    def drop_column(column: int) -> Callable[[Lines], Lines]:
        def apply(lines: Lines) -> Lines:
            out = []
            for line in lines:
                fields = line.split(",")
                del fields[column % len(fields)]
                out.append(",".join(fields))
            return out
        return apply

    return st.one_of(
        st.builds(cell, st.integers(0, 100), st.integers(0, 6), CELLS),
        st.builds(cell, st.integers(0, 100), st.just(1), CELLS),          # the date above all
        st.builds(quote, st.integers(0, 100), st.integers(0, 6)),
        st.builds(duplicate, st.integers(0, 100)),
        st.builds(shuffle, st.permutations(list(range(16)))),
        st.builds(drop_column, st.integers(0, 6)),
        st.builds(lambda text: (lambda lines: [*lines, text]), CELLS),     # a stray line
    )


def byte_mutations() -> st.SearchStrategy[Callable[[bytes], bytes]]:
    def truncate(fraction: float) -> Callable[[bytes], bytes]:
        return lambda data: data[: int(len(data) * fraction)]

    def garbage(fraction: float, junk: bytes) -> Callable[[bytes], bytes]:
        def apply(data: bytes) -> bytes:
            at = int(len(data) * fraction)
            return data[:at] + junk + data[at:]
        return apply

    def overwrite(fraction: float, junk: bytes) -> Callable[[bytes], bytes]:
        def apply(data: bytes) -> bytes:
            at = int(len(data) * fraction)
            return data[:at] + junk + data[at + len(junk):]
        return apply

    fractions = st.floats(0, 1)
    return st.one_of(st.builds(truncate, fractions), st.builds(garbage, fractions, st.binary(min_size=1, max_size=16)),
                     st.builds(overwrite, fractions, st.binary(min_size=1, max_size=16)))


def frame_mutations() -> st.SearchStrategy[Callable[[pl.DataFrame], pl.DataFrame]]:
    numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**15), 10**15).map(float),
                        st.none())

    def at(column: str, row: int, value: object, dtype: pl.DataType | type[pl.DataType] | None = None
           ) -> Callable[[pl.DataFrame], pl.DataFrame]:
        """``value`` in row ``row`` of ``column`` (as text when ``dtype`` is String)."""
        def apply(frame: pl.DataFrame) -> pl.DataFrame:
            if column not in frame.columns or frame.height == 0:
                return frame
            if dtype not in (None, pl.String) and frame.schema[column] != dtype:
                return frame          # retyped by an earlier edit: a value of another type has no place
            values = frame[column].to_list()
            if dtype == pl.String:
                values = [None if v is None else str(v) for v in values]
            values[row % len(values)] = value
            return frame.with_columns(pl.Series(column, values, dtype=dtype or frame.schema[column], strict=False))
        return apply

    def retype(column: str, dtype: pl.DataType) -> Callable[[pl.DataFrame], pl.DataFrame]:
        def apply(frame: pl.DataFrame) -> pl.DataFrame:
            try:
                return frame.with_columns(pl.col(column).cast(dtype, strict=False))
            except pl.exceptions.PolarsError:     # a cast polars has no meaning for: nothing to write
                return frame
        return apply

    def duplicate(row: int) -> Callable[[pl.DataFrame], pl.DataFrame]:
        return lambda f: pl.concat([f, f.slice(row % f.height, 1)]) if f.height else f

    rows = st.integers(0, 100)
    return st.one_of(
        st.builds(lambda c, r, v: at(c, r, v, pl.Float64), st.sampled_from(COLUMNS[2:]), rows, numbers),
        st.builds(lambda c, r, v: at(c, r, v, pl.String), st.sampled_from(COLUMNS), rows, CELLS),
        st.builds(lambda r, v: at("date", r, v, pl.Date), rows, st.one_of(st.none(), st.dates())),
        st.builds(duplicate, rows),
        st.builds(lambda seed: (lambda f: f.sample(fraction=1.0, shuffle=True, seed=seed)), st.integers(0, 2**16)),
        st.builds(lambda column: (lambda f: f.drop(column, strict=False)), st.sampled_from(COLUMNS)),
        st.builds(retype, st.sampled_from(COLUMNS), st.sampled_from([pl.String, pl.Int64, pl.Float32, pl.Boolean,
                                                                     pl.Datetime("ms"), pl.Categorical()])),
        st.builds(lambda n: (lambda f: f.head(n)), st.integers(0, 3)),
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def outcome(path: Path) -> None:
    """Read ``path``: success must give usable bars, failure a located KobeError."""
    try:
        bars = read_bars(path).collect()
    except KobeError as err:
        event("refused")            # --hypothesis-show-statistics shows how the examples split
        for diagnostic in err.diagnostics:
            assert diagnostic.file == str(path), diagnostic
            assert "could not be checked" not in diagnostic.message, diagnostic    # the safety net: a bug
            row_named = diagnostic.line is not None or diagnostic.message.startswith("row ")
            assert row_named or FILE_LEVEL.search(diagnostic.message), diagnostic
        return
    event("read")
    assert bars.schema == pl.Schema(BAR_SCHEMA)
    assert bars.height > 0 and bars.equals(bars.sort("symbol", "date"))
    assert bars.select(pl.struct("symbol", "date").is_unique().all()).item()
    assert bars["symbol"].null_count() == 0 and bars["date"].null_count() == 0
    assert DATE_RANGE[0] <= bars["date"].min() and bars["date"].max() <= DATE_RANGE[1]  # type: ignore[operator]
    for column in ("open", "high", "low", "close"):
        present = bars[column].drop_nulls().to_list()
        assert all(math.isfinite(v) and PRICE_RANGE[0] <= v <= PRICE_RANGE[1] for v in present), column
    assert all(math.isfinite(v) and 0 <= v <= MAX_VOLUME for v in bars["volume"].drop_nulls().to_list())
    # What a command does next with them never fails on them either.
    check_bars(bars)
    load_market(bars)


@FUZZ
@given(edits=st.lists(csv_mutations(), max_size=3), damage=st.lists(byte_mutations(), max_size=1))
def test_a_mutated_csv_reads_or_is_refused_with_its_place(folder: Path, edits: list[Callable[[Lines], Lines]],
                                                         damage: list[Callable[[bytes], bytes]]) -> None:
    lines = BASE.write_csv().splitlines()
    for edit in edits:
        lines = edit(lines)
    data = ("\n".join(lines) + "\n").encode()
    for change in damage:
        data = change(data)
    path = folder / "bars.csv"
    path.write_bytes(data)
    outcome(path)


@FUZZ
@given(edits=st.lists(frame_mutations(), max_size=3), damage=st.lists(byte_mutations(), max_size=1))
def test_a_mutated_parquet_file_reads_or_is_refused_with_its_place(
        folder: Path, edits: list[Callable[[pl.DataFrame], pl.DataFrame]],
        damage: list[Callable[[bytes], bytes]]) -> None:
    frame = BASE
    for edit in edits:
        frame = edit(frame)
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    data = buffer.getvalue()
    for change in damage:
        data = change(data)
    path = folder / "bars.parquet"
    path.write_bytes(data)
    outcome(path)
