"""How a trade ends, case by case: stops, gaps, targets, trailing stops, time stops, the
exit rule, fills at the close, shorts, and the end of the data (docs/backtest.md).

Each case is one symbol's bars, written out: (open, high, low, close, code), where code 2
is an entry signal and 3 an exit-rule signal. Bar 0 signals; with next-open fills the
trade enters at bar 1's open (100 unless the case says otherwise).
"""

from __future__ import annotations

import pytest
from backtest_synthetic import day, flat

SIGNAL = (100, 101, 99, 100, 2)
QUIET = (100, 101, 99, 100, 1)
STOP5 = "stop: entry_price - 5"
END = "initial_cash: 10000\nclose_at_end: true"

# id, bars of AAA, strategy options, expected (entry bar, entry price, exit bar, exit price, reason, bars held)
CASES = [
    pytest.param([SIGNAL, QUIET, (101, 101, 94, 96, 1), QUIET], {"exits": STOP5},
                 (1, 100, 2, 95, "stop", 2), id="stop-touched-by-the-low-fills-at-the-stop"),
    pytest.param([SIGNAL, QUIET, (90, 92, 89, 91, 1), QUIET], {"exits": STOP5},
                 (1, 100, 2, 90, "stop", 2), id="gap-through-the-stop-fills-at-the-open"),
    pytest.param([SIGNAL, (100, 101, 94, 96, 1), QUIET], {"exits": STOP5},
                 (1, 100, 1, 95, "stop", 1), id="stop-checked-on-the-entry-bar"),
    pytest.param([SIGNAL, QUIET, (100, 106, 94, 100, 1), QUIET],
                 {"exits": STOP5 + "\ntarget: entry_price + 5"},
                 (1, 100, 2, 95, "stop", 2), id="stop-and-target-on-one-bar-stop-first"),
    pytest.param([SIGNAL, QUIET, (101, 106, 100, 104, 1), QUIET],
                 {"exits": STOP5 + "\ntarget: entry_price + 5"},
                 (1, 100, 2, 105, "target", 2), id="target-touched-by-the-high"),
    pytest.param([SIGNAL, QUIET, (107, 108, 94, 107, 1), QUIET],
                 {"exits": STOP5 + "\ntarget: entry_price + 5"},
                 (1, 100, 2, 107, "target", 2), id="gap-through-the-target-fills-at-the-open-first"),
    pytest.param([SIGNAL, QUIET, QUIET, QUIET, QUIET, QUIET], {"exits": "time_stop_bars: 3"},
                 (1, 100, 3, 100, "time_stop", 3), id="time-stop-at-the-close-of-the-nth-bar"),
    pytest.param([SIGNAL, (100, 101, 99, 103, 1), QUIET], {"exits": "time_stop_bars: 1"},
                 (1, 100, 1, 103, "time_stop", 1), id="time-stop-1-exits-at-the-entry-bars-close"),
    pytest.param([SIGNAL, QUIET, (100, 101, 94, 97, 1), QUIET], {"exits": STOP5 + "\ntime_stop_bars: 2"},
                 (1, 100, 2, 95, "stop", 2), id="stop-before-time-stop-on-one-bar"),
    pytest.param([SIGNAL, QUIET, (100, 101, 99, 100, 3), (102, 103, 101, 102, 1), QUIET], {"exits": "exit: volume == 3"},
                 (1, 100, 3, 102, "exit_rule", 3), id="exit-rule-at-the-next-open"),
    pytest.param([SIGNAL, (100, 101, 99, 100, 3), (98, 99, 97, 98, 1), QUIET], {"exits": "exit: volume == 3"},
                 (1, 100, 2, 98, "exit_rule", 2), id="exit-rule-on-the-entry-bar"),
    pytest.param([SIGNAL, QUIET, (100, 101, 94, 97, 3), QUIET], {"exits": STOP5 + "\nexit: volume == 3"},
                 (1, 100, 2, 95, "stop", 2), id="stop-before-an-exit-rule-of-the-same-bar"),
    pytest.param([SIGNAL, QUIET, QUIET, (100, 101, 99, 100, 3)], {"exits": "exit: volume == 3"},
                 (1, 100, 3, 100, "open", 3), id="exit-rule-on-the-last-bar-stays-open"),
    pytest.param([SIGNAL, (100, 101, 99, 104, 1), QUIET], {"exits": "time_stop_bars: 1", "fill": "close"},
                 (0, 100, 1, 104, "time_stop", 1), id="close-fill-enters-at-the-signal-close"),
    pytest.param([SIGNAL, QUIET, (100, 101, 99, 102, 3), QUIET], {"exits": "exit: volume == 3", "fill": "close"},
                 (0, 100, 2, 102, "exit_rule", 2), id="close-fill-exit-rule-at-the-close"),
    pytest.param([SIGNAL, (100, 101, 94, 96, 1), QUIET], {"exits": STOP5, "fill": "close"},
                 (0, 100, 1, 95, "stop", 1), id="close-fill-stop-from-the-next-bar"),
    pytest.param([SIGNAL, QUIET, (101, 106, 99, 104, 1), QUIET], {"exits": "stop: entry_price + 5", "side": "short"},
                 (1, 100, 2, 105, "stop", 2), id="short-stop-touched-by-the-high"),
    pytest.param([SIGNAL, QUIET, (110, 111, 108, 109, 1), QUIET], {"exits": "stop: entry_price + 5", "side": "short"},
                 (1, 100, 2, 110, "stop", 2), id="short-gap-through-the-stop"),
    pytest.param([SIGNAL, QUIET, (99, 100, 94, 96, 1), QUIET],
                 {"exits": "stop: entry_price + 5\ntarget: entry_price - 5", "side": "short"},
                 (1, 100, 2, 95, "target", 2), id="short-target-touched-by-the-low"),
    pytest.param([SIGNAL, (100, 104, 99, 103, 1), (103, 106, 102, 105, 1), (105, 105, 102, 103, 1), QUIET],
                 {"exits": 'trailing_stop: "3"'},
                 (1, 100, 3, 103, "trailing_stop", 3), id="trailing-stop-from-the-best-high-before-the-bar"),
    pytest.param([SIGNAL, (100, 104, 99, 103, 1), QUIET],
                 {"exits": 'stop: entry_price - 1\ntrailing_stop: "3"'},
                 (1, 100, 1, 99, "stop", 1), id="tighter-fixed-stop-binds-before-the-trail"),
    pytest.param([SIGNAL, (100, 101, 96, 97, 1), (97, 98, 92, 93, 1), (94, 96, 93, 94, 1), QUIET],
                 {"exits": 'trailing_stop: "3"', "side": "short"},
                 (1, 100, 3, 95, "trailing_stop", 3), id="short-trailing-stop-from-the-best-low"),
    pytest.param([SIGNAL, QUIET, QUIET], {},
                 (1, 100, 2, 100, "open", 2), id="alive-at-the-end-is-open"),
    pytest.param([SIGNAL, QUIET, (100, 101, 99, 104, 1)], {"settings": END},
                 (1, 100, 2, 104, "end", 2), id="close-at-end-sells-at-the-last-close"),
    pytest.param([SIGNAL, QUIET, QUIET, (100, 101, 99, 103, 3)], {"exits": "exit: volume == 3", "settings": END},
                 (1, 100, 3, 103, "end", 3), id="close-at-end-exit-rule-on-the-last-bar"),
    pytest.param([SIGNAL, (100, 101, 99, 104, 1)], {"settings": END},
                 (1, 100, 1, 104, "end", 1), id="close-at-end-entered-at-the-last-open"),
    pytest.param([SIGNAL, QUIET, (100, 101, 99, 104, 1)], {"exits": "time_stop_bars: 2", "settings": END},
                 (1, 100, 2, 104, "time_stop", 2), id="close-at-end-a-time-stop-due-keeps-its-reason"),
    pytest.param([SIGNAL, QUIET, (100, 101, 94, 97, 1)], {"exits": STOP5, "settings": END},
                 (1, 100, 2, 95, "stop", 2), id="close-at-end-a-stop-on-the-last-bar-comes-first"),
]


