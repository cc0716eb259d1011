"""`kobe init`: a project written outside the repository works with no keys and no network.

The commands run as real subprocesses of this virtualenv's `kobe` script, in a folder
under tmp_path, so nothing of the checkout (its strategies.yaml, its rules/) can stand in
for what the package ships.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from kobe.scaffold import SCHEMA_DIR, schema_files, template_files

REPO = Path(__file__).resolve().parents[1]
KOBE = Path(sys.executable).parent / "kobe"
SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


def kobe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # No keys and no log settings of whoever runs the tests: the project must work bare.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ALPACA_", "POLYGON_", "TELEGRAM_", "KOBE_LOG_"))}
    return subprocess.run([str(KOBE), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False,
                          timeout=300)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("init")
    done = kobe("init", "proj", cwd=where)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "next:" in done.stdout and "kobe validate" in done.stdout and "kobe pin" in done.stdout
    return where / "proj"


def test_the_new_project_validates_backtests_and_paper_trades_offline(project: Path) -> None:
    for args in (["validate"], ["backtest", "strategies.yaml"], ["pin"],
                 ["run", "--paper", "--once", "--health-port", "0"]):
        done = kobe(*args, cwd=project)
        assert done.returncode == 0, f"kobe {' '.join(args)}:\n{done.stdout}{done.stderr}"
    assert (project / "out" / "backtest").is_dir()
    kinds = [json.loads(line)["kind"] for line in (project / "logs" / "events.jsonl").read_text().splitlines()]
    assert "runner.started" in kinds and "cycle.finished" in kinds and kinds[-1] == "runner.stopped"


def test_the_project_holds_what_init_promises(project: Path) -> None:
    names = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    assert {"strategies.yaml", "risk.yaml", "rules/channels.kobe", "universe/default.csv", ".env.example",
            ".gitignore", ".kobe/schema/strategies.schema.json", ".kobe/schema/risk.schema.json"} <= names
    assert "embedded" in (project / "strategies.yaml").read_text()  # the sample bars: no network


@pytest.mark.parametrize("name", ["strategies", "risk"])
def test_the_schema_lines_resolve_from_the_yaml_files_own_folder(project: Path, name: str) -> None:
    first = (project / f"{name}.yaml").read_text().splitlines()[0]
    match = SCHEMA_LINE.match(first)
    assert match, first
    target = match.group(1)
    assert not os.path.isabs(target) and ".." not in Path(target).parts and "://" not in target
    schema = json.loads((project / target).read_text())
    shipped = json.loads(resources.files("kobe.config.schema").joinpath(f"{name}.schema.json").read_text())
    assert schema == shipped


@pytest.mark.parametrize("name", ["strategies", "risk"])
def test_the_repositorys_own_schema_lines_resolve(name: str) -> None:
    match = SCHEMA_LINE.match((REPO / f"{name}.yaml").read_text().splitlines()[0])
    assert match
    assert json.loads((REPO / match.group(1)).read_text())["title"].startswith("Kobe")


def test_a_folder_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine\n")
    done = kobe("init", "mine", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert "not empty" in done.stderr and "--force" in done.stderr and "Traceback" not in done.stderr
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    here = kobe("init", cwd=tmp_path / "mine")            # the default folder: here
    assert here.returncode == 2 and "not empty" in here.stderr


def test_a_file_in_the_way_is_refused_cleanly(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file\n")
    done = kobe("init", "taken", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_force_keeps_what_is_there_adds_the_rest_and_refreshes_the_schemas(tmp_path: Path) -> None:
    root = tmp_path / "old"
    (root / SCHEMA_DIR).mkdir(parents=True)
    (root / "strategies.yaml").write_text("# my own\n")
    (root / SCHEMA_DIR / "risk.schema.json").write_text("{}")
    done = kobe("init", "--force", "old", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "kept strategies.yaml" in done.stdout
    assert (root / "strategies.yaml").read_text() == "# my own\n"
    assert (root / "risk.yaml").exists() and (root / "rules" / "channels.kobe").exists()
    assert json.loads((root / SCHEMA_DIR / "risk.schema.json").read_text())["title"].startswith("Kobe")


def test_the_template_is_the_repositorys_project() -> None:
    """The shipped template and the repository's project are the same files (the YAML
    files' first line aside: each points at its own copy of the schemas). When this fails,
    copy the changed file into kobe/project_template/, keeping the template's first line."""
    shipped = {path.as_posix(): source for path, source in template_files()}
    for name in ("strategies.yaml", "risk.yaml", "rules/channels.kobe", "universe/default.csv"):
        ours, theirs = (REPO / name).read_text(), shipped[name].read_text()
        if name.endswith(".yaml"):
            ours, theirs = ours.split("\n", 1)[1], theirs.split("\n", 1)[1]
        assert theirs == ours, f"kobe/project_template/{name} differs from {name}"
    assert {p.relative_to(REPO).as_posix() for p in (REPO / "rules").glob("*.kobe")} \
        | {p.relative_to(REPO).as_posix() for p in (REPO / "universe").glob("*.csv")} \
        <= set(shipped)


def test_pyproject_ships_the_template_and_the_schemas() -> None:
    """Every file `kobe init` copies is package data, so a pip install (not only this
    checkout) has it."""
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["kobe"]
    files = [(REPO / "kobe" / "project_template").rglob("*"), (REPO / "kobe" / "config" / "schema").glob("*.json")]
    needed = sorted({p.relative_to(REPO / "kobe").as_posix() for group in files for p in group
                     if p.is_file() and "__pycache__" not in p.parts})
    assert len(needed) >= len(template_files()) + len(schema_files())
    missing = [n for n in needed if not any(fnmatch.fnmatchcase(n, g) and n.count("/") == g.count("/")
                                            for g in globs)]
    assert not missing, f"add to [tool.setuptools.package-data] kobe: {missing}"
