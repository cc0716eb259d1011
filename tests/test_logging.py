"""Kobe's logging (kobe/logs.py): each audit event as a JSON line in the project's log
file, readable text on stderr, and never a byte on stdout, so `--json` outputs stay
parseable and the default terminal output is what it was."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from kobe.broker.exchange import ExchangeConfig, ExchangeServer
from kobe.cli import main

KEY_ID, SECRET = "PKLOGTESTKEY1234", "SKLOGTESTSECRET5678"
TEN_AM = dt.datetime(2017, 6, 5, 10, 0, tzinfo=ZoneInfo("America/New_York"))
QUIET = {"KOBE_LOG_LEVEL": None, "KOBE_LOG_FORMAT": None, "KOBE_LOG_FILE": None}


def kobe(project: Path, *args: str, **env: str | None) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(project / "strategies.yaml")], env={**QUIET, **env})


def log_lines(project: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (project / "logs" / "kobe.log").read_text().splitlines()]


def audit_events(project: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (project / "logs" / "events.jsonl").read_text().splitlines()]


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A local exchange at 10:00 New York on 2017-06-05, and the environment pointing at it."""
    server = ExchangeServer(ExchangeConfig(start=TEN_AM, state=tmp_path / "exchange.sqlite", key_id=KEY_ID,
                                           secret_key=SECRET)).start()
    try:
        yield {"ALPACA_BASE_URL": server.url, "ALPACA_API_KEY_ID": KEY_ID, "ALPACA_API_SECRET_KEY": SECRET}
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _no_leftover_handlers() -> Iterator[None]:
    before = list(logging.getLogger().handlers)
    yield
    assert logging.getLogger().handlers == before, "a command left a log handler installed"


def test_each_audit_event_is_a_json_line_with_its_fields(project_dir: Path) -> None:
    done = kobe(project_dir, "kill", "--reason", "earnings week", "--who", "carol")
    assert done.exit_code == 0, done.output
    assert done.stderr == ""                      # the terminal shows WARNING and up only
    (line,) = [r for r in log_lines(project_dir) if r.get("kind") == "killswitch.set"]
    assert line["level"] == "INFO" and line["logger"] == "kobe.audit" and line["message"] == "killswitch.set"
    assert line["stream"] == "events" and line["fields"]["reason"] == "earnings week"
    assert line["fields"]["who"] == "carol"
    dt.datetime.fromisoformat(line["time"])
    (event,) = [e for e in audit_events(project_dir) if e["kind"] == "killswitch.set"]
    assert (line["seq"], line["ts"]) == (event["seq"], event["ts"])

    assert kobe(project_dir, "resume", "--yes", "--reason", "done").exit_code == 0
    logged = [(r["kind"], r["seq"]) for r in log_lines(project_dir) if r.get("logger") == "kobe.audit"]
    assert logged == [(e["kind"], e["seq"]) for e in audit_events(project_dir)]    # one line per event


def test_the_terminal_shows_readable_text_on_stderr_when_asked(project_dir: Path) -> None:
    done = kobe(project_dir, "kill", "--reason", "maintenance", "--who", "dave", KOBE_LOG_LEVEL="info")
    assert done.exit_code == 0
    (line,) = [t for t in done.stderr.splitlines() if "killswitch.set" in t]
    match = re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO kobe\.audit: killswitch\.set (\{.*\})", line)
    assert match, line
    assert json.loads(match.group(1))["reason"] == "maintenance"
    assert "killswitch.set" not in done.stdout


def test_json_on_the_terminal_too(project_dir: Path) -> None:
    done = kobe(project_dir, "kill", "--reason", "x", KOBE_LOG_LEVEL="INFO", KOBE_LOG_FORMAT="json")
    records = [json.loads(t) for t in done.stderr.splitlines()]
    assert [r["kind"] for r in records] == ["killswitch.set"]


def test_a_json_output_gets_no_log_text_even_with_every_level_on(pinned_project_dir: Path,
                                                                 exchange: dict[str, str]) -> None:
    done = kobe(pinned_project_dir, "trade", "--paper", "--once", "--json", KOBE_LOG_LEVEL="DEBUG",
                KOBE_LOG_FORMAT="json", **exchange)
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)                 # stdout: the report and nothing else
    assert report["entries"]
    kinds = {json.loads(t).get("kind") for t in done.stderr.splitlines() if t.startswith("{")}
    assert {"cycle.started", "cycle.finished"} <= kinds
    text = (pinned_project_dir / "logs" / "kobe.log").read_text()
    assert "cycle.finished" in text and SECRET not in text and KEY_ID not in text


def test_log_file_settings(project_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "var" / "kobe.json"
    assert kobe(project_dir, "kill", "--reason", "a", KOBE_LOG_FILE=str(elsewhere)).exit_code == 0
    assert "killswitch.set" in elsewhere.read_text() and not (project_dir / "logs" / "kobe.log").exists()
    assert kobe(project_dir, "resume", "--yes", KOBE_LOG_FILE="off").exit_code == 0
    assert "killswitch.cleared" not in elsewhere.read_text()
    assert not (project_dir / "logs" / "kobe.log").exists()


def test_a_log_file_that_cannot_be_written_stops_nothing(project_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    done = kobe(project_dir, "kill", "--reason", "a", KOBE_LOG_FILE=str(tmp_path / "a-file" / "kobe.log"))
    assert done.exit_code == 0 and "Traceback" not in done.output
    assert [t for t in done.stderr.splitlines() if "cannot be written" in t] and done.stdout.startswith("kill")


def test_commands_that_log_nothing_write_no_log(project_dir: Path) -> None:
    validated = CliRunner().invoke(main, ["validate", str(project_dir / "strategies.yaml")], env=QUIET)
    assert validated.exit_code == 0, validated.output
    assert not (project_dir / "logs").exists()
    functions = CliRunner().invoke(main, ["functions"], env=QUIET)
    assert functions.exit_code == 0 and functions.stderr == ""


def test_a_level_that_is_none_is_said_and_ignored(project_dir: Path) -> None:
    done = CliRunner().invoke(main, ["validate", str(project_dir / "strategies.yaml")],
                              env={**QUIET, "KOBE_LOG_LEVEL": "loud"})
    assert done.exit_code == 0 and "KOBE_LOG_LEVEL='loud' is not a level" in done.stderr


def test_secrets_of_the_projects_env_are_scrubbed_from_every_record(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from kobe.logs import configure, project_log

    (tmp_path / ".env").write_text(f"ALPACA_API_SECRET_KEY={SECRET}\n")
    undo = configure({})
    try:
        with project_log(tmp_path, {}):
            logging.getLogger("kobe.test").warning("the broker answered %s for key %s", 401, SECRET)
    finally:
        undo()
    line = json.loads((tmp_path / "logs" / "kobe.log").read_text())
    assert line["message"] == "the broker answered 401 for key ***" and line["level"] == "WARNING"
    captured = capsys.readouterr()
    assert captured.out == "" and "for key ***" in captured.err and SECRET not in captured.err
