"""The live meta_prob's calibration: the runner scores the closed live trades of a
strategy filtering on meta_prob against the pinned model's probabilities."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from click.testing import CliRunner
from ml_synthetic import make_project

from kobe.cli import main
from kobe.oms.orders import OrderRecord, OrderStatus, client_order_id
from kobe.oms.store import OrderStore
from kobe.project import load_project
from kobe.research.ml.live import calibration_metrics, live_calibration


def _trade(store: OrderStore, symbol: str, day: dt.date, open_: float, close: float) -> None:
    """A day trade: bought at ``day``'s open, sold at its close."""
    for action, side, price, hour in (("buy", "buy", open_, 14), ("sell", "sell", close, 20)):
        order = OrderRecord(client_order_id("planted", symbol, day, action), "planted", symbol, side, 1, price, day,
                            status=OrderStatus.FILLED, filled_qty=1, filled_avg_price=price, reason="entry")
        store.add(order)
        store.add_fill(f"{order.client_order_id}-f", order, 1, price, f"{day.isoformat()}T{hour}:00:00+00:00")


def test_the_live_trades_are_scored_against_the_pinned_model(tmp_path: Path) -> None:
    root = make_project(tmp_path / "live", edge=True, meta_filter=True)
    config = str(root / "strategies.yaml")
    assert CliRunner().invoke(main, ["ml", "train", "planted", "--config", config, "--folds", "3"]).exit_code == 0
    assert CliRunner().invoke(main, ["pin", config]).exit_code == 0
    project = load_project(root / "strategies.yaml")
    bars = pl.read_parquet(root / "bars.parquet")
    # The last 30 sessions of one symbol, inside the last fold's test period, traded live.
    rows = bars.filter(pl.col("symbol") == "S01").sort("date").tail(30)
    store = OrderStore(root / "state" / "orders.sqlite")
    for day, open_, close in rows.select("date", "open", "close").iter_rows():
        _trade(store, "S01", day, open_, close)
    calibration = live_calibration(project, store, bars.lazy())
    planted = calibration["planted"]
    wins = int((rows["close"] > rows["open"]).sum())
    assert planted["trades"] == 30 and round(planted["win_rate"] * 30) == wins
    # The planted edge: the model's probabilities call the live outcomes well.
    assert planted["brier"] < 0.1 and planted["brier_recent"] is not None
    assert sum(b["count"] for b in planted["reliability"]) == 30
    metrics = calibration_metrics(calibration)
    assert metrics == {"meta_prob_trades": 30.0, "meta_prob_brier": planted["brier"]}


def test_nothing_to_score_without_a_meta_filter(tmp_path: Path) -> None:
    root = make_project(tmp_path / "plain", edge=True)
    project = load_project(root / "strategies.yaml")
    store = OrderStore(root / "state" / "orders.sqlite")
    assert live_calibration(project, store, pl.read_parquet(root / "bars.parquet").lazy()) == {}
    assert calibration_metrics({}) == {"meta_prob_trades": 0.0, "meta_prob_brier": None}
