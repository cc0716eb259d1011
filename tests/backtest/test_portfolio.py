"""The account: free slots and rank, sizing in whole shares, costs, cash and equity
(docs/backtest.md). Bars are written out as in test_exits.py: code 2 signals an entry,
3 the exit rule."""

from __future__ import annotations

import pytest
from backtest_synthetic import day, flat

from kobe.backtest.portfolio import Costs, shares
from kobe.config.model import Sizing

SIGNAL = (100, 101, 99, 100, 2)
QUIET = (100, 101, 99, 100, 1)


def signal_at(price: float) -> tuple[float, float, float, float, int]:
    return (price, price + 1, price - 1, price, 2)


# ------------------------------------------------------------------ slots and rank

# id, bars by symbol, options, symbols that get a trade
SLOT_CASES = [
    pytest.param({"AAA": [signal_at(10), *flat(3, 10)], "BBB": [signal_at(20), *flat(3, 20)]},
                 {"rank": "close"}, ["BBB"], id="higher-rank-first"),
    pytest.param({"AAA": [signal_at(20), *flat(3, 20)], "BBB": [signal_at(10), *flat(3, 10)]},
                 {"rank": "-close"}, ["BBB"], id="rank-may-be-negative"),
    pytest.param({"BBB": [signal_at(10), *flat(3, 10)], "AAA": [signal_at(10), *flat(3, 10)]},
                 {"rank": "close"}, ["AAA"], id="rank-tie-by-symbol"),
    pytest.param({"AAA": [signal_at(10), *flat(3, 10)], "BBB": [signal_at(10), *flat(3, 10)]},
                 {}, ["AAA"], id="no-rank-by-symbol"),
    pytest.param({"AAA": [signal_at(100), *flat(3, 100)], "BBB": [signal_at(50), *flat(3, 50)]},
                 {"rank": "1 / (close - 100)"}, ["BBB"], id="null-rank-last"),
    pytest.param({"AAA": [signal_at(10), *flat(3, 10)], "BBB": [signal_at(20), *flat(3, 20)]},
                 {"rank": "close", "settings": "initial_cash: 10000\nmax_open_positions: 2",
                  "sizing": "method: percent_equity\npercent: 40"}, ["AAA", "BBB"], id="two-slots-take-both"),
]


@pytest.mark.parametrize(("bars", "options", "taken"), SLOT_CASES)
def test_free_slots_go_by_rank(backtest, bars, options, taken) -> None:
    options = {"settings": "initial_cash: 10000\nmax_open_positions: 1", **options}
    result = backtest(bars, **options).strategies[0]
    both = result.trades.vstack(result.open_trades)
    assert sorted(both["symbol"].to_list()) == taken
    if len(taken) == 1:
        assert result.skipped["no_free_slot"] == 1


def test_max_open_positions_defaults_to_risk_yaml(backtest) -> None:
    bars = {s: [signal_at(10), *flat(3, 10)] for s in ("AAA", "BBB", "CCC")}
    result = backtest(bars, sizing="method: percent_equity\npercent: 10").strategies[0]
    assert result.settings.max_open_positions == 10       # the repository's risk.yaml
    assert result.open_trades.height == 3


def test_a_slot_freed_at_the_open_serves_that_open(backtest) -> None:
    # AAA's exit rule fires on bar 2: sold at bar 3's open, where BBB (signal of bar 2) buys.
    bars = {"AAA": [SIGNAL, QUIET, (100, 101, 99, 100, 3), QUIET, QUIET],
            "BBB": [QUIET, QUIET, SIGNAL, QUIET, QUIET]}
    result = backtest(bars, exits="exit: volume == 3", settings="initial_cash: 10000\nmax_open_positions: 1")
    trades = result.strategies[0].trades.vstack(result.strategies[0].open_trades)
    assert trades.select("symbol", "entry_date").rows() == [("AAA", day(1)), ("BBB", day(3))]
    assert trades["exit_date"][0] == day(3)


def test_a_slot_freed_by_a_stop_during_the_day_does_not_serve_that_open(backtest) -> None:
    # AAA is stopped on bar 3, after the open where BBB (signal of bar 2) wanted to buy.
    bars = {"AAA": [SIGNAL, QUIET, QUIET, (100, 101, 90, 92, 1), QUIET],
            "BBB": [QUIET, QUIET, SIGNAL, QUIET, QUIET]}
    result = backtest(bars, exits="stop: entry_price - 5", settings="initial_cash: 10000\nmax_open_positions: 1")
    strategy = result.strategies[0]
    assert strategy.trades.vstack(strategy.open_trades)["symbol"].to_list() == ["AAA"]
    assert strategy.skipped["no_free_slot"] == 1


