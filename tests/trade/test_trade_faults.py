"""Broker faults end in known states with no order duplicated at the exchange.

Each fault is injected by the stand-in exchange where the real vendor would produce it
(docs/exchange.md, fault injection) and met by the real alpaca-py client: a 5xx that
was not carried out, one that was (the answer lost at a gateway), alpaca-py's own
re-POST after a 504, a request that hangs, an order accepted whose answer never comes,
fills that arrive late or never, rejections, lookups that fail too. What is checked
after each: the order's known state in the store against the exchange's
(``assert_books_agree``), and what the client really sent (the exchange's request log).
"""

from __future__ import annotations

import pytest
from trade_desk import DAY, assert_books_agree, picks

from kobe.broker.exchange import FaultRule
from kobe.data.bars import read_bars
from kobe.oms.orders import OrderStatus
from kobe.trade.cycle import run_cycle

S = OrderStatus
SUBMIT = {"method": "POST", "path": "^/v2/orders$"}
SHORT = 0.3   # the client timeout where a test provokes one


def cycle(desk, *symbols: str):
    trader = desk.trader()
    return trader, run_cycle(trader, read_bars(), picks(*symbols))


def test_a_503_not_carried_out_is_looked_up_then_sent_again_under_the_same_id(desk) -> None:
    desk.admin.set_faults(rules=[FaultRule("status", **SUBMIT, status=503, count=1)])
    trader, report = cycle(desk, "MSFT")
    (order,) = report.entries
    assert order.status is S.FILLED
    assert [r["status"] for r in desk.posts()] == [503, 200]
    lookups = [r for r in desk.admin.requests() if r["path"] == "/v2/orders:by_client_order_id"]
    assert [r["status"] for r in lookups][:1] == [404]          # looked up before the re-send
    assert [t for _, t in trader.store.transitions(order.client_order_id)] == \
        ["new", "unknown", "new", "submitted", "filled"]
    assert_books_agree(desk, trader.store)


def test_a_500_after_the_order_was_placed_is_found_by_its_id_not_resent(desk) -> None:
    desk.admin.set_faults(rules=[FaultRule("after", **SUBMIT, status=500, count=1)])
    trader, report = cycle(desk, "MSFT", "KO")
    assert [o.status for o in report.entries] == [S.FILLED, S.FILLED]
    assert [r["status"] for r in desk.posts()] == [500, 200]     # the second is KO's, not a re-send
    assert_books_agree(desk, trader.store)


def test_alpacas_own_repost_after_a_504_meets_422_duplicate_and_is_looked_up(desk) -> None:
    desk.admin.set_faults(rules=[FaultRule("after", **SUBMIT, status=504, count=1)])
    trader, report = cycle(desk, "MSFT")
    assert report.entries[0].status is S.FILLED
    assert [r["status"] for r in desk.posts()] == [504, 422]     # alpaca-py re-POSTed by itself
    assert "already sent" in " ".join(str(e) for e in trader.store.db["transitions"].rows)
    assert_books_agree(desk, trader.store)


def test_a_request_that_hangs_times_out_is_looked_up_and_sent_again(desk) -> None:
    desk.timeout = SHORT
    desk.admin.set_faults(rules=[FaultRule("hang", **SUBMIT, count=1)])
    trader, report = cycle(desk, "MSFT")
    assert report.entries[0].status is S.FILLED
    assert [r["status"] for r in desk.posts()] == [None, 200]
    assert len(desk.exchange_orders()) == 1
    assert_books_agree(desk, trader.store)


def test_an_order_accepted_but_its_answer_dropped_is_found_and_never_resent(desk) -> None:
    desk.timeout = SHORT
    desk.admin.set_faults(rules=[FaultRule("drop", **SUBMIT, count=2)])
    trader, report = cycle(desk, "MSFT", "KO")
    assert [o.status for o in report.entries] == [S.FILLED, S.FILLED]
    assert [r["status"] for r in desk.posts()] == [None, None]   # both placed, neither answered
    assert_books_agree(desk, trader.store)


