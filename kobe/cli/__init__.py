"""The ``kobe`` command: a thin click shell over library functions.

Each command parses options, calls the library, prints. A :class:`KobeError` is printed
with its locations and the command exits 2; anything else is a bug and keeps its
traceback. Commands live in one module per area (``rules``, and later ``backtest``,
``exchange``, ...) and are registered here.
"""

from __future__ import annotations

import click

from kobe.cli import audit, backtest, data, exchange, rules, run, trade


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kobe")
def main() -> None:
    """Kobe: declarative trading rules for US equities.

    Edit strategies.yaml and risk.yaml, then `kobe validate`, `kobe scan`.
    """




for _module in (rules, data, exchange, backtest, audit, trade, run):
    for _command in _module.COMMANDS:
        main.add_command(_command)
