"""The trading desk of the tests/trade suite: a pinned copy of the project, the stand-in
exchange on a free loopback port (frozen clock), and traders built exactly as
``kobe trade`` builds them (the real alpaca-py clients, real SQLite, the real audit
trail).

The executor's waits move the exchange's clock instead of sleeping, so a delayed fill
is reached without any real time passing.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest

from kobe.broker.exchange import ExchangeAdmin
from kobe.clients import trading_client
from kobe.config.pin import write_pin
from kobe.data.calendar import NEW_YORK
from kobe.project import load_project
from kobe.trade.cycle import Pick, Trader, open_trader
from kobe.trade.executor import ExecutionPolicy
from kobe.trade.protect import unsettled

REPO = Path(__file__).resolve().parents[2]
KEY_ID, SECRET = "PKTRADEKEY1234", "SKTRADESECRET5678"
DAY = dt.date(2017, 6, 5)
SIGNAL_DAY = dt.date(2017, 6, 2)
TEN_AM = dt.datetime(2017, 6, 5, 10, 0, tzinfo=NEW_YORK)
FAST = ExecutionPolicy(poll_timeout=8.0, backoff_start=0.5, backoff_max=2.0, lookups=3, sends=3)


def make_project(root: Path, per_order: float = 300, daily: float = 1000, amount: float = 300,
                 max_open: int = 10, edits: dict[str, str] | None = None, risk_edits: dict[str, str] | None = None,
                 **risk: Any) -> Path:
    """A copy of the repository's config with these budgets (and ``edits``/``risk_edits``,
    text replacements in strategies.yaml/risk.yaml), pinned."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("strategies.yaml", "risk.yaml"):
        shutil.copy(REPO / name, root / name)
    for folder in ("rules", "universe"):
        shutil.copytree(REPO / folder, root / folder, dirs_exist_ok=True)
    text = (root / "risk.yaml").read_text()
    settings = {"per_order_budget_usd": per_order, "daily_budget_usd": daily, "max_open_positions": max_open,
                **risk}
    for key, value in settings.items():
        text, n = re.subn(rf"^{key}: \S+", f"{key}: {value}", text, flags=re.MULTILINE)
        assert n == 1, key
    for old, new in (risk_edits or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    (root / "risk.yaml").write_text(text)
    strategies = (root / "strategies.yaml").read_text().replace("amount_usd: 75", f"amount_usd: {amount}")
    for old, new in (edits or {}).items():
        assert old in strategies, old
        strategies = strategies.replace(old, new)
    (root / "strategies.yaml").write_text(strategies)
    write_pin(root, load_project(root / "strategies.yaml").fingerprint())
    return root


@dataclass
class Desk:
    """A pinned project at ``root`` and a running exchange at ``url``."""

    root: Path
    url: str
    admin: ExchangeAdmin
    timeout: float = 5.0
    policy: ExecutionPolicy = FAST
    checkpoints: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {"ALPACA_BASE_URL": self.url, "ALPACA_API_KEY_ID": KEY_ID, "ALPACA_API_SECRET_KEY": SECRET}

    def wait(self, seconds: float) -> None:
        """The executor's sleep: exchange time passes, real time does not."""
        self.admin.advance(seconds)

    def trader(self, checkpoint: Callable[[str], None] | None = None, **kwargs: Any) -> Trader:
        """A new trader on the same files, as a restarted process would build it."""
        project = load_project(self.root / "strategies.yaml")

        def seen(name: str) -> None:
            self.checkpoints.append(name)
            if checkpoint is not None:
                checkpoint(name)

        options = {"timeout": self.timeout, "retry_wait": 0, "policy": self.policy, "sleep": self.wait}
        options.update(kwargs)
        return open_trader(project, self.env, checkpoint=seen, **options)

    def client(self):
        return trading_client(KEY_ID, SECRET, base_url=self.url, timeout=5, retry_wait=0)

    def exchange_orders(self, stops: bool = False) -> list[Any]:
        """The exchange's IOC orders (entries and exits), or with ``stops`` the resting
        protective orders (stops, targets, OCOs: their parents, legs nested under them)."""
        every = self.client().get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500, nested=True))
        return [o for o in every if (o.time_in_force.value == "gtc") == stops]

    def resting_stops(self) -> dict[str, list[Any]]:
        """Per symbol, the protective orders working at the exchange (an OCO counts once):
        sells below longs, buys above shorts."""
        out: dict[str, list[Any]] = {}
        for order in self.client().get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500,
                                                               nested=True)):
            if order.time_in_force.value == "gtc":
                out.setdefault(order.symbol, []).append(order)
        return out

    def exchange_positions(self) -> dict[str, tuple[float, float]]:
        return {p.symbol: (float(p.qty), float(p.avg_entry_price)) for p in self.client().get_all_positions()}

    def posts(self, stops: bool = False) -> list[dict[str, Any]]:
        """The order submissions that reached the exchange: IOC orders, or with ``stops`` the stops."""
        return [r for r in self.admin.requests() if r["method"] == "POST" and r["path"] == "/v2/orders"
                and (r.get("order_type") == "stop") == stops]


