"""Evidence records: what ``kobe promote`` found, bound to the config, the data and the
code, kept where trading checks it and proven by the audit chain.

``state/evidence/<strategy>.json`` holds the :class:`~kobe.evidence.gate.EvidenceReport`
(every figure, its threshold and verdict, the neighbourhood, the inputs) with its
binding: the config's SHA256 (the pin's), the SHA256 of the bars, their source and span,
and the Kobe version. It is written atomically, then an ``evidence.recorded`` event
carrying the file's SHA256 is appended to the audit chain (``logs/``): a record edited
afterwards no longer matches the chain's latest event for it, which ``kobe audit
verify`` reports (:func:`check_records`) and trading refuses (:func:`require_evidence`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kobe.audit.chain import Problem
from kobe.audit.log import CHAIN, AuditLog
from kobe.config.errors import Diagnostic, KobeError
from kobe.evidence.gate import EvidenceReport, data_source, market_sha256
from kobe.files import write_atomic
from kobe.project import Project, shown

EVIDENCE_DIR = Path("evidence")      # under the project's state/ folder
STATE = Path("state")
LOGS = Path("logs")
EVENT = "evidence.recorded"
RECORD_VERSION = 1
STATIC_SOURCES = ("embedded", "files:")   # bars that do not grow by themselves: their hash must match


def record_path(root: Path, strategy: str) -> Path:
    return root / STATE / EVIDENCE_DIR / f"{strategy}.json"


def write_record(project: Project, report: EvidenceReport) -> tuple[Path, str]:
    """Write ``report`` as ``state/evidence/<strategy>.json`` (atomically) and append its
    SHA256 to the audit chain; returns the path and the SHA256."""
    body = {"record_version": RECORD_VERSION, **report.to_dict()}
    data = (json.dumps(body, indent=2, sort_keys=True) + "\n").encode("utf-8")
    path = record_path(project.root, report.strategy)
    write_atomic(path, data)
    sha = hashlib.sha256(data).hexdigest()
    AuditLog(project.root / LOGS).event(
        EVENT, strategy=report.strategy, record=(STATE / EVIDENCE_DIR / path.name).as_posix(), sha256=sha,
        passed=report.passed, config_sha256=report.binding["config_sha256"],
        data_sha256=report.binding["data_sha256"], failing=[f.key for f in report.failing()])
    return path, sha


def chained_hashes(records: Iterable[dict[str, Any]]) -> dict[str, tuple[int, str]]:
    """The latest ``evidence.recorded`` event of each record file in the chain's
    ``records``: relative path -> (seq, SHA256)."""
    latest: dict[str, tuple[int, str]] = {}
    for record in records:
        data = record.get("data") if isinstance(record, dict) else None
        if isinstance(data, dict) and data.get("kind") == EVENT and isinstance(data.get("record"), str):
            latest[data["record"]] = (int(record.get("seq", 0)), str(data.get("sha256")))
    return latest


def check_records(root: Path, records: Iterable[dict[str, Any]]) -> Problem | None:
    """Whether every evidence record the chain vouches for is still the one it vouches
    for (a record deleted since is no proof of anything, and no problem)."""
    for relative, (seq, sha) in sorted(chained_hashes(records).items()):
        path = root / relative
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        except OSError as err:
            return Problem(None, f"cannot be read: {err.strerror or err}", str(path.resolve()))
        if hashlib.sha256(data).hexdigest() != sha:
            return Problem(None, f"is not the evidence record chain record {seq} holds (SHA256 {sha[:12]}...): "
                                 "modified after `kobe promote`", str(path.resolve()))
    return None


def read_record(root: Path, strategy: str) -> tuple[dict[str, Any], str] | None:
    """The record of ``strategy`` and its SHA256, or ``None`` when there is none."""
    path = record_path(root, strategy)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise KobeError(Diagnostic(f"the evidence record cannot be read: {err.strerror or err}", file=shown(path),
                                   hint=f"run `kobe promote {strategy}`")) from None
    try:
        record = json.loads(data)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise KobeError(Diagnostic("the evidence record is not a JSON object (damaged or edited)", file=shown(path),
                                   hint=f"run `kobe promote {strategy}` again"))
    return record, hashlib.sha256(data).hexdigest()


def refusal(project: Project, strategy: str, *, data: str | None = None,
            now: dt.datetime | None = None) -> Diagnostic | None:
    """Why ``strategy`` may not trade on its evidence (a located diagnostic), or ``None``
    when its record passes for the current config and data. ``data``: the ``--data``
    the run reads instead of the config's source."""
    root = project.root
    path = record_path(root, strategy)
    again = f"run `kobe promote {strategy}`"

    def no(message: str, hint: str = again) -> Diagnostic:
        return Diagnostic(f"strategy {strategy!r} may not trade: {message}", file=shown(path), hint=hint)

    found = read_record(root, strategy)
    if found is None:
        return no("it has no evidence record")
    record, sha = found
    chained = chained_hashes(AuditLog(root / LOGS).chain.records()).get((STATE / EVIDENCE_DIR / path.name).as_posix())
    if chained is None:
        return no(f"its evidence record is not in the audit chain ({shown(root / LOGS / CHAIN)})")
    if chained[1] != sha:
        return no(f"its evidence record was modified after `kobe promote` (chain record {chained[0]} holds another "
                  "SHA256)")
    written = record.get("binding")
    bound: dict[str, Any] = written if isinstance(written, dict) else {}
    config = project.fingerprint().sha256
    if bound.get("config_sha256") != config:
        return no(f"its evidence record is of another config (SHA256 {str(bound.get('config_sha256'))[:12]}..., "
                  f"the config is {config[:12]}...)", hint=f"the config changed since: {again} on this one")
    source = f"files:{data}" if data is not None else data_source(project)
    if bound.get("data_source") != source:
        return no(f"its evidence record is of the data {bound.get('data_source')!r}, this run reads {source!r}")
    if source.startswith(STATIC_SOURCES) and data is None and bound.get("data_sha256") != market_sha256(project,
                                                                                                           strategy):
        return no("its evidence record is of other bars (their SHA256 differs)",
                  hint=f"the data changed since: {again}")
    limit = project.config.risk.evidence.max_age_days
    try:
        made = dt.datetime.fromisoformat(str(record.get("evaluated_at")))
    except ValueError:
        return no("its evidence record has no valid evaluated_at")
    age = ((now or dt.datetime.now(dt.UTC)) - made).days
    if age > limit:
        return no(f"its evidence record is {age} days old (evidence.max_age_days: {limit})")
    failing = [f for f in record.get("figures", []) if isinstance(f, dict) and not f.get("passed")]
    if failing or record.get("passed") is not True:
        shown_ = "; ".join(f"{f.get('name')} {_value(f.get('value'))} (evidence.{f.get('key')}: {f.get('op')} "
                           f"{f.get('threshold')})" for f in failing) or "not passed"
        return no(f"its evidence fails: {shown_}",
                  hint="a strategy trades live only with passing evidence (docs/evidence.md)")
    return None


def _value(value: object) -> str:
    return "not computable" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def require_evidence(project: Project, strategies: Iterable[str] | None = None, *, data: str | None = None,
                     now: dt.datetime | None = None) -> None:
    """Refuse (one :class:`KobeError` naming every refusal) unless each of
    ``strategies`` (default: the enabled ones) has a passing record."""
    names = list(strategies) if strategies is not None else [s.name for s in project.enabled()]
    problems = [d for name in names if (d := refusal(project, name, data=data, now=now)) is not None]
    if problems:
        raise KobeError(problems)
