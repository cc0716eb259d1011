"""The hash chain: every single-record modification, deletion, insertion and swap is
caught at the first bad line; a torn last line is reported and never silently dropped."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from kobe.audit.chain import HashChain, Problem, Verification, record_hash, verify
from kobe.audit.log import AuditLog


def _chain(tmp_path: Path, n: int = 8) -> Path:
    chain = HashChain(tmp_path / "hash_chain.jsonl")
    for i in range(n):
        chain.append({"kind": "test", "i": i, "note": f"record {i}"})
    return chain.path


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _problem(result: Verification) -> Problem:
    assert result.problem is not None, "the chain verified"
    return result.problem


def test_intact_chain_verifies(tmp_path: Path) -> None:
    path = _chain(tmp_path)
    result = verify(path)
    assert result.ok and result.records == 8
    first, second = (json.loads(line) for line in _lines(path)[:2])
    assert first["prev"] == "0" * 64 and second["prev"] == first["hash"]
    assert first["hash"] == record_hash(first)


N = 8


@pytest.mark.parametrize("index", range(N))
def test_every_modification_is_caught(tmp_path: Path, index: int) -> None:
    path = _chain(tmp_path, N)
    lines = _lines(path)
    record = json.loads(lines[index])
    record["data"]["i"] = 999
    lines[index] = json.dumps(record).encode() + b"\n"
    path.write_bytes(b"".join(lines))
    result = verify(path)
    assert _problem(result).line == index + 1


@pytest.mark.parametrize("index", range(N))
def test_a_modification_with_a_recomputed_hash_is_caught_at_the_next_line(tmp_path: Path, index: int) -> None:
    path = _chain(tmp_path, N)
    lines = _lines(path)
    record = json.loads(lines[index])
    record["data"]["i"] = 999
    record["hash"] = record_hash(record)
    lines[index] = json.dumps(record).encode() + b"\n"
    path.write_bytes(b"".join(lines))
    result = verify(path)
    if index == N - 1:
        # The last record re-hashed by a forger is consistent on its own; only an
        # outside anchor (the count and last hash in events.jsonl) can tell. See below.
        assert result.ok
    else:
        assert _problem(result).line == index + 2


@pytest.mark.parametrize("index", range(N))
def test_every_deletion_is_caught(tmp_path: Path, index: int) -> None:
    path = _chain(tmp_path, N)
    lines = _lines(path)
    del lines[index]
    path.write_bytes(b"".join(lines))
    result = verify(path)
    if index == N - 1:
        assert result.ok and result.records == N - 1  # truncation: see the anchored check below
    else:
        assert _problem(result).line == index + 1


@pytest.mark.parametrize("index", range(N + 1))
def test_every_insertion_is_caught(tmp_path: Path, index: int) -> None:
    path = _chain(tmp_path, N)
    lines = _lines(path)
    forged = json.loads(lines[max(0, index - 1)])
    forged["data"] = {"kind": "forged"}
    forged["hash"] = record_hash(forged)
    lines.insert(index, json.dumps(forged).encode() + b"\n")
    path.write_bytes(b"".join(lines))
    result = verify(path)
    assert _problem(result).line in (index + 1, index + 2)


@pytest.mark.parametrize("index", range(N - 1))
def test_every_swap_is_caught(tmp_path: Path, index: int) -> None:
    path = _chain(tmp_path, N)
    lines = _lines(path)
    lines[index], lines[index + 1] = lines[index + 1], lines[index]
    path.write_bytes(b"".join(lines))
    result = verify(path)
    assert _problem(result).line == index + 1


def test_truncation_is_caught_against_the_event_log(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    for i in range(5):
        log.event("test", i=i)
    lines = _lines(log.chain.path)
    log.chain.path.write_bytes(b"".join(lines[:-1]))
    from kobe.audit.verify import verify_trail

    report = verify_trail(tmp_path)
    assert report.problem is not None and (report.problem.file, report.problem.line) == ("events.jsonl", 5)


def test_torn_last_line_is_reported_then_quarantined(tmp_path: Path) -> None:
    path = _chain(tmp_path, 3)
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"seq": 4, "ts": "2026')  # the crash cut an append short
    result = verify(path)
    assert _problem(result).line == 4 and "torn" in _problem(result).message
    chain = HashChain(path)
    chain.append({"kind": "after the crash"})
    assert verify(path).ok
    records = chain.records()
    assert [r["data"]["kind"] for r in records[3:]] == ["audit.torn_tail", "after the crash"]
    assert (tmp_path / "hash_chain.jsonl.torn").read_bytes() == b'{"seq": 4, "ts": "2026\n'


def _append_many(path: str, worker: int) -> None:
    chain = HashChain(Path(path))
    for i in range(25):
        chain.append({"worker": worker, "i": i})


def test_concurrent_appenders_keep_the_chain_intact(tmp_path: Path) -> None:
    path = tmp_path / "hash_chain.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(path), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    result = verify(path)
    assert result.ok and result.records == 100


def test_secrets_never_reach_the_trail(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, secrets=["PKSECRET123", "shh-very-secret"])
    log.event("broker.error", message="401 for key PKSECRET123", nested={"x": ["shh-very-secret"]})
    for name in ("events.jsonl", "hash_chain.jsonl"):
        text = (tmp_path / name).read_text()
        assert "PKSECRET123" not in text and "shh-very-secret" not in text and "***" in text


def test_cli_names_the_first_bad_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kobe.cli import main

    log = AuditLog(tmp_path)
    for i in range(4):
        log.trade("fill", i=i)
    ok = CliRunner().invoke(main, ["audit", "verify", "--logs", str(tmp_path)])
    assert ok.exit_code == 0 and "ok: 4 records" in ok.output
    lines = _lines(log.chain.path)
    lines[1], lines[2] = lines[2], lines[1]
    log.chain.path.write_bytes(b"".join(lines))
    bad = CliRunner().invoke(main, ["audit", "verify", "--logs", str(tmp_path)])
    assert bad.exit_code == 1 and "hash_chain.jsonl:2:" in bad.output
