"""The config commands through click, on a copy of the repository's config.

Each broken config must exit 2 and name the right file:line:col; line and column are
found from the edited text itself, so the cases survive unrelated edits of the files.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from kobe.cli import main


def run(project_dir: Path, *args: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(project_dir)
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def edit(path: Path, old: str, new: str, marker: str) -> tuple[int, int]:
    """Replace the first ``old`` with ``new``; return line and column of ``marker``
    (a substring of ``new``) in the edited file."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    text = text.replace(old, new, 1)
    path.write_text(text)
    offset = text.index(new) + new.index(marker)
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def test_validate_shipped_config(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(project_dir, "validate", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert "donchian_breakout  enabled" in result.output
    assert "ict_turtle_soup    enabled" in result.output
    assert "config sha256: " in result.output
    assert "pin: not pinned" in result.output


# (file, old text, new text, marker where the error points, message fragment)
BROKEN = [
    ("risk.yaml", "daily_budget_usd: 1000", "daly_budget_usd: 1000", "daly",
     "unknown key 'daly_budget_usd'"),
    ("risk.yaml", "max_open_positions: 10", "max_open_positions: ten", "ten",
     "max_open_positions: expected an integer, got string 'ten'"),
    ("risk.yaml", "per_order_budget_usd: 75 ", "per_order_budget_usd: 1500 ", "1500",
     "per_order_budget_usd 1500 exceeds daily_budget_usd 1000"),
    ("strategies.yaml", "    enabled: true\n", "    enabled: true\n    enabled: false\n", "enabled: false",
     "duplicate key 'enabled'"),
    ("strategies.yaml", "      - close > sma(close, trend_bars)", "      - close > sma(close trend_bars)",
     "trend_bars", "unexpected 'trend_bars'"),
    ("strategies.yaml", "      - close > sma(close, trend_bars)", "      - close > smaa(close, trend_bars)", "smaa",
     "unknown function 'smaa' (did you mean 'sma'?)"),
    ("strategies.yaml", "      - close > sma(close, trend_bars)", "      - close + sma(close, trend_bars)", "close +",
     "a filter must be a boolean expression, got a number"),
    ("strategies.yaml", "entry: close > donchian_high(channel_bars)", "entry: close[-1] > donchian_high(channel_bars)",
     "-1", "negative lag [-1] would read a future bar (lookahead)"),
    ("strategies.yaml", "entry: close > donchian_high(channel_bars)", "entry: close > donchian_high(channel_bars, 3)",
     "donchian_high(", "donchian_high() takes 1 argument, got 2"),
    ("strategies.yaml", "time_stop_bars: hold_bars", "time_stop_bars: hold_bras", "hold_bras",
     "time_stop_bars names param 'hold_bras'"),
    ("strategies.yaml", "universe: default", "universe: defualt", "defualt", "universe file not found"),
]


@pytest.mark.parametrize(("file", "old", "new", "marker", "message"), BROKEN, ids=[b[-1][:40] for b in BROKEN])
def test_validate_broken_config(project_dir: Path, monkeypatch: pytest.MonkeyPatch, file: str, old: str, new: str,
                                marker: str, message: str) -> None:
    line, col = edit(project_dir / file, old, new, marker)
    result = run(project_dir, "validate", monkeypatch=monkeypatch)
    assert result.exit_code == 2
    assert f"{file}:{line}:{col}: error: {message}" in result.output, result.output
    assert "Traceback" not in result.output


def test_bad_yaml_syntax(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line, _ = edit(project_dir / "risk.yaml", "max_open_positions: 10", "max_open_positions: [10", "[10")
    result = run(project_dir, "validate", monkeypatch=monkeypatch)
    assert result.exit_code == 2
    assert "risk.yaml:" in result.output and "Traceback" not in result.output
    first = result.output.splitlines()[0]
    reported_line = int(first.split(":")[1])
    assert reported_line >= line


def test_recursive_rule(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = project_dir / "rules" / "loop.kobe"
    rules.write_text("# loops\nping(n) = pong(n)\npong(n) = ping(n) + 1\n")
    result = run(project_dir, "validate", monkeypatch=monkeypatch)
    assert result.exit_code == 2
    assert "rules/loop.kobe:3:11: error: recursive definition: ping -> pong -> ping" in result.output


def test_every_error_is_reported_at_once(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edit(project_dir / "risk.yaml", "daily_budget_usd: 1000", "daly_budget_usd: 1000", "daly")
    edit(project_dir / "strategies.yaml", "      - close > sma(close, trend_bars)",
         "      - close > smaa(close, trend_bars)", "smaa")
    (project_dir / "rules" / "loop.kobe").write_text("a = a\n")
    result = run(project_dir, "validate", "--json", monkeypatch=monkeypatch)
    assert result.exit_code == 2
    report = json.loads(result.output)
    files = {(e["file"], e["message"].split(" (")[0]) for e in report["errors"]}
    assert ("risk.yaml", "unknown key 'daly_budget_usd'") in files
    assert ("strategies.yaml", "unknown function 'smaa'") in files
    assert ("rules/loop.kobe", "recursive definition: a -> a") in files


def test_pin_then_validate_then_change(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = run(project_dir, "pin", monkeypatch=monkeypatch)
    assert pinned.exit_code == 0 and "state/config.lock" in pinned.output
    ok = run(project_dir, "validate", "--json", monkeypatch=monkeypatch)
    report = json.loads(ok.output)
    assert report["pin"]["matches"] is True
    edit(project_dir / "risk.yaml", "max_open_positions: 10", "max_open_positions: 9", "9")
    changed = run(project_dir, "validate", monkeypatch=monkeypatch)
    assert changed.exit_code == 0
    assert "pin: DOES NOT MATCH" in changed.output and "changed: risk.yaml" in changed.output


def test_scan_writes_picks(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(project_dir, "scan", "--date", "2018-01-26", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert "scan of 2018-01-26" in result.output
    picks = pl.read_csv(project_dir / "logs" / "daily_picks.csv", try_parse_dates=True)
    assert picks.columns == ["date", "strategy", "symbol", "side", "close", "stop", "rank_score"]
    assert picks.height > 0 and set(picks["date"]) == {dt.date(2018, 1, 26)}
    # Scanning the same day again replaces its rows instead of adding them.
    again = run(project_dir, "scan", "--date", "2018-01-26", monkeypatch=monkeypatch)
    assert again.exit_code == 0
    assert pl.read_csv(project_dir / "logs" / "daily_picks.csv").height == picks.height


def test_scan_json_and_unknown_date(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(project_dir, "scan", "--date", "2017-08-24", "--strategy", "ict_turtle_soup", "--json",
                 monkeypatch=monkeypatch)
    report = json.loads(result.output)
    assert report["strategies"] == ["ict_turtle_soup"]
    assert [p["symbol"] for p in report["picks"]] == ["WMT"]
    weekend = run(project_dir, "scan", "--date", "2017-08-26", monkeypatch=monkeypatch)
    assert weekend.exit_code == 2
    assert "no bars on 2017-08-26" in weekend.output


def test_explain_shows_why(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(project_dir, "explain", "ict_turtle_soup", "WMT", "2017-08-24", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "ict_turtle_soup  WMT  2017-08-24  signal: true"
    assert "ibs() < 0.2" in result.output
    unknown = run(project_dir, "explain", "nope", "WMT", "2017-08-24", monkeypatch=monkeypatch)
    assert unknown.exit_code == 2 and "no strategy named 'nope'" in unknown.output


def test_functions_lists_the_registry(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kobe.dsl.functions import REGISTRY

    result = run(project_dir, "functions", "--json", monkeypatch=monkeypatch)
    listed = {f["name"] for f in json.loads(result.output)["functions"]}
    assert listed == set(REGISTRY)
    assert {"sma", "ema", "wma", "atr", "rsi", "rank", "zscore", "bars_since", "crosses_above"} <= listed


def test_plan_prints_stages(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(project_dir, "plan", "donchian_breakout", monkeypatch=monkeypatch)
    assert result.exit_code == 0
    assert "highest(high, 20)[1]  [per symbol]" in result.output
    assert "entry := close > highest(high, 20)[1]" in result.output
