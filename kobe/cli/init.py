"""``kobe init``: a new project from the template shipped in the package (:mod:`kobe.scaffold`)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from kobe.cli.common import fail_cleanly


@click.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), default=".")
@click.option("--force", is_flag=True,
              help="Accept a folder that is not empty: files already there are kept, missing ones are added and "
                   ".kobe/schema is refreshed (after an upgrade of Kobe).")
@fail_cleanly
def init(directory: Path, force: bool) -> None:
    """Write a working project into DIRECTORY (default: here), which must be empty.

    strategies.yaml, risk.yaml, rules/, universe/, .env.example, .gitignore and the JSON
    Schemas the YAML files' first lines point at (.kobe/schema/). It runs on the embedded
    sample bars: no keys, no network.
    """
    from kobe.scaffold import init_project

    done = init_project(directory, force=force)
    click.echo(f"wrote {len(done.written)} files in {directory}")
    for path in done.kept:
        click.echo(f"kept {path} (it exists)")
    steps = [] if directory.resolve() == Path.cwd().resolve() else [f"cd {shlex.quote(str(directory))}"]
    steps += ["kobe validate", "kobe backtest strategies.yaml", "kobe pin", "kobe run --paper --once",
              "cp .env.example .env    # then your Alpaca paper keys, to trade its paper account"]
    click.echo("next:\n" + "\n".join(f"  {step}" for step in steps))


COMMANDS: list[click.Command] = [init]
