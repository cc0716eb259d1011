"""Orders through alpaca-py's real TradingClient: IOC fills (full, partial, none), FOK,
market and DAY/GTC limit orders along the day's price path, the vendor's rules, cancels,
listings, positions and the account.

The numbers come from the embedded bars. AAPL on 2017-06-05: open 154.34, high 154.45,
low 153.46, close 153.93, volume 25,331,662; it closed down, so the path runs open ->
high (11:40) -> low (13:50) -> close (16:00). At the open the mid is 154.34, the ask
154.42, the bid 154.26, and each side shows floor(25,331,662 * 1e-5) = 253 shares.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import polars as pl
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import (
    OrderSide,
    OrderStatus,
    OrderType,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
)

from kobe.data.bars import read_bars
from kobe.data.calendar import NEW_YORK, session_open_close

UTC = dt.UTC
ASK, BID, SIZE = Decimal("154.42"), Decimal("154.26"), 253
START_CASH = Decimal(100000)


def limit(qty, price, tif=TimeInForce.IOC, side=OrderSide.BUY, symbol="AAPL", cid=None) -> LimitOrderRequest:
    return LimitOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=tif, limit_price=price,
                             client_order_id=cid)


def ny(hour: int, minute: int = 0, day: dt.date = dt.date(2017, 6, 5)) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), NEW_YORK)


def test_the_quote_at_the_open_is_the_documented_one(exchange, ask_bid) -> None:
    assert ask_bid(154.34) == (ASK, BID)
    assert SIZE == int(25331662 * 1e-5)


def test_ioc_buy_fills_in_full_at_the_ask_on_the_next_read(exchange) -> None:
    trading = exchange.trading()
    placed = trading.submit_order(limit(5, 154.42, cid="ioc-full"))
    # Fills arrive asynchronously at the vendor: the POST answers before the trade.
    assert placed.status in (OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PENDING_NEW)
    assert Decimal(placed.filled_qty) == 0
    order = trading.get_order_by_id(placed.id)
    assert order.status == OrderStatus.FILLED
    assert (Decimal(order.filled_qty), Decimal(order.filled_avg_price)) == (5, ASK)
    assert order.filled_at == ny(9, 30).astimezone(UTC)
    position = trading.get_open_position("AAPL")
    assert (Decimal(position.qty), Decimal(position.avg_entry_price)) == (5, ASK)
    assert Decimal(trading.get_account().cash) == START_CASH - 5 * ASK


@pytest.mark.parametrize("limit_price", [154.42, 155.00], ids=["at-the-ask", "through-the-ask"])
def test_ioc_larger_than_the_displayed_size_ends_canceled_with_a_partial_fill(exchange, limit_price) -> None:
    trading = exchange.trading()
    trading.submit_order(limit(300, limit_price, cid="ioc-partial"))
    order = trading.get_order_by_client_id("ioc-partial")
    assert order.status == OrderStatus.CANCELED           # never partially_filled at the end (gotcha 13)
    assert 0 < Decimal(order.filled_qty) < Decimal(order.qty)
    assert Decimal(order.filled_qty) == SIZE
    assert Decimal(order.filled_avg_price) == ASK          # a limit above the ask still trades at the ask
    assert order.canceled_at is not None and order.filled_at is None
    assert Decimal(trading.get_open_position("AAPL").qty) == SIZE


def test_ioc_below_the_ask_is_canceled_with_nothing_filled_not_rejected(exchange) -> None:
    trading = exchange.trading()
    trading.submit_order(limit(5, 154.41, cid="ioc-none"))
    order = trading.get_order_by_client_id("ioc-none")
    assert order.status == OrderStatus.CANCELED
    assert Decimal(order.filled_qty) == 0 and order.filled_avg_price is None
    assert trading.get_all_positions() == []
    assert Decimal(trading.get_account().cash) == START_CASH


def test_ioc_sell_fills_at_the_bid_and_closes_the_position(exchange) -> None:
    trading = exchange.trading()
    trading.submit_order(limit(5, 154.42, cid="buy"))
    trading.get_order_by_client_id("buy")
    trading.submit_order(limit(5, 154.26, side=OrderSide.SELL, cid="sell"))
    sold = trading.get_order_by_client_id("sell")
    assert sold.status == OrderStatus.FILLED and Decimal(sold.filled_avg_price) == BID
    assert trading.get_all_positions() == []
    assert Decimal(trading.get_account().cash) == START_CASH - 5 * ASK + 5 * BID


@pytest.mark.parametrize(("qty", "status", "filled"), [(300, OrderStatus.CANCELED, 0), (200, OrderStatus.FILLED, 200)],
                         ids=["more-than-displayed", "within-displayed"])
def test_fok_fills_in_full_or_not_at_all(exchange, qty, status, filled) -> None:
    trading = exchange.trading()
    trading.submit_order(limit(qty, 154.42, tif=TimeInForce.FOK, cid="fok"))
    order = trading.get_order_by_client_id("fok")
    assert (order.status, Decimal(order.filled_qty)) == (status, filled)


def test_market_order_fills_in_full_at_the_touch(exchange) -> None:
    trading = exchange.trading()
    trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=400, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
                                            client_order_id="mkt"))
    order = trading.get_order_by_client_id("mkt")
    assert order.status == OrderStatus.FILLED and order.order_type == OrderType.MARKET
    assert (Decimal(order.filled_qty), Decimal(order.filled_avg_price)) == (400, ASK)


def test_day_limit_rests_then_fills_at_its_limit_when_the_path_reaches_it(exchange) -> None:
    trading = exchange.trading()
    trading.submit_order(limit(10, 153.60, tif=TimeInForce.DAY, cid="dip"))
    assert trading.get_order_by_client_id("dip").status == OrderStatus.NEW
    exchange.admin.set_clock(ny(12, 0))                    # on the way down from the high: ask still above
    assert trading.get_order_by_client_id("dip").status == OrderStatus.NEW
    exchange.admin.set_clock(ny(15, 0))
    order = trading.get_order_by_client_id("dip")
    assert order.status == OrderStatus.FILLED
    assert Decimal(order.filled_avg_price) == Decimal("153.60")
    # The ask (mid * 1.0005) reaches 153.60 on the straight line from the high (11:40) to
    # the low (13:50).
    level = 153.60 / 1.0005
    crossing = ny(11, 40) + dt.timedelta(minutes=130) * ((154.45 - level) / (154.45 - 153.46))
    assert abs((order.filled_at - crossing).total_seconds()) < 1


def test_marketable_day_limit_takes_the_displayed_size_then_the_rest_once_time_moves(exchange) -> None:
    trading = exchange.trading()
    trading.submit_order(limit(300, 154.42, tif=TimeInForce.DAY, cid="big"))
    order = trading.get_order_by_client_id("big")
    assert order.status == OrderStatus.PARTIALLY_FILLED and Decimal(order.filled_qty) == SIZE
    exchange.admin.advance(1)
    order = trading.get_order_by_client_id("big")
    assert order.status == OrderStatus.FILLED and Decimal(order.filled_qty) == 300


def test_day_order_expires_at_the_close(exchange) -> None:
    trading = exchange.trading()
    trading.submit_order(limit(10, 150.00, tif=TimeInForce.DAY, cid="low-ball"))
    exchange.admin.to_next_close()
    order = trading.get_order_by_client_id("low-ball")
    assert order.status == OrderStatus.EXPIRED
    assert order.expired_at == ny(16, 0).astimezone(UTC)
    assert Decimal(trading.get_account().buying_power) == START_CASH   # nothing held any more


def test_gtc_limit_works_across_days_until_the_first_session_that_reaches_it(exchange) -> None:
    trading = exchange.trading()
    trading.submit_order(limit(10, 150.00, tif=TimeInForce.GTC, cid="gtc"))
    level = 150.00 / 1.0005
    bars = (read_bars(symbols=["AAPL"], start=dt.date(2017, 6, 6)).collect()
            .filter(pl.col("low") <= level).head(1).row(0, named=True))
    hit_day: dt.date = bars["date"]
    previous = (read_bars(symbols=["AAPL"], start=dt.date(2017, 6, 5), end=hit_day - dt.timedelta(days=1))
                .collect()["date"].max())
    exchange.admin.set_clock(session_open_close(previous)[1])
    assert trading.get_order_by_client_id("gtc").status == OrderStatus.NEW
    exchange.admin.set_clock(session_open_close(hit_day)[1])
    order = trading.get_order_by_client_id("gtc")
    assert order.status == OrderStatus.FILLED
    assert order.filled_at.astimezone(NEW_YORK).date() == hit_day
    ask_at_open = (Decimal(repr(bars["open"])) * Decimal("1.0005")).quantize(Decimal("0.01"), rounding="ROUND_CEILING")
    expected = min(Decimal("150.00"), ask_at_open)         # a gap through the limit trades at the touch
    assert Decimal(order.filled_avg_price) == expected


def test_while_closed_ioc_is_refused_and_day_orders_wait_for_the_open(exchange) -> None:
    trading = exchange.trading()
    exchange.admin.set_clock(ny(17, 0))
    with pytest.raises(APIError) as refused:
        trading.submit_order(limit(5, 154.42, cid="late-ioc"))
    assert refused.value.status_code == 422 and "market is closed" in str(refused.value)
    placed = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=10, side=OrderSide.BUY,
                                                     time_in_force=TimeInForce.DAY, client_order_id="overnight"))
    assert placed.status == OrderStatus.ACCEPTED
    assert trading.get_order_by_client_id("overnight").status == OrderStatus.ACCEPTED
    exchange.admin.to_next_open()
    order = trading.get_order_by_client_id("overnight")
    assert order.status == OrderStatus.FILLED
    assert order.filled_at == ny(9, 30, dt.date(2017, 6, 6)).astimezone(UTC)
    assert Decimal(order.filled_avg_price) == Decimal("153.98")        # 153.90 * 1.0005, up to the cent


def test_duplicate_client_order_id_is_422_even_after_a_cancel(exchange) -> None:
    trading = exchange.trading()
    first = trading.submit_order(limit(1, 150.00, tif=TimeInForce.DAY, cid="same-id"))
    trading.cancel_order_by_id(first.id)
    with pytest.raises(APIError) as duplicate:
        trading.submit_order(limit(1, 150.00, tif=TimeInForce.DAY, cid="same-id"))
    assert duplicate.value.status_code == 422
    assert duplicate.value.message == "client_order_id must be unique"


@pytest.mark.parametrize(("request_", "status", "words"), [
    (limit(1000, 154.42), 403, "insufficient buying power"),
    (limit(5, 154.26, side=OrderSide.SELL), 403, "insufficient qty available for order (requested: 5, available: 0)"),
    (limit(5, 10.00, symbol="ZZZZ"), 422, 'asset "ZZZZ" not found'),
    (limit(5, 154.425), 422, "sub-penny increment"),
    (limit(1.5, 154.42), 422, "fractional orders must be DAY orders"),
    (limit(5, 154.42, cid="x" * 49), 422, "client_order_id must be a string of 1 to 48 characters"),
], ids=["buying-power", "nothing-to-sell", "unknown-symbol", "sub-penny", "fractional-ioc", "long-client-id"])
def test_vendor_rules_refuse_orders_with_the_vendors_status(exchange, request_, status, words) -> None:
    trading = exchange.trading()
    with pytest.raises(APIError) as refused:
        trading.submit_order(request_)
    assert refused.value.status_code == status
    assert words in refused.value.message
    assert trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL)) == []


def test_buying_power_body_names_the_power_and_the_cost(exchange) -> None:
    with pytest.raises(APIError) as refused:
        exchange.trading().submit_order(limit(1000, 154.42))
    body = refused.value.response.json()
    assert (body["buying_power"], body["cost_basis"]) == ("100000", "154420")


def test_open_buy_orders_hold_buying_power(exchange) -> None:
    trading = exchange.trading()
    trading.submit_order(limit(500, 150.00, tif=TimeInForce.DAY, cid="holds-75000"))
    assert Decimal(trading.get_account().buying_power) == START_CASH - 75000
    with pytest.raises(APIError) as refused:
        trading.submit_order(limit(200, 154.42, cid="too-much"))          # 30,884 > 25,000 left
    assert refused.value.status_code == 403


def test_cancel_answers_204_then_422_and_unknown_orders_are_404(exchange) -> None:
    trading = exchange.trading()
    resting = trading.submit_order(limit(1, 150.00, tif=TimeInForce.DAY, cid="to-cancel"))
    assert trading.cancel_order_by_id(resting.id) is None
    assert trading.get_order_by_id(resting.id).status == OrderStatus.CANCELED
    assert exchange.requests("/v2/orders/" + str(resting.id))[0]["status"] == 204
    with pytest.raises(APIError) as again:
        trading.cancel_order_by_id(resting.id)
    assert again.value.status_code == 422 and again.value.message == "order is not cancelable"
    for call in (trading.cancel_order_by_id, trading.get_order_by_id):
        with pytest.raises(APIError) as unknown:
            call(uuid.uuid4())
        assert unknown.value.status_code == 404
    with pytest.raises(APIError) as unknown_client_id:
        trading.get_order_by_client_id("never-sent")
    assert unknown_client_id.value.status_code == 404


def test_non_uuid_order_ids_fail_in_the_client_before_any_request(exchange) -> None:
    trading = exchange.trading()
    before = len(exchange.requests())
    with pytest.raises(ValueError):
        trading.get_order_by_id("not-a-uuid")
    assert len(exchange.requests()) == before


def test_listing_orders_by_status_side_symbol_direction_and_limit(exchange) -> None:
    trading = exchange.trading()
    trading.submit_order(limit(1, 154.42, cid="a-filled"))
    trading.submit_order(limit(1, 150.00, tif=TimeInForce.DAY, cid="b-open"))
    trading.submit_order(limit(1, 60.00, tif=TimeInForce.DAY, symbol="MSFT", cid="c-open"))

    def ids(**filters) -> list[str]:
        return [o.client_order_id for o in trading.get_orders(GetOrdersRequest(**filters) if filters else None)]

    assert ids() == ["c-open", "b-open"]                                   # open, newest first by default
    assert ids(status=QueryOrderStatus.CLOSED) == ["a-filled"]
    assert ids(status=QueryOrderStatus.ALL, direction="asc") == ["a-filled", "b-open", "c-open"]
    assert ids(status=QueryOrderStatus.ALL, symbols=["MSFT"]) == ["c-open"]
    assert ids(status=QueryOrderStatus.ALL, side=OrderSide.SELL) == []
    assert ids(status=QueryOrderStatus.ALL, limit=1) == ["c-open"]
    assert ids(status=QueryOrderStatus.ALL, after=ny(9, 31)) == []


def test_positions_by_symbol_and_asset_id_and_closing_returns_the_liquidating_order(exchange) -> None:
    trading = exchange.trading()
    trading.submit_order(limit(10, 154.42, cid="buy-10"))
    held = trading.get_open_position("AAPL")
    assert trading.get_open_position(held.asset_id).symbol == "AAPL"
    closing = trading.close_position("AAPL", ClosePositionRequest(qty="4"))
    assert (closing.side, closing.order_type, Decimal(closing.qty)) == (OrderSide.SELL, OrderType.MARKET, 4)
    assert trading.get_order_by_id(closing.id).status == OrderStatus.FILLED
    assert Decimal(trading.get_open_position("AAPL").qty) == 6
    trading.close_position("AAPL", ClosePositionRequest(percentage="50"))
    assert Decimal(trading.get_open_position("AAPL").qty) == 3
    trading.close_position("AAPL")
    assert trading.get_all_positions() == []
    assert Decimal(trading.get_account().cash) == START_CASH - 10 * ASK + 10 * BID
    for call in (trading.get_open_position, trading.close_position):
        with pytest.raises(APIError) as missing:
            call("AAPL")
        assert (missing.value.status_code, missing.value.message) == (404, "position does not exist")


def test_account_equity_is_cash_plus_the_positions_at_the_current_price(exchange) -> None:
    trading = exchange.trading()
    trading.submit_order(limit(10, 154.42, cid="buy-10"))
    trading.get_order_by_client_id("buy-10")
    exchange.admin.set_clock(ny(11, 40))                   # the path is at the high: mid 154.45
    account, position = trading.get_account(), trading.get_open_position("AAPL")
    assert Decimal(position.current_price) == Decimal("154.45")
    assert Decimal(account.long_market_value) == Decimal("1544.50")
    assert Decimal(account.equity) == Decimal(account.cash) + Decimal("1544.50")
    assert Decimal(position.unrealized_pl) == Decimal("0.30")   # (154.45 - 154.42) * 10
