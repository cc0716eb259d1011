"""The metrics against hand computations on tiny equity curves and trade lists."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from kobe.backtest import metrics as m

D = [dt.date(2021, 1, 4) + dt.timedelta(days=i) for i in range(10)]


def test_returns_start_from_the_initial_cash() -> None:
    assert m.returns(np.array([110.0, 99.0, 121.0]), 100.0) == pytest.approx([0.10, -0.10, 121 / 99 - 1])


def test_total_return_and_cagr() -> None:
    equity = np.array([100.0, 150.0, 121.0])
    assert m.total_return(equity, 100.0) == pytest.approx(0.21)
    two_years = [dt.date(2020, 1, 1), dt.date(2021, 1, 1), dt.date(2021, 12, 31)]
    years = (dt.date(2021, 12, 31) - dt.date(2020, 1, 1)).days / 365.25
    assert m.cagr(two_years, equity, 100.0) == pytest.approx(1.21 ** (1 / years) - 1)
    assert m.cagr(two_years, np.array([100.0, 50.0, 0.0]), 100.0) == -1.0
    assert m.cagr(D[:1], equity[:1], 100.0) is None


def test_volatility_sharpe_sortino() -> None:
    daily = np.array([0.01, -0.02, 0.03, 0.0])
    mean = 0.02 / 4
    sample_sd = math.sqrt(((0.01 - mean) ** 2 + (-0.02 - mean) ** 2 + (0.03 - mean) ** 2 + mean ** 2) / 3)
    downside = math.sqrt(0.02 ** 2 / 4)
    assert m.volatility(daily) == pytest.approx(sample_sd * math.sqrt(252))
    assert m.sharpe(daily) == pytest.approx(mean / sample_sd * math.sqrt(252))
    assert m.sortino(daily) == pytest.approx(mean / downside * math.sqrt(252))
    assert m.sharpe(np.zeros(5)) is None
    assert m.sortino(np.array([0.01, 0.02])) is None


# id, equity, expected depth, expected longest spell under water (days; D are one day apart)
DRAWDOWNS = [
    pytest.param([110, 99, 121], 99 / 110 - 1, 2, id="recovered"),
    pytest.param([90, 95, 100], -0.10, 2, id="below-the-initial-cash-from-the-start"),
    pytest.param([100, 100, 100, 100], 0.0, 0, id="flat-is-no-drawdown"),
    pytest.param([120, 100, 130, 117, 118], 100 / 120 - 1, 2, id="never-regained-counts-to-the-end"),
    pytest.param([105, 110, 104, 100, 111, 112], 100 / 110 - 1, 3, id="longest-spell-not-deepest"),
]


@pytest.mark.parametrize(("equity", "depth", "days"), DRAWDOWNS)
def test_max_drawdown(equity, depth, days) -> None:
    got_depth, got_days = m.max_drawdown(D[:len(equity)], np.array(equity, dtype=float), 100.0)
    assert got_depth == pytest.approx(depth)
    assert got_days == days


def test_calmar() -> None:
    assert m.calmar(0.12, -0.3) == pytest.approx(0.4)
    assert m.calmar(0.12, 0.0) is None


def test_trade_statistics() -> None:
    pnl = np.array([10.0, -5.0, 20.0, -5.0])
    assert m.win_rate(pnl) == 0.5
    assert m.profit_factor(pnl) == pytest.approx(3.0)
    assert m.expectancy(pnl) == pytest.approx(5.0)
    assert m.average_win(pnl) == pytest.approx(15.0)
    assert m.average_loss(pnl) == pytest.approx(-5.0)
    # mean 5; squared deviations 25 + 100 + 225 + 100 = 450; sample variance 150.
    assert m.sqn(pnl) == pytest.approx(math.sqrt(4) * 5 / math.sqrt(150))
    assert m.profit_factor(np.array([1.0, 2.0])) is None
    assert m.win_rate(np.zeros(0)) is None and m.sqn(np.array([3.0])) is None


def test_exposure_counts_entry_through_exit_sessions() -> None:
    # Sessions 0-9; trades cover 1-2 and 2-4 (overlapping) and 8 alone: 5 of 10 sessions.
    assert m.exposure(D, [D[1], D[2], D[8]], [D[2], D[4], D[8]]) == pytest.approx(0.5)
    assert m.exposure(D, [], []) == 0.0


CAPITAL = [
    # (entries, exits, entry costs, peak), sessions D[0..9]
    pytest.param([], [], [], 0.0, id="no-trade"),
    pytest.param([1], [3], [75.0], 75.0, id="one-trade"),
    pytest.param([1, 2], [2, 4], [70.0, 60.0], 130.0, id="overlap-on-the-exit-session-counts-both"),
    pytest.param([1, 3], [2, 4], [70.0, 60.0], 70.0, id="back-to-back"),
    pytest.param([0, 1, 5], [9, 3, 6], [50.0, -40.0, 30.0], 90.0, id="a-short-counts-its-cost"),
]


@pytest.mark.parametrize(("entries", "exits", "costs", "peak"), CAPITAL)
def test_capital_at_risk_is_the_most_held_at_once(entries, exits, costs, peak) -> None:
    got = m.capital_at_risk(D, [D[i] for i in entries], [D[i] for i in exits], np.array(costs, dtype=float))
    assert got == pytest.approx(peak)
    # The same by brute force: every session, the entry cost of every trade held on it.
    brute = max([sum(abs(c) for e, x, c in zip(entries, exits, costs, strict=True) if e <= day <= x)
                 for day in range(len(D))], default=0.0)
    assert got == pytest.approx(brute)


def test_return_on_capital_at_risk() -> None:
    assert m.return_on_capital_at_risk(1_049.63, 1_000.0, 609.70) == pytest.approx(49.63 / 609.70)
    assert m.return_on_capital_at_risk(1_000.0, 1_000.0, 0.0) is None


def test_compute_metrics_puts_it_together() -> None:
    trades = pl.DataFrame({"pnl": [10.0, -5.0], "bars_held": [2, 4], "entry_date": [D[0], D[3]],
                           "exit_date": [D[1], D[4]]})
    open_trades = pl.DataFrame({"entry_date": [D[5]], "exit_date": [D[5]]})
    equity = pl.DataFrame({"date": D[:6], "equity": [100.0, 110.0, 110.0, 110.0, 105.0, 107.0]})
    got = m.compute_metrics(trades, equity, 100.0, open_trades)
    assert got["final_equity"] == 107.0
    assert got["total_return"] == pytest.approx(0.07)
    assert got["trades"] == 2 and got["open_trades"] == 1
    assert got["average_bars_held"] == 3.0
    assert got["exposure"] == pytest.approx(5 / 6)
    assert got["max_drawdown"] == pytest.approx(105 / 110 - 1)
    assert got["max_drawdown_days"] == 2              # last at the peak on D[3], under water through D[5]
    assert got["profit_factor"] == pytest.approx(2.0)
    assert got["capital_at_risk"] == 0.0 and got["return_on_capital_at_risk"] is None   # no sizes given
    sized = trades.with_columns(quantity=pl.Series([2, 3]), entry_price=pl.Series([40.0, 30.0]),
                                **{"return": pl.Series([0.125, -0.05])})
    held = open_trades.with_columns(quantity=pl.lit(1), entry_price=pl.lit(25.0))
    got = m.compute_metrics(sized, equity, 100.0, held)
    assert got["capital_at_risk"] == pytest.approx(90.0)             # the second trade, 3 x 30
    assert got["return_on_capital_at_risk"] == pytest.approx(7 / 90)
    assert got["average_trade_return"] == pytest.approx((0.125 - 0.05) / 2)


def test_drawdowns_under_the_running_peak() -> None:
    assert m.drawdowns(np.array([90.0, 120.0, 96.0, 130.0]), 100.0) == pytest.approx([-0.1, 0.0, -0.2, 0.0])
    depth = m.drawdowns(np.array([90.0, 120.0, 96.0, 130.0]), 100.0).min()
    assert depth == pytest.approx(m.max_drawdown(D[:4], np.array([90.0, 120.0, 96.0, 130.0]), 100.0)[0])


def test_monthly_returns_from_each_month_end() -> None:
    days = [dt.date(2020, 12, 30), dt.date(2020, 12, 31), dt.date(2021, 1, 4), dt.date(2021, 1, 29),
            dt.date(2021, 3, 1)]
    equity = pl.DataFrame({"date": days, "equity": [105.0, 110.0, 50.0, 99.0, 118.8]})
    months = m.monthly_returns(equity, 100.0)
    assert months.select("year", "month").rows() == [(2020, 12), (2021, 1), (2021, 3)]
    assert months["return"].to_list() == pytest.approx([0.10, -0.10, 0.20])


EDGE = [
    pytest.param({"capital_at_risk": 100.0, "return_on_capital_at_risk": 0.1, "total_return": 0.01},
                 {"total_return": 0.5},
                 "x: +$10.00 on at most $100.00 held at once, 10.00% on capital at risk (1.00% on the $1,000.00 "
                 "account); buy & hold of the same $100.00: +$50.00, 50.00%", id="a-gain"),
    pytest.param({"capital_at_risk": 80.0, "return_on_capital_at_risk": -0.25, "total_return": -0.02},
                 {"total_return": -0.1},
                 "x: -$20.00 on at most $80.00 held at once, -25.00% on capital at risk (-2.00% on the $1,000.00 "
                 "account); buy & hold of the same $80.00: -$8.00, -10.00%", id="a-loss"),
    pytest.param({"capital_at_risk": 100.0, "return_on_capital_at_risk": 0.1, "total_return": 0.01},
                 {"total_return": None},
                 "x: +$10.00 on at most $100.00 held at once, 10.00% on capital at risk (1.00% on the $1,000.00 "
                 "account); buy & hold of the same $100.00: no bar to buy", id="no-benchmark"),
    pytest.param({"capital_at_risk": 0.0, "return_on_capital_at_risk": None, "total_return": 0.0},
                 {"total_return": 0.5}, "x: no trade, nothing at risk", id="no-trade"),
]


@pytest.mark.parametrize(("metrics", "benchmark", "line"), EDGE)
def test_the_edge_line(metrics: dict, benchmark: dict, line: str) -> None:
    from kobe.backtest.outputs import edge_lines

    data = {"strategies": {"x": {"metrics": metrics, "benchmark": benchmark, "settings": {"initial_cash": 1000}}}}
    assert edge_lines(data) == [line]
