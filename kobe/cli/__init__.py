"""The ``kobe`` command: a thin click shell over library functions.

Each command parses options, calls the library, prints. A :class:`KobeError` is printed
with its locations and the command exits 2; anything else is a bug and keeps its
traceback. Commands live in one module per area (``rules``, ``backtest``, ``exchange``,
...), each listing its commands in ``COMMANDS``, and are registered here.

Logging (:mod:`kobe.logs`) is set up here, for every command: the terminal handler by
the group, and the project's JSON log file around each command that takes ``--config``
(its folder is the project's), so no command has to think of it.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import click

MODULES = ("rules", "data", "exchange", "backtest", "audit", "trade", "run", "init", "ml", "research", "options", "journal",
           "evidence")
"""The command modules, in the order their commands are registered."""

_HOME = {
    "validate": "rules", "pin": "rules", "scan": "rules", "explain": "rules", "plan": "rules",
    "functions": "rules", "data": "data", "universe": "data", "exchange": "exchange",
    "backtest": "backtest", "sweep": "backtest", "walkforward": "backtest", "montecarlo": "backtest",
    "audit": "audit", "trade": "trade", "orders": "trade", "positions": "trade", "kill": "trade",
    "resume": "trade", "reconcile": "trade", "run": "run", "preflight": "run", "status": "run", "shadow": "run",
    "init": "init", "ml": "ml", "research": "research", "options": "options",
    "journal": "journal", "reflect": "journal", "hypothesize": "journal", "promote": "evidence",
}
"""Where each command lives: a hint that lets ``kobe validate`` import only its own module.
A command missing here is still found (every module is then imported)."""


class _LazyGroup(click.Group):
    """Imports a command's module when the command is asked for. The modules import what
    their commands need (the broker client, the order store, ...): tens of milliseconds a
    command such as ``kobe validate`` should not wait for."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._loaded: set[str] = set()

    def _load(self, name: str) -> None:
        if name in self._loaded:
            return
        module: ModuleType = importlib.import_module(f"kobe.cli.{name}")
        self._loaded.add(name)
        for command in module.COMMANDS:
            self.add_command(_with_project_log(command))

    def load_all(self) -> None:
        """Every command, registered in ``MODULES`` order (a later module's command of
        the same name wins, as when all were imported at once)."""
        if len(self._loaded) < len(MODULES):
            self._loaded.clear()
            for name in MODULES:
                self._load(name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        home = _HOME.get(cmd_name)
        if home is not None:
            self._load(home)
        if cmd_name not in self.commands or home is None:
            self.load_all()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.load_all()
        return super().list_commands(ctx)


_LOGGED = "_kobe_project_log"


def _with_project_log(command: click.Command) -> click.Command:
    """``command`` (and a group's subcommands) writing the project's log file while it
    runs: the project is the folder of its ``--config`` file (parameter ``strategies``).
    Marked, so a module registered again is not wrapped twice."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _with_project_log(sub)
    callback = command.callback
    if callback is None or getattr(callback, _LOGGED, False) or \
            not any(p.name == "strategies" for p in command.params):
        return command

    @functools.wraps(callback)
    def logged(*args: Any, **kwargs: Any) -> Any:
        from kobe.logs import project_log

        strategies = kwargs.get("strategies")
        if not isinstance(strategies, Path):
            return callback(*args, **kwargs)
        with project_log(strategies.parent):
            return callback(*args, **kwargs)

    setattr(logged, _LOGGED, True)
    command.callback = logged
    return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kobe")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Kobe: declarative trading rules for US equities.

    Edit strategies.yaml and risk.yaml, then `kobe validate`, `kobe scan`.
    Logging: KOBE_LOG_LEVEL, KOBE_LOG_FORMAT, KOBE_LOG_FILE (docs/deploy.md).
    """
    from kobe.logs import configure

    ctx.call_on_close(configure())
