"""Research commands: ``kobe research screen`` (docs/research.md).

Thin click over :mod:`kobe.research.screen`: options parsed here, the screen computed
there, a table or JSON printed, and ``--report`` written by :mod:`kobe.research.report`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from kobe.cli.common import config_options, fail_cleanly, names_list, parse_date, table
from kobe.scale.cli import ray_option


def _horizons(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    words = [w.strip() for w in value.split(",")]
    try:
        return [int(w) for w in words]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of whole numbers of sessions (e.g. 1,5,20)") from None


@click.group()
def research() -> None:
    """Research tools: screen the alphas of rules/alphas.kobe (docs/research.md)."""


@research.command()
@click.argument("strategies", type=click.Path(path_type=Path), default="strategies.yaml")
@config_options
@click.option("--alphas", "alphas", default=None, callback=names_list("alpha", "--alphas mom_12_1,alpha_101"),
              help="Comma-separated definitions to screen (default: every alpha of rules/alphas.kobe).")
@click.option("--horizons", "horizons", default="1,5,20", show_default=True, callback=_horizons,
              help="Forward-return horizons in sessions, from the next open.")
@click.option("--data", "data", default=None, help="Bars file (CSV or Parquet); default: the config's data source.")
@click.option("--universe", "universe_file", type=click.Path(path_type=Path), default=None,
              help="A universe CSV (a `symbol` column); default: every symbol of the data.")
@click.option("--start", "start", default=None,
              help="First session screened (YYYY-MM-DD); default: the first on which every alpha has an IC.")
@click.option("--end", "end", default=None, help="Last session read (YYYY-MM-DD); later bars are never read.")
@click.option("--folds", "folds", type=click.IntRange(2, 50), default=5, show_default=True,
              help="Contiguous walk-forward blocks; folds 2.. are the out-of-sample ones.")
@click.option("--json", "as_json", is_flag=True, help="Print one object per alpha and horizon as JSON.")
@click.option("--report", "report", type=click.Path(path_type=Path), default=None,
              help="Also write an HTML report (cumulative IC, quintile returns); opens offline.")
@ray_option
@fail_cleanly
def screen(**params: Any) -> None:
    """Screen alphas: rank IC against next-open forward returns, quintile spread, turnover, per fold.

    Ranked by the out-of-sample mean IC at the shortest horizon (docs/research.md).
    """
    from kobe.data.universe import load_universe
    from kobe.project import load_project, shown
    from kobe.research.screen import screen as run_screen
    from kobe.scale import executor_for, ray_address

    project = load_project(params["strategies"], params["risk_path"])
    universe_file = params["universe_file"]
    universe = load_universe(universe_file, shown(universe_file)) if universe_file is not None else None
    # --ray: the alphas evaluated in blocks on Ray, the statistics here (docs/scale.md).
    with executor_for(ray_address(params["ray"], project.config.compute)) as chosen:
        result = run_screen(project.bars(params["data"]), project.definitions, params["alphas"],
                            horizons=params["horizons"],
                            folds=params["folds"], universe=universe, start=parse_date(params["start"]),
                            end=parse_date(params["end"]), executor=chosen)
    if params["report"] is not None:
        from kobe.research.report import write_report

        write_report(params["report"], result)
    if params["as_json"]:
        click.echo(json.dumps(result.rows, indent=2))
        return
    click.echo(f"screen {result.start.isoformat()} .. {result.end.isoformat()}: {len(result.alphas)} alphas, "
               f"{result.symbols} symbols, {len(result.folds)} folds "
               f"(out of sample: {result.folds[1].start.isoformat()} ..)")
    rows = [(r["alpha"], r["horizon"], _f(r["ic_mean"], 4), _f(r["ic_ir"], 3), _f(r["t_stat"], 2),
             _pct(r["hit_rate"]), _pct(r["quintile_spread"], 2), _pct(r["turnover"]), _f(r["decay"], 2),
             _pct(r["sign_kept"]), _f(r["all_folds"]["ic_mean"], 4)) for r in result.rows]
    click.echo(table(rows, ("alpha", "h", "IC", "IC IR", "t", "hit", "Q5-Q1", "turnover", "decay", "sign kept",
                            "IC all folds")))
    if params["report"] is not None:
        click.echo(f"report {shown(params['report'])}")


def _f(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


COMMANDS = [research]
