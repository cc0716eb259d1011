"""Kobe's logging: the standard :mod:`logging` module, set up once per command.

- **The terminal** (stderr, never stdout: ``--json`` outputs and golden files stay
  clean): readable text, WARNING and above by default, so a command's own output reads
  as before. ``KOBE_LOG_LEVEL`` lowers or raises that level (``INFO`` shows every audit
  event as it happens); ``KOBE_LOG_FORMAT=json`` makes it JSON lines too, for a
  container whose stderr a log driver collects.
- **The log file**: JSON lines (python-json-logger), INFO and above, every audit event
  among them (:mod:`kobe.audit.log` logs each one to ``kobe.audit``). By default
  ``logs/kobe.log`` in the project's folder (beside the ``--config`` file), written only
  by the commands that read a project and only once they log something; ``KOBE_LOG_FILE``
  names another file (for every command), ``KOBE_LOG_FILE=off`` writes none.

The file is a :class:`logging.handlers.WatchedFileHandler`: it reopens the file when
logrotate (or anyone) has moved it away, so rotation is logrotate's job and works while
several processes append (the runner, a ``kobe kill`` from another shell), which a
rotating handler inside each process would not. A log file that cannot be written is
said once on stderr and never stops a command: the audit trail is the record that must
not fail silently, and it has its own errors.

Secrets (the key variables of the environment and of the project's ``.env``) are
replaced by ``***`` in every record, as in the audit trail.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from kobe.config.errors import KobeError

if TYPE_CHECKING:
    from pythonjsonlogger.json import JsonFormatter

LEVEL_ENV = "KOBE_LOG_LEVEL"
FORMAT_ENV = "KOBE_LOG_FORMAT"
FILE_ENV = "KOBE_LOG_FILE"
DEFAULT_FILE = Path("logs") / "kobe.log"
OFF = "off"
LOGGER = "kobe"
TERMINAL_LEVEL = logging.WARNING
FILE_LEVEL = logging.INFO
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TextFormatter(logging.Formatter):
    """One readable line; an audit event's fields follow its kind as compact JSON."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        return f"{text} {json.dumps(fields, sort_keys=True, default=str)}" if fields else text


def json_formatter() -> JsonFormatter:
    """``{"time", "level", "logger", "message", ...extra}``: a record's ``extra`` (an audit
    event's ``kind``, ``stream``, ``seq`` and ``fields``) lands as top-level keys."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter("%(levelname)s %(name)s %(message)s", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"})


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at each record (as logging's last resort does),
    so a caller that swaps it (click's test runner, pytest) gets the lines."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class _File(logging.handlers.WatchedFileHandler):
    """The JSON-lines file: its folder made and its formatter built on the first record
    (most commands log nothing: ``kobe validate`` pays for neither), a failure said once."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=True)
        self._warned = False

    def format(self, record: logging.LogRecord) -> str:
        if self.formatter is None:
            self.setFormatter(json_formatter())
        return super().format(record)

    def _open(self) -> Any:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()

    def emit(self, record: logging.LogRecord) -> None:
        # The reopen check stats the path outside logging's own error handling: a folder
        # that is a file would raise into the caller (an audit event) otherwise.
        try:
            super().emit(record)
        except Exception:  # noqa: BLE001 - logging's contract: a handler never raises
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if not self._warned:
            self._warned = True
            why = sys.exc_info()[1]
            sys.stderr.write(f"kobe: the log file {self.baseFilename} cannot be written ({why}); "
                             f"going on without it\n")


class _Redact(logging.Filter):
    """Secrets out of each record's message; they are looked up at the first record (the
    ``.env`` read then, not by every command that logs nothing)."""

    def __init__(self, secrets: Callable[[], list[str]]) -> None:
        super().__init__()
        self._find = secrets
        self._secrets: list[str] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        from kobe.secrets import redact

        if self._secrets is None:
            self._secrets = self._find()
        if self._secrets:
            record.msg, record.args = redact(record.getMessage(), self._secrets), None
        return True


def _secrets_of(environ: Mapping[str, str], project: Path | None = None) -> Callable[[], list[str]]:
    def find() -> list[str]:
        from kobe.secrets import read_env, secret_values

        if project is not None:
            try:
                return secret_values({**read_env(project / ".env"), **environ})
            except KobeError:  # an unreadable .env: the command itself says so, with its location
                pass
        return secret_values(environ)
    return find


def _level(environ: Mapping[str, str]) -> tuple[int, str | None]:
    """The terminal's level, and a complaint when ``KOBE_LOG_LEVEL`` names none."""
    name = (environ.get(LEVEL_ENV) or "").strip().upper()
    if not name:
        return TERMINAL_LEVEL, None
    level = logging.getLevelNamesMapping().get(name)
    if level is None:
        return TERMINAL_LEVEL, (f"{LEVEL_ENV}={environ[LEVEL_ENV]!r} is not a level (DEBUG, INFO, WARNING, ERROR); "
                                f"using WARNING")
    return level, None


def _file_handler(path: Path, scrub: _Redact) -> logging.Handler:
    handler = _File(path)
    handler.setLevel(FILE_LEVEL)
    handler.addFilter(scrub)
    return handler


def _file_setting(environ: Mapping[str, str]) -> str | None:
    value = (environ.get(FILE_ENV) or "").strip()
    return value or None


def configure(environ: Mapping[str, str] | None = None) -> Callable[[], None]:
    """Install the terminal handler (and the ``KOBE_LOG_FILE`` file when set) on the root
    logger, beside any handler already there (pytest's, an embedding program's); return
    what undoes it. The CLI group calls it once per command."""
    environ = os.environ if environ is None else environ
    secrets = _secrets_of(environ)
    level, complaint = _level(environ)
    terminal = _Stderr()
    terminal.setLevel(level)
    json_terminal = (environ.get(FORMAT_ENV) or "text").strip().lower() == "json"
    terminal.setFormatter(json_formatter() if json_terminal else TextFormatter())
    terminal.addFilter(_Redact(secrets))
    handlers: list[logging.Handler] = [terminal]
    setting = _file_setting(environ)
    if setting is not None and setting.lower() != OFF:
        handlers.append(_file_handler(Path(setting), _Redact(secrets)))
    root, kobe = logging.getLogger(), logging.getLogger(LOGGER)
    before = kobe.level
    # Kobe's INFO records must reach the file whatever the root's level; other libraries
    # keep theirs (the root's WARNING), so their chatter stays out.
    kobe.setLevel(min(level, FILE_LEVEL))
    for handler in handlers:
        root.addHandler(handler)
    if complaint:
        kobe.warning(complaint)

    def undo() -> None:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        kobe.setLevel(before)
    return undo


@contextlib.contextmanager
def project_log(root: Path, environ: Mapping[str, str] | None = None) -> Iterator[None]:
    """While a command works on the project in ``root``: its log file, ``logs/kobe.log``
    there (unless ``KOBE_LOG_FILE`` chose another file or ``off``), and the secrets of
    its ``.env`` scrubbed from every record of Kobe's handlers."""
    environ = os.environ if environ is None else environ
    scrub = _Redact(_secrets_of(environ, root))
    logger = logging.getLogger()
    ours = [h for h in logger.handlers if isinstance(h, (_Stderr, _File))]
    added = _file_handler(root / DEFAULT_FILE, scrub) if _file_setting(environ) is None else None
    for handler in ours:
        handler.addFilter(scrub)
    if added is not None:
        logger.addHandler(added)
    try:
        yield
    finally:
        if added is not None:
            logger.removeHandler(added)
            added.close()
        for handler in ours:
            handler.removeFilter(scrub)
