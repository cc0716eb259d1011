"""The Reg-T margin account (docs/backtest.md, "Margin"): buying power from the initial
requirement, the maintenance check at each close and its forced cover at the next open,
by hand on a few bars; which positions a call closes; and the no-lookahead property
with margin on."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from backtest_synthetic import day, flat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kobe.backtest.portfolio import _called

SIGNAL = (100, 101, 99, 100, 2)       # the synthetic strategy's entry (volume 2), long or short
REG_T = "initial_cash: 10000\nmargin:\n  initial_pct: 50\n  maintenance_long_pct: 25\n  maintenance_short_pct: 30"


@pytest.mark.parametrize(("side", "initial", "quantity"), [
    pytest.param("long", 100, 100, id="long-100pct-no-leverage"),
    pytest.param("long", 50, 200, id="long-reg-t-twice-the-equity"),
    pytest.param("long", 25, 400, id="long-25pct-four-times"),
    # a short needs its proceeds plus 50% equity: 10,000 of equity shorts 20,000
    pytest.param("short", 50, 200, id="short-reg-t-150pct"),
])
def test_buying_power_is_equity_over_the_initial_requirement(backtest, side, initial, quantity) -> None:
    result = backtest({"AAA": [SIGNAL, *flat(3)]}, side=side,
                      settings=f"initial_cash: 10000\nmargin:\n  initial_pct: {initial}")
    account = result.strategies[0]
    (trade,) = account.open_trades.iter_rows(named=True)
    assert (trade["entry_price"], trade["quantity"]) == (100.0, quantity)
    # the cash pays what it can; the rest is the margin loan (or, short, what the proceeds cover)
    assert account.equity["cash"][-1] == pytest.approx(10_000 - quantity * 100)
    assert account.equity["equity"][-1] == pytest.approx(10_000)


def test_without_margin_the_account_is_the_cash_account(backtest) -> None:
    result = backtest({"AAA": [SIGNAL, (100, 101, 50, 50, 1), *flat(2, 50)]})
    (trade,) = result.strategies[0].open_trades.iter_rows(named=True)
    assert (trade["quantity"], trade["exit_reason"]) == (100, "open")     # halved, never called


# id, side, settings, the bar of the call's close, the next open, then:
# (quantity, exit date, exit price, pnl, reason), the cash at the end
CALLS = [
    # 200 long at 100 on 10,000: cash -10,000. Close 66: equity 13,200 - 10,000 = 3,200
    # < 25% x 13,200 = 3,300: sold at the next open, 65: cash -10,000 + 13,000 = 3,000.
    pytest.param("long", REG_T, (70, 71, 65, 66, 1), 65, (200, day(3), 65.0, -7000.0, "margin"), 3000.0,
                 id="long-falls-through-25pct"),
    # close 67, and after it: equity 3,400 >= 3,350: no call, held to the end
    pytest.param("long", REG_T, (70, 71, 65, 67, 1), 67, (200, day(4), 67.0, -6600.0, "open"), -10000.0,
                 id="long-just-above-25pct-held"),
    # $0.01 a share: 20,000 // 100.01 = 199 shares, cash 10,000 - 19,900 - 1.99 = -9,901.99.
    # Close 66: equity 13,134 - 9,901.99 = 3,232.01 < 3,283.50. Sold at 65 less 1.99:
    # cash 3,031.02; pnl 199 x -35 - 3.98.
    pytest.param("long", REG_T + "\ncommission_per_share: 0.01", (70, 71, 65, 66, 1), 65,
                 (199, day(3), 65.0, -6968.98, "margin"), 3031.02, id="long-call-with-costs"),
    # 200 short at 100: cash -10,000 (its 20,000 set aside). Close 116: equity
    # -10,000 + 200 x (200 - 116) = 6,800 < 30% x 23,200 = 6,960: covered at 117,
    # cash -10,000 + 200 x (200 - 117) = 6,600.
    pytest.param("short", REG_T, (110, 117, 109, 116, 1), 117, (200, day(3), 117.0, -3400.0, "margin"), 6600.0,
                 id="short-rises-through-30pct"),
    # close 115, and after it: equity 7,000 >= 6,900: held
    pytest.param("short", REG_T, (110, 116, 109, 115, 1), 115, (200, day(4), 115.0, -3000.0, "open"), -10000.0,
                 id="short-just-below-30pct-held"),
]


@pytest.mark.parametrize(("side", "account", "falls", "next_open", "expected", "cash"), CALLS)
def test_a_maintenance_breach_at_a_close_sells_at_the_next_open(backtest, side, account, falls, next_open,
                                                               expected, cash) -> None:
    bars = [SIGNAL, flat(1)[0], falls, *flat(2, next_open)]
    result = backtest({"AAA": bars}, side=side, settings=account).strategies[0]
    (trade,) = result.trades.vstack(result.open_trades).iter_rows(named=True)
    got = (trade["quantity"], trade["exit_date"], trade["exit_price"], trade["pnl"], trade["exit_reason"])
    assert got[:3] + got[4:] == expected[:3] + expected[4:]
    assert got[3] == pytest.approx(expected[3])
    assert trade["entry_date"] == day(1)
    assert result.equity["cash"][-1] == pytest.approx(cash)
    if expected[4] == "margin":      # a closed trade, counted in the statistics
        assert result.metrics()["trades"] == 1


def test_a_call_on_the_last_session_has_no_open_to_sell_at(backtest) -> None:
    result = backtest({"AAA": [SIGNAL, flat(1)[0], (70, 71, 65, 66, 1)]}, settings=REG_T).strategies[0]
    (trade,) = result.open_trades.iter_rows(named=True)
    assert trade["exit_reason"] == "open"


# id, equity, requirement per position (in entry order), the positions closed
CALLED = [
    pytest.param(100.0, [30.0, 70.0], [], id="covered-none"),
    pytest.param(100.0, [30.0, 80.0], [1], id="largest-first-is-enough"),
    pytest.param(25.0, [30.0, 80.0], [1, 0], id="both-needed"),
    pytest.param(40.0, [50.0, 50.0, 10.0], [0, 1], id="ties-in-entry-order"),
    pytest.param(-5.0, [10.0, 0.0], [0, 1], id="equity-below-zero-closes-all"),
]


@pytest.mark.parametrize(("equity", "requirement", "closed"), CALLED)
def test_a_call_closes_the_largest_requirements_until_the_rest_is_covered(equity, requirement, closed) -> None:
    index = np.arange(len(requirement)) + 10
    assert (_called(index, equity, np.array(requirement)) - 10).tolist() == closed


# ------------------------------------------------------------------ no lookahead


@st.composite
def walk(draw: st.DrawFn, length: int) -> list[tuple[float, float, float, float, int]]:
    close, bars = 50.0, []
    for _ in range(length):
        opened = close * (1 + draw(st.floats(-0.06, 0.06)))
        close = opened * (1 + draw(st.floats(-0.06, 0.06)))
        high, low = max(opened, close) * 1.01, min(opened, close) * 0.99
        bars.append((round(opened, 2), round(high, 2), round(low, 2), round(close, 2),
                     draw(st.sampled_from([1, 1, 2, 3]))))
    return bars


# Maintenance close to the initial requirement: a 2x long is called after a ~9% fall.
TIGHT = "initial_cash: 10000\nmargin:\n  initial_pct: 50\n  maintenance_long_pct: 45\n  maintenance_short_pct: 45"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bars=walk(24), other=walk(24), cut=st.integers(3, 22), changed=walk(24),
       side=st.sampled_from(["long", "short", "both"]), fill=st.sampled_from(["next_open", "close"]),
       sizing=st.sampled_from(["method: all_cash", "method: percent_equity\npercent: 80"]),
       costs=st.sampled_from(["", "\nspread_bps: 20\ncommission_bps: 5\nborrow_bps_per_year: 500"]))
def test_no_future_bar_changes_an_earlier_trade_or_value_with_margin(backtest, bars, other, cut, changed, side,
                                                                     fill, sizing, costs) -> None:
    """Bars of both symbols from ``cut`` on replaced: every trade that exited, and every
    cash and equity value, before ``cut``'s session stays what it was."""
    kwargs = {"side": side, "fill": fill, "exits": "time_stop_bars: 6", "sizing": sizing,
              "settings": TIGHT + costs, "short_entry": "volume == 3" if side == "both" else None}
    before = backtest({"AAA": bars, "BBB": other}, **kwargs).strategies[0]
    after = backtest({"AAA": bars[:cut] + changed[cut:], "BBB": other[:cut] + changed[::-1][cut:]},
                     **kwargs).strategies[0]
    limit = day(cut)
    assert before.trades.filter(pl.col("exit_date") < limit).equals(after.trades.filter(pl.col("exit_date") < limit))
    early = pl.col("date") < limit
    assert before.equity.filter(early).select("cash", "equity").equals(after.equity.filter(early).select("cash", "equity"))
    # A call at the close before the cut sells at the cut's open, whose price changed but
    # whose decision did not: a peek at the cut's bar would show here, and nowhere above.
    called = (pl.col("exit_date") == limit) & (pl.col("exit_reason") == "margin")
    assert (before.trades.filter(called).select("symbol", "entry_date", "quantity").rows()
            == after.trades.filter(called).select("symbol", "entry_date", "quantity").rows())


def test_the_property_sees_margin_calls(backtest) -> None:
    """The walk above does call: a 2x long falling 10% in one bar under TIGHT."""
    bars = [SIGNAL, flat(1)[0], (95, 96, 89, 90, 1), *flat(2, 90)]
    (trade,) = backtest({"AAA": bars}, settings=TIGHT).strategies[0].trades.iter_rows(named=True)
    assert trade["exit_reason"] == "margin"