def test_a_stop_during_the_day_frees_the_slot_for_that_days_signals(backtest) -> None:
    # AAA is stopped on bar 2; BBB signals at bar 2's close and buys at bar 3's open.
    bars = {"AAA": [SIGNAL, QUIET, (100, 101, 90, 92, 1), QUIET, QUIET],
            "BBB": [QUIET, QUIET, SIGNAL, QUIET, QUIET]}
    result = backtest(bars, exits="stop: entry_price - 5", settings="initial_cash: 10000\nmax_open_positions: 1")
    strategy = result.strategies[0]
    assert strategy.trades.vstack(strategy.open_trades).select("symbol", "entry_date").rows() == [
        ("AAA", day(1)), ("BBB", day(3))]


def test_all_cash_leaves_nothing_for_the_next_candidate(backtest) -> None:
    bars = {"AAA": [signal_at(10), *flat(3, 10)], "BBB": [signal_at(20), *flat(3, 20)]}
    result = backtest(bars, rank="close", settings="initial_cash: 10000\nmax_open_positions: 2").strategies[0]
    assert result.open_trades["symbol"].to_list() == ["BBB"]
    assert result.open_trades["quantity"].to_list() == [500]
    assert result.skipped["zero_shares"] == 1


# ------------------------------------------------------------------ sizing

FILL = 100.0
# id, sizing, fill, stop, equity, cash, unit cost, shares
SIZING_CASES = [
    pytest.param(Sizing("fixed_dollars", amount_usd=75), 10.0, None, 10_000, 10_000, 10.0, 7, id="fixed-dollars-floor"),
    pytest.param(Sizing("fixed_dollars", amount_usd=75), 80.0, None, 10_000, 10_000, 80.0, 0, id="fixed-below-one-share"),
    pytest.param(Sizing("percent_equity", percent=10), FILL, None, 10_000, 10_000, FILL, 10, id="percent-of-equity"),
    pytest.param(Sizing("percent_equity", percent=50), FILL, None, 20_000, 3_000, FILL, 30, id="capped-by-cash"),
    pytest.param(Sizing("risk_per_trade", percent=1), FILL, 96.0, 10_000, 10_000, FILL, 25, id="risk-per-trade"),
    pytest.param(Sizing("risk_per_trade", percent=1), FILL, 104.0, 10_000, 10_000, FILL, 25, id="risk-short-stop-above"),
    pytest.param(Sizing("risk_per_trade", percent=1), FILL, float("nan"), 10_000, 10_000, FILL, 0, id="risk-no-stop"),
    pytest.param(Sizing("all_cash"), FILL, None, 10_000, 10_000, FILL, 100, id="all-cash"),
    pytest.param(Sizing("all_cash"), FILL, None, 10_000, 10_000, 100.01, 99, id="all-cash-commission-included"),
    pytest.param(Sizing("all_cash"), FILL, None, 10_000, -5.0, FILL, 0, id="no-cash"),
]


@pytest.mark.parametrize(("sizing", "fill", "stop", "equity", "cash", "unit", "expected"), SIZING_CASES)
def test_shares(sizing, fill, stop, equity, cash, unit, expected) -> None:
    got = shares(sizing, price=fill, fill=fill, stop=stop if stop is not None else float("nan"),
                 equity=equity, cash=cash, unit_cost=unit)
    assert got == expected


def test_costs_of_one_fill() -> None:
    costs = Costs(slippage_bps=10, commission_per_share=0.01, commission_bps=5)
    assert costs.fill(100.0, buying=True) == pytest.approx(100.1)
    assert costs.fill(100.0, buying=False) == pytest.approx(99.9)
    assert costs.commission(10, 100.1) == pytest.approx(10 * 0.01 + 10 * 100.1 * 0.0005)
    assert costs.unit_cost(100.1) == pytest.approx(100.1 * 1.0005 + 0.01)


# ------------------------------------------------------------------ costs, cash, equity


def test_long_trade_costs_and_equity(backtest) -> None:
    bars = {"AAA": [SIGNAL, QUIET, (110, 111, 109, 110, 1), (110, 111, 109, 110, 1)]}
    settings = "initial_cash: 10000\nslippage_bps: 10\ncommission_per_share: 0.01\ncommission_bps: 5"
    result = backtest(bars, exits="time_stop_bars: 2", sizing="method: percent_equity\npercent: 50",
                      settings=settings).strategies[0]
    trade = result.trades.row(0, named=True)
    entry, exit_ = 100 * 1.001, 110 * 0.999
    quantity = 5000 // entry
    fees = quantity * 0.01 * 2 + quantity * entry * 0.0005 + quantity * exit_ * 0.0005
    assert trade["quantity"] == quantity == 49
    assert trade["entry_price"] == pytest.approx(entry)
    assert trade["exit_price"] == pytest.approx(exit_)
    assert trade["commission"] == pytest.approx(fees)
    assert trade["pnl"] == pytest.approx(quantity * (exit_ - entry) - fees)
    assert trade["return"] == pytest.approx(trade["pnl"] / (quantity * entry))
    equity = result.equity["equity"].to_list()
    # Bar 1: bought at the open, marked at the close of 100; bar 2: sold at the close.
    assert equity[0] == 10_000
    assert equity[1] == pytest.approx(10_000 - quantity * entry - quantity * (0.01 + entry * 0.0005) + quantity * 100)
    assert equity[2] == equity[3] == pytest.approx(10_000 + trade["pnl"])
    assert result.equity["positions"].to_list() == [0, 1, 0, 0]


