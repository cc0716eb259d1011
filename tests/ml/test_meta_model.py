"""The meta-model (issue 14): it finds a planted edge out of sample, finds none in noise,
never looks ahead, and refuses bad input with a located error."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from ml_synthetic import make_project

from kobe.cli import main
from kobe.project import load_project
from kobe.research.ml import train as training
from kobe.research.ml.train import train

FOLDS = 3


def trained(root: Path, **kwargs: object) -> training.TrainResult:
    project = load_project(root / "strategies.yaml")
    return train(project, "planted", project.bars(), folds=FOLDS, **kwargs)  # type: ignore[arg-type]


def cli(*args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output, result.exception


def test_a_planted_edge_is_found_out_of_sample(edge_project: Path) -> None:
    result = trained(edge_project)
    assert result.overall["auc"] > 0.7
    assert all(fold["auc"] > 0.7 for fold in result.folds)
    # Calibrated: the probabilities of the test trades average near their win rate.
    assert abs(result.overall["mean_prob"] - result.overall["base_rate"]) < 0.05


def test_pure_noise_has_no_edge_and_stays_near_the_base_rate(noise_project: Path) -> None:
    result = trained(noise_project)
    overall = result.overall
    assert abs(overall["auc"] - 0.5) < 0.08
    assert abs(overall["mean_prob"] - overall["base_rate"]) < 0.05
    base = overall["base_rate"]
    # Hardly worse than always saying the base rate (Brier b(1 - b)).
    assert overall["brier"] < base * (1 - base) + 0.01
    for row in overall["reliability"]:
        if row["trades"] >= 50:
            assert abs(row["mean_prob"] - base) < 0.15


def test_every_test_trade_was_scored_by_a_model_that_never_saw_it_or_anything_later(edge_project: Path) -> None:
    result = trained(edge_project)
    for fold in result.folds:
        assert fold["train_before"] < fold["test_start"]
    tested = result.oos.group_by("fold").agg(pl.col("signal_date").min().alias("first"))
    for fold, first in tested.iter_rows():
        assert first >= dt.date.fromisoformat(result.folds[fold - 1]["test_start"])


def _probabilities_before(result: training.TrainResult, day: dt.date) -> pl.DataFrame:
    return result.oos.filter(pl.col("signal_date") < day).select("symbol", "signal_date", "prob").sort(
        "symbol", "signal_date")


def test_a_future_label_never_changes_an_earlier_probability(edge_project: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    before = trained(edge_project)
    cut = dt.date.fromisoformat(before.folds[1]["test_start"]) + dt.timedelta(days=20)
    labelled = training.labelled_trades

    def flipped(*args: object, **kwargs: object) -> tuple[object, pl.DataFrame]:
        market, trades = labelled(*args, **kwargs)  # type: ignore[arg-type]
        later = pl.col("signal_date") >= cut
        return market, trades.with_columns(pl.when(later).then(1 - pl.col("won")).otherwise(pl.col("won"))
                                           .cast(pl.Int8).alias("won"))

    monkeypatch.setattr(training, "labelled_trades", flipped)
    after = trained(edge_project)
    assert _probabilities_before(before, cut).height > 100
    assert _probabilities_before(after, cut).equals(_probabilities_before(before, cut))
    assert not after.oos["prob"].equals(before.oos["prob"])


def test_a_future_bar_never_changes_an_earlier_probability(edge_project: Path) -> None:
    before = trained(edge_project)
    cut = dt.date.fromisoformat(before.folds[1]["test_start"]) + dt.timedelta(days=20)
    bars = pl.read_parquet(edge_project / "bars.parquet")
    later = pl.col("date") >= cut
    changed = bars.with_columns(*(pl.when(later).then(pl.col(c) * 1.5).otherwise(pl.col(c)).alias(c)
                                  for c in ("open", "high", "low", "close", "volume")))
    changed.write_parquet(edge_project / "bars.parquet")
    after = trained(edge_project)
    # A trade signalled just before the change fills after it: whether it is taken may
    # change (its fill price did), but the probability of every signal both runs scored may not.
    old, new = _probabilities_before(before, cut), _probabilities_before(after, cut)
    both = old.join(new, on=["symbol", "signal_date"], how="inner", suffix="_after")
    assert both.height > old.height - 10 and both.height > 100
    assert both["prob"].equals(both["prob_after"], check_names=False)


def test_train_writes_the_model_and_its_receipt(edge_project: Path) -> None:
    code, output, _ = cli("ml", "train", "planted", "--config", str(edge_project / "strategies.yaml"),
                          "--folds", str(FOLDS), "--json")
    assert code == 0, output
    receipt = json.loads(output)
    assert receipt["features"] == ["planted_volume", "own_move"]
    assert set(receipt["versions"]) >= {"scikit-learn", "numpy", "scipy", "polars", "python", "kobe"}
    assert len(receipt["folds"]) == FOLDS
    assert {"auc", "brier", "log_loss", "reliability", "calibration"} <= set(receipt["folds"][0])
    assert receipt["folds"][0]["calibration"] in ("isotonic", "sigmoid")
    model = edge_project / "state" / "models" / "planted.joblib"
    assert model.exists()
    project = load_project(edge_project / "strategies.yaml")
    assert receipt["config_sha256"] == project.fingerprint().sha256
    code, output, _ = cli("ml", "report", "planted", "--config", str(edge_project / "strategies.yaml"))
    assert code == 0, output
    assert "AUC" in output and "config matches" in output and "config not pinned" in output


def test_the_backtest_reads_out_of_sample_probabilities_beside_the_unfiltered_strategy(tmp_path: Path) -> None:
    from kobe.backtest import run_backtest

    root = make_project(tmp_path / "meta", edge=True, meta_filter=True)
    project = load_project(root / "strategies.yaml")
    code, output, _ = cli("ml", "train", "planted", "--config", str(root / "strategies.yaml"), "--folds", str(FOLDS))
    assert code == 0, output
    receipt = json.loads((root / "state" / "models" / "planted.json").read_text())
    result = run_backtest(project, project.bars(), unfiltered=True)
    assert [s.name for s in run_backtest(project, project.bars()).strategies] == ["planted"]
    names = [s.name for s in result.strategies]
    assert names == ["planted", "planted (no meta filter)"]
    filtered, unfiltered = result.strategies
    first_test = dt.date.fromisoformat(receipt["folds"][0]["test_start"])
    # No probability before the first test period: no trade passes the filter there.
    assert filtered.trades.filter(pl.col("signal_date") < first_test).is_empty()
    assert not unfiltered.trades.filter(pl.col("signal_date") < first_test).is_empty()
    win_rate, baseline = filtered.metrics()["win_rate"], unfiltered.metrics()["win_rate"]
    assert isinstance(win_rate, float) and isinstance(baseline, float)
    assert win_rate > baseline + 0.2
    assert result.combined.trades.height == filtered.trades.height


def test_an_unknown_feature_is_a_located_error(edge_project: Path) -> None:
    code, output, exc = cli("ml", "train", "planted", "--config", str(edge_project / "strategies.yaml"),
                            "--features", "planted_volume,no_such_feature")
    assert code == 2 and isinstance(exc, SystemExit)
    assert "--features: error: unknown feature 'no_such_feature'" in output
    assert "planted_volume, own_move" in output and "Traceback" not in output


def test_too_few_trades_for_the_folds_is_a_located_error(edge_project: Path) -> None:
    code, output, exc = cli("ml", "train", "planted", "--config", str(edge_project / "strategies.yaml"),
                            "--folds", "40")
    assert code == 2 and isinstance(exc, SystemExit)
    assert "strategies.yaml:2:5: error: strategy 'planted' has too few trades" in output
    assert "--folds" in output and "Traceback" not in output


def test_a_model_that_does_not_match_the_pin_is_refused(tmp_path: Path) -> None:
    root = make_project(tmp_path / "pinned", edge=True, meta_filter=True)
    config = str(root / "strategies.yaml")
    assert cli("ml", "train", "planted", "--config", config, "--folds", str(FOLDS))[0] == 0
    code, output, _ = cli("pin", config)
    assert code == 0, output
    lock = json.loads((root / "state" / "config.lock").read_text())
    assert set(lock["models"]) == {"state/models/planted.joblib"}
    code, output, _ = cli("scan", "--config", config)
    assert code == 0, output
    # Retrained (another fold count): no longer the pinned model.
    assert cli("ml", "train", "planted", "--config", config, "--folds", "2")[0] == 0
    code, output, exc = cli("scan", "--config", config)
    assert code == 2 and isinstance(exc, SystemExit)
    assert "state/models/planted.joblib: error: the meta-model of 'planted' changed since the pin" in output
    project = load_project(root / "strategies.yaml")
    status = project.pin_status()
    assert not status.matches and status.changed == ("state/models/planted.joblib",)
    code, output, _ = cli("ml", "report", "planted", "--config", config)
    assert "NOT the pinned model" in output


def test_a_model_trained_on_another_config_is_refused(tmp_path: Path) -> None:
    root = make_project(tmp_path / "edited", edge=True, meta_filter=True)
    config = str(root / "strategies.yaml")
    assert cli("ml", "train", "planted", "--config", config, "--folds", str(FOLDS))[0] == 0
    (root / "rules" / "features.kobe").write_text((root / "rules" / "features.kobe").read_text() + "\nx = close\n")
    code, output, exc = cli("backtest", config)
    assert code == 2 and isinstance(exc, SystemExit)
    assert "error: the meta-model of 'planted' was trained on config" in output and "kobe ml train planted" in output


def test_no_model_is_a_located_error(tmp_path: Path) -> None:
    root = make_project(tmp_path / "untrained", edge=True, meta_filter=True)
    code, output, exc = cli("scan", "--config", str(root / "strategies.yaml"))
    assert code == 2 and isinstance(exc, SystemExit)
    assert "state/models/planted.json: error: no meta-model for strategy 'planted'" in output


def test_meta_prob_may_only_be_read_by_a_filter(tmp_path: Path) -> None:
    root = make_project(tmp_path / "entry", edge=True)
    text = (root / "strategies.yaml").read_text().replace("entry: close > 0", "entry: meta_prob > 0.5")
    (root / "strategies.yaml").write_text(text)
    code, output, _ = cli("validate", str(root / "strategies.yaml"))
    assert code == 2
    assert "entry reads meta_prob, which only a filter may read" in output


def test_the_probabilities_are_numbers_between_zero_and_one(edge_project: Path) -> None:
    probs = trained(edge_project).oos["prob"].to_numpy()
    assert np.all((probs >= 0) & (probs <= 1))


def test_a_pin_whose_models_are_not_hashes_is_a_located_error(edge_project: Path) -> None:
    from kobe.config.errors import KobeError

    assert cli("pin", str(edge_project / "strategies.yaml"))[0] == 0
    lock = edge_project / "state" / "config.lock"
    lock.write_text(json.dumps({**json.loads(lock.read_text()), "models": "not a table"}))
    with pytest.raises(KobeError, match="unreadable pin file"):
        load_project(edge_project / "strategies.yaml").pin_status()


def test_the_scan_reads_the_probability_the_backtest_read(tmp_path: Path) -> None:
    from kobe.backtest.market import scoped_market
    from kobe.research.ml.meta import scan_meta_prob, with_meta_prob

    root = make_project(tmp_path / "parity", edge=True, meta_filter=True)
    config = str(root / "strategies.yaml")
    assert cli("ml", "train", "planted", "--config", config, "--folds", str(FOLDS))[0] == 0
    assert cli("pin", config)[0] == 0
    project = load_project(root / "strategies.yaml")
    bars = pl.read_parquet(root / "bars.parquet")
    symbols = project.universe(project.strategy("planted").config)
    market = with_meta_prob(project, "planted", scoped_market(bars, symbols), symbols)
    receipt = json.loads((root / "state" / "models" / "planted.json").read_text())
    first_test = dt.date.fromisoformat(receipt["folds"][0]["test_start"])
    column = market.bars.select(pl.col("symbol").cast(pl.String), "date", "meta_prob")
    assert column.filter(pl.col("date") < first_test)["meta_prob"].null_count() == \
        column.filter(pl.col("date") < first_test).height
    after = dt.date.fromisoformat(receipt["folds"][1]["test_start"]) + dt.timedelta(days=7)
    day = column.filter(pl.col("date") >= after)["date"].min()
    assert isinstance(day, dt.date)
    scanned = scan_meta_prob(project, "planted", bars.filter(pl.col("date") <= day).sort("symbol", "date"), day)
    backtested = column.filter(pl.col("date") == day).sort("symbol")
    assert scanned.height == len(symbols) and scanned["meta_prob"].null_count() == 0
    assert np.allclose(scanned.sort("symbol")["meta_prob"].to_numpy(), backtested["meta_prob"].to_numpy())
