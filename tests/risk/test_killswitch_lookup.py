"""KillSwitch.of_project: the switch found from risk.yaml's ``kill_switch_file`` alone,
whatever state the config is in (a broken config must never stop anyone from stopping)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobe.project import load_project
from kobe.risk.killswitch import DEFAULT_KILL_SWITCH, KillSwitch
from kobe.trade.cycle import kill_switch_of

CASES = [
    # id, risk.yaml's bytes (None: no file), the switch's path relative to the project
    ("missing-risk-file", None, DEFAULT_KILL_SWITCH),
    ("custom-file", b"kill_switch_file: ops/STOP\n", "ops/STOP"),
    ("custom-among-other-keys", b"daily_budget_usd: 5\nkill_switch_file: halt.flag  # here\n", "halt.flag"),
    ("key-absent", b"daily_budget_usd: 5\n", DEFAULT_KILL_SWITCH),
    ("broken-yaml", b"kill_switch_file: [ops/STOP\n", DEFAULT_KILL_SWITCH),
    ("empty-file", b"", DEFAULT_KILL_SWITCH),
    ("not-a-mapping", b"- kill_switch_file: ops/STOP\n", DEFAULT_KILL_SWITCH),
    ("not-a-string", b"kill_switch_file: 42\n", DEFAULT_KILL_SWITCH),
    ("empty-string", b"kill_switch_file: ''\n", DEFAULT_KILL_SWITCH),
    ("blank-string", b"kill_switch_file: '  '\n", DEFAULT_KILL_SWITCH),
    ("not-utf8", b"kill_switch_file: \xff\xfe\n", DEFAULT_KILL_SWITCH),
    ("nul-character", b'kill_switch_file: "state/KS\\0x"\n', DEFAULT_KILL_SWITCH),
    ("name-too-long", b"kill_switch_file: state/" + b"k" * 200 + b"\n", DEFAULT_KILL_SWITCH),
    ("alias-bomb", b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
        f"a{i}: &a{i} [{', '.join(['*a' if i == 1 else f'*a{i - 1}'] * 10)}]\n".encode() for i in range(1, 10))
     + b"kill_switch_file: ops/STOP\n", DEFAULT_KILL_SWITCH),
]


@pytest.mark.parametrize(("content", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_of_project_finds_the_switch_without_loading_the_config(tmp_path: Path, content: bytes | None,
                                                                  expected: str) -> None:
    (tmp_path / "strategies.yaml").write_text("strategies: [this is not valid\n")    # never read
    if content is not None:
        (tmp_path / "risk.yaml").write_bytes(content)
    assert KillSwitch.of_project(tmp_path).path == tmp_path / expected


def test_of_project_reads_the_risk_file_given_and_resolves_against_the_project(tmp_path: Path) -> None:
    elsewhere = tmp_path / "config" / "live-risk.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text("kill_switch_file: state/LIVE_STOP\n")
    (tmp_path / "risk.yaml").write_text("kill_switch_file: state/PAPER_STOP\n")
    project = tmp_path / "project"
    assert KillSwitch.of_project(project, elsewhere).path == project / "state" / "LIVE_STOP"
    assert KillSwitch.of_project(project, tmp_path / "no-such.yaml").path == project / DEFAULT_KILL_SWITCH
    assert KillSwitch.of_project(project, tmp_path / "config").path == project / DEFAULT_KILL_SWITCH  # a folder


@pytest.mark.parametrize("name", [
    pytest.param("state/KILL_SWITCH", id="default"),
    pytest.param("ops/STOP_TRADING", id="custom"),
    pytest.param("state/" + "k" * 194, id="200-characters"),
    pytest.param("'ops/stop now'", id="a-space"),
])
def test_of_project_agrees_with_the_loaded_config(project_dir: Path, name: str) -> None:
    risk = project_dir / "risk.yaml"
    text = risk.read_text()
    assert "kill_switch_file: state/KILL_SWITCH" in text
    risk.write_text(text.replace("kill_switch_file: state/KILL_SWITCH", f"kill_switch_file: {name}"))
    project = load_project(project_dir / "strategies.yaml")
    assert KillSwitch.of_project(project_dir).path == kill_switch_of(project.root, project.config.risk).path \
        == project_dir / name.strip("'")


@pytest.mark.parametrize("name", [
    pytest.param("' '", id="blank"),
    pytest.param('"state/KS\\0x"', id="nul-character"),
    pytest.param("state/" + "k" * 195, id="201-characters"),
])
def test_the_schema_refuses_every_name_the_lookup_would_replace(project_dir: Path, name: str) -> None:
    """Otherwise `kobe kill` (the lookup, which falls back to the default) and the trader
    (the loaded config) would watch different files."""
    from kobe.config.errors import KobeError

    risk = project_dir / "risk.yaml"
    risk.write_text(risk.read_text().replace("kill_switch_file: state/KILL_SWITCH", f"kill_switch_file: {name}"))
    with pytest.raises(KobeError, match="kill_switch_file"):
        load_project(project_dir / "strategies.yaml")
    assert KillSwitch.of_project(project_dir).path == project_dir / DEFAULT_KILL_SWITCH


def test_a_switch_set_through_the_lookup_stops_the_configs_trader(project_dir: Path) -> None:
    KillSwitch.of_project(project_dir).set("broker acting up", who="alice")
    project = load_project(project_dir / "strategies.yaml")
    switch = kill_switch_of(project.root, project.config.risk)
    assert switch.active() and switch.info()["who"] == "alice"
