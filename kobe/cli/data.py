"""Market-data commands: ``kobe data fetch|status|check``, ``kobe universe build``."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