def test_short_is_collateralised_and_profits_when_the_price_falls(backtest) -> None:
    bars = {"AAA": [SIGNAL, (100, 101, 95, 96, 1), (90, 91, 89, 90, 1), QUIET]}
    result = backtest(bars, side="short", exits="time_stop_bars: 2",
                      sizing="method: percent_equity\npercent: 10").strategies[0]
    trade = result.trades.row(0, named=True)
    assert (trade["quantity"], trade["entry_price"], trade["exit_price"]) == (10, 100, 90)
    assert trade["pnl"] == 100
    cash = result.equity["cash"].to_list()
    equity = result.equity["equity"].to_list()
    assert cash[1] == 10_000 - 1_000                     # the short's value is set aside
    assert equity[1] == 10_000 + 10 * (100 - 96)         # marked at bar 1's close
    assert cash[2] == equity[2] == equity[3] == 10_100


def test_start_is_the_first_session_whose_signals_count(backtest) -> None:
    bars = {"AAA": [SIGNAL, QUIET, QUIET, SIGNAL, QUIET, QUIET]}
    result = backtest(bars, exits="time_stop_bars: 1", start=day(2)).strategies[0]
    assert result.trades["signal_date"].to_list() == [day(3)]
    assert result.equity["date"][0] == day(2)


def test_buy_and_hold_benchmark_is_equal_weight(backtest) -> None:
    bars = {"AAA": [QUIET, (100, 101, 99, 110, 1)], "BBB": [(50, 51, 49, 50, 1), (50, 51, 49, 45, 1)]}
    result = backtest(bars).strategies[0]
    # 5,000 in each at the first close: AAA +10%, BBB -10%.
    assert result.equity["benchmark"].to_list() == pytest.approx([10_000, 5_500 + 4_500])


def test_percent_of_equity_marks_open_positions_at_the_last_close(backtest) -> None:
    # AAA: 20% of 10,000 buys 20 shares at 100 (cash 8,000), then closes at 150. BBB fills
    # at bar 2's open: equity = 8,000 + 20 x 150 = 11,000, and 20% of it buys 44 at 50.
    bars = {"AAA": [signal_at(100), (100, 151, 99, 150, 1), (150, 151, 149, 150, 1), (150, 151, 149, 150, 1)],
            "BBB": [(50, 51, 49, 50, 1), signal_at(50), (50, 51, 49, 50, 1), (50, 51, 49, 50, 1)]}
    result = backtest(bars, sizing="method: percent_equity\npercent: 20").strategies[0]
    assert result.open_trades.select("symbol", "quantity").rows() == [("AAA", 20), ("BBB", 44)]


# id, bars by symbol, max open positions, (taken symbols, symbol_held, no_free_slot)
SKIP_CASES = [
    # Bar 2: AAA and CCC are free, BBB still held from bar 0; two slots, BBB's one of them.
    pytest.param({"AAA": [QUIET, QUIET, SIGNAL, *flat(3)], "BBB": [SIGNAL, QUIET, SIGNAL, *flat(3)],
                  "CCC": [QUIET, QUIET, SIGNAL, *flat(3)]}, 2, (["AAA", "BBB"], 0, 2), id="full-slots-come-first"),
    pytest.param({"AAA": [QUIET, QUIET, SIGNAL, *flat(3)], "BBB": [SIGNAL, QUIET, SIGNAL, *flat(3)],
                  "CCC": [QUIET, QUIET, SIGNAL, *flat(3)]}, 3, (["AAA", "BBB", "CCC"], 1, 0), id="held-then-free"),
    pytest.param({"AAA": [SIGNAL, QUIET, SIGNAL, *flat(3)], "BBB": [QUIET, QUIET, SIGNAL, *flat(3)],
                  "CCC": [QUIET, QUIET, SIGNAL, *flat(3)]}, 2, (["AAA", "BBB"], 1, 1), id="held-before-the-last-slot"),
]


@pytest.mark.parametrize(("bars", "slots", "expected"), SKIP_CASES)
def test_skips_are_counted_by_their_first_cause(backtest, bars, slots, expected) -> None:
    # A signal is skipped for want of a slot when none is left when its turn comes (in
    # rank order, here by symbol), whether or not its symbol is held.
    result = backtest(bars, sizing="method: percent_equity\npercent: 10",
                      settings=f"initial_cash: 10000\nmax_open_positions: {slots}").strategies[0]
    taken, held, no_slot = expected
    assert sorted(result.trades.vstack(result.open_trades)["symbol"].to_list()) == taken
    assert (result.skipped["symbol_held"], result.skipped["no_free_slot"]) == (held, no_slot)
