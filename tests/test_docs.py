"""The docs and the program agree (in the manner of sqlite-utils' tests/test_docs.py):

- every command of the CLI is shown in README.md or docs/*.md, and every option of a
  command is named in a page that shows the command; the options every project command
  shares (`--config`, `--risk`, `--data`) are documented once, in the README;
- every `kobe ...` line of the pages' shell blocks runs as shown, in a copy of the
  shipped project, and exits 0 (or the code its page gives); those that need a broker,
  a vendor or a long-running process are run by the test named in :data:`ELSEWHERE`,
  against the stand-in exchange or a faked vendor, which is checked to run them."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kobe.cli import main

REPO = Path(__file__).resolve().parents[1]
PAGES = {p.relative_to(REPO).as_posix(): p.read_text() for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]}
SHARED = ("--config", "--risk", "--data")


def commands(group: click.Group = main, path: tuple[str, ...] = ()) -> list[tuple[str, click.Command]]:
    ctx = click.Context(group)
    out: list[tuple[str, click.Command]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            out += commands(command, (*path, name))
        else:
            out.append((" ".join((*path, name)), command))
    return out


ALL = commands()


def test_the_shared_options_are_documented_in_the_readme() -> None:
    readme = PAGES["README.md"]
    assert all(f"`{option}" in readme for option in SHARED)


@pytest.mark.parametrize(("name", "command"), ALL, ids=[name for name, _ in ALL])
def test_every_command_and_its_options_are_documented(name: str, command: click.Command) -> None:
    homes = [text for text in PAGES.values() if f"kobe {name}" in text]
    assert homes, f"`kobe {name}` is in no page of README.md or docs/"
    options = [o for p in command.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)
               if o.startswith("--") and o != "--help" and o not in SHARED]
    missing = [o for o in options if not any(o in text for text in homes)]
    assert not missing, f"`kobe {name}` options in no page that shows the command: {missing}"


# -- every command shown runs ------------------------------------------------------------

# Commands that need a broker, a vendor or a long-running process: each runs in the test
# named here, against the stand-in exchange or a faked vendor (the test below checks that
# the file does run that command), not in a copy of the project with nothing listening.
ELSEWHERE = {
    "exchange": "tests/runner/test_production_fortnight.py",
    "run": "tests/runner/test_run.py",
    "trade": "tests/trade/test_trade_cli.py",
    "reconcile": "tests/trade/test_store_hostile.py",
    "kill": "tests/trade/test_trade_killswitch.py",
    "resume": "tests/trade/test_trade_killswitch.py",
    "data fetch": "tests/runner/test_production_fortnight.py",
    "data refresh": "tests/data/test_refresh.py",
    "data repair": "tests/data/test_cli_data_options.py",
    "universe build": "tests/data/test_universe_build.py",
    "options chain": "tests/options/test_options_cli.py",
}
# Documented to fail in a fresh copy of the project: the checklist finds no broker keys.
EXIT_CODES = {"preflight": 1, "promote": 1}


def shown_commands() -> list[tuple[str, str]]:
    """(page, command) for every `kobe ...` line of the pages' shell blocks, comments cut,
    lines joined where they continue, `a / b` and `a && b` split."""
    out: list[tuple[str, str]] = []
    for page, text in PAGES.items():
        for block in re.findall(r"```(?:sh|bash)\n(.*?)```", text, flags=re.DOTALL):
            for line in block.replace("\\\n", " ").splitlines():
                line = re.split(r"\s+#", line, maxsplit=1)[0].strip()
                for part in re.split(r" / | && ", line):
                    part = part.strip()
                    if part.startswith("kobe "):
                        out.append((page, part))
    return out


SHOWN = shown_commands()


def words(command: str) -> list[str]:
    return shlex.split(command)[1:]


def home(command: str) -> str | None:
    args = words(command)
    for name in (" ".join(args[:2]), args[0]):
        if name in ELSEWHERE:
            return name
    return None


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped project, and beside it the files the pages name as a user's
    own: ``../shared/data/sp500_5yr_2013_2018.parquet`` (here the embedded bars under that
    name) and the universe ``sp500.csv`` of its symbols."""
    from kobe.data.bars import read_bars

    root = tmp_path_factory.mktemp("docs") / "project"
    root.mkdir()
    for name in ("strategies.yaml", "risk.yaml"):
        shutil.copy(REPO / name, root / name)
    for folder in ("rules", "universe"):
        shutil.copytree(REPO / folder, root / folder)
    bars = read_bars(None).collect()
    (root.parent / "shared" / "data").mkdir(parents=True)
    bars.write_parquet(root.parent / "shared" / "data" / "sp500_5yr_2013_2018.parquet")
    (root / "sp500.csv").write_text("symbol\n" + "\n".join(sorted(set(bars["symbol"]))) + "\n")
    return root


RUN_HERE = [(page, c) for page, c in SHOWN if home(c) is None]


@pytest.mark.parametrize(("page", "command"), RUN_HERE, ids=[f"{p}:{c}" for p, c in RUN_HERE])
def test_every_command_shown_runs_as_shown(project: Path, monkeypatch: pytest.MonkeyPatch, page: str,
                                           command: str) -> None:
    monkeypatch.chdir(project)
    for key in ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY", "ALPACA_BASE_URL", "POLYGON_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    expected = EXIT_CODES.get(words(command)[0], 0)
    if re.search(r"[>|]|\$\(", command):
        # Shell syntax (a redirection, a substitution): through a shell, with this Kobe on the PATH.
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True, check=False,
                              timeout=120)
        assert done.returncode == expected, done.stdout + done.stderr
        return
    result = CliRunner().invoke(main, words(command))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == expected, result.output


@pytest.mark.parametrize("name", sorted(ELSEWHERE))
def test_the_commands_run_elsewhere_are_run_there(name: str) -> None:
    assert any(home(c) == name for _, c in SHOWN), f"`kobe {name}` is no longer shown: drop it from ELSEWHERE"
    text = (REPO / ELSEWHERE[name]).read_text()
    assert ", ".join(f'"{w}"' for w in name.split()) in text, f"{ELSEWHERE[name]} does not run `kobe {name}`"
