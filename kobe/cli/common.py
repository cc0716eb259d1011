"""What every command shares: clean error exits and plain tables."""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from kobe.config.errors import KobeError


def fail_cleanly(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KobeError as err:
            exit_with(err)
    return wrapper


def exit_with(err: KobeError) -> None:
    click.echo(err.render(), err=True)
    count = len(err.diagnostics)
    click.echo(f"{count} error{'s' if count != 1 else ''}", err=True)
    sys.exit(err.exit_code)


config_option = click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml",
                             show_default=True, help="The strategies file; its folder holds state/ and logs/.")


def config_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--risk", "risk_path", type=click.Path(path_type=Path), default=None,
                        help="risk.yaml (default: beside the strategies file).")(func)
    return func


def parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [list(map(str, header))] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)
