"""``kobe audit verify`` and ``kobe audit head``: the audit trail, checked and anchored.

``verify`` checks the hash chain, the readable logs against it, and the chain against its
anchors (:mod:`kobe.audit.verify`): the head recorded in the order store and in the
runner's heartbeat (found in the state folder beside the logs), and any head exported
earlier with ``head`` and given back with ``--anchor``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kobe.cli.common import fail_cleanly

if TYPE_CHECKING:
    from kobe.audit.verify import Anchor, TrailReport

logs_option = click.option("--logs", "folder", type=click.Path(path_type=Path), default=Path("logs"),
                           show_default=True, help="The folder of the audit trail.")
state_option = click.option("--state", "state", type=click.Path(path_type=Path), default=None,
                            help="The folder of the order store and the heartbeat, whose anchors are checked "
                                 "(default: state/ beside the logs folder).")


def _exported(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[Anchor]:
    from kobe.audit.verify import Anchor

    try:
        return [Anchor.parse(v, f"--anchor {v.strip()[:24]}...") for v in values]
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def local_anchors(state: Path) -> tuple[list[Anchor], list[str]]:
    """The anchors kept in ``state`` (the order store's, the heartbeat's), and why one
    could not be read. A missing file anchors nothing; a store that will not open (or
    that is missing though the trail shows it was there) and a heartbeat that cannot be
    read are notices here: the chain is still checked against what can be read (``kobe
    trade`` refuses a damaged store with the remedy; the runner rewrites its heartbeat
    every minute). Nothing is created or written."""
    from kobe.audit.verify import Anchor
    from kobe.config.errors import KobeError
    from kobe.oms.store import OrderStore
    from kobe.runner.heartbeat import (
        HEARTBEAT_NAME,
        HeartbeatUnreadable,
        load_heartbeat,
    )
    from kobe.trade.cycle import ORDERS_FILE

    anchors, notices = [], []
    store_path = state / ORDERS_FILE.name
    try:
        store = OrderStore.existing(store_path)     # never created by looking
        head = store.audit_anchor() if store is not None else None
        if store is not None:
            store.close()
    except KobeError as err:
        notices.append(f"the order store's anchor was not checked: {err.diagnostics[0].message} "
                       f"({store_path}; `kobe reconcile --rebuild`)")
    else:
        if head is not None:
            anchors.append(Anchor(head[0], head[1], f"the order store ({store_path})"))
    beat_path = state / HEARTBEAT_NAME
    try:
        beat = load_heartbeat(beat_path)
    except HeartbeatUnreadable as err:
        notices.append(f"the heartbeat's anchor was not checked: it cannot be read: {err} ({beat_path}; the "
                       "runner writes it again at its next beat)")
    else:
        if beat is not None and beat.audit_seq is not None and beat.audit_hash is not None:
            anchors.append(Anchor(beat.audit_seq, beat.audit_hash, f"the heartbeat ({beat_path})"))
    return anchors, notices


def _verified(folder: Path, state: Path | None, exported: list[Anchor]) -> tuple[TrailReport, list[str]]:
    from kobe.audit.verify import verify_trail

    state = state if state is not None else folder.parent / "state"
    anchors, notices = local_anchors(state)
    report = verify_trail(folder, [*anchors, *exported])
    if report.ok:
        # The evidence records (kobe promote) the chain vouches for by their SHA256: one
        # edited since is tampering too (docs/evidence.md). Their paths are the project's.
        from dataclasses import replace

        from kobe.audit.log import AuditLog
        from kobe.evidence.record import check_records

        problem = check_records(state.resolve().parent, AuditLog(folder).chain.records()[:report.records])
        if problem is not None:
            report = replace(report, problem=problem)
    return report, notices


def _problem(folder: Path, report: TrailReport) -> dict[str, Any] | None:
    from kobe.audit.log import CHAIN

    if report.problem is None:
        return None
    return {"file": str(folder / (report.problem.file or CHAIN)), "line": report.problem.line,
            "message": report.problem.message}


def _say_problem(folder: Path, report: TrailReport) -> None:
    problem = _problem(folder, report)
    assert problem is not None
    where = problem["file"] if problem["line"] is None else f"{problem['file']}:{problem['line']}"
    click.echo(f"{where}: {problem['message']}", err=True)


@click.group()
def audit() -> None:
    """The audit trail under logs/."""


@audit.command()
@logs_option
@state_option
@click.option("--anchor", "exported", multiple=True, callback=_exported, metavar="SEQ:HASH",
              help="A head printed by `kobe audit head` earlier (kept off the machine); repeatable.")
@click.option("--json", "as_json", is_flag=True)
@fail_cleanly
def verify(folder: Path, state: Path | None, exported: list[Anchor], as_json: bool) -> None:
    """Verify logs/hash_chain.jsonl, that events.jsonl and trades.jsonl match it, and that
    it reaches every anchor of its head (the order store's, the heartbeat's, --anchor).

    Names the first bad line and exits 1 when anything was altered or removed.
    """
    report, notices = _verified(folder, state, exported)
    notices = [*notices, *report.notices]
    if as_json:
        click.echo(json.dumps({"ok": report.ok, "records": report.records, "notices": notices,
                               "anchors": [{"seq": a.seq, "hash": a.hash, "source": a.source}
                                           for a in report.anchors],
                               "problem": _problem(folder, report)}, indent=2))
    else:
        for notice in notices:
            click.echo(f"notice: {notice}")
        if report.ok:
            reached = f"; {len(report.anchors)} anchor(s) reached" if report.anchors else ""
            click.echo(f"ok: {report.records} records, chain intact{reached}")
        else:
            _say_problem(folder, report)
    if not report.ok:
        raise SystemExit(1)


@audit.command()
@logs_option
@state_option
@click.option("--json", "as_json", is_flag=True)
@fail_cleanly
def head(folder: Path, state: Path | None, as_json: bool) -> None:
    """Print the verified chain's head as SEQ:HASH, to keep off the machine and give back
    to `kobe audit verify --anchor`. Exits 1 (printing nothing to keep) when the trail
    does not verify."""
    from kobe.audit.chain import GENESIS
    from kobe.audit.log import AuditLog

    report, _ = _verified(folder, state, [])
    if not report.ok:
        _say_problem(folder, report)
        raise SystemExit(1)
    records = AuditLog(folder).chain.records()[:report.records]
    last = records[-1] if records else {"seq": 0, "hash": GENESIS, "ts": None}
    if as_json:
        click.echo(json.dumps({"seq": last["seq"], "hash": last["hash"], "ts": last["ts"]}, indent=2))
    else:
        click.echo(f"{last['seq']}:{last['hash']}")


COMMANDS: list[click.Command] = [audit]
