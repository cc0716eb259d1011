"""Every command of the CLI is shown in README.md or docs/*.md, and every option of a
command is named in a page that shows the command (in the manner of sqlite-utils'
tests/test_docs.py). The options every project command shares (`--config`, `--risk`,
`--data`) are documented once, in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

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
