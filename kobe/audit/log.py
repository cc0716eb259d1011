"""The audit trail: what Kobe did, for people and for proof.

``logs/events.jsonl`` holds structured events (a gate blocked an order, the kill switch
was set and by whom, a cycle started), ``logs/trades.jsonl`` the executions, and
``logs/hash_chain.jsonl`` every one of them again inside a hash chain
(:mod:`kobe.audit.chain`), so the trail cannot be altered without ``kobe audit verify``
noticing. Secrets are scrubbed from every string before anything is written.

Each record is also logged, once it is on disk, to the ``kobe.audit`` logger at INFO
(message: its kind; ``extra``: ``kind``, ``stream``, ``seq``, ``ts`` and the scrubbed
``fields``), so the runner's cycles, gate blocks, the kill switch and data refreshes
reach the JSON log file and the terminal (:mod:`kobe.logs`) without each caller logging
them again. The files here remain the record; the log is for reading and shipping.

**Anchors.** A chain cut at its end, or deleted with the readable logs, is consistent on
its own; what proves it was longer is its head recorded elsewhere. Each append calls the
log's ``anchors`` with the new record's ``seq`` and ``hash`` (the order store's
:meth:`~kobe.oms.store.OrderStore.anchor_audit`, wired by
:func:`kobe.trade.cycle.open_trader`); the runner also writes :meth:`AuditLog.head` into
its heartbeat. An anchor is written after the record is on disk, so a crash between the
two leaves the chain longer than its anchor, never shorter: ``kobe audit verify``
accepts the first and reports the second as tampering.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kobe.audit.chain import HashChain
from kobe.config.errors import Diagnostic, KobeError
from kobe.secrets import redact

EVENTS = "events.jsonl"
TRADES = "trades.jsonl"
CHAIN = "hash_chain.jsonl"

Anchor = Callable[[int, str], None]
"""Records the chain's head, ``(seq, hash)`` of the record just appended."""

_log = logging.getLogger("kobe.audit")


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, secrets) for v in value]
    return value


def _append_line(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


class AuditLog:
    """Writes events and trades to their files and to the hash chain."""

    def __init__(self, folder: Path, secrets: Iterable[str] = (), anchors: Iterable[Anchor] = ()) -> None:
        self.folder = folder
        self.secrets = [s for s in secrets if s]
        self.chain = HashChain(folder / CHAIN)
        self.anchors = list(anchors)

    def head(self) -> tuple[int, str] | None:
        """The chain's last record, ``(seq, hash)``; None while it has none."""
        return self.chain.head()

    def _write(self, stream: str, kind: str, fields: dict[str, Any], now: dt.datetime | None) -> dict[str, Any]:
        data = _scrub({"stream": stream, "kind": kind, **fields}, self.secrets)
        data = json.loads(json.dumps(data, default=str))  # what is chained is exactly what is written
        try:
            record = self.chain.append(data, now)  # the chain first: it is the proof
            _append_line(self.folder / (EVENTS if stream == "events" else TRADES),
                         {"ts": record["ts"], "seq": record["seq"], **data})
        except OSError as err:     # a logs folder that is a file, a log that is a folder, a full disk
            raise KobeError(Diagnostic(f"the audit trail cannot be written: {err.strerror or err}",
                                       file=str(err.filename or self.folder),
                                       hint="nothing more is done without its record: make the logs folder a "
                                            "writable folder of files (space, permissions), then run again")) from None
        for anchor in self.anchors:  # after the append: an anchor is never ahead of the chain
            # Best effort: an anchor left behind the chain is accepted by design, and a store
            # that cannot take it reports its damage at its own next use.
            with contextlib.suppress(KobeError):
                anchor(record["seq"], record["hash"])
        fields = {k: v for k, v in data.items() if k not in ("stream", "kind")}
        _log.info("%s", kind, extra={"kind": kind, "stream": stream, "seq": record["seq"], "ts": record["ts"],
                                        "fields": fields})
        return record

    def event(self, kind: str, now: dt.datetime | None = None, **fields: Any) -> dict[str, Any]:
        """Record a structured event (``kind`` such as ``killswitch.set``, ``gate.blocked``)."""
        return self._write("events", kind, fields, now)

    def trade(self, kind: str, now: dt.datetime | None = None, **fields: Any) -> dict[str, Any]:
        """Record an execution (a fill, a cancel with its filled quantity)."""
        return self._write("trades", kind, fields, now)


def read_events(path: Path) -> list[dict[str, Any]]:
    """The audit events of ``path`` (for reports: a line that does not parse is skipped; the
    chain, checked by `kobe audit verify`, is the proof)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:  # missing, or a folder in its place: nothing to report from
        return []
    out = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out
