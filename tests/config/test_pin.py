"""Config pinning: the canonical hash, the lock file, and refusing a changed config."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from kobe.config.errors import KobeError
from kobe.config.pin import fingerprint, pin_status, require_pin, write_pin


def _tree(root: Path) -> list[Path]:
    (root / "rules").mkdir()
    files = {"strategies.yaml": "a: 1\n", "risk.yaml": "b: 2\n", "rules/x.kobe": "x = 1\n"}
    for name, text in files.items():
        (root / name).write_text(text)
    return [root / n for n in files]


def test_hash_is_sha256_over_sorted_file_hashes(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    fp = fingerprint(tmp_path, files)
    # Independent computation of the documented canonical form.
    per_file = {p.relative_to(tmp_path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    manifest = "".join(f"{per_file[k]}  {k}\n" for k in sorted(per_file))
    assert fp.sha256 == hashlib.sha256(manifest.encode()).hexdigest()
    assert list(fp.files) == sorted(per_file)


def test_line_endings_and_order_do_not_matter(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    before = fingerprint(tmp_path, files).sha256
    (tmp_path / "risk.yaml").write_bytes(b"b: 2\r\n")
    assert fingerprint(tmp_path, list(reversed(files))).sha256 == before


def test_any_edit_changes_the_hash(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    before = fingerprint(tmp_path, files).sha256
    (tmp_path / "rules/x.kobe").write_text("x = 1  # comment\n")
    assert fingerprint(tmp_path, files).sha256 != before


def test_pin_round_trip_and_mismatch_names_the_file(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    assert not pin_status(tmp_path, fingerprint(tmp_path, files)).pinned
    with pytest.raises(KobeError, match="not pinned"):
        require_pin(tmp_path, fingerprint(tmp_path, files))
    lock = write_pin(tmp_path, fingerprint(tmp_path, files), now=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc))
    record = json.loads(lock.read_text())
    assert record["pinned_at"] == "2026-01-02T03:04:05+00:00"
    assert set(record["files"]) == {"strategies.yaml", "risk.yaml", "rules/x.kobe"}
    require_pin(tmp_path, fingerprint(tmp_path, files))  # matches: no error

    (tmp_path / "risk.yaml").write_text("b: 3\n")
    (tmp_path / "rules/y.kobe").write_text("y = 2\n")
    now = fingerprint(tmp_path, files + [tmp_path / "rules/y.kobe"])
    status = pin_status(tmp_path, now)
    assert (status.matches, status.changed, status.added) == (False, ("risk.yaml",), ("rules/y.kobe",))
    with pytest.raises(KobeError) as info:
        require_pin(tmp_path, now)
    assert {d.file for d in info.value.diagnostics} == {"risk.yaml", "rules/y.kobe"}


def test_unreadable_lock_is_a_clear_error(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "config.lock").write_text("{not json")
    with pytest.raises(KobeError, match="unreadable pin file"):
        pin_status(tmp_path, fingerprint(tmp_path, files))
