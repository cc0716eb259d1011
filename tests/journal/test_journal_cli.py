"""`kobe journal`, `kobe reflect`, `kobe hypothesize` through click, on the shipped project:
the happy paths, and bad input as located errors (exit 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kobe.cli import main


def run(project_dir: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.chdir(project_dir)
    return CliRunner().invoke(main, list(args))


def clean_exit(result: Result, code: int) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output


@pytest.mark.parametrize("args", [["journal"], ["reflect", "donchian_breakout"], ["hypothesize", "ict_turtle_soup"]])
def test_an_empty_journal_is_a_located_error(project_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                             args: list[str]) -> None:
    result = run(project_dir, monkeypatch, *args)
    clean_exit(result, 2)
    assert "state/journal.sqlite: error: the journal is empty" in result.output
    assert "kobe journal --record-backtest" in result.output


@pytest.mark.parametrize("args", [["reflect", "nope"], ["hypothesize", "nope"],
                                  ["journal", "--record-backtest", "--strategy", "nope"]])
def test_an_unknown_strategy_is_a_located_error(project_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                args: list[str]) -> None:
    result = run(project_dir, monkeypatch, *args)
    clean_exit(result, 2)
    assert "strategies.yaml: error: no strategy named 'nope'" in result.output
    assert "donchian_breakout, ict_turtle_soup" in result.output


def test_record_list_reflect_and_hypothesize(project_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    recorded = run(project_dir, monkeypatch, "journal", "--record-backtest")
    clean_exit(recorded, 0)
    assert "recorded 636 backtest trades of donchian_breakout" in recorded.output

    listed = run(project_dir, monkeypatch, "journal", "--strategy", "ict_turtle_soup", "--json")
    clean_exit(listed, 0)
    rows = json.loads(listed.output)
    assert len(rows) == 10 and {"trend_regime", "vol_regime", "feature_rsi_14", "exit_reason"} <= set(rows[0])
    clean_exit(run(project_dir, monkeypatch, "journal", "--source", "live"), 2)     # none recorded

    report = tmp_path / "reflect.html"
    reflected = run(project_dir, monkeypatch, "reflect", "donchian_breakout", "--json", "--report", str(report))
    clean_exit(reflected, 0)
    data = json.loads(reflected.output)
    assert data["correction"] == "bonferroni" and data["comparisons_tested"] > 30
    assert data["findings"] and all("Bonferroni CI" in f for f in data["findings"])
    assert "Plotly" in report.read_text() and "Findings" in report.read_text()
    clean_exit(run(project_dir, monkeypatch, "reflect", "donchian_breakout", "--source", "live"), 2)

    text = run(project_dir, monkeypatch, "reflect", "ict_turtle_soup")
    clean_exit(text, 0)
    assert "no finding" in text.output and "too few" in text.output


@pytest.mark.parametrize(("strategy", "filters"), [("donchian_breakout", True), ("ict_turtle_soup", False)])
def test_hypothesize_on_the_shipped_strategies(project_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                               strategy: str, filters: bool) -> None:
    clean_exit(run(project_dir, monkeypatch, "journal", "--record-backtest", "--strategy", strategy), 0)
    result = run(project_dir, monkeypatch, "hypothesize", strategy, "--max", "2", "--json")
    clean_exit(result, 0)
    data = json.loads(result.output)
    variants = data["variants"]
    assert data["variants_tried"] == 3 == len(variants)
    assert [v["kind"] for v in variants].count("current") == 1
    kinds = {v["kind"] for v in variants} - {"current"}
    assert kinds == ({"filter"} if filters else {"neighbour"})
    sharpes = [v["metrics"]["sharpe"] for v in variants]
    assert sharpes == sorted(sharpes, reverse=True)
    for v in variants:
        if v["kind"] != "current" and data["gated"]:
            assert set(v["evidence"]) == {"passed", "deflated_sharpe", "failing"}
    table = run(project_dir, monkeypatch, "hypothesize", strategy, "--max", "1", "--no-gate")
    clean_exit(table, 0)
    assert "not gated (--no-gate)" in table.output and "as configured" in table.output


def test_a_passing_variant_is_printed_as_yaml_that_validates(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from kobe.journal import hypothesize

    class Passing:
        passed = True
        figures = ()

    tried: list[int] = []

    def fake_gate(project: object, strategy: str, variants_tried: int, **_: object) -> Passing:
        tried.append(variants_tried)
        return Passing()

    monkeypatch.setattr(hypothesize, "_gate", lambda: fake_gate)
    clean_exit(run(project_dir, monkeypatch, "journal", "--record-backtest", "--strategy", "donchian_breakout"), 0)
    result = run(project_dir, monkeypatch, "hypothesize", "donchian_breakout", "--max", "2")
    clean_exit(result, 0)
    assert tried == [3, 3]                       # each variant deflated by the whole search
    pasted = result.output.split("paste under `strategies:`; each is disabled):\n", 1)[1]
    entries = yaml.safe_load(pasted)
    assert [e["name"] for e in entries] == ["donchian_breakout_v1", "donchian_breakout_v2"]
    assert all(e["enabled"] is False and len(e["filters"]) == 2 for e in entries)
    config = yaml.safe_load((project_dir / "strategies.yaml").read_text())
    config["strategies"] += entries
    (project_dir / "strategies.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    clean_exit(run(project_dir, monkeypatch, "validate"), 0)
