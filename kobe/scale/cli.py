"""The ``--ray [ADDRESS]`` option the scale-out commands share (docs/scale.md).

Only click here: the commands' modules import it at load time, Ray is imported only
when a Ray executor is asked for (:func:`kobe.scale.executor_for`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from kobe.scale import LOCAL


def check_ray(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--ray`` takes an optional address: a strategies file written after it would be
    read as one, so that is refused with the fix."""
    if value is not None and value.endswith((".yaml", ".yml")):
        raise click.BadParameter(f"{value!r} is not a Ray address: put the strategies file before --ray, "
                                 "or give --ray an address (ray://host:10001, host:6379, auto)")
    return value


def ray_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--ray [ADDRESS]``: run the command's tasks on Ray (kobe.scale, docs/scale.md)."""
    return click.option("--ray", "ray", is_flag=False, flag_value=LOCAL, default=None, metavar="[ADDRESS]",
                        callback=check_ray,
                        help="Run on Ray: without ADDRESS a local Ray runtime on this machine's cores, else the "
                             "cluster at ADDRESS (ray://host:10001, host:6379 or auto); the same results "
                             "(docs/scale.md). Default: the config's compute: section, else this process.")(func)
