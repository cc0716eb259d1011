"""Crash safety: the Kobe process SIGKILLed at every step between deciding and recording,
then restarted: no order is ever duplicated at the exchange, every order reaches a
known state, and that state is the exchange's.

Two designs:

1. **Every kill point.** A reference cycle (three picks; the first submission placed but
   answered 500, the second refused 503 and so looked up and re-sent) is run once to
   list the checkpoints it passes through, in order. Then, for each of those passages
   (checkpoint, n-th time), a fresh exchange and project, and a cycle in a real child
   process (forked from a clean fork server) that SIGKILLs itself exactly there. Right
   after the kill: every order the exchange holds is already in the store (record
   before call). Half of the restarts are themselves killed at a random checkpoint;
   a final restart must leave the books in agreement with nothing in doubt, the day's
   budget kept and the audit chain intact.
2. **Random instants of the real command.** `kobe trade --paper --once` in a
   subprocess against an exchange that adds latency to every answer, SIGKILLed once
   the exchange has seen a random number of requests (mid-HTTP, mid-SQLite, mid-audit,
   wherever it is); then the same command is run again (in this process, through click)
   and everything is checked the same way.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from trade_desk import DAY, assert_books_agree, picks, run_killed

from kobe.audit.verify import verify_trail
from kobe.broker.exchange import FaultRule
from kobe.cli import main
from kobe.data.bars import read_bars
from kobe.oms.store import OrderStore
from kobe.trade.cycle import run_cycle

SYMBOLS = ("MSFT", "KO", "WMT")
PROJECT = {"per_order": 200, "amount": 200}
SUBMIT = {"method": "POST", "path": "^/v2/orders$"}
BATCH = 6
FAULTS = [FaultRule("after", **SUBMIT, status=500, count=1), FaultRule("status", **SUBMIT, status=503, count=1)]


@pytest.fixture(scope="module")
def fork_server():
    """Children forked from a fresh fork server: fast (Kobe imported and the rule grammar
    built once, in ``trade_warm``), and free of this process's threads (the exchanges)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", "trade_desk", "trade_warm", "kobe.trade.cycle", "kobe.data.bars"])
    return ctx


def children(ctx, runs: list[tuple[object, str | None, int]]) -> list[int]:
    """Run ``(desk, kill_at, nth)`` cycles in child processes, a few at a time; their
    exit codes (``-SIGKILL`` for a child that reached its kill point)."""
    codes = []
    for at in range(0, len(runs), BATCH):
        batch = [ctx.Process(target=run_killed, args=(str(d.root), d.url, SYMBOLS, k, n, 5.0))
                 for d, k, n in runs[at:at + BATCH]]
        for process in batch:
            process.start()
        for process in batch:
            process.join(120)
            assert process.exitcode is not None, "a child hung"
            codes.append(process.exitcode)
    return codes


def store_of(desk) -> OrderStore:
    return OrderStore(desk.root / "state" / "orders.sqlite")


def reference_passages(open_desk) -> list[tuple[str, int]]:
    desk = open_desk(project=PROJECT)
    desk.admin.set_faults(rules=FAULTS)
    report = run_cycle(desk.trader(), read_bars(), picks(*SYMBOLS))
    assert [o.status.value for o in report.entries] == ["filled"] * 3      # the reference itself is sound
    seen: dict[str, int] = {}
    passages = []
    for name in desk.checkpoints:
        seen[name] = seen.get(name, 0) + 1
        passages.append((name, seen[name]))
    return passages


def test_a_kill_at_every_step_between_deciding_and_recording(open_desk, fork_server) -> None:
    passages = reference_passages(open_desk)
    names = sorted({name for name, _ in passages})
    assert set(names) >= {"order.decided", "order.recorded", "send.before", "send.answered", "send.recorded",
                          "unknown.recorded", "lookup.answered", "poll.answered", "poll.recorded"}
    desks = [open_desk(project=PROJECT) for _ in passages]
    for desk in desks:
        desk.admin.set_faults(rules=FAULTS)
    codes = children(fork_server, [(desk, k, n) for desk, (k, n) in zip(desks, passages)])
    assert codes == [-signal.SIGKILL] * len(passages)          # each died exactly at its kill point
    rng = random.Random(6)
    again = []
    for desk, passage in zip(desks, passages):
        desk.admin.clear_faults()
        recorded = {o.client_order_id for o in store_of(desk).orders()}
        sent = {o.client_order_id for o in desk.exchange_orders()}
        assert sent <= recorded, passage                          # recorded before it was sent
        if rng.random() < 0.5:                                    # the restart dies too, somewhere
            again.append((desk, rng.choice(names), 1))
    assert set(children(fork_server, again)) <= {0, -signal.SIGKILL}
    for desk, passage in zip(desks, passages):
        report = run_cycle(desk.trader(), read_bars(), picks(*SYMBOLS))
        store = store_of(desk)
        assert_books_agree(desk, store)
        buys = [o for o in store.orders(DAY) if o.side == "buy"]
        assert len(buys) == len(SYMBOLS), passage                 # each pick decided once, under one id
        assert store.spent(DAY) <= 1000
        assert all(o.status.terminal or o.resting for o in report.entries + report.recovered)
        trail = verify_trail(desk.root / "logs")
        assert trail.ok, (passage, trail.problem)


def test_two_processes_trading_the_same_picks_at_once_send_each_once(open_desk, fork_server) -> None:
    desks = [open_desk(project=PROJECT) for _ in range(3)]
    codes = children(fork_server, [(desk, None, 0) for desk in desks for _ in range(2)])
    assert codes == [0] * 6
    for desk in desks:
        store = store_of(desk)
        assert_books_agree(desk, store)
        assert len(desk.exchange_orders()) == len(SYMBOLS) == len([o for o in store.orders(DAY) if o.side == "buy"])


def kobe_trade(desk) -> subprocess.Popen:
    env = {**os.environ, **desk.env, "NO_PROXY": "127.0.0.1,localhost"}
    return subprocess.Popen([sys.executable, "-m", "kobe.cli", "trade", "--paper", "--once", "--timeout", "5",
                             "--config", str(desk.root / "strategies.yaml")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_the_real_command_killed_at_random_instants_recovers(open_desk) -> None:
    desks = [open_desk(project=PROJECT) for _ in range(3)]
    rng = random.Random(11)
    plans = []
    for desk, (low, high) in zip(desks, [(3, 8), (9, 15), (16, 24)]):   # early, middle, late in the cycle
        desk.admin.set_faults(latency=0.02, rules=[FaultRule("after", **SUBMIT, status=500, count=1)])
        plans.append((desk, rng.randint(low, high), kobe_trade(desk)))
    for desk, kill_after, process in plans:
        while process.poll() is None and len(desk.admin.requests()) < kill_after:
            time.sleep(0.005)                  # waiting for the moment to kill, not measuring anything
        process.send_signal(signal.SIGKILL)
        process.wait(60)
        desk.admin.clear_faults()
    for desk in desks:                         # the restart: the same command, in this process
        restarted = CliRunner().invoke(main, ["trade", "--paper", "--once", "--config",
                                              str(desk.root / "strategies.yaml")], env=desk.env)
        assert restarted.exit_code == 0, restarted.output
        store = store_of(desk)
        assert_books_agree(desk, store)
        assert store.spent(DAY) <= 1000
        assert verify_trail(desk.root / "logs").ok
