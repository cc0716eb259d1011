"""Options commands: ``kobe options price``, ``iv``, ``chain`` (filled in below)."""

from __future__ import annotations

import click


@click.group()
def options() -> None:
    """European options on US equities: Black-Scholes-Merton prices, Greeks, implied vol, chains."""


COMMANDS: list[click.Command] = [options]
