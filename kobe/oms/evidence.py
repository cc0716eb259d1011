"""Whether a missing order store was there before: a deleted store is damage, not a fresh start.

A store is created where there is none, and a project's first ``kobe trade`` relies on
that. But a store deleted after trading would be created again empty, and the holdings
would vanish from the book (time stops, position limits and the budget then judged on
nothing). So before a store is created, what it leaves behind is looked at, in the
project's layout (the store at ``state/orders.sqlite``, the runner's heartbeat beside
it, the audit trail in ``logs/`` beside ``state/``):

- the **audit trail** (``hash_chain.jsonl``, ``events.jsonl``, ``trades.jsonl``, each
  read line by line, a damaged line skipped): a record of an order (its decision, a
  state, a fill), an adjustment booked by ``kobe reconcile --adopt``, or a rebuilt
  store means the store held something;
- the **heartbeat**: an audit record it anchors beyond the last one the trail still has
  means the logs were cut or deleted too, so the trail can no longer say the store was
  empty.

Either is the missing store's damage (:meth:`kobe.oms.store.OrderStore`), remedied by
``kobe reconcile --rebuild``. A project whose trail has no order (a kill switch set
before the first trade, a cycle that decided nothing) still starts its store afresh.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kobe.audit.log import CHAIN, EVENTS, TRADES
from kobe.oms.orders import OrderStatus
from kobe.runner.heartbeat import HEARTBEAT_NAME, HeartbeatUnreadable, load_heartbeat

LOGS = "logs"
"""The audit trail's folder, beside the store's (``kobe.trade.cycle.LOGS``)."""
ORDER_KINDS = frozenset({"order.decided", "fill", "store.rebuilt", *(f"order.{s.value}" for s in OrderStatus)})


def _is_order(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    kind = data.get("kind")
    return kind in ORDER_KINDS or (kind == "reconcile.adopted" and isinstance(data.get("fill"), dict))


def _lines(path: Path) -> list[Any]:
    """The JSON value of each line of ``path`` that is one; nothing when it cannot be read."""
    try:
        raw = path.read_bytes()
    except OSError:
        return []
    out = []
    for line in raw.splitlines():
        try:
            out.append(json.loads(line))
        except (ValueError, RecursionError):
            continue
    return out


def trail_of(logs: Path) -> tuple[set[int], set[object]]:
    """The ``seq`` of every record the trail in ``logs`` still has, and those of the
    records of orders (module doc; a line without a ``seq`` by its file and line), from
    the chain and the two readable logs, which hold the same records."""
    seen: set[int] = set()
    orders: set[object] = set()
    for name in (CHAIN, EVENTS, TRADES):
        for n, value in enumerate(_lines(logs / name), start=1):
            if not isinstance(value, dict):
                continue
            seq = value.get("seq")
            key: object = (name, n)
            if isinstance(seq, int) and not isinstance(seq, bool):
                seen.add(seq)
                key = seq
            if _is_order(value.get("data") if name == CHAIN else value):
                orders.add(key)
    return seen, orders


def prior_use(path: Path) -> str | None:
    """Why a store must have been at ``path`` (the end of a sentence starting "the order
    store is missing but"), or None when nothing says so (module doc)."""
    logs = path.parent.parent / LOGS
    seen, orders = trail_of(logs)
    if orders:
        return (f"the audit trail ({logs}) has {len(orders)} record(s) of its orders: it was deleted or moved, "
                "and a new empty store would lose the holdings")
    beat_path = path.parent / HEARTBEAT_NAME
    try:
        beat = load_heartbeat(beat_path)
    except HeartbeatUnreadable:
        beat = None                # it anchors nothing; `kobe audit verify` says why
    if beat is not None and beat.audit_seq is not None and beat.audit_seq > max(seen, default=0):
        have = f"has records up to {max(seen)}" if seen else "has none"
        return (f"the heartbeat ({beat_path}) anchors audit record {beat.audit_seq} and the trail ({logs}) {have}: "
                "the logs were cut or deleted with the store, so they cannot show it was empty")
    return None
