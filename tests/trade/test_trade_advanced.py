"""risk.yaml's advanced limits in the trading cycle, against the in-process exchange: the
correlation and VaR gates block entries (gate.blocked events, nothing sent), and the
Kelly cap shrinks an entry's budget once the strategy has enough closed trades.

The numbers come from the embedded bars before 2017-06-05 (60 sessions): MSFT's daily
returns correlate 0.53 with MA's and 0.06 with KO's. At 99% over one day, the VaR of
$288 of MSFT is about $6.5, of $275 of KO about $4.9, and of both together about $9.7.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from trade_desk import DAY, picks

from kobe.data.bars import read_bars
from kobe.oms.orders import OrderRecord, OrderStatus, client_order_id
from kobe.oms.store import OrderStore
from kobe.trade.cycle import run_cycle

LAST_RISK_LINE = "  multiplier: 1.001"


def with_advanced(block: str) -> dict[str, object]:
    """The desk's project settings with ``block`` as risk.yaml's advanced: section."""
    return {"risk_edits": {LAST_RISK_LINE: f"{LAST_RISK_LINE}\nadvanced:\n{block}"}}


def blocked(root: Path) -> list[tuple[str, str, str]]:
    lines = (root / "logs" / "events.jsonl").read_text().splitlines()
    return [(e["symbol"], e["gate"], e["reason"]) for e in map(json.loads, lines) if e["kind"] == "gate.blocked"]


def entered(report) -> dict[str, int]:
    return {o.symbol: o.qty for o in report.entries}


def test_the_correlation_limit_blocks_a_twin_of_a_holding(open_desk) -> None:
    desk = open_desk(project=with_advanced("  correlation:\n    max: 0.5\n    lookback_days: 60\n"))
    report = run_cycle(desk.trader(), read_bars(), picks("MSFT", "MA", "KO"))
    # MSFT filled first; MA (r = 0.53 with it) is blocked before its quote is asked; KO is not.
    assert set(entered(report)) == {"MSFT", "KO"}
    assert all(o.filled_qty > 0 for o in report.entries)
    [(symbol, gate, reason)] = blocked(desk.root)
    assert (symbol, gate) == ("MA", "correlation") and "moves with MSFT (r = 0.53" in reason
    assert {o.symbol for o in desk.exchange_orders()} == {"MSFT", "KO"}


def test_without_the_section_the_same_picks_all_enter(desk) -> None:
    report = run_cycle(desk.trader(), read_bars(), picks("MSFT", "MA", "KO"))
    assert set(entered(report)) == {"MSFT", "MA", "KO"} and blocked(desk.root) == []


def test_the_var_limit_counts_the_book_held(open_desk) -> None:
    # $8: MSFT alone ($6.5) passes; KO alone ($4.9) would, but not on top of MSFT ($9.7).
    desk = open_desk(project=with_advanced("  var:\n    max_usd: 8\n    confidence: 0.99\n"))
    report = run_cycle(desk.trader(), read_bars(), picks("MSFT", "KO"))
    assert entered(report) == {"MSFT": 4}
    [(symbol, gate, reason)] = blocked(desk.root)
    assert (symbol, gate) == ("KO", "var")
    assert reason.startswith("99% 1-day VaR of the book with KO would be $9.") and reason.endswith("above $8.00")
    assert [o.symbol for o in desk.exchange_orders()] == ["MSFT"]


def test_a_var_limit_below_any_position_blocks_every_entry(open_desk) -> None:
    desk = open_desk(project=with_advanced("  var:\n    max_usd: 1\n    method: historical\n"))
    report = run_cycle(desk.trader(), read_bars(), picks("MSFT", "KO"))
    assert report.entries == [] and desk.posts() == []
    assert [(s, g) for s, g, _ in blocked(desk.root)] == [("MSFT", "var"), ("KO", "var")]


def seed_closed_trades(root: Path, wins: int, losses: int) -> None:
    """``wins`` trades of +2% then ``losses`` of -2% by donchian_breakout in May 2017:
    one share of XOM bought at $80 and sold the next day, as the executor records them."""
    store = OrderStore(root / "state" / "orders.sqlite")
    day = dt.date(2017, 5, 1)
    for n in range(wins + losses):
        exit_price = 81.6 if n < wins else 78.4
        for side, price, hour in (("buy", 80.0, 14), ("sell", exit_price, 15)):
            cid = client_order_id("donchian_breakout", "XOM", day + dt.timedelta(days=n), side)
            order = OrderRecord(cid, "donchian_breakout", "XOM", side, 1, price, day + dt.timedelta(days=n),
                                OrderStatus.FILLED, filled_qty=1, filled_avg_price=price)
            store.add(order)
            store.add_fill(f"{cid}:1", order, 1, price, at=f"2017-05-{n + 1:02d}T{hour}:00:00+00:00")


# fraction 0.01 of full Kelly 0.6 - 0.4 / 1 = 0.2, of the exchange's $100,000 equity: $200.
KELLY = "  kelly:\n    fraction: 0.01\n    cap_pct: 10\n    min_trades: 20\n"


def test_kelly_caps_the_budget_once_there_are_enough_closed_trades(open_desk) -> None:
    desk = open_desk(project=with_advanced(KELLY))
    seed_closed_trades(desk.root, wins=12, losses=8)
    report = run_cycle(desk.trader(), read_bars(), picks("MSFT"))
    assert entered(report) == {"MSFT": 2}                  # floor($200 / $72.04); $300 would buy 4
    assert report.entries[0].qty * report.entries[0].limit_price <= 200


def test_kelly_is_not_applied_with_too_few_closed_trades(open_desk) -> None:
    desk = open_desk(project=with_advanced(KELLY))
    seed_closed_trades(desk.root, wins=11, losses=8)
    report = run_cycle(desk.trader(), read_bars(), picks("MSFT"))
    assert entered(report) == {"MSFT": 4}                  # the $300 per-order budget


def test_kelly_sends_nothing_for_a_strategy_without_an_edge(open_desk) -> None:
    desk = open_desk(project=with_advanced(KELLY))
    seed_closed_trades(desk.root, wins=8, losses=12)       # 0.4 - 0.6 / 1 < 0
    report = run_cycle(desk.trader(), read_bars(), picks("MSFT"))
    assert report.entries == [] and desk.posts() == []
    [(_, symbol, why)] = report.skipped
    assert symbol == "MSFT" and why.endswith("within the sizing and the budget $0.00 (the Kelly cap)")
    assert report.trading_date == DAY
