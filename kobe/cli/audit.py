"""``kobe audit verify``: check the hash chain and the readable logs against it."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def audit() -> None:
    """The audit trail under logs/."""


@audit.command()
@click.option("--logs", "folder", type=click.Path(path_type=Path), default=Path("logs"), show_default=True)
@click.option("--json", "as_json", is_flag=True)
def verify(folder: Path, as_json: bool) -> None:
    """Verify logs/hash_chain.jsonl and that events.jsonl and trades.jsonl match it.

    Names the first bad line and exits 1 when anything was altered.
    """
    from kobe.audit.verify import verify_trail

    report = verify_trail(folder)
    if as_json:
        click.echo(json.dumps({"ok": report.ok, "records": report.records, "notices": list(report.notices),
                               "problem": None if report.ok else {"line": report.problem.line,
                                                                  "message": report.problem.message}}, indent=2))
    else:
        for notice in report.notices:
            click.echo(f"notice: {notice}")
        if report.ok:
            click.echo(f"ok: {report.records} records, chain intact")
        else:
            assert report.problem is not None
            click.echo(f"{folder / 'hash_chain.jsonl'}:{report.problem.line}: {report.problem.message}", err=True)
    if not report.ok:
        raise SystemExit(1)


COMMANDS: list[click.Command] = [audit]
