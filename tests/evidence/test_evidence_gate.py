"""The gate over whole strategies: a planted edge passes, a strategy fitted to noise fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from evidence_bars import bars, project_dir

from kobe.backtest import run_backtest
from kobe.config.model import EvidenceSettings
from kobe.evidence.gate import evaluate, neighbourhood, step_of
from kobe.project import load_project


def test_the_neighbourhood_moves_each_param_one_step() -> None:
    assert step_of(200, 10) == 20 and step_of(14, 10) == 1 and step_of(2, 10) == 1 and step_of(5, 10) == 1
    assert step_of(0.2, 10) == pytest.approx(0.02)
    points = neighbourhood({"channel_bars": 20, "ibs_max": 0.2}, 10)
    assert points == [{"channel_bars": 20, "ibs_max": 0.2}, {"channel_bars": 18, "ibs_max": 0.2},
                      {"channel_bars": 22, "ibs_max": 0.2}, {"channel_bars": 20, "ibs_max": pytest.approx(0.18)},
                      {"channel_bars": 20, "ibs_max": pytest.approx(0.22)}]


def test_a_planted_edge_passes(tmp_path: Path) -> None:
    project = load_project(project_dir(tmp_path) / "strategies.yaml")
    report = evaluate(project, "edge", bars=bars(edge=True, seed=8))
    assert report.passed, [f.to_dict() for f in report.failing()]
    figures = {f.key: f.value for f in report.figures}
    dsr, pbo = figures["min_deflated_sharpe"], figures["max_pbo"]
    assert dsr is not None and dsr > 0.99 and pbo is not None and pbo < 0.1
    assert report.inputs["neighbourhood_points"] == 5           # hold_bars 4, 6; min_volume +-10%
    assert report.inputs["variants_tried"] == 5
    assert report.binding["config_sha256"] == project.fingerprint().sha256


def test_a_strategy_fitted_to_noise_fails(tmp_path: Path) -> None:
    """hold_bars chosen as the best of 2..10 on bars without an edge: its backtest looks
    fine (a positive Sharpe, even its walk-forward, which chooses nothing for it), but
    the deflated Sharpe ratio given the nine variants tried, and CSCV, see through it."""
    noise = bars(edge=False, seed=8)
    sharpes = {}
    for hold in range(2, 11):
        project = load_project(project_dir(tmp_path, hold=hold) / "strategies.yaml")
        sharpes[hold] = run_backtest(project, noise).strategies[0].metrics()["sharpe"]
    best = max(sharpes, key=lambda h: float(sharpes[h] or -1e9))
    assert float(sharpes[best] or 0) > 0.3
    project = load_project(project_dir(tmp_path, hold=best) / "strategies.yaml")
    report = evaluate(project, "edge", variants_tried=9, bars=noise)
    assert not report.passed
    failing = {f.key for f in report.failing()}
    assert {"min_deflated_sharpe", "max_pbo"} <= failing
    assert report.inputs["variants_tried"] == 9


def test_thresholds_come_from_risk_yaml_or_the_caller(tmp_path: Path) -> None:
    root = project_dir(tmp_path)
    with (root / "risk.yaml").open("a") as handle:
        handle.write("\n")
    text = (root / "risk.yaml").read_text().replace("min_trades: 50 ", "min_trades: 5000 ")
    (root / "risk.yaml").write_text(text)
    project = load_project(root / "strategies.yaml")
    assert project.config.risk.evidence.min_trades == 5000
    edge = bars(edge=True, seed=8)
    report = evaluate(project, "edge", bars=edge)
    assert [f.key for f in report.failing()] == ["min_trades"]
    assert evaluate(project, "edge", bars=edge, settings=EvidenceSettings()).passed


def test_a_figure_that_cannot_be_computed_fails(tmp_path: Path) -> None:
    """Too short a history for one walk-forward window, too few sessions for CSCV: None, failed."""
    project = load_project(project_dir(tmp_path) / "strategies.yaml")
    report = evaluate(project, "edge", bars=bars(edge=True, seed=8, years=1.0))
    values = {f.key: f.value for f in report.figures}
    assert values["min_oos_sharpe"] is None
    assert "min_oos_sharpe" in {f.key for f in report.failing()}


def test_without_an_evidence_section_the_defaults_apply(tmp_path: Path) -> None:
    root = project_dir(tmp_path)
    text = (root / "risk.yaml").read_text()
    (root / "risk.yaml").write_text(text[:text.index("\n# What a strategy must show")] + "\n")
    assert load_project(root / "strategies.yaml").config.risk.evidence == EvidenceSettings()


def test_a_strategy_without_params_has_no_neighbourhood_and_fails(tmp_path: Path) -> None:
    """Nothing to perturb: no PBO, no stability, so no pass (the numbers would have to be
    params to be put to the test)."""
    root = project_dir(tmp_path)
    strategies = root / "strategies.yaml"
    strategies.write_text(strategies.read_text().replace("    params:\n      hold_bars: 5\n      min_volume: 5000000\n",
                                                         "").replace("volume > min_volume", "volume > 5000000")
                          .replace("time_stop_bars: hold_bars", "time_stop_bars: 5"))
    report = evaluate(load_project(strategies), "edge", bars=bars(edge=True, seed=8))
    assert report.inputs["neighbourhood_points"] == 1
    assert {f.key for f in report.failing()} == {"max_pbo", "min_param_stability"}