def picks(*symbols: str, strategy: str = "donchian_breakout") -> list[Pick]:
    return [Pick(strategy, s, SIGNAL_DAY, 0.0) for s in symbols]


STATUS_OF = {"filled": "filled", "canceled": "canceled", "expired": "expired", "rejected": "rejected",
             "replaced": "canceled", "new": "submitted", "accepted": "submitted", "pending_new": "submitted"}


def assert_books_agree(desk: Desk, store: Any) -> None:
    """Kobe's store and the exchange tell the same story, with nothing left in doubt:

    - at most one exchange order per (symbol, side) and day: no pick was sent twice under
      any id; and every exchange order is one of Kobe's, in the same final state, with the
      same filled quantity and average price;
    - every order of Kobe's that the exchange never saw ended canceled or rejected with
      nothing filled; no order of Kobe's is still in doubt;
    - the positions agree share for share.
    """
    at_exchange = desk.exchange_orders()
    keys = [(o.symbol, o.side.value, o.submitted_at.date()) for o in at_exchange]
    assert len(keys) == len(set(keys)), f"an order was duplicated at the exchange: {keys}"
    at_exchange += desk.exchange_orders(stops=True)
    ours = {o.client_order_id: o for o in store.orders()}
    assert not unsettled(store), f"orders in doubt: {unsettled(store)}"
    for sent in at_exchange:
        mine = ours.get(sent.client_order_id)
        assert mine is not None, f"{sent.client_order_id} is at the exchange but not in the store"
        # An OCO is one order of Kobe's: its parent and the leg that may have sold the shares.
        parts = [sent, *(sent.legs or [])]
        filled = sum(float(p.filled_qty or 0) for p in parts)
        status = "filled" if sent.legs and filled >= float(sent.qty) else sent.status.value
        assert mine.status.value == STATUS_OF[status], (mine, status)
        assert mine.filled_qty == filled
        if mine.filled_qty:
            paid = sum(float(p.filled_qty or 0) * float(p.filled_avg_price or 0) for p in parts) / filled
            assert mine.filled_avg_price == pytest.approx(paid, rel=1e-9)
    for cid in set(ours) - {o.client_order_id for o in at_exchange}:
        assert ours[cid].status.value in ("canceled", "rejected") and ours[cid].filled_qty == 0, ours[cid]
    mine_positions = {s: p.qty for s, p in store.positions().items() if p.qty}
    assert mine_positions == {s: q for s, (q, _) in desk.exchange_positions().items()}
    # Every position rests with exactly one stop for all its shares (the shipped strategies have a stop),
    # on the side that closes it.
    resting = desk.resting_stops()
    assert {s: [float(o.qty) * (1 if o.side.value == "sell" else -1) for o in orders]
            for s, orders in resting.items()} == {s: [q] for s, q in mine_positions.items()}



def run_killed(root: str, url: str, symbols: tuple[str, ...], kill_at: str | None, nth: int, timeout: float) -> None:
    """A trading cycle in this (child) process that SIGKILLs itself at the ``nth`` time
    it reaches checkpoint ``kill_at``: no cleanup, no flush, no ``finally``."""
    import collections
    import os
    import signal

    from kobe.data.bars import read_bars
    from kobe.trade.cycle import run_cycle

    hits: collections.Counter[str] = collections.Counter()

    def checkpoint(name: str) -> None:
        hits[name] += 1
        if name == kill_at and hits[name] == nth:
            os.kill(os.getpid(), signal.SIGKILL)

    desk = Desk(Path(root), url, ExchangeAdmin(url, timeout=5), timeout=timeout)
    run_cycle(desk.trader(checkpoint=checkpoint), read_bars(), picks(*symbols))
