"""The trading figures of ``/metrics`` and ``kobe status``, computed from the record.

Everything comes from the order store (orders, fills, positions) and the audit events
(what the gates blocked), never from counters kept in memory, so the figures survive a
restart and agree with ``kobe orders`` and ``kobe audit verify``. The figures of the
after-session checks come from their last reports (``logs/shadow``, ``logs/drift``;
:func:`kobe.monitor.session.monitor_status`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kobe.audit.log import read_events
from kobe.oms.orders import OrderStatus
from kobe.oms.store import OrderStore
from kobe.risk.ledger import Ledger


def _blocked_today(events: Path, today: dt.date) -> dict[str, int]:
    counts = {"liquidity": 0, "policy": 0}
    for event in read_events(events):
        if event.get("kind") == "gate.blocked" and str(event.get("trading_date")) == today.isoformat():
            gate = event.get("gate")
            if gate in counts:
                counts[gate] += 1
    return counts


def _round_trips(store: OrderStore) -> tuple[int, int, float | None]:
    """Wins and losses of closing fills against the average cost (longs and shorts, by
    :class:`kobe.risk.ledger.Ledger`), and the last fill time."""
    wins = losses = 0
    last: str | None = None
    for fill, shut, _ in Ledger().walk(store.fills()):
        last = str(fill["at"])
        if shut is not None:
            wins += shut.pnl > 0
            losses += shut.pnl < 0
    stamp = dt.datetime.fromisoformat(last).timestamp() if last else None
    return wins, losses, stamp


def check_metrics(shadow: Mapping[str, Any] | None, drift: Mapping[str, Any] | None) -> dict[str, Any]:
    """The figures of the last shadow report and drift check (``None`` before the first):
    entries the backtest expected that were not sent, IOCs sent that filled nothing,
    orders sent that it did not expect, the mean slippage of the fills against the
    backtest's (bps, positive is worse), and the strategies whose drift is in alarm."""
    counts = (shadow or {}).get("counts") or {}
    strategies = (drift or {}).get("strategies")
    return {
        "shadow_not_sent": counts.get("not_sent"),
        "shadow_missed": counts.get("missed"),
        "shadow_unexpected": counts.get("unexpected"),
        "shadow_slippage_bps": counts.get("slippage_bps"),
        "drift_alarms": sum(1 for v in strategies.values() if v.get("alarm")) if strategies is not None else None,
    }


def trading_metrics(store: OrderStore, events: Path, today: dt.date,
                    marks: Mapping[str, float] | None = None, shadow: Mapping[str, Any] | None = None,
                    drift: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The figures of ``/metrics`` for ``today`` (America/New_York trading date), with
    those of the last ``shadow`` report and ``drift`` check (:func:`check_metrics`)."""
    orders = store.orders(today)
    sent = [o for o in orders if o.status is not OrderStatus.NEW]
    blocked = _blocked_today(events, today)
    positions = store.positions()
    marks = marks or {}
    unrealized = sum(p.qty * (marks[s] - p.avg_cost) for s, p in positions.items() if s in marks and p.qty)
    wins, losses, last_fill = _round_trips(store)
    return {
        "ioc_submitted": len(sent),
        "ioc_filled": sum(1 for o in sent if o.filled_qty > 0),
        "ioc_cancelled": sum(1 for o in sent if o.status is OrderStatus.CANCELED and o.filled_qty == 0),
        "liquidity_blocked": blocked["liquidity"],
        "policy_blocked": blocked["policy"],
        "pnl_realized_usd": round(sum(p.realized_pnl for p in positions.values()), 2),
        "pnl_unrealized_usd": round(unrealized, 2),
        "win_count": wins,
        "loss_count": losses,
        "win_rate": wins / (wins + losses) if wins + losses else None,
        "last_trade_timestamp_seconds": last_fill,
        **check_metrics(shadow, drift),
    }
