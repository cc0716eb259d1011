"""Backtest commands: ``kobe backtest``, and later walk-forward, sweeps, Monte Carlo."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
