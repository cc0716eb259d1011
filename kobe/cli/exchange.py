"""Commands of the local stand-in exchange: ``kobe exchange``."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
