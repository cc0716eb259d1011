"""Preflight against kobe exchange through the real clients, and its offline checks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from kobe.config.pin import write_pin
from kobe.data.bars import read_bars
from kobe.project import load_project
from kobe.risk.killswitch import KillSwitch
from kobe.runner.preflight import (broker_checks, check_disk, check_freshness, check_keys, check_kill_switch,
                                   check_pin, run_preflight)

from stand_keys import KEY_ID, SECRET

ENV = {"ALPACA_API_KEY_ID": KEY_ID, "ALPACA_API_SECRET_KEY": SECRET}


def test_broker_checks_pass_against_the_exchange(exchange) -> None:
    checks = broker_checks(exchange.trading(), exchange.data(), "AAPL", ENV)
    assert [c.name for c in checks] == ["broker account", "broker clock", "quotes"]
    assert all(c.passed for c in checks), checks
    assert "AAPL bid" in checks[2].detail


def test_wrong_keys_fail_without_showing_them(start_exchange) -> None:
    stand = start_exchange()
    env = {"ALPACA_API_KEY_ID": "PKWRONG123", "ALPACA_API_SECRET_KEY": "SKWRONG456"}
    trading = stand.trading(key_id="PKWRONG123", secret_key="SKWRONG456")
    data = stand.data(key_id="PKWRONG123", secret_key="SKWRONG456")
    checks = broker_checks(trading, data, "AAPL", env)
    assert not any(c.passed for c in checks)
    text = json.dumps([c.detail for c in checks])
    assert "PKWRONG123" not in text and "SKWRONG456" not in text


def test_unknown_symbol_quote_fails(exchange) -> None:
    checks = broker_checks(exchange.trading(), exchange.data(), "ZZZZ", ENV)
    assert [c.passed for c in checks] == [True, True, False]


def test_offline_checks(project_dir: Path) -> None:
    project = load_project(project_dir / "strategies.yaml")
    switch = KillSwitch(project_dir / "state" / "KILL_SWITCH")
    bars = read_bars()
    failing = run_preflight([check_keys({}, ("ALPACA_API_KEY_ID",)), check_pin(project), check_kill_switch(switch),
                             check_freshness(bars, dt.date(2018, 2, 12)), check_disk(project_dir / "state")])
    assert [c.passed for c in failing.checks] == [False, False, True, False, True]
    assert not failing.passed and "FAIL" in failing.render()
    write_pin(project.root, project.fingerprint())
    switch.set("testing", who="me")
    passing = run_preflight([check_keys(ENV, ("ALPACA_API_KEY_ID",)), check_pin(project),
                             check_freshness(bars, dt.date(2018, 2, 8))])
    assert passing.passed and "KEY" not in passing.render().replace("ALPACA_API_KEY_ID", "")
    assert not check_kill_switch(switch).passed
    stale = bars.filter(pl.col("date") < dt.date(2018, 2, 7))
    assert not check_freshness(stale, dt.date(2018, 2, 8)).passed  # 2018-02-07 was the last session