def test_a_delayed_fill_is_waited_for_with_backoff(open_desk) -> None:
    desk = open_desk()
    desk.admin.set_faults(fill_delay=3.0)                         # exchange seconds
    trader, report = cycle(desk, "MSFT")
    (order,) = report.entries
    assert order.status is S.FILLED
    assert [t for _, t in trader.store.transitions(order.client_order_id)] == ["new", "submitted", "filled"]
    polls = [r for r in desk.admin.requests() if r["method"] == "GET" and r["path"].startswith("/v2/orders/")]
    assert len(polls) >= 2                                        # seen working, then filled
    assert_books_agree(desk, trader.store)


def test_an_order_still_working_after_the_wait_is_canceled_and_ends_known(open_desk) -> None:
    desk = open_desk()
    desk.admin.set_faults(fill_delay=3600.0)
    trader, report = cycle(desk, "MSFT")
    (order,) = report.entries
    assert order.status is S.CANCELED and order.filled_qty == 0
    assert any(r["method"] == "DELETE" for r in desk.admin.requests())
    assert trader.store.spent(DAY) == 0
    assert_books_agree(desk, trader.store)


def test_a_rejected_order_ends_rejected(desk) -> None:
    desk.admin.set_faults(reject_rate=1.0)
    trader, report = cycle(desk, "MSFT")
    assert report.entries[0].status is S.REJECTED
    assert_books_agree(desk, trader.store)


def test_a_refusal_is_rejected_and_never_retried(open_desk) -> None:
    desk = open_desk(cash=100)                                     # $100: a $300 buy is refused (403)
    trader, report = cycle(desk, "MSFT")
    (order,) = report.entries
    assert order.status is S.REJECTED and "insufficient buying power" in order.reason
    assert [r["status"] for r in desk.posts()] == [403]
    assert trader.store.spent(DAY) == 0
    assert_books_agree(desk, trader.store)


def test_an_outcome_that_cannot_be_learned_stays_unknown_counts_in_full_and_is_resolved_later(desk) -> None:
    desk.timeout = SHORT
    desk.admin.set_faults(rules=[FaultRule("drop", **SUBMIT, count=1),
                                 FaultRule("status", method="GET", path="^/v2/orders", status=503)])
    trader, report = cycle(desk, "MSFT")
    (order,) = report.entries
    assert order.status is S.UNKNOWN
    assert trader.store.spent(DAY) == pytest.approx(order.qty * order.limit_price)   # counted in full
    desk.admin.clear_faults()
    assert len(desk.exchange_orders()) == 1                     # it was placed: the answer was dropped
    trader, later = cycle(desk, "MSFT")                          # the next cycle recovers it first
    assert [o.status for o in later.recovered] == [S.FILLED] and later.entries == []
    assert len(desk.posts()) == 1
    assert_books_agree(desk, trader.store)


def test_no_quote_means_no_order(desk) -> None:
    desk.admin.set_faults(rules=[FaultRule("status", method="GET", path="^/v2/stocks/quotes", status=503)])
    trader, report = cycle(desk, "MSFT")
    assert report.entries == [] and "no quote" in report.skipped[0][2]
    assert desk.posts() == [] and trader.store.orders() == []


@pytest.mark.parametrize("seed", range(4))
def test_a_storm_of_random_faults_leaves_no_duplicate_and_every_order_known(open_desk, seed: int) -> None:
    desk = open_desk(project={"per_order": 100, "amount": 100})
    desk.timeout = SHORT
    desk.admin.set_faults(error_rate=0.15, error_status=503, timeout_rate=0.1, drop_rate=0.25, seed=seed,
                          rules=[FaultRule("after", **SUBMIT, status=504, rate=0.2)])
    symbols = ("MSFT", "KO", "WMT", "ORCL", "PG", "V", "JNJ", "MA")
    trader, _ = cycle(desk, *symbols)
    desk.admin.clear_faults()
    trader, _ = cycle(desk, *symbols)                              # a calm cycle resolves the rest
    assert_books_agree(desk, trader.store)
    assert trader.store.spent(DAY) <= 1000