@pytest.mark.parametrize(("bars", "options", "expected"), CASES)
def test_exit(backtest, bars, options, expected) -> None:
    result = backtest({"AAA": bars}, **options).strategies[0]
    trades = result.trades.vstack(result.open_trades)
    assert trades.height == 1, trades
    trade = trades.row(0, named=True)
    entry_bar, entry_price, exit_bar, exit_price, reason, held = expected
    got = (trade["entry_date"], trade["entry_price"], trade["exit_date"], trade["exit_price"],
           trade["exit_reason"], trade["bars_held"])
    assert got == (day(entry_bar), entry_price, day(exit_bar), exit_price, reason, held)
    assert (trade["signal_date"], trade["signal_price"]) == (day(0), bars[0][3])


def test_symbol_whose_data_ends_is_sold_at_its_last_close(backtest) -> None:
    result = backtest({"AAA": [SIGNAL, QUIET, (100, 101, 99, 97, 1)], "BBB": flat(6, 50)}).strategies[0]
    assert result.open_trades.is_empty()
    trade = result.trades.row(0, named=True)
    assert (trade["exit_date"], trade["exit_price"], trade["exit_reason"]) == (day(2), 97, "data_end")


def test_signal_on_the_last_bar_has_no_fill(backtest) -> None:
    result = backtest({"AAA": [QUIET, QUIET, SIGNAL]}).strategies[0]
    assert result.trades.is_empty() and result.open_trades.is_empty()
    assert result.signals == 0


