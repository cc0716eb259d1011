"""The account: free slots and rank, sizing in whole shares, costs, cash and equity
(docs/backtest.md). Bars are written out as in test_exits.py: code 2 signals an entry,
3 the exit rule."""

from __future__ import annotations

import pytest
from backtest_synthetic import day, flat

from kobe.backtest.costs import BUY, SELL, Costs
from kobe.config.model import Sizing
from kobe.decide.sizing import shares

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
    assert costs.fill(100.0, BUY) == pytest.approx(100.1)
    assert costs.fill(100.0, SELL) == pytest.approx(99.9)
    assert costs.commission(10, 100.1) == pytest.approx(10 * 0.01 + 10 * 100.1 * 0.0005)
    assert costs.unit_cost(100.1) == pytest.approx(100.1 * 1.0005 + 0.01)


# id, costs, bar price, (buy fill, sell fill): the bar's price is the mid; a buy pays the
# ask, a sell gets the bid (half the spread each), then the slippage beyond the quote.
FILL_CASES = [
    pytest.param(Costs(), 100.0, (100.0, 100.0), id="no-costs-fills-at-the-price"),
    pytest.param(Costs(spread_bps=10), 100.0, (100.05, 99.95), id="spread-10bps-half-per-side"),
    pytest.param(Costs(slippage_bps=10), 100.0, (100.1, 99.9), id="slippage-alone-as-before"),
    pytest.param(Costs(spread_bps=10, slippage_bps=20), 100.0, (100.05 * 1.002, 99.95 * 0.998),
                 id="slippage-beyond-the-quote"),
    pytest.param(Costs(spread_bps=10, commission_bps=50, commission_per_share=1, commission_min_usd=5), 100.0,
                 (100.05, 99.95), id="commissions-leave-the-price-alone"),
]


@pytest.mark.parametrize(("costs", "price", "expected"), FILL_CASES)
def test_fill_prices(costs, price, expected) -> None:
    assert (costs.fill(price, BUY), costs.fill(price, SELL)) == pytest.approx(expected, rel=1e-15)
    bid, ask = costs.quote(price)
    assert (bid, ask) == pytest.approx((price * (1 - costs.spread_bps / 20_000), price * (1 + costs.spread_bps / 20_000)))


# id, costs, shares (signed: a sell is negative), fill, commission of the order
IBKR = Costs(commission_per_share=0.005, commission_min_usd=1)
COMMISSION_CASES = [
    pytest.param(Costs(), 100, 50.0, 0.0, id="none"),
    pytest.param(IBKR, 100, 50.0, 1.0, id="per-share-below-the-minimum-pays-the-minimum"),
    pytest.param(IBKR, 300, 50.0, 1.5, id="per-share-above-the-minimum"),
    pytest.param(IBKR, 200, 50.0, 1.0, id="per-share-at-the-minimum"),
    pytest.param(IBKR, -300, 50.0, 1.5, id="a-sell-pays-by-its-size"),
    pytest.param(IBKR, 0, 50.0, 0.0, id="no-shares-no-order-no-minimum"),
    pytest.param(Costs(commission_bps=10, commission_min_usd=5), 10, 100.0, 5.0, id="bps-with-a-minimum"),
    pytest.param(Costs(commission_bps=10, commission_min_usd=5), 100, 100.0, 10.0, id="bps-above-the-minimum"),
    # The per-share and percentage parts add up first; the minimum applies to their sum.
    pytest.param(Costs(commission_per_share=0.005, commission_bps=1, commission_min_usd=1), 100, 50.0,
                 1.0, id="sum-0.5+0.5-is-the-minimum"),
    pytest.param(Costs(commission_per_share=0.005, commission_bps=1, commission_min_usd=1), 300, 50.0,
                 1.5 + 1.5, id="sum-1.5+1.5-above-the-minimum"),
]


@pytest.mark.parametrize(("costs", "quantity", "fill", "expected"), COMMISSION_CASES)
def test_commission_of_one_order(costs, quantity, fill, expected) -> None:
    assert costs.commission(quantity, fill) == pytest.approx(expected, abs=1e-12)


# id, costs, cash, fill, whole shares the cash pays for, commission included
AFFORDABLE_CASES = [
    pytest.param(Costs(), 1_000.0, 100.0, 10, id="no-costs"),
    pytest.param(IBKR, 1_000.0, 100.0, 9, id="per-share-leaves-too-little-for-ten"),
    # 10 shares cost 1,000 plus a $1 minimum (not 10 x 0.005): 1,001 > 1,000.5.
    pytest.param(IBKR, 1_000.5, 100.0, 9, id="the-minimum-binds"),
    pytest.param(IBKR, 1_001.0, 100.0, 10, id="the-minimum-just-paid"),
    pytest.param(IBKR, 0.5, 100.0, -1, id="not-even-the-minimum"),
]


@pytest.mark.parametrize(("costs", "cash", "fill", "expected"), AFFORDABLE_CASES)
def test_affordable_shares(costs, cash, fill, expected) -> None:
    most = costs.affordable(cash, fill)
    assert most == expected
    if most >= 1:       # those shares are paid for, one more is not
        assert most * fill + costs.commission(most, fill) <= cash
        assert (most + 1) * fill + costs.commission(most + 1, fill) > cash


