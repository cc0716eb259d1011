"""`kobe research screen` through click: the table, --json, --report, and bad input as
located errors (exit 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kobe.cli import main

FAST = ["--alphas", "mom_12_1,alpha_101,reversal_5d", "--horizons", "1,5", "--folds", "3"]


def run(project_dir: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.chdir(project_dir)
    return CliRunner().invoke(main, ["research", "screen", *args])


def clean_exit(result: Result, code: int) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, result.output


def test_json_rows(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(project_dir, monkeypatch, *FAST, "--json")
    clean_exit(result, 0)
    rows = json.loads(result.output)
    assert {(r["alpha"], r["horizon"]) for r in rows} == {(a, h) for a in ("mom_12_1", "alpha_101", "reversal_5d")
                                                          for h in (1, 5)}
    for row in rows:
        assert {"alpha", "horizon", "ic_mean", "ic_ir", "t_stat", "hit_rate", "quintile_spread", "turnover",
                "folds", "decay", "sign_kept", "all_folds", "quintile_returns"} <= set(row)
        assert [f["fold"] for f in row["folds"]] == [1, 2, 3]
    # Ranked by the out-of-sample IC at the shortest horizon, an alpha's horizons together.
    firsts = [r["ic_mean"] for r in rows if r["horizon"] == 1]
    assert firsts == sorted(firsts, reverse=True)
    assert [r["horizon"] for r in rows] == [1, 5] * 3


def test_table_and_report(project_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    report = tmp_path / "screen.html"
    result = run(project_dir, monkeypatch, *FAST, "--report", str(report))
    clean_exit(result, 0)
    assert "40 symbols, 3 folds" in result.output
    assert "IC IR" in result.output and "mom_12_1" in result.output
    page = report.read_text()
    assert all(f'id="{chart}"' in page for chart in ("cumulative-ic-1", "quintiles-5", "ic-by-fold", "ic-by-horizon"))
    assert "<script src" not in page and "Plotly.newPlot" in page   # its JavaScript inlined, nothing fetched


def test_universe_and_period(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project_dir / "five.csv").write_text("symbol\nAAPL\nMSFT\nJPM\nXOM\nKO\n")
    result = run(project_dir, monkeypatch, "--alphas", "reversal_5d", "--horizons", "1", "--folds", "2",
                 "--universe", "five.csv", "--start", "2016-01-04", "--end", "2016-12-30", "--json")
    clean_exit(result, 0)
    row = json.loads(result.output)[0]
    assert row["folds"][0]["start"] == "2016-01-04" and row["folds"][-1]["end"] <= "2016-12-30"


@pytest.mark.parametrize(("args", "message"), [
    (["--alphas", "mom_12_l"], "no feature or alpha named 'mom_12_l'"),
    (["--horizons", "1,x"], "is not a list of whole numbers"),
    (["--horizons", "0"], "horizons must be whole numbers of sessions from 1 to 252"),
    (["--folds", "1"], "--folds"),
    (["--alphas", "alpha_101", "--start", "2018-01-02"], "too short for 5 folds"),
])
def test_bad_input_exits_2_with_a_message(project_dir: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
                                          message: str) -> None:
    result = run(project_dir, monkeypatch, *args)
    clean_exit(result, 2)
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_unknown_alpha_suggests_the_nearest(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(project_dir, monkeypatch, "--alphas", "mom_12_l")
    assert "did you mean 'mom_12_1'" in result.output
