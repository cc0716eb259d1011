"""Properties that hold for any bars and any strategy settings (hypothesis): the books
balance, the limits hold, a symbol never has two positions, exits come after entries."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXITS = ["stop: entry_price * 0.97", "stop: entry_price * 0.97\ntarget: entry_price * 1.04",
         "time_stop_bars: 3", "exit: volume == 3", 'trailing_stop: "2"\ntime_stop_bars: 6',
         "stop: low - 0.5\nexit: volume == 3\ntime_stop_bars: 4"]
SIZINGS = ["method: all_cash", "method: percent_equity\npercent: 30", "method: fixed_dollars\namount_usd: 75",
           "method: risk_per_trade\npercent: 2"]


@st.composite
def symbol_bars(draw: st.DrawFn, length: int) -> list[tuple[float, float, float, float, int]]:
    close = draw(st.floats(20, 80))
    bars = []
    for _ in range(length):
        opened = close * (1 + draw(st.floats(-0.04, 0.04)))
        close = opened * (1 + draw(st.floats(-0.04, 0.04)))
        high = max(opened, close) * (1 + draw(st.floats(0, 0.03)))
        low = min(opened, close) * (1 - draw(st.floats(0, 0.03)))
        code = draw(st.sampled_from([1, 1, 1, 2, 2, 3]))
        bars.append((round(opened, 2), round(high, 2), round(low, 2), round(close, 2), code))
    return bars


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bars=st.fixed_dictionaries({s: symbol_bars(length) for s, length in (("AAA", 30), ("BBB", 25), ("CCC", 30))}),
       exits=st.sampled_from(EXITS), sizing=st.sampled_from(SIZINGS), side=st.sampled_from(["long", "short"]),
       fill=st.sampled_from(["next_open", "close"]), slots=st.integers(1, 3),
       costs=st.sampled_from(["", "\nslippage_bps: 10\ncommission_per_share: 0.01\ncommission_bps: 2",
                              "\nspread_bps: 30\ncommission_per_share: 0.005\ncommission_min_usd: 1"]),
       close_at_end=st.booleans())
def test_the_books_balance_and_the_limits_hold(backtest, bars, exits, sizing, side, fill, slots, costs,
                                               close_at_end) -> None:
    if "risk_per_trade" in sizing and not any(line.startswith("stop:") for line in exits.splitlines()):
        sizing = "method: all_cash"       # kobe validate refuses risk_per_trade without a stop
    result = backtest(bars, exits=exits, sizing=sizing, side=side, fill=fill, rank="close",
                      entry="volume >= 2", settings=f"initial_cash: 10000\nmax_open_positions: {slots}{costs}"
                                                    f"\nclose_at_end: {str(close_at_end).lower()}")
    account = result.strategies[0]
    trades = account.trades.vstack(account.open_trades)
    equity = account.equity

    # Every dollar is accounted for: the final equity is the cash plus every trade's P&L.
    assert equity["equity"][-1] == pytest.approx(10_000 + trades["pnl"].sum(), abs=1e-6)
    assert equity["cash"].min() >= -1e-9
    assert equity["positions"].max() <= slots
    assert (trades["quantity"] >= 1).all()
    assert (trades["entry_date"] <= trades["exit_date"]).all()
    assert (trades["signal_date"] <= trades["entry_date"]).all()
    assert (account.trades["bars_held"] >= 1).all()
    # Bought at the close of the last session, a trade has held no bar yet.
    assert (account.open_trades["bars_held"] >= (0 if fill == "close" else 1)).all()
    # One position per symbol: each trade's signal comes on or after the previous exit.
    for (_,), group in trades.sort("entry_date").group_by("symbol", maintain_order=True):
        exits_before = group["exit_date"].shift(1)
        assert (group["signal_date"] >= exits_before).fill_null(True).all()
    # Nothing after the symbol's last bar, nothing open that should have closed.
    last = {s: bars_list for s, bars_list in ((s, len(b)) for s, b in bars.items())}
    assert set(account.open_trades["symbol"]) <= {s for s, n in last.items() if n == max(last.values())}
    assert (account.open_trades["exit_date"] == equity["date"][-1]).all()
    assert set(account.trades["exit_reason"]) <= {"stop", "trailing_stop", "target", "time_stop", "exit_rule",
                                                  "data_end", *(["end"] if close_at_end else [])}
    if close_at_end:        # everything is sold by the last close, at that close
        assert account.open_trades.is_empty() and equity["positions"][-1] == 0
        assert (account.trades.filter(pl.col("exit_reason") == "end")["exit_date"] == equity["date"][-1]).all()
    assert account.signals == account.trades.height + account.open_trades.height + sum(account.skipped.values())
    assert isinstance(equity, pl.DataFrame)
