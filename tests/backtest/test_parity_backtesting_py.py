"""The engine against an independent backtester: backtesting.py (the `backtesting` package).

The same SMA(10)/SMA(20) crossover, long only, on GOOG 2004-2013: Kobe's written in
YAML, backtesting.py's with its own SMA and ``crossover``. 10,000 cash, all in, whole
shares, no commission, fills at the next open. Every trade (dates, prices, sizes, P&L),
the trade still open at the end, and the whole equity curve must agree.

Then the cost model and the close at the end (:data:`CASES`), each variant run in both
engines with settings that mean the same thing (docs/backtest.md, "Checked against
backtesting.py", says how each maps): a commission in percent, a per-share commission
with a minimum per order (backtesting.py's ``commission`` as a callable), a bid/ask
spread, and ``close_at_end`` against ``finalize_trades=True``.
"""

from __future__ import annotations

import itertools
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
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


# ------------------------------------------------------------------ costs and the end


def _ibkr(size: float, price: float) -> float:
    """IBKR's fixed plan as backtesting.py takes a commission: $0.005 a share, $1 at least."""
    return max(1.0, 0.005 * abs(size))


def _per_share_and_bps(size: float, price: float) -> float:
    """Per share and 1 bp of the value, added up, then at least $12."""
    return max(12.0, 0.005 * abs(size) + abs(size) * price * 1e-4)


HALF = 10 / 20_000     # half of a 10 bps spread


@dataclass(frozen=True)
class Case:
    """One variant in both engines. ``settings``: Kobe's ``backtest:`` keys besides the
    cash; ``reference``: backtesting.py's ``Backtest`` keywords meaning the same.

    ``half_spread``: backtesting.py charges its ``spread`` once, on the entry, and exits
    at the data's price, so it reads its prices as the bid (of a long). It gets the bid
    opens, ``open x (1 - half)``, and ``spread = ask / bid - 1``: its entries then fill at
    the ask, ``open x (1 + half)``, and its exits at the bid, Kobe's fills for
    ``spread_bps``; the closes (signals, marks) are untouched.
    ``last_open_at_close``: backtesting.py's ``finalize_trades`` closes at the last bar's
    *open* (Kobe's ``close_at_end`` at its close; :func:`test_finalize_closes_at_the_last_open`
    pins that difference): both engines get bars whose last open is that bar's close.
    ``amount``: size in dollars (``fixed_dollars``) instead of all in, the reference
    buying ``amount // fill`` shares as Kobe does (it reads the next open, the fill, from
    a column: the order is sized at the price it fills at).
    """

    settings: str
    reference: dict[str, Any] = field(default_factory=dict)
    half_spread: float = 0.0
    last_open_at_close: bool = False
    cash: float = 10_000
    amount: float | None = None
    trades: int = 46                  # closed trades in both
    final: float = 0.0                # the final equity both reach (75,645.99 without costs)


CASES = [
    pytest.param(Case("commission_bps: 20", {"commission": 0.002}, final=63_341.19), id="commission-20bps"),
    # $100,000 orders at $100-$800: 19 of the 46 trades buy under 200 shares and pay the minimum.
    pytest.param(Case("commission_per_share: 0.005\ncommission_min_usd: 1", {"commission": _ibkr},
                      cash=1_000_000, amount=100_000, final=1_238_253.24), id="per-share-0.005-min-1usd"),
    # The minimum applies to the sum: about $10 (1 bp) + $0.005 a share is under $12 below
    # 400 shares; 42 entries and 32 exits of the 46 trades pay it.
    pytest.param(Case("commission_per_share: 0.005\ncommission_bps: 1\ncommission_min_usd: 12",
                      {"commission": _per_share_and_bps}, cash=1_000_000, amount=100_000, final=1_237_234.16),
                 id="per-share-plus-1bp-min-12usd"),
    pytest.param(Case("spread_bps: 10", {"spread": (1 + HALF) / (1 - HALF) - 1}, half_spread=HALF,
                      final=72_620.69), id="spread-10bps"),
    pytest.param(Case("close_at_end: true\ncommission_bps: 20", {"commission": 0.002, "finalize_trades": True},
                      last_open_at_close=True, trades=47, final=63_215.43), id="finalize-with-commission-20bps"),
    pytest.param(Case("close_at_end: true\nspread_bps: 10",
                      {"spread": (1 + HALF) / (1 - HALF) - 1, "finalize_trades": True}, half_spread=HALF,
                      last_open_at_close=True, trades=47, final=72_584.41), id="finalize-with-spread-10bps"),
]


