"""``state/positions.json``: the store's positions as a file other tools can read.

A view, never a source: it is rebuilt from the order store's fills after every cycle
and by ``kobe positions``, and written atomically (:func:`kobe.files.write_atomic`), so a
reader sees the previous version or the new one, never half of one. Deleting it loses
nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from kobe.files import write_atomic
from kobe.oms.store import OrderStore

POSITIONS_FILE = Path("state") / "positions.json"


def positions_view(store: OrderStore, now: dt.datetime | None = None) -> dict[str, Any]:
    """Open positions (shares, average cost) and realized P&L per symbol, from fills."""
    book = store.positions()
    return {
        "updated_at": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "positions": [{"symbol": p.symbol, "qty": p.qty, "avg_cost": round(p.avg_cost, 6),
                       "cost_basis": round(p.qty * p.avg_cost, 2), "realized_pnl": round(p.realized_pnl, 2)}
                      for p in book.values() if abs(p.qty) > 1e-9],
        "closed": [{"symbol": p.symbol, "realized_pnl": round(p.realized_pnl, 2)}
                   for p in book.values() if abs(p.qty) <= 1e-9],
        "realized_pnl": round(sum(p.realized_pnl for p in book.values()), 2),
    }


def write_positions(store: OrderStore, path: Path, now: dt.datetime | None = None) -> dict[str, Any]:
    """Rewrite ``path`` (atomically) from the store; returns what was written."""
    view = positions_view(store, now)
    write_atomic(path, json.dumps(view, indent=2) + "\n")
    return view
