"""risk.yaml's gates inside the backtest: what the live path would have blocked, the
backtest skips and counts (kobe/backtest/parity.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from kobe.backtest import load_market, run_backtest
from kobe.backtest.parity import adv_by_row
from kobe.project import load_project

RISK = """\
per_order_budget_usd: {per_order}
daily_budget_usd: 1000
min_adv_usd: 100000
adv_window_days: 3
max_spread_pct: 0.5
max_order_pct_adv: {pct_adv}
max_open_positions: 10
kill_switch_file: state/KILL_SWITCH
"""

# Every bar trades at 100 with a high of 101; a high of 102 marks a signal bar. Orders of
# $400 buy 4 shares at the next open (100); the position leaves at that bar's close.
STRATEGY = """\
strategies:
  - name: s
    universe: all
    entry: high == 102
    exits:
      time_stop_bars: 1
    sizing:
{sizing}
backtest:
  initial_cash: 10000
"""
DOLLARS = "      method: fixed_dollars\n      amount_usd: 400"


def bars(volumes: dict[str, list[float]], signal_at: int) -> pl.DataFrame:
    """Each symbol's bars with these volumes; bar ``signal_at`` is a signal bar."""
    rows = [(sym, dt.date(2021, 1, 4) + dt.timedelta(days=i), 100.0, 102.0 if i == signal_at else 101.0, 99.0,
             100.0, v) for sym, vs in volumes.items() for i, v in enumerate(vs)]
    return pl.DataFrame(rows, schema=["symbol", "date", "open", "high", "low", "close", "volume"], orient="row")


def run(tmp_path: Path, frame: pl.DataFrame, *, sizing: str = DOLLARS, per_order: float = 1000,
        pct_adv: float = 1.0, gates: bool | None = None, settings: str = ""):
    (tmp_path / "universe").mkdir(exist_ok=True)
    (tmp_path / "universe" / "all.csv").write_text("symbol\n" + "\n".join(frame["symbol"].unique().sort()) + "\n")
    (tmp_path / "risk.yaml").write_text(RISK.format(per_order=per_order, pct_adv=pct_adv))
    (tmp_path / "strategies.yaml").write_text(STRATEGY.format(sizing=sizing) + settings)
    project = load_project(tmp_path / "strategies.yaml")
    return run_backtest(project, frame, gates=gates).strategies[0]


# id, volumes per symbol (ADV = 100 x the mean of the 3 volumes up to the signal bar),
# signal bar, extra arguments, (taken symbols, blocked_liquidity, blocked_budget)
CASES = [
    pytest.param({"AAA": [1000] * 5}, 2, {}, (["AAA"], 0, 0), id="adv-at-the-minimum-passes"),
    pytest.param({"AAA": [999] * 5}, 2, {}, ([], 1, 0), id="adv-below-the-minimum"),
    pytest.param({"AAA": [1000] * 5}, 2, {"pct_adv": 0.3}, ([], 1, 0), id="order-above-share-of-adv"),
    pytest.param({"AAA": [1000] * 5}, 1, {}, ([], 1, 0), id="window-not-full-no-adv"),
    pytest.param({"AAA": [500, 500, 2000, 1, 1]}, 2, {}, (["AAA"], 0, 0), id="window-ends-with-the-signal-bar"),
    pytest.param({"AAA": [999, 999, 999, 1e9, 1]}, 2, {}, ([], 1, 0), id="fill-bar-volume-not-known"),
    pytest.param({"AAA": [1000] * 5, "BBB": [1000] * 5, "CCC": [1000] * 5}, 2, {}, (["AAA", "BBB"], 0, 1),
                 id="daily-budget-1000-takes-two-400-orders"),
    pytest.param({"AAA": [1000] * 5}, 2, {"sizing": "      method: percent_equity\n      percent: 10",
                                          "per_order": 300, "gates": True}, (["AAA"], 0, 0),
                 id="per-order-budget-caps-the-size-as-live"),
    pytest.param({"AAA": [1] * 5}, 2, {"sizing": "      method: all_cash"}, (["AAA"], 0, 0),
                 id="off-by-default-unless-fixed-dollars"),
    pytest.param({"AAA": [1] * 5}, 2, {"gates": False}, (["AAA"], 0, 0), id="switched-off"),
]


@pytest.mark.parametrize(("volumes", "signal_at", "extra", "expected"), CASES)
def test_gates(tmp_path: Path, volumes, signal_at, extra, expected) -> None:
    result = run(tmp_path, bars(volumes, signal_at), **extra)
    taken, liquidity, budget = expected
    assert result.trades["symbol"].to_list() == taken
    assert result.skipped["blocked_liquidity"] == liquidity
    assert result.skipped["blocked_budget"] == budget
    assert result.gated == (extra.get("gates", True) is not False and "all_cash" not in extra.get("sizing", ""))


def test_the_per_order_budget_caps_the_size_as_live_trading_does(tmp_path: Path) -> None:
    """10% of $10,000 is $1,000, over the $300 per-order budget: live trading buys what
    $300 buys at the fill (3 shares at 100, no slippage here), and so does the backtest."""
    result = run(tmp_path, bars({"AAA": [1000] * 5}, 2), sizing="      method: percent_equity\n      percent: 10",
                 per_order=300, gates=True)
    assert result.trades["quantity"].to_list() == [3]


# id, spread_bps of the backtest, (shares bought, blocked_liquidity): risk.yaml's
# max_spread_pct is 0.5%, i.e. 50 bps; the $400 order pays the ask, 100 x (1 + half).
SPREAD_CASES = [
    pytest.param(0, (4, 0), id="no-spread-a-quote-of-zero-width"),
    pytest.param(50, (3, 0), id="spread-at-the-limit-passes-and-the-ask-buys-three"),
    pytest.param(60, (0, 1), id="spread-above-the-limit-blocks-as-live"),
]


@pytest.mark.parametrize(("spread", "expected"), SPREAD_CASES)
def test_the_liquidity_gate_sees_the_modelled_spread(tmp_path: Path, spread, expected) -> None:
    result = run(tmp_path, bars({"AAA": [1000] * 5}, 2), settings=f"  spread_bps: {spread}\n")
    quantity, blocked = expected
    assert result.trades["quantity"].to_list() == ([quantity] if quantity else [])
    assert result.skipped["blocked_liquidity"] == blocked


def test_the_daily_budget_starts_again_each_session(tmp_path: Path) -> None:
    frame = pl.concat([bars({"AAA": [1000] * 6, "BBB": [1000] * 6, "CCC": [1000] * 6}, 2),
                       bars({"DDD": [1000] * 6}, 4)])
    result = run(tmp_path, frame)
    assert result.trades["symbol"].to_list() == ["AAA", "BBB", "DDD"]
    assert result.skipped["blocked_budget"] == 1


def test_adv_is_the_mean_dollar_volume_of_the_window_per_symbol() -> None:
    market = load_market(bars({"AAA": [1, 2, 3, 4], "BBB": [10, 20, 30, 40]}, signal_at=-1))
    adv = adv_by_row(market, 3)
    expected = np.array([np.nan, np.nan, 200, 300, np.nan, np.nan, 2000, 3000])
    np.testing.assert_allclose(adv, expected)
