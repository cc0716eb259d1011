"""Bad bars files, through the commands that read them: each one is refused with its file
and the line (CSV) or row (Parquet) of what is wrong, exit 2, never a traceback, and
never a backtest or scan run on it. What quality.py flags by design (a missing value,
an inconsistent OHLC row) is still read and flagged, not refused."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from kobe.cli import main
from kobe.config.errors import KobeError
from kobe.data.bars import read_bars

# Two symbols, 30 sessions each: line 2 is AAPL's first bar, line 32 MSFT's first.
BASE = read_bars(symbols=["AAPL", "MSFT"], start=dt.date(2017, 11, 1), end=dt.date(2017, 12, 13)).collect()
COLUMNS = list(BASE.columns)


def csv_lines() -> list[str]:
    return BASE.write_csv().splitlines()


def with_cell(line: int, column: str, value: str) -> Callable[[], bytes]:
    """The base CSV with the cell of ``column`` on ``line`` (1-based, the header is 1) replaced."""
    def build() -> bytes:
        lines = csv_lines()
        fields = lines[line - 1].split(",")
        fields[COLUMNS.index(column)] = value
        lines[line - 1] = ",".join(fields)
        return ("\n".join(lines) + "\n").encode()
    return build


def csv_text(edit: Callable[[list[str]], list[str]]) -> Callable[[], bytes]:
    return lambda: ("\n".join(edit(csv_lines())) + "\n").encode()


def cut(line: int, chars: int) -> Callable[[], bytes]:
    """The base CSV stopped ``chars`` characters into ``line``: a copy killed midway."""
    def build() -> bytes:
        lines = csv_lines()
        return ("\n".join(lines[: line - 1]) + "\n" + lines[line - 1][:chars]).encode()
    return build


CSV_CASES = [
    pytest.param(with_cell(5, "close", "abc"), "bars.csv:5:", "close 'abc' is not a number", id="text-in-close"),
    pytest.param(with_cell(6, "close", "inf"), "bars.csv:6:", "close 'inf' is not a finite number", id="inf-close"),
    pytest.param(with_cell(7, "close", "1e308"), "bars.csv:7:", "close '1e308' is outside", id="huge-close"),
    pytest.param(with_cell(8, "high", "nan"), "bars.csv:8:", "high 'nan' is not a finite number", id="nan-high"),
    pytest.param(with_cell(9, "open", "-3.5"), "bars.csv:9:", "open '-3.5' is not a positive price",
                 id="negative-open"),
    pytest.param(with_cell(10, "low", "0"), "bars.csv:10:", "low '0' is not a positive price", id="zero-low"),
    pytest.param(with_cell(11, "volume", "-100"), "bars.csv:11:", "volume '-100' is negative", id="negative-volume"),
    pytest.param(with_cell(12, "date", "2017-02-30"), "bars.csv:12:", "date '2017-02-30' is not a date",
                 id="impossible-date"),
    pytest.param(with_cell(13, "date", "2017-13-01"), "bars.csv:13:", "is not a date", id="month-13"),
    pytest.param(with_cell(14, "date", "1017-11-14"), "bars.csv:14:", "date '1017-11-14' is outside", id="year-1017"),
    pytest.param(with_cell(15, "date", ""), "bars.csv:15:", "date is missing", id="no-date"),
    pytest.param(with_cell(33, "date", "2017-11-01"), "bars.csv:33:",
                 "a second bar for MSFT on 2017-11-01; another is at line 32", id="duplicate-date"),
    pytest.param(csv_text(lambda lines: [*lines, lines[3]]), "bars.csv:62:",
                 "a second bar for AAPL on 2017-11-03; another is at line 4", id="duplicate-row"),
    pytest.param(cut(31, 30), "bars.csv:31:", "5 fields, the header has 7", id="cut-mid-line"),
    pytest.param(cut(61, 12), "bars.csv:61:", "2 fields, the header has 7", id="cut-in-the-date"),
    pytest.param(lambda: b"", "bars.csv:", "the file is empty", id="empty"),
    pytest.param(lambda: b"symbol,date,open,high,low,close,volume\n", "bars.csv:", "holds no bars", id="header-only"),
    pytest.param(csv_text(lambda lines: [",".join(f for f in line.split(",")[:5] + line.split(",")[6:])
                                         for line in lines]), "bars.csv:1:", "lacks column close",
                 id="no-close-column"),
    pytest.param(csv_text(lambda lines: [line.replace(",", ";") for line in lines]), "bars.csv:1:",
                 "lacks columns", id="semicolons"),
    pytest.param(lambda: with_cell(20, "close", "X")().replace(b",X,", b",\xff\xfe,"), "bars.csv:20:",
                 "byte 0xff is not UTF-8 text", id="not-utf8"),
    pytest.param(csv_text(lambda lines: [*lines[:3], '"AAPL","2017-11-06","x",1,1,1,1', *lines[4:]]),
                 "bars.csv:4:", "open 'x' is not a number", id="quoted-text"),
]


def parquet(build: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[], bytes]:
    def write() -> bytes:
        import io

        buffer = io.BytesIO()
        build(BASE).write_parquet(buffer)
        return buffer.getvalue()
    return write


def damaged(transform: Callable[[bytes], bytes]) -> Callable[[], bytes]:
    return lambda: transform(parquet(lambda f: f)())


def at_row(row: int, column: str, value: object) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def build(frame: pl.DataFrame) -> pl.DataFrame:
        values = frame[column].to_list()
        values[row] = value
        dtype = pl.String if isinstance(value, str) and frame.schema[column] != pl.String else None
        cells = [str(v) if dtype else v for v in values]
        return frame.with_columns(pl.Series(column, cells, dtype=dtype or frame.schema[column], strict=False))
    return build


PARQUET_CASES = [
    pytest.param(damaged(lambda b: b[: len(b) // 2]), "bars.parquet: error: not a readable Parquet file",
                 id="truncated"),
    pytest.param(damaged(lambda b: b[:-8]), "bars.parquet: error: not a readable Parquet file", id="footer-cut"),
    pytest.param(lambda: b"PAR1" + bytes(range(256)) * 8 + b"PAR1", "bars.parquet: error: not a readable Parquet",
                 id="garbage"),
    pytest.param(lambda: b"", "bars.parquet: error: not a readable Parquet file", id="zero-bytes"),
    pytest.param(parquet(lambda f: f.head(0)), "bars.parquet: error: the file holds no bars", id="no-rows"),
    pytest.param(parquet(at_row(3, "close", "abc")), "error: row 3 (AAPL 2017-11-06): close 'abc' is not a number",
                 id="text-in-close"),
    pytest.param(parquet(at_row(7, "close", float("inf"))), "error: row 7 (AAPL 2017-11-10): close inf is not a "
                 "finite number", id="inf-close"),
    pytest.param(parquet(at_row(8, "close", 1e308)), "error: row 8 (AAPL 2017-11-13): close 1e+308 is outside",
                 id="huge-close"),
    pytest.param(parquet(at_row(40, "open", -1.0)), "error: row 40 (MSFT 2017-11-15): open -1.0 is not a positive",
                 id="negative-open"),
    pytest.param(parquet(at_row(2, "date", "2017-02-30")), "error: row 2: date '2017-02-30' is not a date",
                 id="impossible-date"),
    pytest.param(parquet(lambda f: f.with_columns(pl.col("date").cast(pl.Int32))),
                 "bars.parquet: error: column date holds Int32, not Date", id="date-as-a-number"),
    pytest.param(parquet(lambda f: pl.concat([f, f.slice(5, 1)])), "error: row 60 (AAPL 2017-11-08): a second bar "
                 "for AAPL on 2017-11-08; another is at row 5", id="duplicate-row"),
    pytest.param(parquet(lambda f: f.drop("volume")), "bars.parquet: error: bars file lacks column volume",
                 id="no-volume-column"),
]

COMMANDS = {
    "backtest": lambda config, data: ["backtest", str(config), "--data", str(data), "--out", str(config.parent / "o")],
    "scan": lambda config, data: ["scan", "--config", str(config), "--data", str(data)],
    "data-check": lambda config, data: ["data", "check", "--config", str(config), "--data", str(data)],
}


def refused(result: Result) -> str:
    """The output of a command that must have refused its input cleanly."""
    output = result.output
    assert "Traceback" not in output, output
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, output
    return output


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(("build", "where", "message"), CSV_CASES)
def test_a_bad_csv_is_refused_at_its_line(project_dir: Path, command: str, build: Callable[[], bytes], where: str,
                                         message: str) -> None:
    data = project_dir / "bars.csv"
    data.write_bytes(build())
    output = refused(CliRunner().invoke(main, COMMANDS[command](project_dir / "strategies.yaml", data)))
    located = [line for line in output.splitlines() if message in line]
    assert located and located[0].startswith(str(data.parent / where)), output


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(("build", "message"), PARQUET_CASES)
def test_a_bad_parquet_file_is_refused_with_its_row(project_dir: Path, command: str, build: Callable[[], bytes],
                                                   message: str) -> None:
    data = project_dir / "bars.parquet"
    data.write_bytes(build())
    output = refused(CliRunner().invoke(main, COMMANDS[command](project_dir / "strategies.yaml", data)))
    assert any(line.startswith(str(data)) and message in line for line in output.splitlines()), output


def test_many_problems_are_counted_not_all_printed(tmp_path: Path) -> None:
    lines = [line.split(",") for line in csv_lines()]
    for fields in lines[2::2]:       # lines 3, 5, 7, ...: 30 of them
        fields[COLUMNS.index("close")] = "x"
    (tmp_path / "bars.csv").write_text("\n".join(",".join(fields) for fields in lines) + "\n")
    with pytest.raises(KobeError) as caught:
        read_bars(tmp_path / "bars.csv")
    assert len(caught.value.diagnostics) == 11
    assert [d.line for d in caught.value.diagnostics[:3]] == [3, 5, 7]
    assert caught.value.diagnostics[-1].message == "20 more problem(s) in this file not shown"


def test_the_cell_is_pointed_at(tmp_path: Path) -> None:
    (tmp_path / "bars.csv").write_bytes(with_cell(5, "close", "abc")())
    with pytest.raises(KobeError) as caught:
        read_bars(tmp_path / "bars.csv")
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.col, diagnostic.width) == (5, len(",".join(csv_lines()[4].split(",")[:5])) + 2,
                                                                  3)
    assert diagnostic.source_line is not None and diagnostic.source_line.split(",")[5] == "abc"


# What the quality gate handles by design is read, then flagged (and the symbol kept from
# trading), never refused: the data has such rows (the shared data's SOURCES.md).
FLAGGED = [
    pytest.param(with_cell(5, "close", ""), "null_value", id="an-empty-cell-is-a-missing-value"),
    pytest.param(with_cell(5, "high", "1.0"), "ohlc_inconsistent", id="high-below-the-close"),
    pytest.param(with_cell(31, "close", "500"), "suspicious_jump", id="a-bad-print"),
]


@pytest.mark.parametrize(("build", "rule"), FLAGGED)
def test_what_the_gate_flags_is_read_and_flagged(tmp_path: Path, build: Callable[[], bytes], rule: str) -> None:
    data = tmp_path / "bars.csv"
    data.write_bytes(build())
    result = CliRunner().invoke(main, ["data", "check", "--config", str(tmp_path / "none.yaml"), "--data", str(data),
                                       "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert rule in report["counts"] and report["excluded"] == ["AAPL"]


ORDER = [
    pytest.param(lambda lines: [lines[0], *reversed(lines[1:])], id="newest-first"),
    pytest.param(lambda lines: [lines[0], *lines[32:], *lines[1:32]], id="msft-before-aapl"),
    pytest.param(lambda lines: [lines[0], *lines[1:10], "", "   ", *lines[10:]], id="blank-lines"),
    pytest.param(lambda lines: [line + "\r" for line in lines], id="crlf"),
    pytest.param(lambda lines: [lines[0].replace("symbol,", "", 1),
                                *[line.split(",", 1)[1] for line in lines[1:31]]], id="no-symbol-column"),
]


@pytest.mark.parametrize("edit", ORDER)
def test_row_order_and_layout_are_free(tmp_path: Path, edit: Callable[[list[str]], list[str]]) -> None:
    data = tmp_path / "AAPL_bars.csv"
    data.write_bytes(csv_text(edit)())
    bars = read_bars(data).collect()
    expected = BASE if "MSFT" in bars["symbol"] else BASE.filter(pl.col("symbol") == "AAPL")
    assert bars.equals(expected)


FOLDERS = [
    pytest.param({}, "no CSV or Parquet file in", id="an-empty-folder"),
    pytest.param({"KO.parquet": b"PAR1 not really PAR1"}, "KO.parquet: not a readable Parquet file", id="a-bad-file"),
    pytest.param({"KO.csv": with_cell(3, "close", "inf")()}, "KO.csv:3:37: close 'inf' is not a finite number",
                 id="a-bad-bar"),
]


@pytest.mark.parametrize(("files", "message"), FOLDERS)
def test_a_fetch_from_bad_files_fails_for_its_symbols_with_the_file_named(tmp_path: Path, files: dict[str, bytes],
                                                                         message: str) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (tmp_path / "u.csv").write_text("symbol\nKO\n")
    result = CliRunner().invoke(main, ["data", "fetch", "--provider", "files", "--path", str(folder), "--universe",
                                       str(tmp_path / "u.csv"), "--start", "2017-11-01", "--end", "2017-12-13",
                                       "--lake", str(tmp_path / "lake"), "--config", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert message in result.output
