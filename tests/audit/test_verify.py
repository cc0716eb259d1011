"""`kobe audit verify` on damaged readable logs and chains: each unreadable line is named
by its file and line, the command exits 1, and there is never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kobe.audit.log import AuditLog
from kobe.cli import main


def trail(folder: Path) -> AuditLog:
    log = AuditLog(folder)
    for i in range(3):
        log.event("test", i=i)
        log.trade("fill", i=i)
    return log


def verify(folder: Path, *flags: str) -> Result:
    return CliRunner().invoke(main, ["audit", "verify", "--logs", str(folder), *flags])


def replace_line(path: Path, line: int, raw: bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    lines[line - 1] = raw
    path.write_bytes(b"".join(lines))


@pytest.mark.parametrize(("name", "line", "raw", "says"), [
    pytest.param("events.jsonl", 2, b'{"kind": "test", "note": "caf\xe9"}\n', "not UTF-8 text (byte 0xe9",
                 id="events-latin-1"),
    pytest.param("events.jsonl", 3, b"\xff\xfe\x00g\x00a\x00r\x00b\n", "not UTF-8 text (byte 0xff",
                 id="events-binary"),
    pytest.param("events.jsonl", 1, b"}{ not json\n", "not JSON", id="events-garbage-line"),
    pytest.param("events.jsonl", 2, b"[1, 2, 3]\n", "not an audit record", id="events-json-not-a-record"),
    pytest.param("events.jsonl", 2, b'{"seq": [3], "ts": "2026-01-01", "kind": "test"}\n', "no seq or ts",
                 id="events-seq-not-a-number"),
    pytest.param("trades.jsonl", 3, b"\xc3\x28\n", "not UTF-8 text (byte 0xc3", id="trades-invalid-utf8"),
    pytest.param("hash_chain.jsonl", 4, b'{"seq": 4, "data": "\xfe"}\n', "not UTF-8 text (byte 0xfe",
                 id="chain-not-utf8"),
    pytest.param("hash_chain.jsonl", 2, b"garbage\n", "not a JSON record", id="chain-garbage-line"),
])
def test_an_unreadable_line_is_named_by_file_and_line(tmp_path: Path, name: str, line: int, raw: bytes,
                                                      says: str) -> None:
    trail(tmp_path)
    replace_line(tmp_path / name, line, raw)
    result = verify(tmp_path)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"{tmp_path / name}:{line}: " in result.output and says in result.output
    report = json.loads(verify(tmp_path, "--json").output)
    assert report["problem"]["file"] == str(tmp_path / name) and report["problem"]["line"] == line


def test_a_log_that_cannot_be_read_at_all_is_named(tmp_path: Path) -> None:
    trail(tmp_path)
    (tmp_path / "trades.jsonl").unlink()
    (tmp_path / "trades.jsonl").mkdir()
    result = verify(tmp_path)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"{tmp_path / 'trades.jsonl'}: cannot be read" in result.output
