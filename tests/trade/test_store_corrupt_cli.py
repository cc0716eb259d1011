"""A damaged order store stops `kobe orders`, `positions`, `reconcile` and `trade` with the
file named and the remedy, never a traceback and never an order; `kobe reconcile
--rebuild` rebuilds it from the broker's orders and the audit trail, keeps the damaged
file aside, and trading resumes without sending anything twice."""

from __future__ import annotations

import gc
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest
from click.testing import CliRunner, Result
from trade_desk import Desk, assert_books_agree, picks

from kobe.cli import main
from kobe.data.bars import read_bars
from kobe.oms.store import OrderStore
from kobe.risk.killswitch import KillSwitch
from kobe.runner.lock import InstanceLock
from kobe.trade.cycle import run_cycle


class Crash(BaseException):
    """Stands for the process stopping dead at a checkpoint (in-process)."""


def run(desk: Desk, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(desk.root / "strategies.yaml")], env=desk.env)


def store_path(desk: Desk) -> Path:
    return desk.root / "state" / "orders.sqlite"


def settle(path: Path) -> None:
    """The store at rest, as after its processes ended: their connections closed (one
    closing later would fold its WAL into the damaged file) and the WAL folded in, so the
    damage below hits the file."""
    gc.collect()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def garbage(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def wipe_header(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(b"\0" * 100 + data[100:])


def directory(path: Path) -> None:
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        name.unlink(missing_ok=True)
    path.mkdir()


def drop(table: str) -> Callable[[Path], None]:
    def dropping(path: Path) -> None:
        conn = sqlite3.connect(path)
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
        conn.close()
    return dropping


DAMAGES = [
    pytest.param(truncate, "malformed", id="truncated"),
    pytest.param(empty, "the file is empty", id="truncated-to-nothing"),
    pytest.param(garbage, "not a database", id="garbage"),
    pytest.param(wipe_header, "not a database", id="header-wiped"),
    pytest.param(directory, "a directory is in its place", id="a-directory-in-its-place"),
    pytest.param(drop("orders"), "table orders is missing", id="orders-table-dropped"),
    pytest.param(drop("fills"), "table fills is missing", id="fills-table-dropped"),
    pytest.param(drop("audit_anchor"), "table audit_anchor is missing", id="anchor-table-dropped"),
]


def book(path: Path) -> dict[str, Any]:
    """What the store holds, as the rebuild must give it back."""
    store = OrderStore(path)
    orders = {o.client_order_id: o for o in store.orders()}
    fills = {str(f["fill_id"]): (f["client_order_id"], f["symbol"], f["side"], f["qty"], pytest.approx(f["price"]),
                                 f["at"]) for f in store.fills()}
    positions = {s: (p.qty, pytest.approx(p.avg_cost), pytest.approx(p.realized_pnl))
                 for s, p in store.positions().items()}
    store.close()
    return {"orders": orders, "fills": fills, "positions": positions}


def traded(desk: Desk, by_hand: bool = False) -> dict[str, Any]:
    """A cycle that bought MSFT and KO (their stops resting); ``by_hand``: then shares
    bought by hand and booked by `kobe reconcile --adopt`, an adjustment fill."""
    run_cycle(desk.trader(), read_bars(), picks("MSFT", "KO"))
    if by_hand:
        desk.client().submit_order(LimitOrderRequest(symbol="XOM", qty=3, side=OrderSide.BUY, limit_price=90,
                                                     time_in_force=TimeInForce.IOC, client_order_id="by-hand-1"))
        assert run(desk, "reconcile", "--adopt").exit_code == 0
    settle(store_path(desk))
    return book(store_path(desk))


@pytest.mark.parametrize(("damage", "why"), DAMAGES)
def test_a_damaged_store_stops_every_command_cleanly_then_is_rebuilt(desk: Desk, damage: Callable[[Path], None],
                                                                     why: str) -> None:
    before = traded(desk)
    damage(store_path(desk))
    kept = store_path(desk).read_bytes() if store_path(desk).is_file() else None
    sent = len(desk.posts()) + len(desk.posts(stops=True))
    for command in (["orders"], ["positions"], ["reconcile"], ["trade", "--paper", "--once"]):
        result = run(desk, *command)
        assert result.exit_code == 2, (command, result.output)
        assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
        assert f"{store_path(desk)}: error: the order store is damaged" in result.output and why in result.output
        assert "`kobe reconcile --rebuild`" in result.output
    assert len(desk.posts()) + len(desk.posts(stops=True)) == sent          # nothing left while it was damaged

    rebuilt = run(desk, "reconcile", "--rebuild", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    report = json.loads(rebuilt.output)
    assert report["left"] == [] and why in report["rebuilt"]["damage"]
    aside = Path(report["rebuilt"]["kept_aside"])
    assert aside.parent == store_path(desk).parent and aside.name.startswith("orders.sqlite.corrupt-")
    # Kept byte for byte: neither the commands that met it nor the rebuild wrote to it.
    assert (aside.read_bytes() == kept) if kept is not None else aside.is_dir()
    assert book(store_path(desk)) == before
    assert run(desk, "trade", "--paper", "--once").exit_code == 0
    assert_books_agree(desk, OrderStore(store_path(desk)))
    verified = CliRunner().invoke(main, ["audit", "verify", "--logs", str(desk.root / "logs")])
    assert verified.exit_code == 0 and "anchor(s) reached" in verified.output, verified.output


def test_a_store_deleted_is_rebuilt_from_the_broker_and_the_trail(desk: Desk) -> None:
    """Its adjustments too: shares bought by hand, booked by `--adopt`, come back from the trail."""
    before = traded(desk, by_hand=True)
    assert any(fill_id.startswith("adopt:XOM:") for fill_id in before["fills"])
    for name in store_path(desk).parent.glob("orders.sqlite*"):
        name.unlink()
    rebuilt = run(desk, "reconcile", "--rebuild", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    report = json.loads(rebuilt.output)
    assert (report["rebuilt"]["kept_aside"], report["rebuilt"]["adjustments"], report["left"]) == (None, 1, [])
    assert book(store_path(desk)) == before


def test_what_only_the_broker_knows_wins_over_the_trail(desk: Desk) -> None:
    """Killed after the broker filled an entry, before the store recorded it; the store
    then damaged: the rebuilt order is the broker's (filled), with the trail's intent."""
    with pytest.raises(Crash):
        run_cycle(desk.trader(checkpoint=crash_at("send.answered")), read_bars(), picks("MSFT"))
    garbage(store_path(desk))
    rebuilt = run(desk, "reconcile", "--rebuild", "--json")
    # The books agree; the stop the crash never placed is the one difference left (the next cycle rests it).
    assert rebuilt.exit_code == 1 and [d["kind"] for d in json.loads(rebuilt.output)["left"]] == \
        ["position_without_stop"]
    (order,) = OrderStore(store_path(desk)).orders()
    assert (order.status.value, order.strategy, order.reason.split(";")[0]) == \
        ("filled", "donchian_breakout", "entry: signal of 2017-06-02")
    assert run(desk, "trade", "--paper", "--once").exit_code == 0
    assert_books_agree(desk, OrderStore(store_path(desk)))


def crash_at(step: str) -> Callable[[str], None]:
    def checkpoint(name: str) -> None:
        if name == step:
            raise Crash()
    return checkpoint


def kill_at(desk: Desk, step: str) -> Callable[[str], None]:
    """Sets the kill switch at ``step``: the order meets it at the choke point."""
    def checkpoint(name: str) -> None:
        if name == step:
            KillSwitch(desk.root / "state" / "KILL_SWITCH").set("by the test", who="test")
    return checkpoint


@pytest.mark.parametrize(("stop", "status"), [
    pytest.param(crash_at, "new", id="killed-after-deciding"),
    pytest.param(kill_at, "canceled", id="stopped-by-the-kill-switch"),
])
def test_an_order_the_broker_never_saw_comes_back_from_the_trail_and_is_never_sent(
        desk: Desk, stop: Callable[..., Callable[[str], None]], status: str) -> None:
    checkpoint = stop(desk, "order.recorded") if stop is kill_at else stop("order.recorded")
    try:
        run_cycle(desk.trader(checkpoint=checkpoint), read_bars(), picks("KO"))
    except Crash:
        pass
    KillSwitch(desk.root / "state" / "KILL_SWITCH").clear()
    (lost,) = OrderStore(store_path(desk)).orders()
    assert lost.status.value == status and desk.posts() == []
    wipe_header(store_path(desk))
    rebuilt = run(desk, "reconcile", "--rebuild", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.output)["rebuilt"]["from_audit_only"] == 1
    (order,) = OrderStore(store_path(desk)).orders()
    # Its fate left open, it ends canceled: the trail may not say how it was to be sent.
    assert (order.client_order_id, order.strategy, order.status.value, order.filled_qty) == \
        (lost.client_order_id, "donchian_breakout", "canceled", 0)
    run_cycle(desk.trader(), read_bars(), picks("KO"))     # the same pick, the same day: decided already
    assert desk.posts() == []


def test_a_sound_store_is_not_rebuilt(desk: Desk) -> None:
    traded(desk)
    before = store_path(desk).read_bytes()
    result = run(desk, "reconcile", "--rebuild")
    assert result.exit_code == 2 and "the order store is sound: there is nothing to rebuild" in result.output
    assert store_path(desk).read_bytes() == before
    assert [p.name for p in store_path(desk).parent.glob("orders.sqlite.corrupt-*")] == []


def test_no_rebuild_while_a_runner_holds_the_project(desk: Desk) -> None:
    traded(desk)
    garbage(store_path(desk))
    with InstanceLock(desk.root / "state" / "kobe.lock") as lock:
        lock.acquire("paper")
        result = run(desk, "reconcile", "--rebuild")
    assert result.exit_code == 2 and "another Kobe runner holds" in result.output
    assert [p.name for p in store_path(desk).parent.glob("orders.sqlite.corrupt-*")] == []
