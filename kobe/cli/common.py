"""What every command shares: clean error exits and plain tables."""

from __future__ import annotations

import datetime as dt
import functools
import math
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


class FiniteRange(click.ParamType):
    """A number from ``low`` (excluded with ``low_open``) to ``high``, and finite: click's
    ``FloatRange`` lets ``nan`` through (no comparison with it is false), and ``1e400``
    reads as infinity. ``what`` names the number in the message ("number of seconds")."""

    name = "number"

    def __init__(self, low: float, high: float, *, low_open: bool = False, what: str = "number") -> None:
        self.low, self.high, self.low_open, self.what = low, high, low_open, what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = value if isinstance(value, float) else float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a {self.what}", param, ctx)
        above = number > self.low if self.low_open else number >= self.low
        if not (math.isfinite(number) and above and number <= self.high):
            low = f"{self.low:g}" + (" (excluded)" if self.low_open else "")
            self.fail(f"{value!r} is not a {self.what} from {low} to {self.high:g}", param, ctx)
        return number


# A broker call's timeout, for every command that calls the broker.
CALL_SECONDS = FiniteRange(0, 600, low_open=True, what="number of seconds")


config_option = click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml",
                             show_default=True, help="The strategies file; its folder holds state/ and logs/.")


def config_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--risk", "risk_path", type=click.Path(path_type=Path), default=None,
                        help="risk.yaml (default: beside the strategies file).")(func)
    return func


def names_list(what: str, example: str) -> Callable[[click.Context, click.Parameter, str | None], list[str] | None]:
    """A click callback reading a comma-separated list of names (``--alphas``,
    ``--features``): None when the option is not given, an error when it names nothing."""
    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
        if value is None:
            return None
        names = [n.strip() for n in value.split(",") if n.strip()]
        if not names:
            raise click.BadParameter(f"name at least one {what}, e.g. {example}")
        return names
    return parse


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
