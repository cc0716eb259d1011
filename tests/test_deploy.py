"""deploy/ cannot rot silently: no Docker daemon or systemd runs here, so the files are
read and checked against the program itself. The commands they run are parsed by the
CLI's own options (an option renamed or removed fails here); the compose file's health
check hits /liveness on the port the runner serves; the runner's state and audit trail
live on volumes; and docs/deploy.md lists every environment variable Kobe reads."""

from __future__ import annotations

import configparser
import json
import re
import shlex
from pathlib import Path
from typing import Any

import click
import yaml  # type: ignore[import-untyped]

from kobe.cli import main

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
PROJECT = "/srv/kobe"


def parsed_run(argv: list[str]) -> dict[str, Any]:
    """``kobe run ...`` parsed by the CLI: its params, or a click error naming the problem."""
    assert Path(argv[0]).name == "kobe" and argv[1] == "run", argv
    ctx = click.Context(main)
    command = main.get_command(ctx, "run")
    assert command is not None
    with command.make_context("run", argv[2:], parent=ctx) as sub:
        return dict(sub.params)


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def instruction(name: str) -> list[str]:
    return [rest for word, rest in dockerfile() if word == name]


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd's keys are case-sensitive
    parser.read_string((DEPLOY / "kobe.service").read_text())
    return parser


def test_the_image_runs_a_kobe_run_the_cli_accepts_with_the_health_server_reachable() -> None:
    argv = json.loads(instruction("CMD")[-1])
    params = parsed_run(argv)
    assert params["paper"] and not params["live"]
    assert params["health_host"] == "0.0.0.0" and params["health_port"] == 8000
    assert "8000" in instruction("EXPOSE")[-1]
    health = instruction("HEALTHCHECK")[-1]
    assert "http://127.0.0.1:8000/liveness" in health


def test_the_image_runs_as_a_user_with_its_state_on_volumes() -> None:
    user = instruction("USER")[-1]
    assert user not in ("root", "0")
    assert instruction("WORKDIR")[-1] == PROJECT
    volumes = json.loads(instruction("VOLUME")[-1])
    assert f"{PROJECT}/state" in volumes and f"{PROJECT}/logs" in volumes
    assert any("pip install ." in rest for rest in instruction("RUN"))
    assert instruction("FROM")[0].startswith("python:") and "slim" in instruction("FROM")[0]
    copied = " ".join(instruction("COPY"))
    for name in ("pyproject.toml", "kobe", "strategies.yaml", "risk.yaml", "rules", "universe"):
        assert re.search(rf"(^|\s){name}(\s|$)", copied), f"the Dockerfile does not copy {name}"


def test_the_build_context_keeps_out_the_keys_and_state_but_not_what_the_image_copies() -> None:
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert {".env", "state/", "logs/", ".venv/"} <= set(ignored)
    for name in ("pyproject.toml", "README.md", "kobe/", "strategies.yaml", "risk.yaml", "rules/", "universe/"):
        assert name not in ignored


def test_compose_checks_liveness_keeps_the_state_and_restarts() -> None:
    document = compose()
    service = document["services"]["kobe"]
    assert (REPO / "deploy" / service["build"]["context"] / service["build"]["dockerfile"]).resolve() \
        == (DEPLOY / "Dockerfile").resolve()
    check = " ".join(service["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/liveness" in check and "urllib" in check
    mounts = dict(volume.split(":", 1) for volume in service["volumes"])
    assert mounts["state"] == f"{PROJECT}/state" and mounts["logs"] == f"{PROJECT}/logs"
    assert {"state", "logs"} <= set(document["volumes"])
    assert service["restart"] == "unless-stopped"
    env_file = service["env_file"]
    assert (env_file if isinstance(env_file, str) else env_file[0]).endswith(".env")
    assert any(str(port).endswith(":8000") for port in service["ports"])
    assert "command" not in service  # the image's CMD, checked above, is what runs


def test_the_systemd_unit_runs_a_kobe_run_the_cli_accepts() -> None:
    service = unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    params = parsed_run(argv)
    assert params["paper"]
    assert service["Restart"] == "on-failure"
    assert service["User"] not in ("root", "0")
    assert service["WorkingDirectory"] == PROJECT and argv[0].startswith(PROJECT)
    assert service["EnvironmentFile"].lstrip("-") == f"{PROJECT}/.env"
    writable = service["ReadWritePaths"].split()
    assert f"{PROJECT}/state" in writable and f"{PROJECT}/logs" in writable


def test_every_environment_variable_kobe_reads_is_in_the_table_of_docs_deploy() -> None:
    code = "\n".join(p.read_text() for p in (REPO / "kobe").rglob("*.py"))
    names = set(re.findall(r"[\"']((?:ALPACA|POLYGON|MASSIVE|KOBE|TELEGRAM|XDG)_[A-Z0-9_]+)[\"']", code))
    assert {"ALPACA_API_KEY_ID", "KOBE_LOG_FILE", "KOBE_DASHBOARD_TOKEN"} <= names
    table = set(re.findall(r"^\| `([A-Z0-9_]+)`", (REPO / "docs" / "deploy.md").read_text(), flags=re.MULTILINE))
    missing = sorted(names - table)
    assert not missing, f"docs/deploy.md's table of environment variables lacks {missing}"
    # The variables the deploy files set are real ones.
    set_here = set(re.findall(r"\b(KOBE_[A-Z_]+)=", (DEPLOY / "Dockerfile").read_text()
                              + (DEPLOY / "kobe.service").read_text()))
    assert set_here and set_here <= names
