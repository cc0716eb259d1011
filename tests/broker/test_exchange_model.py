"""The exchange's pure parts as tables: ticks, quotes, the intraday path, crossings and
the arrival rules of IOC, FOK, market and DAY orders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kobe.broker.exchange.history import Bar
from kobe.broker.exchange.matching import on_arrival
from kobe.broker.exchange.quotes import (
    Quote,
    QuoteModel,
    first_crossing,
    mid_at,
    on_tick,
    tick,
)
from kobe.broker.exchange.records import Order

UTC = dt.UTC
OPEN = dt.datetime(2017, 6, 5, 13, 30, tzinfo=UTC)
CLOSE = dt.datetime(2017, 6, 5, 20, 0, tzinfo=UTC)
THIRD = (CLOSE - OPEN) / 3
UP = Bar("UP", dt.date(2017, 6, 5), 10.0, 12.0, 9.0, 11.0, 1_000_000)
DOWN = Bar("DN", dt.date(2017, 6, 5), 11.0, 12.0, 9.0, 10.0, 1_000_000)


@pytest.mark.parametrize(("price", "valid"), [
    ("154.42", True), ("154.425", False), ("1.00", True), ("1.001", False),
    ("0.9999", True), ("0.99995", False), ("0.5", True),
])
def test_limit_prices_must_sit_on_the_tick(price: str, valid: bool) -> None:
    assert on_tick(Decimal(price)) is valid


def test_tick_is_a_cent_from_one_dollar_up() -> None:
    assert (tick(Decimal(1)), tick(Decimal("0.99"))) == (Decimal("0.01"), Decimal("0.0001"))


@pytest.mark.parametrize(("mid", "spread_bps", "bid", "ask"), [
    (154.34, 10, "154.26", "154.42"),
    (100.0, 10, "99.95", "100.05"),
    (100.0, 0, "100.00", "100.01"),      # no spread asked: still one tick apart
    (0.5, 10, "0.4997", "0.5003"),       # sub-dollar ticks
], ids=["aapl", "round", "zero-spread", "sub-dollar"])
def test_quote_rounds_outwards_to_the_tick(mid, spread_bps, bid, ask) -> None:
    quote = QuoteModel(spread_bps=spread_bps).quote("X", mid, 25_331_662, OPEN)
    assert (quote.bid, quote.ask) == (Decimal(bid), Decimal(ask))
    assert quote.bid_size == quote.ask_size == 253


@pytest.mark.parametrize(("bar", "vertices"), [(UP, [10.0, 9.0, 12.0, 11.0]), (DOWN, [11.0, 12.0, 9.0, 10.0])],
                         ids=["closed-up: open-low-high-close", "closed-down: open-high-low-close"])
def test_the_path_visits_the_bar_in_order(bar, vertices) -> None:
    assert [mid_at(bar, OPEN, CLOSE, OPEN + k * THIRD) for k in range(4)] == vertices
    assert mid_at(bar, OPEN, CLOSE, OPEN - dt.timedelta(hours=1)) == bar.open
    assert mid_at(bar, OPEN, CLOSE, CLOSE + dt.timedelta(hours=1)) == bar.close
    assert mid_at(bar, OPEN, CLOSE, OPEN + THIRD / 2) == pytest.approx((vertices[0] + vertices[1]) / 2)


@settings(max_examples=200, deadline=None)
@given(o=st.floats(1, 100), c=st.floats(1, 100), up=st.floats(0, 10), down=st.floats(0, 0.99),
       seconds=st.integers(0, 23400))
def test_the_path_never_leaves_the_bar(o, c, up, down, seconds) -> None:
    high, low = max(o, c) + up, min(o, c) * (1 - down)
    bar = Bar("X", dt.date(2017, 6, 5), o, high, low, c, 1.0)
    mid = mid_at(bar, OPEN, CLOSE, OPEN + dt.timedelta(seconds=seconds))
    assert low - 1e-9 <= mid <= high + 1e-9


@settings(max_examples=200, deadline=None)
@given(level=st.floats(8.5, 12.5), start=st.integers(0, 23400), length=st.integers(0, 23400))
def test_the_first_crossing_is_the_first_instant_at_the_level(level, start, length) -> None:
    a = OPEN + dt.timedelta(seconds=start)
    b = min(CLOSE, a + dt.timedelta(seconds=length))
    hit = first_crossing(UP, OPEN, CLOSE, a, b, level, downward=True)
    grid = [a + (b - a) * (k / 400) for k in range(401)] if b > a else [a]
    touched = [t for t in grid if mid_at(UP, OPEN, CLOSE, t) <= level]
    if hit is None:
        assert not touched
    else:
        assert a <= hit <= b
        assert mid_at(UP, OPEN, CLOSE, hit) <= level + 1e-6
        assert not touched or hit <= touched[0]


def order(tif: str, qty: int, kind: str = "limit", limit: str | None = "100.05", side: str = "buy") -> Order:
    return Order("id", "cid", "X", side, kind, tif, Decimal(qty), Decimal(limit) if limit else None, Decimal(0),
                 "new", Decimal(0), None, OPEN, OPEN, OPEN, OPEN, 1)


QUOTE = Quote("X", Decimal("99.95"), Decimal("100.05"), 100, 100, OPEN)


@pytest.mark.parametrize(("the_order", "filled", "final"), [
    (order("ioc", 50), 50, "filled"),
    (order("ioc", 150), 100, "canceled"),                       # partial: the rest is canceled
    (order("ioc", 50, limit="100.04"), None, "canceled"),       # not marketable: nothing, canceled
    (order("fok", 150), None, "canceled"),
    (order("fok", 100), 100, "filled"),
    (order("day", 150, kind="market", limit=None), 150, "filled"),   # market: in full at the touch
    (order("day", 150), 100, None),                             # DAY: the rest keeps working
    (order("gtc", 50, limit="100.00"), None, None),
    (order("ioc", 50, limit="99.95", side="sell"), 50, "filled"),
    (order("ioc", 50, limit="99.96", side="sell"), None, "canceled"),
], ids=["ioc-full", "ioc-partial", "ioc-none", "fok-short", "fok-full", "market", "day-partial", "gtc-rests",
        "sell-at-bid", "sell-above-bid"])
def test_arrival(the_order, filled, final) -> None:
    execution, status = on_arrival(the_order, QUOTE)
    assert (execution.qty if execution else None) == filled
    assert status == final
    if execution:
        assert execution.price == (QUOTE.ask if the_order.side == "buy" else QUOTE.bid)


@pytest.mark.parametrize(("tif", "final"), [("ioc", "canceled"), ("fok", "canceled"), ("day", None)])
def test_no_quote_means_no_trade(tif, final) -> None:
    assert on_arrival(order(tif, 10), None) == (None, final)
