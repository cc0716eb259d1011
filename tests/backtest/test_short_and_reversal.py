"""Shorts and the always-in reversal in one account (docs/backtest.md, "Shorts and
reversals"): hand-computed borrow fees, reversal fills and sizes, the configuration's
mistakes, and the no-lookahead property for short and both-sided strategies."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from backtest_synthetic import day, flat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kobe.config.errors import KobeError
from kobe.project import load_project

SIGNAL = (100, 101, 99, 100, 2)      # a long signal (volume 2) in the synthetic strategy
SHORT = (100, 101, 99, 100, 3)       # a short signal (volume 3) with short_entry: volume == 3


@pytest.mark.parametrize(("rate", "days", "fee"), [
    pytest.param(0, 2, 0.0, id="no-fee-by-default"),
    # 10 shares x $100 x 3.6% x 2 days / 360 = $0.20
    pytest.param(360, 2, 0.2, id="actual-360-two-days"),
])
def test_borrow_is_entry_value_times_rate_times_days_over_360(backtest, rate, days, fee) -> None:
    bars = [SIGNAL, *flat(days + 2)]
    result = backtest({"AAA": bars}, side="short", exits=f"time_stop_bars: {days + 1}",
                      sizing="method: percent_equity\npercent: 10",
                      settings=f"initial_cash: 10000\nborrow_bps_per_year: {rate}")
    trade = result.strategies[0].trades.row(0, named=True)
    assert (trade["quantity"], trade["entry_date"], trade["exit_date"]) == (10, day(1), day(1 + days))
    assert trade["pnl"] == pytest.approx(-fee, abs=1e-12)
    assert result.strategies[0].equity["equity"][-1] == pytest.approx(10_000 - fee, abs=1e-12)


def test_an_open_short_accrues_its_borrow_in_the_equity_and_its_pnl(backtest) -> None:
    result = backtest({"AAA": [SIGNAL, *flat(4)]}, side="short", sizing="method: percent_equity\npercent: 10",
                      settings="initial_cash: 10000\nborrow_bps_per_year: 360")
    account = result.strategies[0]
    (trade,) = account.open_trades.iter_rows(named=True)
    per_day = 1000 * 0.036 / 360
    assert trade["pnl"] == pytest.approx(-3 * per_day)                     # entered day 1, marked day 4
    assert account.equity["equity"].to_list() == pytest.approx(
        [10_000, 10_000, 10_000 - per_day, 10_000 - 2 * per_day, 10_000 - 3 * per_day])


def test_a_reversal_covers_then_opens_the_other_side_at_the_same_open(backtest) -> None:
    bars = [SIGNAL, (100, 101, 99, 100, 1), SHORT, (110, 111, 99, 105, 1), SIGNAL, (90, 91, 89, 90, 1)]
    result = backtest({"AAA": bars}, side="both", short_entry="volume == 3", exits="time_stop_bars: 100")
    account = result.strategies[0]
    trades = account.trades.vstack(account.open_trades)
    assert trades.select("side", "entry_date", "entry_price", "exit_date", "exit_price", "quantity",
                         "exit_reason").rows() == [
        ("long", day(1), 100.0, day(3), 110.0, 100, "exit_rule"),
        # the cash the sale returned, 11,000, shorts 100 at 110; covered at 90, +2,000
        ("short", day(3), 110.0, day(5), 90.0, 100, "exit_rule"),
        ("long", day(5), 90.0, day(5), 90.0, 144, "open"),
    ]
    assert account.skipped["symbol_held"] == 0
    assert account.equity["equity"][-1] == pytest.approx(13_000)


def test_a_same_side_signal_while_held_is_still_skipped(backtest) -> None:
    bars = [SIGNAL, SIGNAL, *flat(3)]
    result = backtest({"AAA": bars}, side="both", short_entry="volume == 3")
    assert result.strategies[0].skipped["symbol_held"] == 1


def _load(tmp_path: Path, lines: str):
    (tmp_path / "risk.yaml").write_text((Path(__file__).resolve().parents[2] / "risk.yaml").read_text())
    (tmp_path / "universe").mkdir()
    (tmp_path / "universe" / "all.csv").write_text("symbol\nAAA\n")
    (tmp_path / "strategies.yaml").write_text(
        "strategies:\n  - name: s\n    universe: all\n" + lines
        + "    entry: close > open\n    exits:\n      time_stop_bars: 2\n    sizing:\n      method: all_cash\n")
    return load_project(tmp_path / "strategies.yaml")


@pytest.mark.parametrize(("lines", "message"), [
    pytest.param("    side: both\n", "side both needs short_entry", id="both-without-short-entry"),
    pytest.param("    side: short\n    short_entry: close < open\n", "short_entry is only read with side: both",
                 id="short-entry-on-a-short"),
    pytest.param("    short_exits:\n      time_stop_bars: 3\n", "short_exits is only read with side: both",
                 id="short-exits-on-a-long"),
])
def test_the_short_half_is_only_for_both(tmp_path: Path, lines: str, message: str) -> None:
    with pytest.raises(KobeError, match=message):
        _load(tmp_path, lines)


# ------------------------------------------------------------------ no lookahead


@st.composite
def walk(draw: st.DrawFn, length: int) -> list[tuple[float, float, float, float, int]]:
    close, bars = 50.0, []
    for _ in range(length):
        opened = close * (1 + draw(st.floats(-0.05, 0.05)))
        close = opened * (1 + draw(st.floats(-0.05, 0.05)))
        high, low = max(opened, close) * 1.01, min(opened, close) * 0.99
        bars.append((round(opened, 2), round(high, 2), round(low, 2), round(close, 2),
                     draw(st.sampled_from([1, 1, 2, 3]))))
    return bars


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bars=walk(24), cut=st.integers(3, 22), changed=walk(24), side=st.sampled_from(["short", "both"]),
       fill=st.sampled_from(["next_open", "close"]),
       exits=st.sampled_from(["time_stop_bars: 4", "stop: entry_price * 1.03\ntarget: entry_price * 0.95",
                              'trailing_stop: "2"\nexit: volume == 1']),
       costs=st.sampled_from(["", "\nspread_bps: 20\ncommission_bps: 5\nborrow_bps_per_year: 500"]))
def test_no_future_bar_changes_an_earlier_trade_or_value(backtest, bars, cut, changed, side, fill, exits,
                                                         costs) -> None:
    """Bars from ``cut`` on replaced by others: every trade that exited, and every equity
    value, before ``cut``'s session stays what it was (signals on t fill at t+1)."""
    kwargs = {"side": side, "fill": fill, "exits": exits, "sizing": "method: percent_equity\npercent: 50",
              "settings": f"initial_cash: 10000{costs}",
              "short_entry": "volume == 3" if side == "both" else None,
              "entry": "volume == 2" if side == "both" else "volume >= 2"}
    before = backtest({"AAA": bars}, **kwargs).strategies[0]
    after = backtest({"AAA": bars[:cut] + changed[cut:]}, **kwargs).strategies[0]
    limit = day(cut)
    assert before.trades.filter(pl.col("exit_date") < limit).equals(after.trades.filter(pl.col("exit_date") < limit))
    early = pl.col("date") < limit
    assert before.equity.filter(early).select("cash", "equity").equals(after.equity.filter(early).select("cash", "equity"))
