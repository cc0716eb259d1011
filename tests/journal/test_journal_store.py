"""The journal's rows: one for one with the backtest's trades, with their signal bar's
context; live round trips from the order store, with their slippage against the backtest."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from kobe.backtest import run_backtest
from kobe.journal.store import (
    Journal,
    RoundTrip,
    context_frame,
    live_rows,
    record_backtest,
    record_live,
    round_trips,
)
from kobe.oms.orders import OrderRecord, OrderStatus, client_order_id
from kobe.oms.store import OrderStore
from kobe.project import load_project

REPO = Path(__file__).resolve().parents[2]
KEY = ["symbol", "signal_date", "entry_date", "exit_date", "entry_price", "exit_price", "pnl", "return",
       "exit_reason", "bars_held", "side"]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory):
    """The shipped project, copied (the journal is written under it), its backtest recorded."""
    root = tmp_path_factory.mktemp("shipped")
    for name in ("strategies.yaml", "risk.yaml"):
        shutil.copy(REPO / name, root / name)
    for folder in ("rules", "universe"):
        shutil.copytree(REPO / folder, root / folder)
    project = load_project(root / "strategies.yaml")
    record_backtest(project, project.bars())
    return project


def test_rows_are_the_backtests_trades_one_for_one(shipped) -> None:
    project = shipped
    result = run_backtest(project, project.bars())
    journal = Journal(project.root / "state" / "journal.sqlite")
    for account in result.strategies:
        rows = journal.trades(account.name, "backtest")
        assert rows.height == account.trades.height > 0
        mine = rows.select(KEY).sort("entry_date", "symbol")
        theirs = account.trades.select(KEY).with_columns(pl.col("bars_held").cast(pl.Int64)).sort("entry_date", "symbol")
        assert mine.equals(theirs), account.name
        assert (rows["quantity"].to_numpy() == account.trades["quantity"].to_numpy()).all()
    assert {c["strategy"] for c in journal.counts()} == {"donchian_breakout", "ict_turtle_soup"}


def test_the_context_is_the_signal_bars(shipped) -> None:
    project = shipped
    rows = Journal(project.root / "state" / "journal.sqlite").trades("donchian_breakout")
    # The strategy's own filter (close > sma(close, 200)) is the trend regime's rule.
    assert rows["trend_regime"].drop_nulls().unique().to_list() == [1.0]
    context = context_frame(project, project.bars(), project.universe(project.strategy("donchian_breakout").config))
    sample = rows.head(25).select("symbol", "signal_date", "feature_rsi_14", "vol_regime")
    joined = sample.join(context.rename({"date": "signal_date"}), on=["symbol", "signal_date"], suffix="_bars")
    assert joined.height == 25
    assert joined["feature_rsi_14"].to_list() == joined["feature_rsi_14_bars"].to_list()
    assert rows["gates"].unique().to_list() == ["applied in the backtest"]


def test_recording_again_replaces_the_backtest_rows(shipped) -> None:
    project = shipped
    record_backtest(project, project.bars(), strategy="ict_turtle_soup", end=dt.date(2016, 12, 30))
    journal = Journal(project.root / "state" / "journal.sqlite")
    rows = journal.trades("ict_turtle_soup", "backtest")
    assert rows.height > 0 and rows["exit_date"].max() <= dt.date(2016, 12, 30)
    assert len(rows["id"].unique()) == rows.height
    record_backtest(project, project.bars(), strategy="ict_turtle_soup")
    assert journal.trades("ict_turtle_soup").height == 10


def _order(strategy: str, symbol: str, day: dt.date, action: str, qty: int, price: float, reason: str,
           **kw: object) -> OrderRecord:
    side = "buy" if action in ("buy", "cover") else "sell"
    return OrderRecord(client_order_id(strategy, symbol, day, action), strategy, symbol, side, qty, price, day,
                       status=OrderStatus.FILLED, filled_qty=float(qty), filled_avg_price=price, reason=reason, **kw)


def test_live_round_trips_and_their_slippage(shipped) -> None:
    project = shipped
    trade = run_backtest(project, project.bars(), strategy="donchian_breakout").strategies[0].trades.row(0, named=True)
    entry = trade["entry_price"] * 1.001                  # 10 bps worse than the backtest's fill
    exit_ = trade["exit_price"] * 0.998                   # 20 bps worse
    orders = [
        _order("donchian_breakout", trade["symbol"], trade["entry_date"], "buy", 3, entry,
               f"entry: signal of {trade['signal_date'].isoformat()}"),
        _order("donchian_breakout", trade["symbol"], trade["exit_date"], "sell", 3, exit_,
               "exit: time_stop (held 5 bars)"),
        # An entry still held: no round trip yet.
        _order("donchian_breakout", "ZZZ", trade["exit_date"], "buy", 1, 10.0, "entry: signal of 2099-01-01"),
    ]
    trips = round_trips(orders)
    assert [(t.symbol, t.exit_reason, t.quantity) for t in trips] == [(trade["symbol"], "time_stop", 3.0)]
    events = [{"kind": "gate.blocked", "strategy": "donchian_breakout", "symbol": trade["symbol"],
               "trading_date": trade["entry_date"].isoformat(), "gate": "budget", "reason": "over budget"}]
    (row,) = live_rows(project, trips, events, project.bars())
    assert row["slippage_entry_bps"] == pytest.approx(10.0, abs=1e-6)
    assert row["slippage_exit_bps"] == pytest.approx(20.0, abs=1e-6)
    assert row["backtest_return"] == pytest.approx(trade["return"])
    assert row["signal_date"] == trade["signal_date"].isoformat()
    assert row["trend_regime"] == 1.0 and "feature_rsi_14" in row
    assert [g["kind"] for g in json.loads(row["gates"])] == ["gate.blocked", "passed"]


def test_a_resting_stop_and_a_scaled_exit_close_a_trip() -> None:
    day = dt.date(2024, 3, 4)
    orders = [
        _order("s", "AAA", day, "buy", 4, 10.0, "entry: signal of 2024-03-01"),
        _order("s", "AAA", day + dt.timedelta(days=1), "sell", 2, 11.0, "exit: target (x)"),
        _order("s", "AAA", day + dt.timedelta(days=2), "stop", 2, 9.0, "stop", order_type="stop",
               time_in_force="gtc"),
    ]
    (trip,) = round_trips(orders)
    assert isinstance(trip, RoundTrip)
    assert trip.exit_price == pytest.approx(10.0) and trip.exit_reason == "stop"
    assert trip.signal_date == dt.date(2024, 3, 1)


def test_record_live_reads_the_order_store(tmp_path: Path, project_dir: Path) -> None:
    project = load_project(project_dir / "strategies.yaml")
    assert record_live(project, None) == 0               # no store: nothing, and none created
    assert not (project_dir / "state" / "orders.sqlite").exists()
    store = OrderStore(project_dir / "state" / "orders.sqlite")
    day = dt.date(2017, 6, 1)
    for order in (_order("donchian_breakout", "AAPL", day, "buy", 2, 150.0, "entry: signal of 2017-05-31"),
                  _order("donchian_breakout", "AAPL", day + dt.timedelta(days=6), "sell", 2, 153.0,
                         "exit: time_stop (5 bars)")):
        store.add(order)
    store.close()
    assert record_live(project, None) == 1
    rows = Journal(project_dir / "state" / "journal.sqlite").trades(source="live")
    assert rows["pnl"].to_list() == [pytest.approx(6.0)] and rows["exit_reason"].to_list() == ["time_stop"]
    assert record_live(project, None) == 1               # again: the same row, updated
    assert Journal(project_dir / "state" / "journal.sqlite").trades(source="live").height == 1


def test_a_live_trade_after_the_bars_has_no_backtest_twin(shipped) -> None:
    day = dt.date(2030, 3, 4)
    trips = round_trips([
        _order("donchian_breakout", "AAPL", day, "buy", 1, 100.0, "entry: signal of 2030-03-01"),
        _order("donchian_breakout", "AAPL", day + dt.timedelta(days=7), "sell", 1, 99.0, "exit: time_stop (5)"),
    ])
    (row,) = live_rows(shipped, trips, [], shipped.bars())
    assert row["return"] == pytest.approx(-0.01) and "backtest_return" not in row and "trend_regime" not in row
