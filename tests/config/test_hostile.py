"""Each hostile edit found by fuzzing `kobe validate` (issue 11), through the CLI.

Every case is one edit of the shipped files. It must exit 2 with the message at the
right file:line:col (found from the edited text, so the cases survive unrelated edits),
never a traceback; or, where the input is merely unusual, validate cleanly.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from kobe.cli import main
from kobe.config import limits


def validate(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.chdir(root)
    # catch_exceptions=False: a crash fails the test with its traceback instead of exit 1.
    result = CliRunner().invoke(main, ["validate"], catch_exceptions=False)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def replace(root: Path, file: str, old: str, new: str, marker: str | None = None) -> tuple[int, int] | None:
    """Replace the first ``old`` of ``file`` with ``new``; the line and column of
    ``marker`` (a substring of ``new``) in the edited file."""
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file}"
    text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    if marker is None:
        return None
    offset = text.index(new) + new.index(marker)
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def append(root: Path, file: str, extra: str, marker: str) -> tuple[int, int]:
    path = root / file
    text = path.read_text(encoding="utf-8") + "\n" + extra
    path.write_text(text, encoding="utf-8")
    offset = text.rindex(marker)
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _find(root: Path, file: str, text: str, marker: str) -> tuple[int, int]:
    content = (root / file).read_text(encoding="utf-8")
    offset = content.index(text) + text.index(marker)
    return content.count("\n", 0, offset) + 1, offset - (content.rfind("\n", 0, offset) + 1) + 1


Edit = Callable[[Path], tuple[int, int] | None]


def value(file: str, old: str, new: str, marker: str) -> Edit:
    return lambda root: replace(root, file, old, new, marker)


def bomb(levels: int, width: int) -> str:
    """A "billion laughs": each anchor a list of ``width`` aliases of the one before."""
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


ENTRY = "entry: close > donchian_high(channel_bars)"

# (id, edit, file, message fragment); the edit returns the expected line and column.
CASES = [
    pytest.param(value("strategies.yaml", "channel_bars: 20", "channel_bars: !!int abc", "!!int"),
                 "strategies.yaml", "cannot read this value as int", id="tag-int-abc"),
    pytest.param(value("strategies.yaml", "enabled: true", "enabled: !!bool maybe", "!!bool"),
                 "strategies.yaml", "cannot read this value as bool", id="tag-bool-maybe"),
    pytest.param(value("risk.yaml", "multiplier: 1.001", "multiplier: !!float abc", "!!float"),
                 "risk.yaml", "cannot read this value as float", id="tag-float-abc"),
    pytest.param(value("strategies.yaml", "channel_bars: 20", "channel_bars: " + "1" * 5000, "1111"),
                 "strategies.yaml", "cannot read this value as int: too many digits", id="int-5000-digits"),
    pytest.param(value("strategies.yaml", "channel_bars: 20", "channel_bars: 1" + "0" * 309, "1000"),
                 "strategies.yaml", "number out of range", id="int-1e309"),
    pytest.param(value("risk.yaml", "min_adv_usd: 100000", "min_adv_usd: 1" + "0" * 400, "1000"),
                 "risk.yaml", "number out of range", id="int-1e400-budget"),
    pytest.param(value("strategies.yaml", "stop_atr: 2", "stop_atr: .nan", ".nan"),
                 "strategies.yaml", "numbers must be finite", id="param-nan"),
    pytest.param(value("strategies.yaml", "stop_atr: 2", "stop_atr: -.inf", "-.inf"),
                 "strategies.yaml", "numbers must be finite", id="param-inf"),
    pytest.param(value("strategies.yaml", "stop_atr: 2", "stop_atr: [[1]]", "[1]"),
                 "strategies.yaml", "stop_atr[0]: expected a number, got a list", id="param-nested-list"),
    pytest.param(lambda root: append(root, "strategies.yaml", "x: " + "[" * 1000 + "1" + "]" * 1000 + "\n",
                                     "[" * (limits.MAX_NESTING)),
                 "strategies.yaml", f"values nest deeper than {limits.MAX_NESTING} levels", id="deep-nesting"),
    pytest.param(lambda root: append(root, "risk.yaml", "m: &m\n  a: 1\n  <<: *m\n", "<<"),
                 "risk.yaml", "'<<' merges a mapping that contains this one", id="self-merge"),
    pytest.param(lambda root: (append(root, "risk.yaml", bomb(6, 10), "*a"), None)[1],
                 "risk.yaml", f"expands to more than {limits.MAX_VALUES:,} values", id="alias-bomb-1e6"),
    pytest.param(lambda root: (append(root, "risk.yaml", bomb(9, 9), "*a"), None)[1],
                 "risk.yaml", f"expands to more than {limits.MAX_VALUES:,} values", id="alias-bomb-9-levels"),
    pytest.param(value("strategies.yaml", ENTRY, "entry: sma(close, 1.0e+300) > close", "1.0e+300"),
                 "strategies.yaml", "number out of range", id="window-1e300"),
    pytest.param(value("strategies.yaml", ENTRY, "entry: close[9223372036854775808] > 0", "9223"),
                 "strategies.yaml", "number out of range", id="lag-2-63"),
    pytest.param(value("strategies.yaml", ENTRY, "entry: close[20000] > 0", "20000"),
                 "strategies.yaml", "lag of 20000 bars, at most 10,000", id="lag-20000"),
    pytest.param(value("strategies.yaml", ENTRY, "entry: close[6000][6000] > 0", "6000] >"),
                 "strategies.yaml", "lags add up to 12000 bars", id="lags-add-up"),
    pytest.param(value("strategies.yaml", ENTRY, "entry: close > 1e999", "1e999"),
                 "strategies.yaml", "number out of range", id="literal-1e999"),
    pytest.param(value("strategies.yaml", ENTRY, "entry: close > 1e14 * 1e14", "1e14"),
                 "strategies.yaml", "this constant is out of range", id="constant-overflow"),
    pytest.param(value("strategies.yaml", "hold_bars: 5", "hold_bars: 1.0e+300", "1.0e+300"),
                 "strategies.yaml", "number out of range", id="hold-bars-1e300"),
    pytest.param(lambda root: replace(root, "strategies.yaml", "hold_bars: 5", "hold_bars: 20000", None) or
                 _find(root, "strategies.yaml", "time_stop_bars: hold_bars", "hold_bars"),
                 "strategies.yaml", "it must be a whole number from 1 to 10,000", id="hold-bars-20000"),
    pytest.param(value("risk.yaml", "adv_window_days: 20", "adv_window_days: 1.0e+308", "1.0e+308"),
                 "risk.yaml", "number out of range", id="adv-window-1e308"),
    pytest.param(value("risk.yaml", "adv_window_days: 20", "adv_window_days: 20000", "20000"),
                 "risk.yaml", "adv_window_days: must be at most 10000", id="adv-window-20000"),
    pytest.param(lambda root: replace(root, "strategies.yaml", "trend_bars: 200", "trend_bars: 20000") or
                 _find(root, "strategies.yaml", "close > sma(close, trend_bars)", "trend_bars"),
                 "strategies.yaml", "at most 10,000", id="window-param-20000"),
    pytest.param(value("strategies.yaml", ENTRY, "entry: " + "abs(" * 82 + "close" + ")" * 82 + " > 0",
                       "abs(" * 63 + "close"),
                 "strategies.yaml", f"expression nests deeper than {limits.MAX_EXPR_DEPTH} levels", id="82-calls"),
    pytest.param(value("strategies.yaml", ENTRY, "entry: " + " and ".join(["close > 1"] * 332), "close"),
                 "strategies.yaml", "expression nests deeper than", id="332-ands"),
    pytest.param(value("strategies.yaml", ENTRY, "entry: " + " + ".join(["close"] * 332) + " > 0", "close"),
                 "strategies.yaml", "expression nests deeper than", id="332-pluses"),
    pytest.param(lambda root: append(root, "rules/channels.kobe", "deep(n) = " + "-" * 500 + "n\n", "-"),
                 "rules/channels.kobe", "expression nests deeper than", id="rules-deep"),
    pytest.param(lambda root: (append(root, "rules/channels.kobe", "f0(x) = x\n" + "".join(
        f"f{i}(x) = f{i - 1}(x) + f{i - 1}(x)\n" for i in range(1, 41)), "f0"),
        replace(root, "strategies.yaml", ENTRY, "entry: close > f20(close)"), None)[2],
                 "rules/channels.kobe", f"expression grows to more than {limits.MAX_EXPR_NODES:,} terms",
                 id="definitions-doubling-20-levels"),
    pytest.param(value("strategies.yaml", "universe: default", "universe: " + "u" * 300, "u" * 300),
                 "strategies.yaml", "universe: at most 200 characters, got 300", id="universe-name-300"),
]


@pytest.mark.parametrize(("edit", "file", "message"), CASES)
def test_hostile_edit_is_located(project_dir: Path, monkeypatch: pytest.MonkeyPatch, edit: Edit, file: str,
                                 message: str) -> None:
    where = edit(project_dir)
    code, output = validate(project_dir, monkeypatch)
    assert code == 2, output
    located = [line for line in output.splitlines() if line.startswith(f"{file}:") and message in line]
    assert located, output[:3000]
    found = re.match(rf"{re.escape(file)}:(\d+):(\d+): error", located[0])
    assert found, located[0]
    if where is not None:
        line, col = where
        assert int(found.group(1)) == line, located[0]
        # Deep nesting is reported where it crosses the limit; all others at the marker.
        if "deeper" not in message:
            assert int(found.group(2)) == col, located[0]


# Unusual but valid: these must validate, not crash and not be refused.
VALID = [
    pytest.param(value("strategies.yaml", ENTRY, "entry: " + "(" * 98 + "close" + ")" * 98 + " > 0", "("),
                 id="98-parentheses"),
    pytest.param(value("strategies.yaml", ENTRY, "entry: " + "(" * 2000 + "close" + ")" * 2000 + " > 0", "("),
                 id="2000-parentheses"),
    pytest.param(value("strategies.yaml", ENTRY, "entry: " + " and ".join(["close > 1"] * 60), "close"),
                 id="60-ands"),
    pytest.param(value("strategies.yaml", "trend_bars: 200", f"trend_bars: {limits.MAX_BARS}", "1"),
                 id="window-at-limit"),
]


@pytest.mark.parametrize("edit", VALID)
def test_unusual_but_valid(project_dir: Path, monkeypatch: pytest.MonkeyPatch, edit: Edit) -> None:
    edit(project_dir)
    code, output = validate(project_dir, monkeypatch)
    assert code == 0, output


NOT_UTF8 = b"\xe9"  # Latin-1 e-acute: how an old editor saves "caf\xe9"


@pytest.mark.parametrize(("file", "anchor"), [
    pytest.param("strategies.yaml", b"    universe: default", id="strategies"),
    pytest.param("risk.yaml", b"max_open_positions: 10", id="risk"),
    pytest.param("rules/channels.kobe", b"prior_low(n) =", id="rules"),
    pytest.param("universe/default.csv", b"\n", id="universe"),
])
def test_not_utf8_is_located_at_line_and_column(project_dir: Path, monkeypatch: pytest.MonkeyPatch, file: str,
                                                anchor: bytes) -> None:
    path = project_dir / file
    data = path.read_bytes()
    at = data.index(anchor) + len(anchor)
    path.write_bytes(data[:at] + b" caf" + NOT_UTF8 + data[at:])
    before = data[:at] + b" caf"
    line = before.count(b"\n") + 1
    col = len(before) - (before.rfind(b"\n") + 1) + 1
    code, output = validate(project_dir, monkeypatch)
    assert code == 2, output
    assert f"{file}:{line}:{col}: error: not UTF-8: byte 0xe9" in output, output


@pytest.mark.parametrize(("damage", "message"), [
    pytest.param(lambda root: (root / "rules" / "x.kobe").mkdir(), "rules/x.kobe: error: this is a folder",
                 id="folder-named-x.kobe"),
    pytest.param(lambda root: ((root / "universe" / "default.csv").unlink(),
                               (root / "universe" / "default.csv").mkdir()),
                 "universe/default.csv is a folder, not a universe file", id="folder-named-universe"),
    pytest.param(lambda root: (root / "universe" / "default.csv").write_bytes(bytes(range(256)) * 3),
                 "universe/default.csv:", id="universe-garbage"),
    pytest.param(lambda root: (root / "risk.yaml").write_bytes(b"\xff\xfe\x00\x00" * 100),
                 "risk.yaml:1:1: error: not UTF-8", id="risk-binary"),
    pytest.param(lambda root: os.mkfifo(root / "rules" / "pipe.kobe"),
                 "rules/pipe.kobe: error: not a regular file", id="a-pipe-named-x.kobe"),
    pytest.param(lambda root: (root / "rules" / "gone.kobe").symlink_to(root / "nowhere.kobe"),
                 "rules/gone.kobe: error: a link to a file that does not exist", id="dangling-link"),
])
def test_damaged_files(project_dir: Path, monkeypatch: pytest.MonkeyPatch, damage: Callable[[Path], object],
                       message: str) -> None:
    damage(project_dir)
    code, output = validate(project_dir, monkeypatch)
    assert code == 2, output
    assert message in output, output


def test_alias_bomb_stops_early(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 12-level bomb (10**12 values) is refused as quickly as a small one: counting
    stops at the limit rather than after expanding."""
    append(project_dir, "risk.yaml", bomb(12, 10), "*a")
    code, output = validate(project_dir, monkeypatch)
    assert code == 2 and "expands to more than" in output, output


def test_json_output_keeps_every_location(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    replace(project_dir, "strategies.yaml", "stop_atr: 2", "stop_atr: .nan")
    monkeypatch.chdir(project_dir)
    result = CliRunner().invoke(main, ["validate", "--json"], catch_exceptions=False)
    assert result.exit_code == 2
    errors = json.loads(result.output)["errors"]
    assert errors and all(e["file"] and e["line"] for e in errors), errors


def test_schema_maxima_are_the_documented_limit() -> None:
    """The JSON Schemas cannot import MAX_BARS: every integer's maximum is that limit or lower."""
    schema_dir = Path(__file__).resolve().parents[2] / "kobe" / "config" / "schema"
    maxima = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "integer":
                maxima.append(node.get("maximum", node.get("exclusiveMaximum")))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for path in schema_dir.glob("*.schema.json"):
        walk(json.loads(path.read_text()))
    assert maxima and all(m is not None and m <= limits.MAX_BARS for m in maxima), maxima