def _frame(last_open_at_close: bool) -> pd.DataFrame:
    frame = pd.read_csv(GOOG, parse_dates=["date"], index_col="date")
    frame = frame.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
    if last_open_at_close:
        frame.iloc[-1, frame.columns.get_loc("Open")] = frame["Close"].iloc[-1]
    return frame


class SizedSmaCross(SmaCross):
    """:class:`SmaCross` buying ``amount`` dollars' worth at the fill (the next open)."""

    amount = 0.0

    def next(self) -> None:
        fill = self.data.NextOpen[-1]
        if crossover(self.sma_fast, self.sma_slow):
            if np.isfinite(fill):         # no next bar: no fill, in either engine
                self.buy(size=int(self.amount // fill))
        elif crossover(self.sma_slow, self.sma_fast):
            self.position.close()


def _reference_run(case: Case) -> Any:
    frame = _frame(case.last_open_at_close)
    strategy: type[Strategy] = SmaCross
    keywords: dict[str, Any] = {}
    if case.amount is not None:
        frame["NextOpen"] = frame["Open"].shift(-1)
        strategy, keywords = SizedSmaCross, {"amount": case.amount}
    frame["Open"] = frame["Open"] * (1 - case.half_spread)     # the bid (see Case)
    bt = Backtest(frame, strategy, cash=case.cash, exclusive_orders=True, trade_on_close=False, **case.reference)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # a trade still open at the end, a callable commission
        return bt.run(**keywords)


def _kobe_run(case: Case, root: Path) -> Any:
    sizing = f"method: fixed_dollars\n      amount_usd: {case.amount}" if case.amount else "method: all_cash"
    settings = "\n".join(f"  {line}" for line in case.settings.splitlines())
    text = (STRATEGIES.split("backtest:")[0].replace("method: all_cash", sizing)
            + f"backtest:\n  initial_cash: {case.cash}\n{settings}\n")
    (root / "strategies.yaml").write_text(text)
    # kobe validate holds amount_usd to the per-order budget; the gates are off below.
    risk = (REPO / "risk.yaml").read_text().replace("per_order_budget_usd: 75 ", f"per_order_budget_usd: {case.cash} ")
    (root / "risk.yaml").write_text(risk.replace("daily_budget_usd: 1000 ", f"daily_budget_usd: {case.cash} "))
    (root / "universe").mkdir(exist_ok=True)
    (root / "universe" / "goog.csv").write_text("symbol\nGOOG\n")
    bars = read_bars(GOOG)
    if case.last_open_at_close:
        last = pl.col("date") == pl.col("date").max()
        bars = bars.with_columns(pl.when(last).then(pl.col("close")).otherwise(pl.col("open")).alias("open"))
    # The gates are live trading's budgets, which backtesting.py has no notion of.
    return run_backtest(load_project(root / "strategies.yaml"), bars, gates=False).strategies[0]


@pytest.fixture(scope="module", params=CASES)
def both(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, Any, Any]:
    case: Case = request.param
    return case, _reference_run(case), _kobe_run(case, tmp_path_factory.mktemp("costs"))


def _same_trades(theirs: pd.DataFrame, ours: pl.DataFrame) -> None:
    assert [t.date() for t in theirs["EntryTime"]] == ours["entry_date"].to_list()
    assert [t.date() for t in theirs["ExitTime"]] == ours["exit_date"].to_list()
    assert theirs["Size"].tolist() == ours["quantity"].to_list()
    assert ours["entry_price"].to_list() == pytest.approx(theirs["EntryPrice"].tolist(), rel=1e-12)
    assert ours["exit_price"].to_list() == pytest.approx(theirs["ExitPrice"].tolist(), rel=1e-12)
    assert ours["commission"].to_list() == pytest.approx(theirs["Commission"].tolist(), rel=1e-9, abs=1e-9)
    assert ours["pnl"].to_list() == pytest.approx(theirs["PnL"].tolist(), rel=1e-9, abs=1e-6)


def test_costs_same_closed_trades(both) -> None:
    case, reference, kobe = both
    assert len(reference._trades) == kobe.trades.height == case.trades
    _same_trades(reference._trades, kobe.trades)
    reasons = kobe.trades["exit_reason"].to_list()
    if case.reference.get("finalize_trades"):
        # The trade the end closed, and only that one, says so.
        assert reasons == ["exit_rule"] * (case.trades - 1) + ["end"]
        assert kobe.open_trades.is_empty() and not reference._strategy.trades
    else:
        assert set(reasons) == {"exit_rule"}


def test_costs_same_open_trade_and_final_equity(both) -> None:
    case, reference, kobe = both
    if not case.reference.get("finalize_trades"):
        (still_open,) = reference._strategy.trades
        ours = kobe.open_trades.row(0, named=True)
        assert (ours["entry_date"], ours["quantity"]) == (still_open.entry_time.date(), still_open.size)
        assert ours["entry_price"] == pytest.approx(still_open.entry_price, rel=1e-12)
    assert kobe.equity["equity"][-1] == pytest.approx(reference["Equity Final [$]"], rel=1e-12)
    # Pinned, so that a cost both engines stopped charging cannot pass unseen.
    assert reference["Equity Final [$]"] == pytest.approx(case.final, abs=0.01)


def test_costs_same_equity_curve(both) -> None:
    _, reference, kobe = both
    theirs = reference._equity_curve["Equity"].to_numpy()
    assert len(theirs) == kobe.equity.height
    assert kobe.equity["equity"].to_numpy() == pytest.approx(theirs, rel=1e-12)


def test_finalize_closes_at_the_last_open(tmp_path: Path) -> None:
    """On the real bars the two engines close the last trade at different prices:
    backtesting.py's ``finalize_trades`` at the last bar's open (its orders of the last
    bar fill at that bar's open, a price from before the close it decided on), Kobe's
    ``close_at_end`` at its close, where the equity was marked. All else agrees."""
    case = Case("close_at_end: true", {"finalize_trades": True}, trades=47)
    reference, kobe = _reference_run(case), _kobe_run(case, tmp_path)
    theirs, ours = reference._trades, kobe.trades
    _same_trades(theirs.iloc[:-1], ours.head(-1))
    last_bar = _frame(False).iloc[-1]
    end = ours.row(-1, named=True)
    assert (theirs["ExitPrice"].iloc[-1], end["exit_price"]) == (last_bar["Open"], last_bar["Close"])
    assert theirs["Size"].iloc[-1] == end["quantity"] and end["exit_reason"] == "end"
    moved = end["quantity"] * (last_bar["Close"] - last_bar["Open"])
    assert kobe.equity["equity"][-1] == pytest.approx(reference["Equity Final [$]"] + moved, rel=1e-12)


# ------------------------------------------------------------------ long/short reversal

REVERSAL = """\
strategies:
  - name: sma_reversal
    universe: goog
    side: both
    fill: next_open
    params:
      fast: 10
      slow: 20
    entry: crosses_above(sma(close, fast), sma(close, slow))
    short_entry: crosses_below(sma(close, fast), sma(close, slow))
    sizing:
      method: all_cash
backtest:
  initial_cash: 10000
"""


class LongShortSmaCross(SmaCross):
    """The always-in reversal, as backtesting.py's docs write it: close, then open the other way."""

    def next(self) -> None:
        if crossover(self.sma_fast, self.sma_slow):
            self.position.close()
            self.buy()
        elif crossover(self.sma_slow, self.sma_fast):
            self.position.close()
            self.sell()


def _quoted_opens(frame: pd.DataFrame, half: float) -> pd.DataFrame:
    """The opens backtesting.py gets for Kobe's ``spread_bps``: at each reversal both
    orders go the same way (a cover and a buy, or a sale and a short sale), so at a broker
    both fill at one side of the quote, the ask after a cross up, the bid after a cross
    down. backtesting.py's ``spread`` cannot say that (its exits fill at the unadjusted
    price, and a short's entry gets the spread with the opposite sign), so it runs with
    ``spread=0`` on opens that are that side of the quote: open x (1 + half) on the bar
    after a cross up, open x (1 - half) after a cross down. Crosses are found here from
    pandas' own SMAs, independently of Kobe."""
    fast, slow = frame["Close"].rolling(10).mean(), frame["Close"].rolling(20).mean()
    up = (fast > slow) & (fast.shift(1) < slow.shift(1))
    down = (fast < slow) & (fast.shift(1) > slow.shift(1))
    direction = up.astype(int) - down.astype(int)
    frame = frame.copy()
    frame["Open"] = frame["Open"] * (1 + direction.shift(1).fillna(0) * half)
    return frame


REVERSAL_CASES = [
    pytest.param(("", {}, 0.0, 93), id="reversal"),
    pytest.param(("commission_bps: 20", {"commission": 0.002}, 0.0, 93), id="reversal-commission-20bps"),
    pytest.param(("spread_bps: 10", {}, HALF, 93), id="reversal-spread-10bps"),
    pytest.param(("close_at_end: true\ncommission_bps: 20", {"commission": 0.002, "finalize_trades": True}, 0.0, 94),
                 id="reversal-finalize-commission-20bps"),
]
REVERSAL_IDS = [case.id for case in REVERSAL_CASES]
# The final equities both engines reach, pinned (see docs/backtest.md).
REVERSAL_FINAL = {"reversal": 81_812.37, "reversal-commission-20bps": 56_263.52, "reversal-spread-10bps": 74_448.93,
                  "reversal-finalize-commission-20bps": 56_152.27}


@pytest.fixture(scope="module", params=REVERSAL_CASES)
def reversal(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any, Any, int]:
    settings, keywords, half, trades = request.param
    finalize = keywords.get("finalize_trades", False)
    frame = _quoted_opens(_frame(finalize), half)
    bt = Backtest(frame, LongShortSmaCross, cash=10_000, trade_on_close=False, **keywords)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = bt.run()
    root = tmp_path_factory.mktemp("reversal")
    (root / "strategies.yaml").write_text(REVERSAL + "".join(f"  {line}\n" for line in settings.splitlines()))
    shutil.copy(REPO / "risk.yaml", root / "risk.yaml")
    (root / "universe").mkdir()
    (root / "universe" / "goog.csv").write_text("symbol\nGOOG\n")
    bars = read_bars(GOOG)
    if finalize:
        last = pl.col("date") == pl.col("date").max()
        bars = bars.with_columns(pl.when(last).then(pl.col("close")).otherwise(pl.col("open")).alias("open"))
    ours = run_backtest(load_project(root / "strategies.yaml"), bars, gates=False).strategies[0]
    return REVERSAL_IDS[request.param_index], theirs, ours, trades


def test_reversal_same_trades_and_final_equity(reversal) -> None:
    case, theirs, ours, trades = reversal
    assert len(theirs._trades) == ours.trades.height == trades
    # backtesting.py signs its sizes: a short's is negative.
    signed = pl.when(pl.col("side") == "short").then(-pl.col("quantity")).otherwise(pl.col("quantity"))
    _same_trades(theirs._trades, ours.trades.with_columns(signed.alias("quantity")))
    sides = ours.trades["side"].to_list()
    assert sides == ["long" if size > 0 else "short" for size in theirs._trades["Size"]]
    assert all(a != b for a, b in itertools.pairwise(sides))    # always in: each trade reverses the last
    # Each reversal's two orders fill at one open: the covered trade's exit is the next one's entry.
    assert ours.trades["exit_date"].head(-1).to_list() == ours.trades["entry_date"].tail(-1).to_list()
    if not case.startswith("reversal-finalize"):
        (still_open,) = theirs._strategy.trades
        mine = ours.open_trades.row(0, named=True)
        assert (mine["entry_date"], mine["quantity"] * (1 if mine["side"] == "long" else -1)) == (
            still_open.entry_time.date(), still_open.size)
    assert ours.equity["equity"][-1] == pytest.approx(theirs["Equity Final [$]"], rel=1e-12)
    assert theirs["Equity Final [$]"] == pytest.approx(REVERSAL_FINAL[case], abs=0.01)


def test_reversal_same_equity_curve(reversal) -> None:
    _, theirs, ours, _ = reversal
    assert ours.equity["equity"].to_numpy() == pytest.approx(theirs._equity_curve["Equity"].to_numpy(), rel=1e-12)
