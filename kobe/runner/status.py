"""``kobe status``: what a project's runner is doing, read from its files alone.

No runner needs to be running, no broker is asked and nothing is written (not even an
empty order store where there is none): the heartbeat
(``state/heartbeat.json``) says whether the runner lives and what it did last, the order
store (``state/orders.sqlite``) gives the positions, today's spend and the last orders,
the audit trail and the last shadow and drift reports give the metrics, and the kill
switch is found without loading the config (:meth:`KillSwitch.of_project`), so the
status shows even when the config is broken.

The trading date is that of the newest order (the day the runner last traded, also in a
replay of past sessions), else today's at ``now``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kobe.audit.log import EVENTS
from kobe.data import calendar
from kobe.monitor.metrics import trading_metrics
from kobe.monitor.session import monitor_status
from kobe.oms.orders import OrderRecord
from kobe.oms.store import OrderStore, Position
from kobe.risk.killswitch import KillSwitch
from kobe.runner.heartbeat import Heartbeat, read_heartbeat
from kobe.runner.run import HEARTBEAT_FILE
from kobe.trade.cycle import LOGS, ORDERS_FILE

LAST_ORDERS = 10


@dataclass(frozen=True)
class StatusReport:
    """The snapshot; :meth:`to_dict` is ``kobe status --json``."""

    heartbeat: Heartbeat | None
    heartbeat_age_seconds: int | None
    running: bool                        # a heartbeat of a running runner, and fresh
    kill_switch: dict[str, Any]          # who set it, when and why; {} when off
    trading_date: dt.date
    spent_usd: float                     # committed by buy orders on trading_date
    metrics: dict[str, Any]              # those of /metrics (kobe.monitor.metrics.trading_metrics)
    positions: list[Position]            # open ones only
    last_orders: list[OrderRecord]       # the newest LAST_ORDERS, oldest first
    shadow: dict[str, Any] | None        # the last shadow report's summary (kobe.monitor.session.monitor_status)
    drift: dict[str, Any] | None         # the last drift verdicts

    def to_dict(self) -> dict[str, Any]:
        return {
            "heartbeat": self.heartbeat.__dict__ if self.heartbeat else None,
            "heartbeat_age_seconds": self.heartbeat_age_seconds,
            "running": self.running, "kill_switch": self.kill_switch,
            "trading_date": self.trading_date.isoformat(), "spent_usd": self.spent_usd, "metrics": self.metrics,
            "positions": [p.__dict__ for p in self.positions],
            "last_orders": [{"client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side, "qty": o.qty,
                             "status": o.status.value, "filled_qty": o.filled_qty} for o in self.last_orders],
            "shadow": self.shadow, "drift": self.drift,
        }


def snapshot(root: Path, risk_path: Path | None, now: dt.datetime) -> StatusReport:
    """The status of the project in folder ``root`` (that of strategies.yaml) at ``now``
    (aware); ``risk_path``: its risk.yaml (default ``root/risk.yaml``), read only for the
    kill switch's file."""
    beat = read_heartbeat(root / HEARTBEAT_FILE)
    # Only looked at: a project without a store shows an empty book and is left without one
    # (a store deleted after trading is damage, raised: see OrderStore.existing).
    store = OrderStore.existing(root / ORDERS_FILE) or OrderStore.empty()
    orders = store.orders()
    day = orders[-1].trading_date if orders else calendar.trading_date(now)
    checks = monitor_status(root)
    return StatusReport(
        heartbeat=beat,
        heartbeat_age_seconds=round(beat.age(now).total_seconds()) if beat else None,
        running=bool(beat and not beat.stale(now)),
        kill_switch=KillSwitch.of_project(root, risk_path).info(),
        trading_date=day,
        spent_usd=store.spent(day),
        metrics=trading_metrics(store, root / LOGS / EVENTS, day, **checks),
        positions=[p for p in store.positions().values() if p.qty],
        last_orders=orders[-LAST_ORDERS:],
        shadow=checks["shadow"],
        drift=checks["drift"],
    )
