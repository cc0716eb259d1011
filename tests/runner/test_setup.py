"""Setting up ``kobe run`` (kobe.runner.setup) and the preflight lists, called directly:
the mode guard, where a replay starts, the local exchange or Alpaca's environment, the
clock, the checks run before trading, and one whole run opened by :func:`open_runner`."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from kobe.broker.exchange import ExchangeAdmin, ExchangeConfig, serve_exchange
from kobe.config.errors import KobeError
from kobe.data.bars import read_bars
from kobe.oms.store import OrderStore
from kobe.project import load_project
from kobe.risk.killswitch import KillSwitch
from kobe.runner.preflight import offline_checks, quote_symbol, runner_checks
from kobe.runner.run import BrokerClock, ReplayClock, paper_env
from kobe.runner.setup import (
    LIVE_URL,
    RunOptions,
    broker_env,
    check_mode,
    first_session,
    open_runner,
    replay_start,
    runner_clock,
)
from kobe.trade.cycle import open_trader

NY = ZoneInfo("America/New_York")
KEYS = {"ALPACA_API_KEY_ID": "PKSETUPKEY1", "ALPACA_API_SECRET_KEY": "setup-secret-1"}
PAPER_URL = "https://paper-api.alpaca.markets"


# -- the mode guard ---------------------------------------------------------------------

MODES = [
    # id, (paper, live, confirm_live, cap), ALPACA_BASE_URL, the mode or the error's words
    ("paper", (True, False, False, None), None, "paper"),
    ("paper-ignores-live-flags", (True, False, True, 3), LIVE_URL, "paper"),
    ("neither", (False, False, False, None), None, "choose --paper or --live"),
    ("both", (True, True, True, 1), LIVE_URL, "choose --paper or --live"),
    ("live-without-confirm", (False, True, False, 1), LIVE_URL, "needs --confirm-live and --cap"),
    ("live-without-cap", (False, True, True, None), LIVE_URL, "needs --confirm-live and --cap"),
    ("live-without-url", (False, True, True, 1), None, f"needs ALPACA_BASE_URL={LIVE_URL}"),
    ("live-on-the-paper-host", (False, True, True, 1), PAPER_URL, f"needs ALPACA_BASE_URL={LIVE_URL}"),
    ("live-on-a-lookalike-host", (False, True, True, 1), LIVE_URL + ".example.com", "needs ALPACA_BASE_URL"),
    ("live", (False, True, True, 1), LIVE_URL, "live"),
    ("live-trailing-slash", (False, True, True, 5), LIVE_URL + "/", "live"),
]


@pytest.mark.parametrize(("flags", "url", "expected"), [m[1:] for m in MODES], ids=[m[0] for m in MODES])
def test_check_mode(flags: tuple[bool, bool, bool, int | None], url: str | None, expected: str) -> None:
    env = {**KEYS, **({"ALPACA_BASE_URL": url} if url else {})}
    if expected in ("paper", "live"):
        assert check_mode(*flags, env) == expected
    else:
        with pytest.raises(KobeError, match=re.escape(expected)):
            check_mode(*flags, env)


# -- where a replay starts --------------------------------------------------------------

def _dates(last: dt.date) -> pl.LazyFrame:
    return pl.LazyFrame({"date": [last - dt.timedelta(days=n) for n in range(30)]})


SESSIONS_BACK = [
    # id, the bars' last date, sessions back, the session expected
    ("none-back", dt.date(2017, 6, 9), 0, dt.date(2017, 6, 9)),
    ("one-back", dt.date(2017, 6, 9), 1, dt.date(2017, 6, 8)),
    ("over-a-weekend", dt.date(2017, 6, 12), 1, dt.date(2017, 6, 9)),
    ("a-week", dt.date(2017, 6, 9), 5, dt.date(2017, 6, 2)),
    ("over-independence-day", dt.date(2017, 7, 5), 2, dt.date(2017, 6, 30)),
]


@pytest.mark.parametrize(("last", "back", "expected"), [c[1:] for c in SESSIONS_BACK],
                         ids=[c[0] for c in SESSIONS_BACK])
def test_first_session(last: dt.date, back: int, expected: dt.date) -> None:
    assert first_session(_dates(last), back) == expected


@pytest.fixture
def june_bars(tmp_path: Path) -> str:
    """The embedded bars up to Monday 2017-07-03 (an early close, 13:00), as a file."""
    path = tmp_path / "june.parquet"
    read_bars().filter(pl.col("date") <= dt.date(2017, 7, 3)).collect().write_parquet(path)
    return str(path)


def test_replay_start_is_twenty_sessions_before_the_data_ends_unless_given(june_bars: str) -> None:
    # 2017-07-03 back 20 sessions: June's 22 sessions (no holiday) counted from the 30th, the 20th is the 5th.
    assert replay_start(june_bars) == dt.date(2017, 6, 5)
    assert replay_start(june_bars, dt.date(2017, 6, 20)) == dt.date(2017, 6, 20)


# -- the broker environment -------------------------------------------------------------

PASSED_THROUGH = [
    # id, paper, env: Alpaca's environment is used as given, no exchange started
    ("paper-with-keys", True, {**KEYS, "ALPACA_BASE_URL": PAPER_URL}),
    ("live", False, {**KEYS, "ALPACA_BASE_URL": LIVE_URL}),
    ("live-without-keys", False, {"ALPACA_BASE_URL": LIVE_URL}),
]


@pytest.mark.parametrize(("paper", "env"), [c[1:] for c in PASSED_THROUGH], ids=[c[0] for c in PASSED_THROUGH])
def test_broker_env_with_keys_or_live_is_alpacas(tmp_path: Path, paper: bool, env: dict[str, str]) -> None:
    with broker_env(tmp_path, paper, None, dt.date(2017, 6, 5), env) as (given, admin):
        assert (given, admin) == (env, None)
    assert not (tmp_path / "state").exists()


def test_broker_env_paper_without_keys_replays_a_local_exchange_that_goes_on_where_it_stopped(
        tmp_path: Path, june_bars: str) -> None:
    env = {"TELEGRAM_CHAT_ID": "42"}
    with broker_env(tmp_path, True, june_bars, dt.date(2017, 6, 5), env) as (local, admin):
        assert admin is not None
        assert local["ALPACA_BASE_URL"].startswith("http://127.0.0.1:") and local["TELEGRAM_CHAT_ID"] == "42"
        assert local["ALPACA_API_KEY_ID"] and local["ALPACA_API_SECRET_KEY"]
        assert admin.clock()["now"].startswith("2017-06-05T13:30")     # the open, in UTC
        admin.set_clock(dt.datetime(2017, 6, 7, 10, 0, tzinfo=NY))
    assert (tmp_path / "state" / "exchange.sqlite").exists()
    # A second run: the stored clock goes on; the start asked for is for a new exchange only.
    with broker_env(tmp_path, True, june_bars, dt.date(2017, 6, 20), env) as (_, again):
        assert again is not None and again.clock()["now"].startswith("2017-06-07T14:00")


# -- the clock --------------------------------------------------------------------------

def test_runner_clock_without_a_local_exchange_is_the_brokers() -> None:
    instant = dt.datetime(2017, 6, 5, 14, 0, tzinfo=dt.UTC)
    trader: Any = SimpleNamespace(broker=SimpleNamespace(clock=lambda: SimpleNamespace(now=instant)))
    clock = runner_clock(trader, None, max_poll=0.5)
    assert isinstance(clock, BrokerClock) and clock.now() == instant and clock.max_poll == 0.5


REPLAY_ENDS = [
    # id, --until, the end of the replay (New York)
    ("the-data-s-last-session-an-early-close", None, dt.datetime(2017, 7, 3, 13, 0, tzinfo=NY)),
    ("until-a-session", dt.date(2017, 6, 9), dt.datetime(2017, 6, 9, 16, 0, tzinfo=NY)),
]


@pytest.mark.parametrize(("until", "end"), [c[1:] for c in REPLAY_ENDS], ids=[c[0] for c in REPLAY_ENDS])
def test_runner_clock_with_a_local_exchange_replays_to_the_close(june_bars: str, until: dt.date | None,
                                                                  end: dt.datetime) -> None:
    trader: Any = SimpleNamespace()
    with serve_exchange(ExchangeConfig(data=june_bars, start=dt.date(2017, 6, 5))) as url:
        admin = ExchangeAdmin(url)
        clock = runner_clock(trader, admin, data=june_bars, until=until, pace=0.25)
        assert isinstance(clock, ReplayClock) and clock.pace == 0.25 and clock.end == end
        assert clock.now() == dt.datetime(2017, 6, 5, 9, 30, tzinfo=NY)
        clock.set_clock(dt.datetime(2017, 6, 6, 9, 35, tzinfo=NY))
        assert clock.now() == dt.datetime(2017, 6, 6, 9, 35, tzinfo=NY)


# -- the preflight lists ----------------------------------------------------------------

OFFLINE = ["keys", "config pin", "kill switch", "disk space", "data fresh"]

OFFLINE_CASES = [
    # id, keys given, pinned, kill switch set, today: the checks that fail
    ("all-pass", True, True, False, dt.date(2018, 2, 8), []),
    ("no-keys", False, True, False, dt.date(2018, 2, 8), ["keys"]),
    ("unpinned", True, False, False, dt.date(2018, 2, 8), ["config pin"]),
    ("killed", True, True, True, dt.date(2018, 2, 8), ["kill switch"]),
    ("stale-data", True, True, False, dt.date(2018, 3, 1), ["data fresh"]),
    ("everything-wrong", False, False, True, dt.date(2018, 3, 1), ["keys", "config pin", "kill switch", "data fresh"]),
]


@pytest.mark.parametrize(("keys", "pinned", "killed", "today", "failing"), [c[1:] for c in OFFLINE_CASES],
                         ids=[c[0] for c in OFFLINE_CASES])
def test_offline_checks(project_dir: Path, keys: bool, pinned: bool, killed: bool, today: dt.date,
                        failing: list[str]) -> None:
    project = load_project(project_dir / "strategies.yaml")
    if pinned:
        from kobe.config.pin import write_pin

        write_pin(project.root, project.fingerprint())
    if killed:
        KillSwitch(project_dir / project.config.risk.kill_switch_file).set("testing", who="me")
    result = offline_checks(project, KEYS if keys else {}, today)       # the embedded bars end 2018-02-07
    assert [c.name for c in result.checks] == OFFLINE
    assert [c.name for c in result.checks if not c.passed] == failing
    assert result.passed == (failing == [])


def test_quote_symbol_is_the_first_of_the_first_enabled_strategys_universe(project_dir: Path) -> None:
    project = load_project(project_dir / "strategies.yaml")
    assert quote_symbol(project) == project.universe(project.enabled()[0].config)[0]
    text = (project_dir / "strategies.yaml").read_text()
    (project_dir / "strategies.yaml").write_text(text.replace("enabled: true", "enabled: false"))
    assert quote_symbol(load_project(project_dir / "strategies.yaml")) == "SPY"


RUNNER = ["keys", "config pin", "kill switch", "disk space", "broker account", "broker clock", "quotes", "data fresh"]

RUNNER_CASES = [
    # id, kill switch set, the bars' last date: the checks that fail (the broker's day is 2017-06-05)
    ("all-pass", False, dt.date(2017, 6, 2), []),
    ("killed", True, dt.date(2017, 6, 2), ["kill switch"]),
    ("stale-data", False, dt.date(2017, 5, 31), ["data fresh"]),
    ("the-sessions-own-bar-does-not-count", False, dt.date(2017, 6, 5), []),
]


@pytest.mark.parametrize(("killed", "last", "failing"), [c[1:] for c in RUNNER_CASES],
                         ids=[c[0] for c in RUNNER_CASES])
def test_runner_checks(pinned_project_dir: Path, tmp_path: Path, killed: bool, last: dt.date,
                       failing: list[str]) -> None:
    bars = tmp_path / "bars.parquet"
    read_bars().filter(pl.col("date") <= last).collect().write_parquet(bars)
    project = load_project(pinned_project_dir / "strategies.yaml")
    with serve_exchange(ExchangeConfig(start=dt.datetime(2017, 6, 5, 10, 0, tzinfo=NY))) as url:
        env = paper_env(url)
        trader = open_trader(project, env, paper=True, timeout=5)
        if killed:
            trader.kill_switch.set("testing", who="me")
        result = runner_checks(project, trader, env, now=trader.broker.clock().now, data=str(bars))
    assert [c.name for c in result.checks] == RUNNER
    assert [c.name for c in result.checks if not c.passed] == failing
    assert quote_symbol(project) in result.checks[RUNNER.index("quotes")].detail


# -- a whole run ------------------------------------------------------------------------

def test_open_runner_replays_one_cycle_through_a_local_exchange(pinned_project_dir: Path) -> None:
    project = load_project(pinned_project_dir / "strategies.yaml")
    options = RunOptions("paper", cap=2, once=True, replay_from=dt.date(2018, 1, 26), health_port=None)
    with open_runner(project, {}, options) as setup:
        assert setup.broker_env["ALPACA_BASE_URL"].startswith("http://127.0.0.1:")
        assert isinstance(setup.runner.clock, ReplayClock) and setup.runner.trader.entry_cap == 2
        assert (setup.runner.mode, setup.runner.once, setup.runner.health_port) == ("paper", True, None)
        preflight = setup.preflight()
        assert [c.name for c in preflight.checks] == RUNNER and preflight.passed, preflight.render()
        assert setup.runner.run(lambda: preflight) == 0
        assert setup.runner.state.cycles == 1
        assert setup.runner.clock.now().date() == dt.date(2018, 1, 26)
    orders = OrderStore(pinned_project_dir / "state" / "orders.sqlite").orders()
    assert {o.trading_date for o in orders} <= {dt.date(2018, 1, 26)}
    assert len([o for o in orders if o.side == "buy"]) <= 2          # the cap on new entries


@pytest.mark.parametrize(("source", "detail"), [
    # The config's own data source is what `kobe preflight` judges, as the runner trades on it.
    pytest.param("  provider: polygon\n", "state/lake is empty", id="an-empty-lake"),
    pytest.param("  provider: files\n  path: early.parquet\n", "newest bar 2017-12-29", id="a-files-source"),
])
def test_offline_checks_judge_the_configs_data_source(project_dir: Path, source: str, detail: str) -> None:
    from kobe.data.bars import read_bars

    read_bars(None).filter(pl.col("date") <= dt.date(2017, 12, 29)).collect().write_parquet(
        project_dir / "early.parquet")
    text = (project_dir / "strategies.yaml").read_text()
    (project_dir / "strategies.yaml").write_text(text.replace("  provider: embedded\n", source, 1))
    project = load_project(project_dir / "strategies.yaml")
    result = offline_checks(project, KEYS, dt.date(2018, 2, 8))   # the embedded bars would be fresh
    (fresh,) = [c for c in result.checks if c.name == "data fresh"]
    assert not fresh.passed and detail in fresh.detail, fresh
