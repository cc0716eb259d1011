"""Picks become IOC limit orders at the exchange, through the real alpaca-py client:
they fill, partly fill or cancel, and Kobe's orders, fills, positions and P&L follow
the exchange's."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal

import pytest
from alpaca.data.requests import StockLatestQuoteRequest
from trade_desk import DAY, KEY_ID, SECRET, picks

from kobe.audit.verify import verify_trail
from kobe.broker.alpaca import BrokerOrder
from kobe.broker.pricing import limit_price, round_to_tick, shares_for
from kobe.clients import stock_data_client
from kobe.config.model import LimitPriceRule
from kobe.data.bars import read_bars
from kobe.data.calendar import NEW_YORK
from kobe.oms.orders import OrderRecord, OrderStatus, client_order_id
from kobe.trade.cycle import run_cycle
from kobe.trade.executor import Executor, broker_status

S = OrderStatus


def quote(desk, symbol: str):
    data = stock_data_client(KEY_ID, SECRET, base_url=desk.url, timeout=5)
    return data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=symbol))[symbol]


def test_picks_become_ioc_orders_that_fill(desk) -> None:
    expected = {}
    for symbol in ("MSFT", "KO", "WMT"):
        q = quote(desk, symbol)
        limit = round_to_tick(Decimal(repr(q.ask_price)) * Decimal("1.001"))
        expected[symbol] = (int(Decimal(300) // limit), limit, q.ask_price)
    report = run_cycle(desk.trader(), read_bars(), picks("MSFT", "KO", "WMT"))

    assert [o.status for o in report.entries] == [S.FILLED] * 3
    at_exchange = {o.client_order_id: o for o in desk.exchange_orders()}
    assert len(at_exchange) == 3
    for order in report.entries:
        qty, limit, ask = expected[order.symbol]
        sent = at_exchange[order.client_order_id]
        assert order.client_order_id == client_order_id("donchian_breakout", order.symbol, DAY, "buy")
        assert (sent.time_in_force.value, sent.order_type.value, sent.side.value) == ("ioc", "limit", "buy")
        assert (Decimal(sent.limit_price), int(float(sent.qty))) == (limit, qty)
        assert (Decimal(repr(order.limit_price)), order.qty) == (limit, qty)
        assert qty * limit <= 300
        assert order.filled_qty == qty and order.filled_avg_price == pytest.approx(ask)   # IOC buys fill at the ask
    trader = desk.trader()
    positions = trader.store.positions()
    assert {s: (p.qty, round(p.avg_cost, 4)) for s, p in positions.items()} == \
        {s: (q, round(a, 4)) for s, (q, a) in desk.exchange_positions().items()}
    assert trader.store.transitions(report.entries[0].client_order_id) == \
        [(None, "new"), ("new", "submitted"), ("submitted", "filled")]
    view = json.loads((desk.root / "state" / "positions.json").read_text())
    assert {p["symbol"] for p in view["positions"]} == {"MSFT", "KO", "WMT"}
    assert verify_trail(desk.root / "logs").ok


def test_a_thin_book_fills_part_of_the_order_and_the_rest_is_canceled(open_desk) -> None:
    desk = open_desk(depth=1e-7)                    # a few shares displayed on each side
    shown = quote(desk, "MSFT").ask_size
    report = run_cycle(desk.trader(), read_bars(), picks("MSFT"))
    (order,) = report.entries
    assert 0 < shown < order.qty
    assert order.status is S.CANCELED and order.filled_qty == shown
    (sent,) = desk.exchange_orders()
    assert (sent.status.value, float(sent.filled_qty)) == ("canceled", shown)
    store = desk.trader().store
    assert store.positions()["MSFT"].qty == shown == desk.exchange_positions()["MSFT"][0]
    assert store.spent(DAY) == pytest.approx(shown * order.filled_avg_price)   # only what filled counts now
    assert len(store.fills(order.client_order_id)) == 1


def test_a_limit_below_the_ask_cancels_unfilled_and_frees_the_budget(open_desk) -> None:
    desk = open_desk(project={"risk_edits": {"reference: best_ask": "reference: best_bid",
                                             "multiplier: 1.001": "multiplier: 1.0"}})
    report = run_cycle(desk.trader(), read_bars(), picks("MSFT", "KO"))
    assert [(o.status, o.filled_qty) for o in report.entries] == [(S.CANCELED, 0.0)] * 2
    store = desk.trader().store
    assert store.spent(DAY) == 0 and store.positions() == {} and desk.exchange_positions() == {}


def test_the_same_pick_is_never_sent_twice(open_desk) -> None:
    # Limits at the bid: the orders cancel unfilled, so no position stands in the way of a
    # second send; only the pick's identity does, after a restart too.
    desk = open_desk(project={"risk_edits": {"reference: best_ask": "reference: best_bid",
                                             "multiplier: 1.001": "multiplier: 1.0"}})
    first = run_cycle(desk.trader(), read_bars(), picks("MSFT", "KO"))
    again = run_cycle(desk.trader(), read_bars(), picks("MSFT", "KO"))
    assert [o.status for o in first.entries] == [S.CANCELED, S.CANCELED] and again.entries == []
    assert len(desk.posts()) == 2 and len(desk.exchange_orders()) == 2


def test_one_position_per_symbol_across_strategies(desk) -> None:
    report = run_cycle(desk.trader(), read_bars(),
                       picks("MSFT") + picks("MSFT", "KO", strategy="ict_turtle_soup"))
    assert [(o.strategy, o.symbol) for o in report.entries] == [("donchian_breakout", "MSFT"),
                                                                ("ict_turtle_soup", "KO")]
    assert ("ict_turtle_soup", "MSFT") in {(s, y) for s, y, _ in report.skipped}


def test_a_share_dearer_than_the_budget_is_skipped_not_sent(desk) -> None:
    report = run_cycle(desk.trader(), read_bars(), picks("AMZN"))
    assert report.entries == [] and "no whole share at" in report.skipped[0][2]
    assert desk.posts() == []


def test_time_stop_sells_through_the_same_path_and_pnl_follows(open_desk) -> None:
    desk = open_desk(project={"edits": {"stop: entry_price - stop_atr * atr(atr_bars)": "stop: entry_price * 0.5"}})
    bought = run_cycle(desk.trader(), read_bars(), picks("MSFT", "KO")).entries
    # hold_bars is 5: bought on Monday the 5th, the 5th bar held closes on Friday the 9th.
    desk.admin.set_clock(dt.datetime(2017, 6, 9, 10, 0, tzinfo=NEW_YORK))
    assert run_cycle(desk.trader(), read_bars(), []).exits == []
    desk.admin.set_clock(dt.datetime(2017, 6, 12, 10, 0, tzinfo=NEW_YORK))
    report = run_cycle(desk.trader(), read_bars(), [])
    assert sorted(o.symbol for o in report.exits) == ["KO", "MSFT"]
    assert all(o.side == "sell" and o.status is S.FILLED and "time_stop" in o.reason for o in report.exits)
    store = desk.trader().store
    by_symbol = {o.symbol: o for o in bought}
    for sell in report.exits:
        buy = by_symbol[sell.symbol]
        assert sell.qty == buy.qty
        expected = buy.qty * (sell.filled_avg_price - buy.filled_avg_price)
        assert store.positions()[sell.symbol].realized_pnl == pytest.approx(expected)
        assert store.positions()[sell.symbol].qty == 0
    assert desk.exchange_positions() == {}


def test_a_stop_above_the_price_is_executed_by_the_broker_at_once(open_desk) -> None:
    """The protective stop goes to the broker as soon as the entry fills; one above the
    market triggers there at once, and the next cycle learns the fill and sells nothing more."""
    desk = open_desk(project={"edits": {"stop: entry_price - stop_atr * atr(atr_bars)": "stop: entry_price * 1.5"}})
    first = run_cycle(desk.trader(), read_bars(), picks("KO"))
    (stop,) = first.stops
    assert stop.order_type == "stop" and stop.time_in_force == "gtc" and stop.qty == first.entries[0].filled_qty
    desk.admin.set_clock(dt.datetime(2017, 6, 6, 10, 0, tzinfo=NEW_YORK))
    report = run_cycle(desk.trader(), read_bars(), [])
    assert report.exits == [] and report.stops == []
    assert desk.trader().store.get(stop.client_order_id).status is S.FILLED
    assert desk.exchange_positions() == {} and desk.trader().store.positions()["KO"].qty == 0


@pytest.mark.parametrize(("price", "tick"), [
    (154.4162, "154.42"), (154.415, "154.42"), (0.51234, "0.5123"), (0.99996, "1.00"), (1.004, "1.00"),
    (12.345, "12.35"),
], ids=["cents", "half-up", "sub-penny", "rounds-to-a-dollar", "dollar", "exact-half"])
def test_round_to_tick(price: float, tick: str) -> None:
    assert round_to_tick(price) == Decimal(tick)


@pytest.mark.parametrize("price", [0.00004, 0.0, -1.0, float("nan")])
def test_no_price_off_the_grid_or_below_a_tick(price: float) -> None:
    with pytest.raises(ValueError):
        round_to_tick(price)


@pytest.mark.parametrize(("side", "rule", "limit"), [
    ("buy", LimitPriceRule("best_ask", 1.001), "100.15"),     # 100.05 x 1.001 = 100.150...
    ("sell", LimitPriceRule("best_ask", 1.001), "99.85"),     # 99.95 / 1.001 = 99.850...
    ("buy", LimitPriceRule("mid", 1.0), "100.00"),
    ("buy", LimitPriceRule("best_bid", 1.002), "100.15"),     # 99.95 x 1.002 = 100.149...
    ("sell", LimitPriceRule("best_bid", 1.0), "100.05"),      # a sell mirrors: the ask
])
def test_limit_price(side: str, rule: LimitPriceRule, limit: str) -> None:
    assert limit_price(side, 99.95, 100.05, rule) == Decimal(limit)


@pytest.mark.parametrize(("budget", "limit", "qty"), [
    (75, "25.00", 3), (75, "25.01", 2), (75, "75.01", 0), (400, "0.5123", 780), (0, "10", 0),
])
def test_shares_for(budget: float, limit: str, qty: int) -> None:
    assert shares_for(budget, Decimal(limit)) == qty


def test_a_fill_is_recorded_once_whoever_sees_it(desk) -> None:
    (order,) = run_cycle(desk.trader(), read_bars(), picks("MSFT")).entries
    trader = desk.trader()                      # another process, holding a stale copy of the order
    stale = dataclasses.replace(order, status=S.SUBMITTED, filled_qty=0.0, filled_avg_price=None)
    executor = Executor(trader.broker, trader.store, trader.audit, today=DAY)
    answer = trader.broker.order_by_client_id(order.client_order_id)
    assert executor.apply(stale, answer, "seen again") == order   # the store's version wins
    assert len(trader.store.fills()) == 1
    assert trader.store.positions()["MSFT"].qty == order.qty


@pytest.mark.parametrize(("current", "word", "filled", "expected"), [
    (S.NEW, "new", 0, S.SUBMITTED), (S.NEW, "accepted", 0, S.SUBMITTED),
    (S.SUBMITTED, "partially_filled", 2, S.PARTIALLY_FILLED),
    (S.SUBMITTED, "filled", 5, S.FILLED), (S.PARTIALLY_FILLED, "canceled", 2, S.CANCELED),
    (S.SUBMITTED, "expired", 0, S.EXPIRED), (S.UNKNOWN, "rejected", 0, S.REJECTED),
    (S.PARTIALLY_FILLED, "rejected", 2, S.CANCELED), (S.SUBMITTED, "pending_cancel", 1, S.PARTIALLY_FILLED),
    (S.SUBMITTED, "done_for_day", 0, S.EXPIRED), (S.SUBMITTED, "replaced", 0, S.CANCELED),
])
def test_broker_words_map_onto_the_state_machine(current, word: str, filled: float, expected) -> None:
    order = OrderRecord("cid", "s", "KO", "buy", 5, 40.0, DAY, status=current)
    answer = BrokerOrder("id", "cid", "KO", "buy", 5, 40.0, word, filled, 40.0 if filled else None,
                         dt.datetime(2017, 6, 5, 14, tzinfo=dt.UTC))
    assert broker_status(order, answer) is expected
