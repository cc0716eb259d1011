"""The engine against an independent backtester: backtesting.py (the `backtesting` package).

The same SMA(10)/SMA(20) crossover, long only, on GOOG 2004-2013: Kobe's written in
YAML, backtesting.py's with its own SMA and ``crossover``. 10,000 cash, all in, whole
shares, no commission, fills at the next open. Every trade (dates, prices, sizes, P&L),
the trade still open at the end, and the whole equity curve must agree.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# backtesting.py is a test dependency ('.[test]'); a missing one must fail, not skip.
from backtesting import Backtest, Strategy
from backtesting.lib import crossover

from kobe.backtest import run_backtest
from kobe.data.bars import read_bars
from kobe.project import load_project

REPO = Path(__file__).resolve().parents[2]
GOOG = REPO / "tests" / "data" / "GOOG_2004_2013.csv"

STRATEGIES = """\
strategies:
  - name: sma_cross
    universe: goog
    side: long
    fill: next_open
    params:
      fast: 10
      slow: 20
    entry: crosses_above(sma(close, fast), sma(close, slow))
    exits:
      exit: crosses_below(sma(close, fast), sma(close, slow))
    sizing:
      method: all_cash
backtest:
  initial_cash: 10000
  commission_per_share: 0
  commission_bps: 0
  slippage_bps: 0
"""


def _sma(values: np.ndarray, n: int) -> pd.Series:
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    fast = 10
    slow = 20

    def init(self) -> None:
        self.sma_fast = self.I(_sma, self.data.Close, self.fast)
        self.sma_slow = self.I(_sma, self.data.Close, self.slow)

    def next(self) -> None:
        if crossover(self.sma_fast, self.sma_slow):
            self.buy()
        elif crossover(self.sma_slow, self.sma_fast):
            self.position.close()


@pytest.fixture(scope="module")
def reference():
    frame = pd.read_csv(GOOG, parse_dates=["date"], index_col="date")
    frame = frame.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
    bt = Backtest(frame, SmaCross, cash=10_000, commission=0, exclusive_orders=True, trade_on_close=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns that a trade is still open at the end
        return bt.run()


@pytest.fixture(scope="module")
def kobe(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    (root / "strategies.yaml").write_text(STRATEGIES)
    shutil.copy(REPO / "risk.yaml", root / "risk.yaml")
    (root / "universe").mkdir()
    (root / "universe" / "goog.csv").write_text("symbol\nGOOG\n")
    return run_backtest(load_project(root / "strategies.yaml"), read_bars(GOOG)).strategies[0]


def test_same_closed_trades(reference, kobe) -> None:
    theirs = reference._trades
    ours = kobe.trades
    assert len(theirs) == ours.height == 46
    assert [t.date() for t in theirs["EntryTime"]] == ours["entry_date"].to_list()
    assert [t.date() for t in theirs["ExitTime"]] == ours["exit_date"].to_list()
    assert theirs["Size"].tolist() == ours["quantity"].to_list()
    assert theirs["EntryPrice"].tolist() == ours["entry_price"].to_list()
    assert theirs["ExitPrice"].tolist() == ours["exit_price"].to_list()
    assert ours["pnl"].to_list() == pytest.approx(theirs["PnL"].tolist(), abs=1e-9)
    assert set(ours["exit_reason"]) == {"exit_rule"}


def test_same_open_trade_and_final_equity(reference, kobe) -> None:
    (still_open,) = reference._strategy.trades
    ours = kobe.open_trades.row(0, named=True)
    assert (ours["entry_date"], ours["quantity"], ours["entry_price"]) == (
        still_open.entry_time.date(), still_open.size, still_open.entry_price)
    assert kobe.equity["equity"][-1] == pytest.approx(reference["Equity Final [$]"], rel=1e-12)
    assert reference["Equity Final [$]"] == pytest.approx(75_645.99, abs=0.01)


def test_same_equity_curve(reference, kobe) -> None:
    theirs = reference._equity_curve["Equity"].to_numpy()
    assert len(theirs) == kobe.equity.height
    assert kobe.equity["equity"].to_numpy() == pytest.approx(theirs, rel=1e-12)
