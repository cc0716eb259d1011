"""A broker that cannot be reached or named, and option values no broker call could
take, through `kobe trade` and `kobe reconcile`: each a clean error (exit 2, the variable
or the option named), never a traceback, and nothing changed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from trade_desk import KEY_ID, SECRET, make_project

from kobe.cli import main

TRADE = ("trade", "--paper", "--once")
RECONCILE = ("reconcile",)
REBUILD = ("reconcile", "--rebuild")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def closed_port() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def run(project: Path, command: tuple[str, ...], env: dict[str, str], *options: str) -> Result:
    keys = {"ALPACA_API_KEY_ID": KEY_ID, "ALPACA_API_SECRET_KEY": SECRET, "ALPACA_DATA_URL": ""}
    return CliRunner().invoke(main, [*command, *options, "--config", str(project / "strategies.yaml")],
                              env={**keys, **env})


def assert_clean(result: Result, says: str) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output, result.output
    assert says in result.output, result.output
    assert SECRET not in result.output


URLS = [
    pytest.param("ftp://x", "ALPACA_BASE_URL 'ftp://x' is not a broker's URL: the scheme is 'ftp'", id="ftp-scheme"),
    pytest.param("http://127.0.0.1:99999", "ALPACA_BASE_URL 'http://127.0.0.1:99999' is not a broker's URL: Port out "
                 "of range", id="port-99999"),
    pytest.param("http://127.0.0.1:port", "is not a broker's URL: Port could not be cast", id="port-not-a-number"),
    pytest.param("http://[::1", "ALPACA_BASE_URL 'http://[::1' is not a broker's URL: Invalid IPv6 URL",
                 id="ipv6-bracket-unclosed"),
    pytest.param("http://", "ALPACA_BASE_URL 'http://' is not a broker's URL: it has no host", id="no-host"),
    pytest.param("127.0.0.1:8765", "ALPACA_BASE_URL '127.0.0.1:8765' is not a broker's URL: it has no scheme",
                 id="no-scheme"),
]


@pytest.mark.parametrize("command", [TRADE, RECONCILE, REBUILD], ids=["trade", "reconcile", "reconcile-rebuild"])
@pytest.mark.parametrize(("url", "says"), URLS)
def test_a_base_url_that_is_no_brokers_is_named(project: Path, command: tuple[str, ...], url: str, says: str) -> None:
    assert_clean(run(project, command, {"ALPACA_BASE_URL": url}), says)


def test_a_data_url_that_is_no_brokers_is_named(project: Path) -> None:
    result = run(project, TRADE, {"ALPACA_BASE_URL": closed_port(), "ALPACA_DATA_URL": "gopher://x"})
    assert_clean(result, "ALPACA_DATA_URL 'gopher://x' is not a broker's URL: the scheme is 'gopher'")


@pytest.mark.parametrize(("command", "says"), [
    pytest.param(RECONCILE, "error: the broker could not be read", id="reconcile"),
    pytest.param(REBUILD, "error: the broker's orders could not be read", id="reconcile-rebuild"),
    pytest.param(TRADE, "error: the broker's clock is unavailable", id="trade"),
])
def test_a_broker_that_does_not_answer_is_a_clean_error(project: Path, command: tuple[str, ...], says: str) -> None:
    result = run(project, command, {"ALPACA_BASE_URL": closed_port()}, "--timeout", "2")
    assert_clean(result, says)
    assert "ALPACA_BASE_URL" in result.output or "nothing was changed" in result.output


OPTIONS = [
    pytest.param(command, option, value, id=f"{name}-{option[2:]}-{why}")
    for name, command in (("trade", TRADE), ("reconcile", RECONCILE))
    for option, value, why in (
        ("--timeout", "nan", "nan"),
        ("--timeout", "1e309", "overflowing-to-infinity"),
        ("--timeout", "inf", "infinite"),
        ("--timeout", "-1", "negative"),
        ("--timeout", "0", "zero"),
        ("--timeout", "601", "above-ten-minutes"),
        ("--timeout", "soon", "not-a-number"),
        *((("--poll-timeout", "-1", "negative"), ("--poll-timeout", "nan", "nan"),
           ("--poll-timeout", "1e309", "infinite"), ("--poll-timeout", "3601", "above-an-hour"))
          if command == TRADE else ()),
    )
]


@pytest.mark.parametrize(("command", "option", "value"), OPTIONS)
def test_an_option_no_broker_call_could_take_is_refused(project: Path, command: tuple[str, ...], option: str,
                                                         value: str) -> None:
    result = run(project, command, {"ALPACA_BASE_URL": closed_port()}, option, value)
    assert_clean(result, f"Invalid value for '{option}': '{value}' is not a number of seconds")
    assert not (project / "state" / "orders.sqlite").exists()     # refused before anything was opened


@pytest.mark.parametrize(("option", "value"), [
    pytest.param("--timeout", "0.5", id="timeout-half-a-second"),
    pytest.param("--poll-timeout", "0", id="poll-timeout-zero"),
])
def test_an_option_in_range_is_taken(project: Path, option: str, value: str) -> None:
    """Past the options, to the broker (which does not answer)."""
    result = run(project, TRADE, {"ALPACA_BASE_URL": closed_port()}, option, value)
    assert_clean(result, "error: the broker's clock is unavailable")