def test_the_spread_matches_the_stand_in_exchange_quotes() -> None:
    """``spread_bps`` means what ``kobe exchange --spread-bps`` means: the full quoted
    spread, half of it each side of the mid (the stand-in then rounds to the tick)."""
    import datetime as dt

    from kobe.broker.exchange.quotes import QuoteModel

    quote = QuoteModel(spread_bps=10).quote("AAA", 100.0, 1e6, dt.datetime(2024, 1, 2, 15, tzinfo=dt.UTC))
    assert (float(quote.bid), float(quote.ask)) == pytest.approx(Costs(spread_bps=10).quote(100.0))


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


def test_spread_buys_at_the_ask_and_sells_at_the_bid(backtest) -> None:
    # 20 bps quoted: half, 0.1%, each side of the bar's price. Bought at bar 1's open
    # (100 -> 100.1), sold at bar 2's close by the time stop (110 -> 109.89).
    bars = {"AAA": [SIGNAL, QUIET, (110, 111, 109, 110, 1), (110, 111, 109, 110, 1)]}
    result = backtest(bars, exits="time_stop_bars: 2", sizing="method: percent_equity\npercent: 50",
                      settings="initial_cash: 10000\nspread_bps: 20").strategies[0]
    trade = result.trades.row(0, named=True)
    assert trade["quantity"] == 5000 // 100.1 == 49
    assert (trade["entry_price"], trade["exit_price"]) == pytest.approx((100.1, 109.89), rel=1e-15)
    assert trade["commission"] == 0
    assert trade["pnl"] == pytest.approx(49 * (109.89 - 100.1))
    # A position is marked at the close, the mid: bar 1 shows the half-spread paid in.
    equity = result.equity["equity"].to_list()
    assert equity[1] == pytest.approx(10_000 - 49 * 0.1)
    assert equity[2] == pytest.approx(10_000 + trade["pnl"])


def test_spread_and_slippage_are_charged_apart(backtest) -> None:
    bars = {"AAA": [SIGNAL, QUIET, (110, 111, 109, 110, 1), (110, 111, 109, 110, 1)]}
    result = backtest(bars, exits="time_stop_bars: 2", sizing="method: percent_equity\npercent: 50",
                      settings="initial_cash: 10000\nspread_bps: 20\nslippage_bps: 10").strategies[0]
    trade = result.trades.row(0, named=True)
    assert trade["entry_price"] == pytest.approx(100 * 1.001 * 1.001, rel=1e-15)
    assert trade["exit_price"] == pytest.approx(110 * 0.999 * 0.999, rel=1e-15)


def test_a_short_sells_at_the_bid_and_covers_at_the_ask(backtest) -> None:
    bars = {"AAA": [SIGNAL, (100, 101, 95, 96, 1), (90, 91, 89, 90, 1), QUIET]}
    result = backtest(bars, side="short", exits="time_stop_bars: 2", sizing="method: percent_equity\npercent: 10",
                      settings="initial_cash: 10000\nspread_bps: 20").strategies[0]
    trade = result.trades.row(0, named=True)
    assert (trade["entry_price"], trade["exit_price"]) == pytest.approx((99.9, 90.09), rel=1e-15)
    assert trade["pnl"] == pytest.approx(trade["quantity"] * (99.9 - 90.09))


def test_minimum_commission_per_order(backtest) -> None:
    # IBKR's fixed plan: $0.005 a share, $1 at least per order. All the cash, 1,000.50, at
    # 100: ten shares would cost 1,000 + a $1 minimum, so nine; each order pays $1.
    bars = {"AAA": [SIGNAL, QUIET, QUIET]}
    result = backtest(bars, exits="time_stop_bars: 1",
                      settings="initial_cash: 1000.5\ncommission_per_share: 0.005\ncommission_min_usd: 1").strategies[0]
    trade = result.trades.row(0, named=True)
    assert (trade["quantity"], trade["commission"], trade["pnl"]) == (9, 2.0, -2.0)
    assert result.equity["cash"][-1] == pytest.approx(1000.5 - 2)


def test_per_share_commission_above_the_minimum(backtest) -> None:
    # 30% of 100,000 at 100 is 300 shares: 300 x 0.005 = 1.50 per order, above the minimum.
    bars = {"AAA": [SIGNAL, QUIET, QUIET]}
    settings = "initial_cash: 100000\ncommission_per_share: 0.005\ncommission_min_usd: 1"
    result = backtest(bars, exits="time_stop_bars: 1", sizing="method: percent_equity\npercent: 30",
                      settings=settings).strategies[0]
    trade = result.trades.row(0, named=True)
    assert (trade["quantity"], trade["commission"]) == (300, pytest.approx(3.0))


def test_an_order_that_cannot_pay_the_minimum_is_not_sent(backtest) -> None:
    bars = {"AAA": [signal_at(10), *flat(3, 10)]}
    result = backtest(bars, settings="initial_cash: 10.5\ncommission_min_usd: 1").strategies[0]
    assert result.trades.is_empty() and result.open_trades.is_empty()
    assert result.skipped["zero_shares"] == 1


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
