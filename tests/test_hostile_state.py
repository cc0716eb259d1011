"""Damaged state and secrets files next to the config, through the CLI (issue 11).

The pin, the kill switch and ``.env`` are read by commands that must never crash: a
damaged pin is a located error; the kill switch is set whatever ``risk.yaml`` holds; a
``.env`` that is not UTF-8 is reported at its line and column.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from kobe.cli import main


def kobe(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.chdir(root)
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _lock(root: Path) -> Path:
    (root / "state").mkdir(exist_ok=True)
    return root / "state" / "config.lock"


@pytest.mark.parametrize("damage", [
    pytest.param(lambda root: _lock(root).mkdir(), id="folder"),
    pytest.param(lambda root: _lock(root).write_bytes(b"\xff\xfe garbage \x00"), id="not-utf8"),
    pytest.param(lambda root: _lock(root).write_text("[1, 2]"), id="a-list"),
    pytest.param(lambda root: _lock(root).write_text('{"sha256": "x", "pinned_at": "y", "files": 5}'), id="files-5"),
    pytest.param(lambda root: _lock(root).write_text('{"sha256": "x"'), id="truncated"),
])
def test_damaged_pin_is_an_error_naming_it(project_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                           damage: Callable[[Path], object]) -> None:
    damage(project_dir)
    code, output = kobe(project_dir, monkeypatch, "validate")
    assert code == 2, output
    assert "state/config.lock: error: unreadable pin file" in output, output


BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 12))


@pytest.mark.parametrize("risk", [
    pytest.param(BOMB.encode(), id="alias-bomb"),
    pytest.param(("x: " + "[" * 5000 + "]" * 5000 + "\n").encode(), id="deep-nesting"),
    pytest.param(b"kill_switch_file: state/KILL\xe9\n", id="not-utf8"),
    pytest.param(("kill_switch_file: " + "k" * 300 + "\n").encode(), id="name-too-long"),
    pytest.param(b"kill_switch_file: [1]\n", id="not-a-string"),
])
def test_kill_works_whatever_risk_yaml_holds(project_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                             risk: bytes) -> None:
    (project_dir / "risk.yaml").write_bytes(risk)
    code, output = kobe(project_dir, monkeypatch, "kill", "--reason", "drill")
    assert code == 0, output
    assert (project_dir / "state" / "KILL_SWITCH").is_file()


def test_kill_switch_path_taken_by_a_folder(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder at the switch's path: trading is stopped (the path exists); kill and
    resume say what is wrong instead of crashing."""
    (project_dir / "state" / "KILL_SWITCH").mkdir(parents=True)
    code, output = kobe(project_dir, monkeypatch, "kill", "--reason", "drill")
    assert code == 2 and "cannot write the kill switch" in output and "set all the same" in output, output
    code, output = kobe(project_dir, monkeypatch, "resume", "--yes")
    assert code == 2 and "cannot remove the kill switch" in output, output


@pytest.mark.parametrize(("content", "message"), [
    pytest.param(b"ALPACA_API_KEY_ID=abc\nPOLYGON_API_KEY=caf\xe9\n", ".env:2:20: error: not UTF-8: byte 0xe9",
                 id="not-utf8"),
    pytest.param(None, ".env: error: this is a folder", id="folder"),
])
def test_damaged_env_file_is_located(project_dir: Path, monkeypatch: pytest.MonkeyPatch, content: bytes | None,
                                     message: str) -> None:
    env = project_dir / ".env"
    if content is None:
        env.mkdir()
    else:
        env.write_bytes(content)
    code, output = kobe(project_dir, monkeypatch, "preflight", "--at", "2024-01-02")
    assert code == 2, output
    assert message in output, output


def test_env_file_is_read_by_python_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Quotes, export lines, comments and a '$' inside a key, as a trader writes them."""
    from kobe.secrets import read_env

    for name in ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY", "POLYGON_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    env = tmp_path / ".env"
    env.write_text('# keys\nexport ALPACA_API_KEY_ID="ab$cd"\nALPACA_API_SECRET_KEY=\'s e\'  # comment\n'
                   "POLYGON_API_KEY=plain\nBROKEN LINE\n", encoding="utf-8")
    values = read_env(env)
    assert values["ALPACA_API_KEY_ID"] == "ab$cd"
    assert values["ALPACA_API_SECRET_KEY"] == "s e"
    assert values["POLYGON_API_KEY"] == "plain"


@pytest.mark.parametrize(("where", "command", "written"), [
    pytest.param("out", ["backtest", "strategies.yaml"], "out/backtest/", id="backtest-out-is-a-file"),
    pytest.param("logs", ["scan"], "logs/daily_picks.csv", id="scan-logs-is-a-file"),
    pytest.param("state", ["pin"], "state/config.lock", id="pin-state-is-a-file"),
])
def test_a_file_where_an_output_folder_should_be(project_dir: Path, monkeypatch: pytest.MonkeyPatch, where: str,
                                                 command: list[str], written: str) -> None:
    (project_dir / where).write_text("not a folder\n")
    code, output = kobe(project_dir, monkeypatch, *command)
    assert code == 2, output
    assert f"{written}" in output and "cannot write this file: a file stands where a folder" in output, output
    assert (project_dir / where).read_text() == "not a folder\n"


@pytest.mark.parametrize("picks", [
    pytest.param(b"\xff\xfe\x00garbage", id="garbage"),
    pytest.param(b"a,b\n1,2\n", id="other-columns"),
    pytest.param(b"date,strategy,symbol,close,stop,rank_score\nnot-a-date,x,y,1,2,3\n", id="bad-date"),
])
def test_a_damaged_picks_file_is_named_and_never_overwritten(project_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                             picks: bytes) -> None:
    (project_dir / "logs").mkdir()
    (project_dir / "logs" / "daily_picks.csv").write_bytes(picks)
    code, output = kobe(project_dir, monkeypatch, "scan")
    assert code == 2 and "logs/daily_picks.csv: error: cannot read the picks so far" in output, output
    assert (project_dir / "logs" / "daily_picks.csv").read_bytes() == picks
