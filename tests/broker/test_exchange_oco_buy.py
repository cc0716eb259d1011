"""Buy OCO exits (the exit of a short: a take-profit buy limit BELOW the price and a
stop-loss buy stop ABOVE it, on the same shares) through alpaca-py's real TradingClient,
the mirror image of test_exchange_oco.py's sell OCOs.

Every fill price and instant below is worked out by hand from the embedded AAPL bars (the
path walks open -> low -> high -> close on an up day, open -> high -> low -> close on a
down day, the corners at 1/3 and 2/3 of the session, 11:40 and 13:50):

    2017-06-05  154.34 154.45 153.46 153.93  down: high 11:40, low 13:50
    2017-06-06  153.90 155.81 153.78 154.45  up:   low 11:40, high 13:50
    2017-06-07  155.02 155.98 154.48 155.37  up:   opens above the 6th's close (a gap up)
    2017-06-08  155.25 155.54 154.40 154.99  down: high 11:40
    2017-06-09  155.19 155.19 146.02 148.98  down: high 11:40 (= the open), low 13:50
    2017-06-12  145.74 146.09 142.51 145.42  down: a gap under Friday's 148.98

The backtest's exit rules for a short (kobe/decide/exits.py): the stop is touched when
the price rises to it, the target when it falls to it; a session opening beyond a level
fills at the open, otherwise the level itself fills. Each test first sells 10 shares
short at the open of 2017-06-05 (a market sell fills at the bid, 154.26; cash then
100000 + 1542.60), the position the OCO exits.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import (
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
)
from oco_support import Case, Move, close, crossing, nested, ny
from stand_keys import SECRET

from kobe.broker.alpaca import AlpacaBroker
from kobe.oms.orders import OrderRecord, client_order_id
from kobe.risk.killswitch import KillSwitch

UTC = dt.UTC
SHARES = 10
ENTRY = Decimal("154.26")                       # the short's entry: the bid at the open
SHORTED_CASH = Decimal(100000) + SHARES * ENTRY   # 101542.60
BUY = OrderSide.BUY
GTC, DAY = TimeInForce.GTC, TimeInForce.DAY




def buy_oco(take_profit: float, stop: float, tif: TimeInForce = GTC, qty: int = SHARES) -> LimitOrderRequest:
    return LimitOrderRequest(symbol="AAPL", qty=qty, side=BUY, time_in_force=tif, order_class=OrderClass.OCO,
                             take_profit=TakeProfitRequest(limit_price=take_profit),
                             stop_loss=StopLossRequest(stop_price=stop))


def shorting(start_exchange, **settings: Any) -> Any:
    """A client whose account is short 10 AAPL sold at the open of 2017-06-05."""
    exchange = start_exchange(shorting=True, **settings)
    trading = exchange.trading()
    sold = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=SHARES, side=OrderSide.SELL,
                                                   time_in_force=DAY))
    assert (trading.get_order_by_id(sold.id).status, trading.get_open_position("AAPL").qty) == (
        OrderStatus.FILLED, "-10")
    return exchange, trading




def refusal(trading: Any, request: Any) -> tuple[int, str, dict[str, Any]]:
    with pytest.raises(APIError) as refused:
        trading.submit_order(request)
    return refused.value.status_code, refused.value.message, json.loads(str(refused.value))


# -- how a buy OCO ends ---------------------------------------------------------------



CASES = {
    "target-reached-intrabar-fills-at-the-limit-and-cancels-the-stop": Case(
        # The 5th falls from the 154.45 high (11:40) to the 153.46 low (13:50); 155 is never reached.
        buy_oco(153.60, 155.00), ny(5, 9, 30), ny(5, 16), "target", "153.6",
        crossing(ny(5, 11, 40), 154.45, ny(5, 13, 50), 153.46, 153.60)),
    "target-at-the-low-exactly-fills-at-the-low": Case(
        buy_oco(153.46, 155.00), ny(5, 9, 30), ny(5, 16), "target", "153.46", ny(5, 13, 50)),
    "stop-reached-intrabar-the-next-day-fills-at-the-stop-and-cancels-the-target": Case(
        # The 5th stays within 153.46-154.45; the 6th rises from 153.78 (11:40) to 155.81 (13:50).
        buy_oco(153.00, 155.50), ny(5, 9, 30), ny(6, 16), "stop", "155.5",
        crossing(ny(6, 11, 40), 153.78, ny(6, 13, 50), 155.81, 155.50)),
    "gap-over-the-stop-fills-the-stop-at-the-open": Case(
        # Sent on the 6th's evening (base price: the 154.45 close); the 7th opens at 155.02.
        buy_oco(153.00, 154.80), ny(6, 18), ny(7, 16), "stop", "155.02", ny(7, 9, 30)),
    "gap-under-the-target-fills-the-target-at-the-open": Case(
        # Sent on Friday the 9th's evening (base price: the 148.98 close); Monday opens at 145.74.
        buy_oco(147.00, 152.00), ny(9, 18), ny(12, 16), "target", "145.74", ny(12, 9, 30)),
    "both-levels-in-a-down-bar-the-stop-first-as-in-the-backtest": Case(
        # The high (11:40) comes before the low (13:50): the path rises to the stop first,
        # where the backtest, assuming the stop, books it too.
        buy_oco(153.60, 154.40), ny(5, 9, 30), ny(5, 16), "stop", "154.4",
        crossing(ny(5, 9, 30), 154.34, ny(5, 11, 40), 154.45, 154.40)),
    "both-levels-in-an-up-bar-the-path-reaches-the-target-first": Case(
        # Sent on the 5th's evening (base: max(153.80, close 153.93)); the 6th's low (11:40)
        # comes before its high (13:50): the take-profit, where the backtest assumes the stop.
        buy_oco(153.80, 155.00), ny(5, 18), ny(6, 16), "target", "153.8",
        crossing(ny(6, 9, 30), 153.90, ny(6, 11, 40), 153.78, 153.80)),
    "target-placed-over-the-price-fills-at-once-at-the-price-rounded-up": Case(
        # 13:00 lies 80 of the 130 minutes from the high (154.45) to the low (153.46):
        # 153.8408, rounded up (against a buy) to 153.85, under the 154.00 limit.
        buy_oco(154.00, 155.00), ny(5, 13), ny(5, 16), "target", "153.85", ny(5, 13)),
    "day-oco-untouched-expires-both-orders": Case(
        buy_oco(153.45, 154.46, DAY), ny(5, 9, 30), ny(5, 16), None, ended=OrderStatus.EXPIRED),
    "gtc-oco-untouched-keeps-working-for-days": Case(
        buy_oco(140.00, 156.00), ny(5, 9, 30), ny(8, 16), None),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_buy_oco_ends_by_the_backtests_conventions_for_a_short(start_exchange, case: Case) -> None:
    exchange, trading = shorting(start_exchange)
    exchange.admin.set_clock(case.placed)
    placed = trading.submit_order(case.order)
    in_session = dt.time(9, 30) <= case.placed.time() < dt.time(16)
    assert placed.status == (OrderStatus.NEW if in_session else OrderStatus.ACCEPTED)
    (leg,) = placed.legs
    assert (placed.side, placed.type, leg.side, leg.type, leg.status) == (
        BUY, OrderType.LIMIT, BUY, OrderType.STOP, OrderStatus.HELD)
    assert placed.position_intent == leg.position_intent == "buy_to_close"
    exchange.admin.set_clock(case.until)
    parent = nested(trading, placed.id)
    (after,) = parent.legs
    assert after.id == leg.id
    if case.filled is None:
        status = case.ended or OrderStatus.NEW
        assert (parent.status, after.status) == (status, case.ended or OrderStatus.HELD)
        assert Decimal(parent.filled_qty) == Decimal(after.filled_qty) == 0
        if case.ended == OrderStatus.EXPIRED:
            assert parent.expired_at == after.expired_at == case.until.astimezone(UTC)
        assert trading.get_open_position("AAPL").qty == "-10"
        return
    won, lost = (parent, after) if case.filled == "target" else (after, parent)
    assert (won.status, Decimal(won.filled_qty), won.filled_avg_price) == (OrderStatus.FILLED, SHARES, case.price)
    assert (lost.status, Decimal(lost.filled_qty), lost.filled_avg_price) == (OrderStatus.CANCELED, 0, None)
    assert case.at is not None and close(won.filled_at, case.at)
    assert lost.canceled_at == won.filled_at
    assert trading.get_all_positions() == []          # covered, not turned long
    assert Decimal(trading.get_account().cash) == SHORTED_CASH - SHARES * Decimal(case.price or 0)


def test_a_buy_oco_on_the_wire_reads_as_the_vendors(start_exchange) -> None:
    _, trading = shorting(start_exchange)
    body = {"symbol": "AAPL", "qty": "10", "side": "buy", "type": "limit", "time_in_force": "gtc",
            "order_class": "oco", "take_profit": {"limit_price": "150"}, "stop_loss": {"stop_price": "156"},
            "client_order_id": "kb-cover-1"}
    raw = trading.post("/orders", body)
    (leg,) = raw["legs"]
    assert {k: raw[k] for k in ("client_order_id", "order_class", "type", "side", "qty", "limit_price",
                                "stop_price", "status", "position_intent")} == {
        "client_order_id": "kb-cover-1", "order_class": "oco", "type": "limit", "side": "buy", "qty": "10",
        "limit_price": "150", "stop_price": None, "status": "new", "position_intent": "buy_to_close"}
    assert {k: leg[k] for k in ("order_class", "type", "side", "qty", "limit_price", "stop_price", "status",
                                "position_intent")} == {
        "order_class": "oco", "type": "stop", "side": "buy", "qty": "10", "limit_price": None,
        "stop_price": "156", "status": "held", "position_intent": "buy_to_close"}


# -- the short's shares, covered once ---------------------------------------------------


def test_a_buy_oco_covers_the_short_once(start_exchange) -> None:
    _, trading = shorting(start_exchange)
    placed = trading.submit_order(buy_oco(150.00, 156.00, qty=6))
    # 6 of the 10 short shares are being covered, by the group once (not 6 by each order).
    assert trading.get_open_position("AAPL").qty_available == "-4"
    trading.submit_order(buy_oco(149.00, 157.00, qty=4))
    assert trading.get_open_position("AAPL").qty_available == "0"
    for request in (buy_oco(148.00, 158.00, qty=1), MarketOrderRequest(symbol="AAPL", qty=1, side=BUY,
                                                                       time_in_force=DAY)):
        assert refusal(trading, request)[:2] == (
            403, "insufficient qty available for order (requested: 1, available: 0)")
    with pytest.raises(APIError) as refused:
        trading.close_position("AAPL")                   # waits for the OCOs to be canceled
    assert refused.value.status_code == 403
    trading.cancel_order_by_id(placed.legs[0].id)        # the leg's cancel ends its group
    assert nested(trading, placed.id).status == OrderStatus.CANCELED
    assert trading.get_open_position("AAPL").qty_available == "-6"


REFUSALS = {
    "no-short-held": (False, None, buy_oco(150.00, 156.00), 403,
                      "insufficient qty available for order (requested: 10, available: 0)", None),
    "a-long-held-never-adds-to-it": (False, MarketOrderRequest(symbol="AAPL", qty=10, side=BUY, time_in_force=DAY),
                                     buy_oco(150.00, 156.00), 403,
                                     "insufficient qty available for order (requested: 10, available: 0)", None),
    "more-than-the-short": (True, None, buy_oco(150.00, 156.00, qty=11), 403,
                            "insufficient qty available for order (requested: 11, available: 10)", None),
    "stop-at-the-take-profit": (True, None, buy_oco(150.00, 150.00), 422,
                                "stop_loss.stop_price must be >= base_price + 0.01", "150"),
    "stop-under-the-take-profit": (True, None, buy_oco(150.00, 149.00), 422,
                                   "stop_loss.stop_price must be >= base_price + 0.01", "150"),
    # At the open the mid is 154.34: the stop must be a cent above the higher of it and the take-profit.
    "stop-under-the-market": (True, None, buy_oco(150.00, 154.30), 422,
                              "stop_loss.stop_price must be >= base_price + 0.01", "154.34"),
    "stop-a-cent-under-the-minimum": (True, None, buy_oco(150.00, 154.34), 422,
                                      "stop_loss.stop_price must be >= base_price + 0.01", "154.34"),
}


@pytest.mark.parametrize(("short", "before", "request_", "status", "message", "base"), REFUSALS.values(),
                         ids=REFUSALS.keys())
def test_a_buy_oco_is_refused_unless_it_exits_a_short(start_exchange, short: bool, before: Any, request_: Any,
                                                      status: int, message: str, base: str | None) -> None:
    if short:
        _, trading = shorting(start_exchange)
    else:
        trading = start_exchange(shorting=True).trading()
    if before is not None:
        trading.submit_order(before)
        assert trading.get_open_position("AAPL").qty == "10"
    code, text, body = refusal(trading, request_)
    assert (code, text) == (status, message)
    assert body.get("base_price") == base
    positions = trading.get_all_positions()
    assert [p.qty_available for p in positions] == (["-10"] if short else ["10"] if before is not None else [])


def test_the_lowest_stop_a_cent_over_the_market_is_taken(start_exchange) -> None:
    """The boundary of the refusals above: 154.35 is the mid 154.34 plus a cent."""
    _, trading = shorting(start_exchange)
    assert trading.submit_order(buy_oco(150.00, 154.35)).legs[0].stop_price == "154.35"


def test_the_old_sell_oco_row_as_a_buy_is_refused_for_its_prices_and_for_the_long(exchange) -> None:
    """The body of test_exchange_oco.py's malformed-OCO table sent as a buy, over a long:
    its stop (150) lies under its take-profit (156), which a buy OCO refuses; with the
    levels the right way round, the long is what refuses it (an exit never opens)."""
    trading = exchange.trading()
    trading.submit_order(LimitOrderRequest(symbol="AAPL", qty=SHARES, side=BUY, time_in_force=TimeInForce.IOC,
                                           limit_price=154.42))
    body = {"symbol": "AAPL", "qty": 10, "side": "buy", "type": "limit", "time_in_force": "gtc",
            "order_class": "oco", "take_profit": {"limit_price": 156}, "stop_loss": {"stop_price": 150}}
    with pytest.raises(APIError) as refused:
        trading.post("/orders", body)
    assert (refused.value.status_code, refused.value.message) == (422, "stop_loss.stop_price must be >= base_price + 0.01")
    with pytest.raises(APIError) as refused:
        trading.post("/orders", {**body, "take_profit": {"limit_price": 150}, "stop_loss": {"stop_price": 156}})
    assert (refused.value.status_code, refused.value.message) == (
        403, "insufficient qty available for order (requested: 10, available: 0)")


# -- buying power -----------------------------------------------------------------------

# After the short, at the open: cash 101542.60, short market value -1543.40 (mid 154.34),
# buying power 101542.60 - 2 x 1543.40 = 98455.80. A buy stop holds buying power at 3%
# over the higher of its stop and the ask (154.42): at 155.00, 159.65 a share.
SHORTED_POWER = SHORTED_CASH - 2 * Decimal("1543.40")


def test_a_buy_oco_holds_buying_power_once_as_the_buy_stop_at_its_stop(start_exchange) -> None:
    _, trading = shorting(start_exchange)
    assert Decimal(trading.get_account().buying_power) == SHORTED_POWER
    placed = trading.submit_order(buy_oco(153.60, 155.00))
    as_oco = Decimal(trading.get_account().buying_power)
    assert as_oco == SHORTED_POWER - SHARES * Decimal("159.65")
    trading.cancel_order_by_id(placed.id)
    assert Decimal(trading.get_account().buying_power) == SHORTED_POWER
    stop = trading.submit_order(StopOrderRequest(symbol="AAPL", qty=SHARES, side=BUY, time_in_force=GTC,
                                                 stop_price=155.00))
    assert Decimal(trading.get_account().buying_power) == as_oco     # the cover it stands for holds as much
    trading.cancel_order_by_id(stop.id)
    # Moving the leg's stop down (a short's trailing stop tightening) holds less: 154.80 x 1.03 = 159.444 -> 159.45.
    placed = trading.submit_order(buy_oco(153.60, 155.00))
    trading.replace_order_by_id(placed.legs[0].id, ReplaceOrderRequest(stop_price=154.80))
    assert Decimal(trading.get_account().buying_power) == SHORTED_POWER - SHARES * Decimal("159.45")


# With 3200 cash: the short (10 x 159.06 = 1590.60 held) is allowed; after it, buying
# power is 3200 + 1542.60 - 2 x 1543.40 = 1655.80. A stop at 155 holds 1596.50 (taken; a
# parent and a leg counted apart would need 3193.00); one at 161 holds 10 x 165.83 = 1658.30.
POWER_CASES = {
    "stop-the-account-can-pay-is-taken": (155.00, None),
    "stop-the-account-cannot-pay-is-refused-as-the-buy-stop-is": (161.00, "1658.3"),
}


@pytest.mark.parametrize(("stop", "cost"), POWER_CASES.values(), ids=POWER_CASES.keys())
def test_a_buy_oco_is_refused_for_buying_power_exactly_when_its_buy_stop_is(start_exchange, stop: float,
                                                                            cost: str | None) -> None:
    _, trading = shorting(start_exchange, cash=Decimal(3200))
    assert trading.get_account().buying_power == "1655.80"
    plain_stop = StopOrderRequest(symbol="AAPL", qty=SHARES, side=BUY, time_in_force=GTC, stop_price=stop)
    for request in (buy_oco(150.00, stop), plain_stop):
        if cost is None:
            placed = trading.submit_order(request)
            trading.cancel_order_by_id(placed.id)
            continue
        status, message, body = refusal(trading, request)
        assert (status, message, body["cost_basis"], body["buying_power"]) == (
            403, "insufficient buying power", cost, "1655.8")


def test_a_refused_move_of_the_stop_leaves_the_groups_hold_as_it_was(start_exchange) -> None:
    """In the 3200-cash account: a stop moved up to 161 needs 1658.30 (403); a stop moved
    down to 154.80 under a client order id already taken is 422. Either way the group,
    and what it holds (1596.50 at its 155 stop), stay as they were."""
    _, trading = shorting(start_exchange, cash=Decimal(3200))
    placed = trading.submit_order(buy_oco(150.00, 155.00))
    held = Decimal("1655.80") - SHARES * Decimal("159.65")
    assert Decimal(trading.get_account().buying_power) == held
    before = nested(trading, placed.id)
    leg = placed.legs[0].id
    with pytest.raises(APIError) as refused:
        trading.replace_order_by_id(leg, ReplaceOrderRequest(stop_price=161.00))
    assert (refused.value.status_code, refused.value.message) == (403, "insufficient buying power")
    with pytest.raises(APIError) as refused:
        trading.replace_order_by_id(leg, ReplaceOrderRequest(stop_price=154.80,
                                                             client_order_id=placed.client_order_id))
    assert (refused.value.status_code, refused.value.message) == (422, "client_order_id must be unique")
    assert nested(trading, placed.id) == before
    assert Decimal(trading.get_account().buying_power) == held


# -- replace and cancel -----------------------------------------------------------------



MOVES = {
    "stop-leg-moved-down-overnight-fills-at-the-new-stop": Move(
        # 156 is never reached (the highs: 154.45, 155.81, 155.98, 155.54); the 8th rises
        # from its 155.25 open to its 155.54 high (11:40) through 155.50.
        buy_oco(150.00, 156.00), ny(7, 18), True, ReplaceOrderRequest(stop_price=155.50), ny(8, 16), "stop",
        "155.5", crossing(ny(8, 9, 30), 155.25, ny(8, 11, 40), 155.54, 155.50)),
    "stop-leg-moved-under-the-price-in-session-fills-at-once-rounded-up": Move(
        # 12:00 on the 9th lies 20 of the 130 minutes from 155.19 down to 146.02: 153.7792,
        # rounded up (against a buy) to 153.78.
        buy_oco(150.00, 156.00), ny(9, 12), True, ReplaceOrderRequest(stop_price=153.50), ny(9, 16), "stop",
        "153.78", ny(9, 12)),
    "take-profit-moved-up-fills-at-the-new-limit": Move(
        # The 9th falls from 155.19 (11:40) to 146.02 (13:50) through 154.50 (and 150.00 later).
        buy_oco(150.00, 156.00), ny(8, 18), False, ReplaceOrderRequest(limit_price=154.50), ny(9, 16), "target",
        "154.5", crossing(ny(9, 11, 40), 155.19, ny(9, 13, 50), 146.02, 154.50)),
}


@pytest.mark.parametrize("case", MOVES.values(), ids=MOVES.keys())
def test_replace_moves_one_level_of_the_buy_oco(start_exchange, case: Move) -> None:
    exchange, trading = shorting(start_exchange)
    placed = trading.submit_order(case.order)
    (leg,) = placed.legs
    exchange.admin.set_clock(case.at)
    old = leg if case.leg else placed
    new = trading.replace_order_by_id(old.id, case.change)
    assert new.id != old.id and new.replaces == old.id and new.order_class == OrderClass.OCO and new.side == BUY
    gone = trading.get_order_by_id(old.id)
    assert (gone.status, gone.replaced_by) == (OrderStatus.REPLACED, new.id)
    parent_id = placed.id if case.leg else new.id
    if case.leg:
        assert (new.type, new.status, new.stop_price) == (OrderType.STOP, OrderStatus.HELD,
                                                          f"{case.change.stop_price:g}")
        assert [g.id for g in nested(trading, parent_id).legs] == [new.id]
    else:
        assert (new.type, new.limit_price, [g.id for g in new.legs]) == (
            OrderType.LIMIT, f"{case.change.limit_price:g}", [leg.id])
    if case.filled_at > case.at:
        assert trading.get_open_position("AAPL").qty_available == "0"   # still covered, once
    exchange.admin.set_clock(case.until)
    group = nested(trading, parent_id)
    (current,) = group.legs
    won, lost = (group, current) if case.filled == "target" else (current, group)
    assert (won.status, won.filled_avg_price) == (OrderStatus.FILLED, case.price)
    assert close(won.filled_at, case.filled_at)
    assert (lost.status, lost.canceled_at) == (OrderStatus.CANCELED, won.filled_at)
    assert trading.get_all_positions() == []
    assert Decimal(trading.get_account().cash) == SHORTED_CASH - SHARES * Decimal(case.price)


REPLACE_REFUSALS = {
    "stop-leg-at-the-take-profit": (True, ReplaceOrderRequest(stop_price=150.00),
                                    "stop_loss.stop_price must be >= base_price + 0.01"),
    "stop-leg-under-the-take-profit": (True, ReplaceOrderRequest(stop_price=149.99),
                                       "stop_loss.stop_price must be >= base_price + 0.01"),
    "take-profit-at-the-stop": (False, ReplaceOrderRequest(limit_price=156.00),
                                "take_profit.limit_price must be <= stop_loss.stop_price - 0.01"),
}


@pytest.mark.parametrize(("leg", "change", "message"), REPLACE_REFUSALS.values(), ids=REPLACE_REFUSALS.keys())
def test_replace_of_a_buy_oco_keeps_the_stop_above_the_take_profit(start_exchange, leg: bool,
                                                                  change: ReplaceOrderRequest, message: str) -> None:
    _, trading = shorting(start_exchange)
    placed = trading.submit_order(buy_oco(150.00, 156.00))
    before = nested(trading, placed.id)
    with pytest.raises(APIError) as refused:
        trading.replace_order_by_id(placed.legs[0].id if leg else placed.id, change)
    assert (refused.value.status_code, refused.value.message.startswith(message)) == (422, True)
    assert nested(trading, placed.id) == before


@pytest.mark.parametrize("which", ["parent", "leg"])
def test_canceling_either_order_of_a_buy_oco_cancels_both(start_exchange, which: str) -> None:
    exchange, trading = shorting(start_exchange)
    placed = trading.submit_order(buy_oco(153.60, 154.40))    # both levels reached later that day
    exchange.admin.set_clock(ny(5, 10))
    trading.cancel_order_by_id(placed.id if which == "parent" else placed.legs[0].id)
    parent = nested(trading, placed.id)
    assert {(o.status, o.canceled_at) for o in (parent, *parent.legs)} == {
        (OrderStatus.CANCELED, ny(5, 10).astimezone(UTC))}
    assert trading.get_open_position("AAPL").qty_available == "-10"
    exchange.admin.set_clock(ny(5, 16))
    assert trading.get_open_position("AAPL").qty == "-10"     # nothing bought
    assert Decimal(trading.get_account().buying_power) == SHORTED_CASH - 2 * 10 * Decimal("153.93")


# -- Kobe's broker ---------------------------------------------------------------------------


def test_kobes_broker_rests_and_trails_a_shorts_oco_exit(start_exchange, tmp_path) -> None:
    """AlpacaBroker.submit_oco of a buy record (the short's exit) and replace_oco_leg
    moving its stop down, as the live cycle does for a short's trailing stop."""
    exchange, trading = shorting(start_exchange)
    broker = AlpacaBroker(trading, exchange.data(), KillSwitch(tmp_path / "KILL_SWITCH"), secrets=[SECRET])
    day = dt.date(2017, 6, 5)
    record = OrderRecord(client_order_id("trend", "AAPL", day, "cover"), "trend", "AAPL", "buy", SHARES, 150.0, day,
                         reason="target 150, stop 156", order_type="oco", stop_price=156.0, time_in_force="gtc")
    parent = broker.submit_oco(record)
    (leg,) = parent.legs
    assert (parent.side, leg.side, leg.stop_price) == ("buy", "buy", 156.0)
    exchange.admin.set_clock(ny(7, 18))
    moved = broker.replace_oco_leg(leg.id, stop_price=155.50)
    exchange.admin.set_clock(ny(8, 16))             # the 8th rises through 155.50 before 11:40
    assert (trading.get_order_by_id(moved.id).status, trading.get_order_by_id(moved.id).filled_avg_price) == (
        OrderStatus.FILLED, "155.5")
    assert trading.get_all_positions() == []
