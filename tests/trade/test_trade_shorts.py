"""Live shorts (issue 12): a short pick is sold short through the real alpaca-py client
against ``kobe exchange --shorting``, after the broker's asset flags allow it; it rests
with a buy stop above the price; the budgets and the gates count its notional; and it
is bought back by its exits. (Where each exit fills against the backtest:
test_exit_parity.py's short cases.)"""

from __future__ import annotations

import datetime as dt

import pytest
from trade_desk import DAY, assert_books_agree, picks

from kobe.data.bars import read_bars
from kobe.data.calendar import NEW_YORK
from kobe.oms.orders import id_action
from kobe.trade.cycle import Pick, run_cycle

STRATEGY = "donchian_breakout"
# The shipped breakout turned short, its stop above the entry.
SHORT = {"name: donchian_breakout\n    enabled: true\n    universe: default\n    side: long":
             "name: donchian_breakout\n    enabled: true\n    universe: default\n    side: short",
         "stop: entry_price - stop_atr * atr(atr_bars)\n      time_stop_bars: hold_bars\n    # Higher is better: how":
         "stop: entry_price + stop_atr * atr(atr_bars)\n      time_stop_bars: hold_bars\n    # Higher is better: how"}


def shorts(*symbols: str) -> list[Pick]:
    return [Pick(p.strategy, p.symbol, p.signal_date, p.close, side="short") for p in picks(*symbols)]


def test_a_short_pick_is_sold_short_and_rests_with_a_buy_stop_above(open_desk) -> None:
    desk = open_desk(project={"edits": SHORT}, shorting=True)
    report = run_cycle(desk.trader(), read_bars(), shorts("PFE", "KO"))
    assert [(o.symbol, o.side, o.status.value) for o in report.entries] == [("PFE", "sell", "filled"),
                                                                            ("KO", "sell", "filled")]
    assert all(id_action(o.client_order_id) == "o" for o in report.entries)
    store = desk.trader().store
    held = {s: p.qty for s, p in store.positions().items()}
    assert held == {s: q for s, (q, _) in desk.exchange_positions().items()}
    assert all(q < 0 for q in held.values()) and set(held) == {"PFE", "KO"}
    # A buy stop for all the shares, above the price it was sold at.
    entries = {o.symbol: o for o in report.entries}
    for stop in report.stops:
        assert (stop.side, stop.order_type, stop.qty) == ("buy", "stop", entries[stop.symbol].qty)
        assert stop.stop_price is not None and stop.stop_price > (entries[stop.symbol].filled_avg_price or 0)
    assert sorted(s.symbol for s in report.stops) == ["KO", "PFE"]
    # The day's budget counts the shorts' notional, as it counts a purchase.
    assert store.spent(DAY) == pytest.approx(sum(o.filled_qty * (o.filled_avg_price or 0) for o in report.entries))
    assert_books_agree(desk, store)


@pytest.mark.parametrize(("flags", "reason"), [
    pytest.param({"not_shortable": frozenset({"PFE"})}, "PFE is not shortable at the broker", id="not-shortable"),
    pytest.param({"hard_to_borrow": frozenset({"PFE"})}, "PFE is hard to borrow today", id="hard-to-borrow"),
    pytest.param({"shorting": False}, "the account may not sell short", id="account-may-not-short"),
])
def test_a_short_the_broker_would_refuse_is_never_sent(open_desk, flags, reason) -> None:
    desk = open_desk(project={"edits": SHORT}, **{"shorting": True, **flags})
    report = run_cycle(desk.trader(), read_bars(), shorts("PFE", "KO"))
    refused = ["PFE", "KO"] if "account" in reason else ["PFE"]      # the account: every short
    assert [(s, y) for s, y, why in report.skipped if reason in why] == [(STRATEGY, y) for y in refused]
    assert not set(refused) & {o.symbol for o in desk.exchange_orders()}
    assert {o.symbol for o in report.entries} == {"PFE", "KO"} - set(refused)


def test_the_daily_budget_and_the_position_limit_count_shorts_as_longs(open_desk) -> None:
    # $300 an order, $1,000 a day, 3 positions: long and short picks share them.
    desk = open_desk(project={"edits": SHORT, "max_open": 3}, shorting=True)
    mixed = [*shorts("PFE"), Pick(STRATEGY, "KO", picks("KO")[0].signal_date, 0.0, side="long"),
             *shorts("XOM", "T")]
    report = run_cycle(desk.trader(), read_bars(), mixed)
    assert [(o.symbol, o.side) for o in report.entries] == [("PFE", "sell"), ("KO", "buy"), ("XOM", "sell")]
    (blocked,) = [(y, why) for _, y, why in report.skipped if y == "T"]
    assert "positions are open" in blocked[1] or "daily budget" in blocked[1], blocked
    assert desk.trader().store.spent(DAY) <= 1000


def test_a_short_is_bought_back_by_its_time_stop_in_the_sessions_last_cycle(open_desk) -> None:
    edits = {**SHORT, "      hold_bars: 5\n    # The close rises": "      hold_bars: 1\n    # The close rises"}
    desk = open_desk(project={"edits": edits}, shorting=True)
    bars = read_bars()
    run_cycle(desk.trader(), bars, shorts("PFE"))
    desk.admin.set_clock(dt.datetime(2017, 6, 5, 15, 55, tzinfo=NEW_YORK))
    closing = run_cycle(desk.trader(), bars, [])
    (cover,) = closing.exits
    assert (cover.symbol, cover.side, cover.status.value, id_action(cover.client_order_id)) == \
        ("PFE", "buy", "filled", "c")
    assert "time_stop" in cover.reason
    store = desk.trader().store
    assert store.positions()["PFE"].qty == 0 and desk.exchange_positions() == {}
    assert_books_agree(desk, store)