def test_signals_while_held_are_ignored_until_the_exit_bar(backtest) -> None:
    # Held bars 1-3 (time stop of 3, out at bar 3's close): the signals of bars 1 and 2
    # are ignored; bar 3's counts, as the position is gone by its close.
    bars = [SIGNAL, SIGNAL, SIGNAL, SIGNAL, QUIET, QUIET, QUIET, QUIET]
    result = backtest({"AAA": bars}, exits="time_stop_bars: 3").strategies[0]
    assert result.trades["entry_date"].to_list() == [day(1), day(4)]
    assert result.skipped["symbol_held"] == 2


def test_position_sold_at_the_next_open_blocks_a_signal_of_its_exit_bar(backtest) -> None:
    # Bar 2 is both an exit-rule bar and an entry signal: at its close the position is still
    # held (it is sold at bar 3's open), so the signal is ignored.
    bars = [SIGNAL, QUIET, (100, 101, 99, 100, 3), QUIET, QUIET]
    result = backtest({"AAA": bars}, entry="volume >= 2", exits="exit: volume == 3").strategies[0]
    assert result.trades.height == 1 and result.open_trades.is_empty()
    assert result.skipped["symbol_held"] == 1


def test_a_position_open_at_the_end_blocks_later_signals(backtest) -> None:
    result = backtest({"AAA": [SIGNAL, SIGNAL, SIGNAL, QUIET]}).strategies[0]
    assert result.open_trades["entry_date"].to_list() == [day(1)]
    assert result.skipped["symbol_held"] == 2


# ------------------------------------------------------------------ close_at_end


def test_close_at_end_pays_the_costs_and_counts_the_trade(backtest) -> None:
    # Bought at bar 1's open (100 -> ask 100.1), sold at the last close (104 -> bid 103.896)
    # with $1 minimum commission each way.
    bars = {"AAA": [SIGNAL, QUIET, (100, 101, 99, 104, 1)]}
    settings = "initial_cash: 10000\nclose_at_end: true\nspread_bps: 20\ncommission_min_usd: 1"
    result = backtest(bars, sizing="method: percent_equity\npercent: 50", settings=settings).strategies[0]
    assert result.open_trades.is_empty()
    trade = result.trades.row(0, named=True)
    quantity = 5000 // 100.1
    assert (trade["exit_date"], trade["exit_reason"], trade["quantity"]) == (day(2), "end", quantity)
    assert trade["exit_price"] == pytest.approx(104 * 0.999, rel=1e-15)
    assert trade["commission"] == 2.0
    assert trade["pnl"] == pytest.approx(quantity * (104 * 0.999 - 100.1) - 2)
    # Sold: nothing is held at the last close, and the equity is the cash.
    last = result.equity.row(-1, named=True)
    assert (last["positions"], last["equity"]) == (0, last["cash"])
    assert last["equity"] == pytest.approx(10_000 + trade["pnl"])
    metrics = result.metrics()
    assert (metrics["trades"], metrics["open_trades"]) == (1, 0)
    assert metrics["expectancy"] == pytest.approx(trade["pnl"])


def test_off_by_default_the_trade_stays_open_marked_without_exit_costs(backtest) -> None:
    bars = {"AAA": [SIGNAL, QUIET, (100, 101, 99, 104, 1)]}
    result = backtest(bars, settings="initial_cash: 10000\nspread_bps: 20\ncommission_min_usd: 1").strategies[0]
    assert result.trades.is_empty()
    trade = result.open_trades.row(0, named=True)
    assert (trade["exit_reason"], trade["exit_price"], trade["commission"]) == ("open", 104, 1.0)
    assert result.metrics()["trades"] == 0


def test_close_at_end_leaves_a_symbol_whose_data_ended_to_data_end(backtest) -> None:
    result = backtest({"AAA": [SIGNAL, QUIET, (100, 101, 99, 97, 1)], "BBB": flat(6, 50)},
                      settings=END).strategies[0]
    trade = result.trades.row(0, named=True)
    assert (trade["exit_date"], trade["exit_price"], trade["exit_reason"]) == (day(2), 97, "data_end")


def test_close_at_end_takes_no_close_fill_on_the_last_session(backtest) -> None:
    # Bought at the last close, the position would be sold in the same instant: not taken,
    # not counted as a signal. Without close_at_end it is open, holding no bar yet.
    bars = {"AAA": [QUIET, QUIET, SIGNAL]}
    ended = backtest(bars, fill="close", settings=END).strategies[0]
    assert ended.trades.is_empty() and ended.open_trades.is_empty()
    assert ended.signals == 0
    held = backtest(bars, fill="close").strategies[0]
    assert held.open_trades.select("exit_reason", "bars_held").rows() == [("open", 0)]


def test_close_at_end_with_a_close_fill_held_a_bar(backtest) -> None:
    result = backtest({"AAA": [QUIET, SIGNAL, (100, 101, 99, 102, 1)]}, fill="close", settings=END).strategies[0]
    trade = result.trades.row(0, named=True)
    assert (trade["entry_date"], trade["exit_date"], trade["exit_price"], trade["exit_reason"],
            trade["bars_held"]) == (day(1), day(2), 102, "end", 1)
