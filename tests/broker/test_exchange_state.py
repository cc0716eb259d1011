"""Durable state: orders, fills, positions, cash and the clock survive the exchange's
restart, a clean one in-process and a ``kill -9`` of ``kobe exchange`` in a real
subprocess; and the CLI's own checks."""

from __future__ import annotations

import datetime as dt
import json
import os
import selectors
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import LimitOrderRequest
from click.testing import CliRunner

from kobe.clients import trading_client
from kobe.cli import main
from kobe.data.calendar import NEW_YORK


def limit(qty, price, tif, cid) -> LimitOrderRequest:
    return LimitOrderRequest(symbol="AAPL", qty=qty, side=OrderSide.BUY, time_in_force=tif, limit_price=price,
                             client_order_id=cid)


def test_a_restarted_exchange_has_the_same_orders_positions_cash_and_clock(start_exchange) -> None:
    first = start_exchange()
    trading = first.trading()
    trading.submit_order(limit(5, 154.42, TimeInForce.IOC, "filled-before"))
    trading.submit_order(limit(10, 150.00, TimeInForce.GTC, "resting-before"))
    before_cash = trading.get_account().cash
    first.admin.advance(3600)
    first.stop()

    second = start_exchange()          # same state file, same requested start
    trading = second.trading()
    assert second.admin.clock()["now"] == "2017-06-05T14:30:00.000000Z"    # resumed, not back at the open
    assert trading.get_order_by_client_id("filled-before").status == OrderStatus.FILLED
    assert trading.get_order_by_client_id("resting-before").status == OrderStatus.NEW
    assert Decimal(trading.get_open_position("AAPL").qty) == 5
    assert trading.get_account().cash == before_cash
    with pytest.raises(APIError) as duplicate:
        trading.submit_order(limit(1, 154.42, TimeInForce.IOC, "filled-before"))
    assert duplicate.value.status_code == 422
    # The resting order keeps working after the restart.
    second.admin.set_clock(dt.datetime(2018, 2, 7, 16, 0, tzinfo=NEW_YORK))
    assert trading.get_order_by_client_id("resting-before").status == OrderStatus.FILLED


def test_a_later_start_moves_a_stored_clock_forward(start_exchange) -> None:
    start_exchange().stop()
    later = start_exchange(start=dt.date(2017, 6, 6))
    assert later.admin.clock()["now"] == "2017-06-06T13:30:00.000000Z"


def _started(proc: subprocess.Popen) -> dict:
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    # A guard against a wedged child, not a timing assertion.
    if not selector.select(timeout=120):
        proc.kill()
        pytest.fail("kobe exchange printed nothing")
    line = proc.stdout.readline()
    if not line:
        pytest.fail(f"kobe exchange exited: {proc.stderr.read()}")
    return json.loads(line)


def _spawn(state: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-c", "from kobe.cli import main; main()", "exchange", "--port", "0", "--json",
               "--state", str(state), "--speed", "0", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"})


def test_kobe_exchange_serves_the_real_client_and_survives_kill_9(tmp_path) -> None:
    state = tmp_path / "exchange.sqlite"
    proc = _spawn(state, "--date", "2017-06-05T10:00", "--key-id", "K", "--secret-key", "S")
    try:
        started = _started(proc)
        assert started["clock"]["now"] == "2017-06-05T14:00:00.000000Z" and started["clock"]["is_open"]
        trading = trading_client("K", "S", base_url=started["url"], timeout=5)
        trading.submit_order(limit(3, 160.00, TimeInForce.IOC, "before-the-crash"))
        assert trading.get_order_by_client_id("before-the-crash").status == OrderStatus.FILLED
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc = _spawn(state, "--key-id", "K", "--secret-key", "S")
    try:
        started = _started(proc)
        trading = trading_client("K", "S", base_url=started["url"], timeout=5)
        assert trading.get_order_by_client_id("before-the-crash").status == OrderStatus.FILLED
        assert Decimal(trading.get_open_position("AAPL").qty) == 3
        assert started["clock"]["now"] == "2017-06-05T14:00:00.000000Z"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


@pytest.mark.parametrize(("args", "words"), [
    (["--date", "2017-06-04"], "2017-06-04 is not an NYSE session"),
    (["--date", "June 5"], "is neither YYYY-MM-DD nor YYYY-MM-DDTHH:MM"),
    (["--data", "no/such/file.csv"], "no bars file"),
], ids=["sunday", "not-a-date", "missing-data"])
def test_the_cli_refuses_a_bad_start_before_serving(tmp_path, args, words) -> None:
    result = CliRunner().invoke(main, ["exchange", "--port", "0", "--state", str(tmp_path / "s.sqlite"), *args])
    assert result.exit_code == 2
    assert words in result.output
