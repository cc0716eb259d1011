"""OCO exit orders (a take-profit limit and a stop-loss stop on the same shares) through
alpaca-py's real TradingClient, as Alpaca's documentation writes them:
``LimitOrderRequest(order_class=OrderClass.OCO, take_profit=TakeProfitRequest(...),
stop_loss=StopLossRequest(...))``.

Every fill price and instant below is worked out by hand from the embedded AAPL bars (the
path walks open -> low -> high -> close on an up day, open -> high -> low -> close on a
down day, the corners at 1/3 and 2/3 of the session, 11:40 and 13:50):

    2017-06-05  154.34 154.45 153.46 153.93  down: high 11:40, low 13:50
    2017-06-06  153.90 155.81 153.78 154.45  up:   low 11:40, high 13:50
    2017-06-07  155.02 155.98 154.48 155.37  up:   opens above the 6th's close
    2017-06-08  155.25 155.54 154.40 154.99  down
    2017-06-09  155.19 155.19 146.02 148.98  down: high 11:40 (= the open), low 13:50
    2017-06-12  145.74 146.09 142.51 145.42  down: a gap under Friday's 148.98

The backtest's exit rules (kobe/decide/exits.py): a session opening beyond a level fills
at the open, otherwise the level itself fills. Each test first buys 10 shares at the open
of 2017-06-05 (the IOC fills at the ask, 154.42), the position the OCO exits.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import (
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    ReplaceOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
)
from oco_support import Case, Move, close, crossing, nested, ny

from kobe.broker.exchange.store import Store
from kobe.data.calendar import NEW_YORK

UTC = dt.UTC
SHARES = 10
ENTRY = Decimal("154.42")
SELL = OrderSide.SELL
GTC, DAY = TimeInForce.GTC, TimeInForce.DAY




def oco(take_profit: float, stop: float, tif: TimeInForce = GTC, qty: int = SHARES,
        cid: str | None = None) -> LimitOrderRequest:
    return LimitOrderRequest(symbol="AAPL", qty=qty, side=SELL, time_in_force=tif, order_class=OrderClass.OCO,
                             take_profit=TakeProfitRequest(limit_price=take_profit),
                             stop_loss=StopLossRequest(stop_price=stop), client_order_id=cid)


def holding(exchange):
    """A client whose account holds 10 AAPL bought at the open of 2017-06-05."""
    trading = exchange.trading()
    bought = trading.submit_order(LimitOrderRequest(symbol="AAPL", qty=SHARES, side=OrderSide.BUY,
                                                    time_in_force=TimeInForce.IOC, limit_price=float(ENTRY)))
    assert trading.get_order_by_id(bought.id).status == OrderStatus.FILLED
    return trading




# -- how an OCO ends ----------------------------------------------------------------



CASES = {
    "target-reached-intrabar-fills-at-the-limit-and-cancels-the-stop": Case(
        oco(154.40, 153.00), ny(5, 9, 30), ny(5, 16), "target", "154.4",
        crossing(ny(5, 9, 30), 154.34, ny(5, 11, 40), 154.45, 154.40)),
    "target-at-the-high-exactly-fills-at-the-high": Case(
        oco(154.45, 153.00), ny(5, 9, 30), ny(5, 16), "target", "154.45", ny(5, 11, 40)),
    "stop-reached-intrabar-fills-at-the-stop-and-cancels-the-target": Case(
        oco(155.00, 153.50), ny(5, 9, 30), ny(5, 16), "stop", "153.5",
        crossing(ny(5, 11, 40), 154.45, ny(5, 13, 50), 153.46, 153.50)),
    "both-levels-in-a-down-bar-the-path-reaches-the-target-first": Case(
        # The high (11:40) comes before the low (13:50): the path says target, where the
        # backtest, knowing only the range, assumes the stop (docs/exchange.md).
        oco(154.40, 153.50), ny(5, 9, 30), ny(5, 16), "target", "154.4",
        crossing(ny(5, 9, 30), 154.34, ny(5, 11, 40), 154.45, 154.40)),
    "both-levels-in-an-up-bar-the-stop-first-as-in-the-backtest": Case(
        # Sent Monday evening (base price: the 153.93 close); Tuesday's low comes first.
        oco(155.00, 153.80), ny(5, 18), ny(6, 16), "stop", "153.8",
        crossing(ny(6, 9, 30), 153.90, ny(6, 11, 40), 153.78, 153.80)),
    "gap-under-the-stop-fills-the-stop-at-the-open": Case(
        oco(150.00, 147.00), ny(9, 18), ny(12, 16), "stop", "145.74", ny(12, 9, 30)),
    "gap-over-the-target-fills-the-target-at-the-open": Case(
        oco(154.80, 150.00), ny(6, 18), ny(7, 16), "target", "155.02", ny(7, 9, 30)),
    "gtc-target-reached-the-next-day": Case(
        oco(155.50, 150.00), ny(5, 9, 30), ny(6, 16), "target", "155.5",
        crossing(ny(6, 11, 40), 153.78, ny(6, 13, 50), 155.81, 155.50)),
    "gtc-stop-reached-days-later": Case(
        oco(156.00, 153.00), ny(5, 9, 30), ny(9, 16), "stop", "153",
        crossing(ny(9, 11, 40), 155.19, ny(9, 13, 50), 146.02, 153.00)),
    "target-placed-under-the-price-fills-at-once-at-the-price-rounded-down": Case(
        # 13:00 lies 80 of the 130 minutes from the high (154.45) to the low (153.46): 153.8408.
        oco(153.60, 153.00), ny(5, 13), ny(5, 16), "target", "153.84", ny(5, 13)),
    "day-oco-untouched-expires-both-orders": Case(
        oco(154.46, 153.45, DAY), ny(5, 9, 30), ny(5, 16), None, ended=OrderStatus.EXPIRED),
    "gtc-oco-untouched-keeps-working-for-days": Case(
        oco(156.00, 150.00), ny(5, 9, 30), ny(8, 16), None),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_an_oco_ends_by_the_backtests_conventions(exchange, case: Case) -> None:
    trading = holding(exchange)
    exchange.admin.set_clock(case.placed)
    placed = trading.submit_order(case.order)
    in_session = dt.time(9, 30) <= case.placed.time() < dt.time(16)
    assert placed.status == (OrderStatus.NEW if in_session else OrderStatus.ACCEPTED)
    (leg,) = placed.legs
    assert leg.status == OrderStatus.HELD
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
        assert trading.get_open_position("AAPL").qty == "10"
        return
    won, lost = (parent, after) if case.filled == "target" else (after, parent)
    assert (won.status, Decimal(won.filled_qty), won.filled_avg_price) == (OrderStatus.FILLED, SHARES, case.price)
    assert (lost.status, Decimal(lost.filled_qty), lost.filled_avg_price) == (OrderStatus.CANCELED, 0, None)
    assert case.at is not None and close(won.filled_at, case.at)
    assert lost.canceled_at == won.filled_at
    assert trading.get_all_positions() == []
    cash = Decimal(100000) - SHARES * ENTRY + SHARES * Decimal(case.price or 0)
    assert Decimal(trading.get_account().cash) == cash


# -- the wire ------------------------------------------------------------------------


def test_an_oco_on_the_wire_reads_as_the_vendors(exchange) -> None:
    trading = holding(exchange)
    body = {"symbol": "AAPL", "qty": "10", "side": "sell", "type": "limit", "time_in_force": "gtc",
            "order_class": "oco", "take_profit": {"limit_price": "156"}, "stop_loss": {"stop_price": "150"},
            "client_order_id": "kb-oco-1"}
    raw = trading.post("/orders", body)             # Alpaca's documented body, string numbers
    (leg,) = raw["legs"]
    assert {k: raw[k] for k in ("client_order_id", "order_class", "type", "side", "qty", "time_in_force",
                                "limit_price", "stop_price", "status")} == {
        "client_order_id": "kb-oco-1", "order_class": "oco", "type": "limit", "side": "sell", "qty": "10",
        "time_in_force": "gtc", "limit_price": "156", "stop_price": None, "status": "new"}
    assert {k: leg[k] for k in ("order_class", "type", "side", "qty", "time_in_force", "limit_price",
                                "stop_price", "status", "legs")} == {
        "order_class": "oco", "type": "stop", "side": "sell", "qty": "10", "time_in_force": "gtc",
        "limit_price": None, "stop_price": "150", "status": "held", "legs": None}
    assert leg["id"] != raw["id"] and leg["client_order_id"] not in ("", "kb-oco-1")
    # alpaca-py parses both, the leg a complete Order.
    parent = trading.get_order_by_client_id("kb-oco-1")
    assert (parent.order_class, parent.type, parent.legs) == (OrderClass.OCO, OrderType.LIMIT, None)
    (parsed,) = nested(trading, raw["id"]).legs
    assert (str(parsed.id), parsed.order_class, parsed.type, parsed.stop_price) == (
        leg["id"], OrderClass.OCO, OrderType.STOP, "150")
    assert trading.get_order_by_id(leg["id"]).status == OrderStatus.HELD


def test_alpaca_pys_request_with_or_without_the_top_level_limit_price(exchange) -> None:
    trading = holding(exchange)
    bare = trading.submit_order(oco(156.00, 150.00, qty=4))
    assert bare.limit_price == "156" and len(bare.legs) == 1
    doubled = LimitOrderRequest(symbol="AAPL", qty=6, side=SELL, time_in_force=DAY, order_class=OrderClass.OCO,
                                limit_price=155.00, take_profit=TakeProfitRequest(limit_price=155.00),
                                stop_loss=StopLossRequest(stop_price=151.00))
    assert trading.submit_order(doubled).legs[0].stop_price == "151"


def test_nested_lists_show_the_leg_under_its_parent(exchange) -> None:
    trading = holding(exchange)
    placed = trading.submit_order(oco(156.00, 150.00))
    (leg,) = placed.legs
    flat = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert [(o.id, o.type, o.status, o.legs) for o in flat] == [
        (leg.id, OrderType.STOP, OrderStatus.HELD, None), (placed.id, OrderType.LIMIT, OrderStatus.NEW, None)]
    grouped = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, nested=True))
    assert [(o.id, [g.id for g in o.legs or []]) for o in grouped] == [(placed.id, [leg.id])]
    raw = trading.get("/orders", {"status": "open", "nested": "true"})    # the vendor's spelling
    assert [(o["id"], [g["id"] for g in o["legs"]]) for o in raw] == [(str(placed.id), [str(leg.id)])]
    assert trading.get_order_by_id(placed.id).legs is None                  # not nested: null


# -- shares --------------------------------------------------------------------------


def sell_now(qty: int) -> LimitOrderRequest:
    return LimitOrderRequest(symbol="AAPL", qty=qty, side=SELL, time_in_force=TimeInForce.IOC, limit_price=100.00)


def stop(qty: int) -> StopOrderRequest:
    return StopOrderRequest(symbol="AAPL", qty=qty, side=SELL, time_in_force=GTC, stop_price=150.00)


SHARE_CASES = {
    "oco-then-a-sell": ([oco(156.00, 150.00)], sell_now(1), 0),
    "oco-then-a-stop": ([oco(156.00, 150.00)], stop(1), 0),
    "oco-then-another-oco": ([oco(156.00, 150.00)], oco(157.00, 151.00, qty=1), 0),
    "stop-then-an-oco": ([stop(SHARES)], oco(156.00, 150.00, qty=1), 0),
    "an-oco-over-the-position": ([], oco(156.00, 150.00, qty=11), 10),
    "two-ocos-share-the-position-then-a-sell": ([oco(156.00, 150.00, qty=6), oco(157.00, 151.00, qty=4)],
                                                sell_now(1), 0),
}


@pytest.mark.parametrize(("first", "then", "available"), SHARE_CASES.values(), ids=SHARE_CASES.keys())
def test_an_ocos_shares_are_offered_once(exchange, first, then, available: int) -> None:
    trading = holding(exchange)
    for order in first:
        trading.submit_order(order)
    assert trading.get_open_position("AAPL").qty_available == str(available)
    with pytest.raises(APIError) as refused:
        trading.submit_order(then)
    assert refused.value.status_code == 403
    assert refused.value.message == (f"insufficient qty available for order (requested: {int(then.qty)}, "
                                     f"available: {available})")


def test_close_position_waits_for_the_oco_to_be_canceled(exchange) -> None:
    trading = holding(exchange)
    placed = trading.submit_order(oco(156.00, 150.00))
    with pytest.raises(APIError) as refused:
        trading.close_position("AAPL")
    assert refused.value.status_code == 403
    trading.cancel_order_by_id(placed.id)
    assert trading.get_open_position("AAPL").qty_available == "10"
    sold = trading.close_position("AAPL")
    assert trading.get_order_by_id(sold.id).status == OrderStatus.FILLED


# -- cancel --------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["parent", "leg"])
def test_canceling_either_order_cancels_both(exchange, which: str) -> None:
    trading = holding(exchange)
    placed = trading.submit_order(oco(154.40, 153.50))       # both levels reached later that day
    exchange.admin.set_clock(ny(5, 10))
    trading.cancel_order_by_id(placed.id if which == "parent" else placed.legs[0].id)
    parent = nested(trading, placed.id)
    statuses = {(o.status, o.canceled_at) for o in (parent, *parent.legs)}
    assert statuses == {(OrderStatus.CANCELED, ny(5, 10).astimezone(UTC))}
    assert trading.get_open_position("AAPL").qty_available == "10"
    exchange.admin.set_clock(ny(5, 16))
    assert trading.get_open_position("AAPL").qty == "10"     # nothing sold
    with pytest.raises(APIError) as again:
        trading.cancel_order_by_id(placed.id)
    assert (again.value.status_code, again.value.message) == (422, "order is not cancelable")


def test_an_oco_sent_in_the_evening_can_be_canceled_before_the_open(exchange) -> None:
    trading = holding(exchange)
    exchange.admin.set_clock(ny(9, 18))
    placed = trading.submit_order(oco(150.00, 147.00))
    trading.cancel_order_by_id(placed.id)
    exchange.admin.set_clock(ny(12, 16))                    # the open gapped through 147
    assert trading.get_open_position("AAPL").qty == "10"
    assert trading.get_order_by_id(placed.legs[0].id).status == OrderStatus.CANCELED


# -- replace -------------------------------------------------------------------------



MOVES = {
    "stop-leg-moved-up-overnight-fills-at-the-new-stop": Move(
        oco(156.00, 150.00), ny(8, 18), True, ReplaceOrderRequest(stop_price=153.00), ny(9, 16), "stop", "153",
        crossing(ny(9, 11, 40), 155.19, ny(9, 13, 50), 146.02, 153.00)),
    "stop-leg-moved-up-in-session-fills-at-the-new-stop": Move(
        oco(156.00, 150.00), ny(9, 12), True, ReplaceOrderRequest(stop_price=153.50), ny(9, 16), "stop", "153.5",
        crossing(ny(9, 11, 40), 155.19, ny(9, 13, 50), 146.02, 153.50)),
    "stop-leg-moved-over-the-price-in-session-fills-at-once-rounded-down": Move(
        # 12:00 lies 20 of the 130 minutes from 155.19 down to 146.02: 153.7792.
        oco(156.00, 150.00), ny(9, 12), True, ReplaceOrderRequest(stop_price=154.00), ny(9, 16), "stop", "153.77",
        ny(9, 12)),
    "take-profit-moved-down-fills-at-the-new-limit": Move(
        oco(156.00, 150.00), ny(5, 18), False, ReplaceOrderRequest(limit_price=155.50), ny(6, 16), "target",
        "155.5", crossing(ny(6, 11, 40), 153.78, ny(6, 13, 50), 155.81, 155.50)),
}


@pytest.mark.parametrize("case", MOVES.values(), ids=MOVES.keys())
def test_replace_moves_one_level_of_the_oco(exchange, case: Move) -> None:
    trading = holding(exchange)
    placed = trading.submit_order(case.order)
    (leg,) = placed.legs
    exchange.admin.set_clock(case.at)
    old = leg if case.leg else placed
    new = trading.replace_order_by_id(old.id, case.change)
    assert new.id != old.id and new.replaces == old.id and new.order_class == OrderClass.OCO
    gone = trading.get_order_by_id(old.id)
    assert (gone.status, gone.replaced_by, gone.replaced_at) == (OrderStatus.REPLACED, new.id,
                                                                 case.at.astimezone(UTC))
    parent_id = placed.id if case.leg else new.id
    group = nested(trading, parent_id)
    if case.leg:
        # A new leg under the same parent.
        assert (new.type, new.status, new.stop_price, new.qty) == (
            OrderType.STOP, OrderStatus.HELD, f"{case.change.stop_price:g}", "10")
        assert [g.id for g in group.legs] == [new.id]
    else:
        # A new parent; the leg, keeping its id, moves under it.
        assert (new.type, new.limit_price, [g.id for g in new.legs]) == (
            OrderType.LIMIT, f"{case.change.limit_price:g}", [leg.id])
        assert nested(trading, placed.id).legs == []
    exchange.admin.set_clock(case.until)
    group = nested(trading, parent_id)
    (current,) = group.legs
    won, lost = (group, current) if case.filled == "target" else (current, group)
    assert (won.status, won.filled_avg_price) == (OrderStatus.FILLED, case.price)
    assert close(won.filled_at, case.filled_at)
    assert (lost.status, lost.canceled_at) == (OrderStatus.CANCELED, won.filled_at)
    assert trading.get_order_by_id(old.id).status == OrderStatus.REPLACED
    assert trading.get_all_positions() == []


@dataclass(frozen=True)
class Refusal:
    leg: bool
    change: ReplaceOrderRequest
    message: str
    placed: dt.datetime = dt.datetime(2017, 6, 5, 9, 30, tzinfo=NEW_YORK)


REFUSED = {
    "qty-of-the-leg": Refusal(True, ReplaceOrderRequest(qty=5), "only limit_price (the take-profit), stop_price"),
    "time-in-force-of-the-parent": Refusal(False, ReplaceOrderRequest(time_in_force=DAY),
                                           "only limit_price (the take-profit), stop_price"),
    "stop-leg-at-the-take-profit": Refusal(True, ReplaceOrderRequest(stop_price=156.00),
                                           "stop_loss.stop_price must be <= base_price - 0.01"),
    "take-profit-at-the-stop": Refusal(False, ReplaceOrderRequest(limit_price=150.00),
                                       "take_profit.limit_price must be >= stop_loss.stop_price + 0.01"),
    "limit-price-on-the-leg": Refusal(True, ReplaceOrderRequest(limit_price=149.00),
                                      "limit_price is not allowed on stop orders"),
    "stop-price-on-the-parent": Refusal(False, ReplaceOrderRequest(stop_price=151.00),
                                        "stop_price is not allowed on limit orders"),
    "stop-unchanged": Refusal(True, ReplaceOrderRequest(stop_price=150.00), "order parameters are not changed"),
    "leg-of-an-oco-waiting-for-the-open": Refusal(True, ReplaceOrderRequest(stop_price=151.00),
                                                  "order is not replaceable while accepted", ny(5, 18)),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_replace_of_an_oco_is_refused_when_it_would_break_the_group(exchange, case: Refusal) -> None:
    trading = holding(exchange)
    exchange.admin.set_clock(case.placed)
    placed = trading.submit_order(oco(156.00, 150.00))
    target = placed.legs[0].id if case.leg else placed.id
    before = nested(trading, placed.id)
    with pytest.raises(APIError) as refused:
        trading.replace_order_by_id(target, case.change)
    assert refused.value.status_code == 422
    assert refused.value.message.startswith(case.message)
    assert nested(trading, placed.id) == before
    assert len(trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL))) == 3   # the buy, the OCO's two


# -- refused submissions -------------------------------------------------------------


OCO_BODY = {"symbol": "AAPL", "qty": 10, "side": "sell", "type": "limit", "time_in_force": "gtc",
            "order_class": "oco", "take_profit": {"limit_price": 156}, "stop_loss": {"stop_price": 150}}

RAW_REFUSALS: dict[str, tuple[dict[str, Any], str, str | None]] = {
    "bracket": ({"order_class": "bracket", "side": "buy"},
                "order_class bracket is not supported by the stand-in exchange", None),
    "oto": ({"order_class": "oto"}, "order_class oto is not supported by the stand-in exchange", None),
    "buy-oco-stop-under-its-take-profit": ({"side": "buy"}, "stop_loss.stop_price must be >= base_price + 0.01",
                                           "156"),
    "market-oco": ({"type": "market"}, "oco orders must be of type limit", None),
    "ioc-oco": ({"time_in_force": "ioc"}, "time_in_force must be day or gtc for oco orders", None),
    "no-take-profit": ({"take_profit": None}, "oco orders require take_profit.limit_price", None),
    "no-stop-loss": ({"stop_loss": {}}, "oco orders require stop_loss.stop_price", None),
    "stop-limit-leg": ({"stop_loss": {"stop_price": 150, "limit_price": 149.5}},
                       "a stop-limit stop_loss (stop_loss.limit_price) is not supported", None),
    "stop-at-the-take-profit": ({"stop_loss": {"stop_price": 156}},
                                "stop_loss.stop_price must be <= base_price - 0.01", "156"),
    "stop-over-the-market": ({"stop_loss": {"stop_price": 154.34}},
                             "stop_loss.stop_price must be <= base_price - 0.01", "154.34"),
    "two-different-limit-prices": ({"limit_price": 157}, "limit_price must equal take_profit.limit_price", None),
    "fractional-qty": ({"qty": 1.5, "time_in_force": "day"}, "fractional qty is not allowed on oco orders", None),
    "sub-penny-take-profit": ({"take_profit": {"limit_price": 156.005}},
                              "invalid take_profit.limit_price 156.005. sub-penny increment", None),
    "stop-price-at-the-top-level": ({"stop_price": 150}, "stop_price is not allowed on oco orders", None),
}


@pytest.mark.parametrize(("fields", "message", "base"), RAW_REFUSALS.values(), ids=RAW_REFUSALS.keys())
def test_malformed_oco_orders_are_422(exchange, fields, message: str, base: str | None) -> None:
    trading = holding(exchange)                    # at the open: the mid is 154.34
    with pytest.raises(APIError) as refused:
        trading.post("/orders", {**OCO_BODY, **fields})
    assert refused.value.status_code == 422
    assert refused.value.message.startswith(message)
    if base is not None:
        assert json.loads(str(refused.value))["base_price"] == base
    assert trading.get_open_position("AAPL").qty_available == "10"


# -- state ---------------------------------------------------------------------------


def test_an_oco_survives_a_restart_of_the_exchange(start_exchange) -> None:
    first = start_exchange()
    trading = holding(first)
    placed = trading.submit_order(oco(156.00, 153.00))
    first.admin.set_clock(ny(6, 18))
    first.stop()

    second = start_exchange()                      # same state file: resumes Tuesday evening
    trading = second.trading()
    group = nested(trading, placed.id)
    assert (group.status, [(g.id, g.status) for g in group.legs]) == (
        OrderStatus.NEW, [(placed.legs[0].id, OrderStatus.HELD)])
    assert trading.get_open_position("AAPL").qty_available == "0"
    second.admin.set_clock(ny(9, 16))
    group = nested(trading, placed.id)
    assert (group.status, group.legs[0].status, group.legs[0].filled_avg_price) == (
        OrderStatus.CANCELED, OrderStatus.FILLED, "153")


def test_an_oco_ended_by_its_stop_reads_so_after_a_restart(start_exchange) -> None:
    """The filled leg is written to the state file, not only the parent canceled by it."""
    first = start_exchange()
    trading = holding(first)
    placed = trading.submit_order(oco(156.00, 153.00))
    first.admin.set_clock(ny(9, 16))               # the stop is reached on the 9th
    assert nested(trading, placed.id).legs[0].status == OrderStatus.FILLED
    first.stop()

    second = start_exchange()
    group = nested(second.trading(), placed.id)
    assert (group.status, group.legs[0].status, group.legs[0].filled_avg_price) == (
        OrderStatus.CANCELED, OrderStatus.FILLED, "153")


def test_a_state_file_from_before_oco_orders_reads_its_orders_as_simple(tmp_path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id TEXT PRIMARY KEY, client_order_id TEXT, symbol TEXT, side TEXT, "
                     "type TEXT, time_in_force TEXT, qty TEXT, limit_price TEXT, reserve_price TEXT, status TEXT, "
                     "filled_qty TEXT, filled_avg_price TEXT, created_at TEXT, updated_at TEXT, submitted_at TEXT, "
                     "live_from TEXT, seq INTEGER, stop_price TEXT)")
        at = ny(5, 10).astimezone(UTC).isoformat()
        conn.execute("INSERT INTO orders VALUES ('o1', 'c1', 'AAPL', 'sell', 'stop', 'gtc', '5', NULL, '150', 'new',"
                     " '0', NULL, ?, ?, ?, ?, 1, '150')", (at, at, at, at))
    store = Store(path)
    try:
        (order,) = store.load().orders
        assert (order.order_class, order.parent_id, order.is_oco, order.is_leg) == ("", None, False, False)
    finally:
        store.close()


# -- injected faults -----------------------------------------------------------------


def test_a_rejected_oco_rejects_the_parent_and_cancels_the_leg(exchange) -> None:
    trading = holding(exchange)
    exchange.admin.set_faults(reject_rate=1.0)
    placed = trading.submit_order(oco(154.40, 153.50))
    group = nested(trading, placed.id)
    assert (group.status, group.legs[0].status) == (OrderStatus.REJECTED, OrderStatus.CANCELED)
    assert trading.get_open_position("AAPL").qty_available == "10"


def test_a_fill_delay_holds_back_both_levels(exchange) -> None:
    trading = holding(exchange)
    # 4 hours: the OCO meets the market at 13:30, after the 154.40 target (10:41) and
    # on the way down to the 153.46 low: the stop is what the path reaches first.
    exchange.admin.set_faults(fill_delay=4 * 3600)
    placed = trading.submit_order(oco(154.40, 153.50))
    exchange.admin.set_clock(ny(5, 16))
    group = nested(trading, placed.id)
    assert (group.status, group.legs[0].status, group.legs[0].filled_avg_price) == (
        OrderStatus.CANCELED, OrderStatus.FILLED, "153.5")
