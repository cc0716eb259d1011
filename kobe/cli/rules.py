"""Commands about the config and the rules: validate, pin, scan, explain, plan, functions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kobe.cli.common import config_options, exit_with, fail_cleanly, parse_date, table
from kobe.config.errors import KobeError


@click.command()
@click.argument("strategies", type=click.Path(path_type=Path), default="strategies.yaml")
@config_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def validate(strategies: Path, risk_path: Path | None, as_json: bool) -> None:
    """Check the config: schemas, rules, universes; print its hash and pin state.

    Exits 2 with every error (file:line:col) when anything is wrong.
    """
    from kobe.project import load_project, shown

    try:
        project = load_project(strategies, risk_path)
        fp = project.fingerprint()
        status = project.pin_status()
    except KobeError as err:
        if as_json:
            click.echo(json.dumps({"ok": False, "errors": [d.to_dict() for d in err.diagnostics]}, indent=2))
            sys.exit(err.exit_code)
        exit_with(err)
        return
    rows = [(s.name, "enabled" if s.config.enabled else "disabled", s.config.universe,
             len(project.universe(s.config)), s.warmup) for s in project.strategies]
    if as_json:
        click.echo(json.dumps({
            "ok": True, "sha256": fp.sha256, "files": fp.files,
            "pin": {"pinned": status.pinned, "matches": status.matches, "pinned_at": status.pinned_at,
                    "changed": list(status.changed), "added": list(status.added), "removed": list(status.removed)},
            "strategies": [dict(zip(("name", "state", "universe", "symbols", "warmup_bars"), r)) for r in rows],
        }, indent=2))
        return
    files = [shown(p) for p in project.config_files()]
    click.echo(f"ok: {', '.join(files)}")
    click.echo(table(rows, ("strategy", "state", "universe", "symbols", "warm-up bars")))
    click.echo(f"config sha256: {fp.sha256}")
    click.echo(f"pin: {status.describe()}")


@click.command()
@click.argument("strategies", type=click.Path(path_type=Path), default="strategies.yaml")
@config_options
@fail_cleanly
def pin(strategies: Path, risk_path: Path | None) -> None:
    """Record the config's hash in state/config.lock; trading refuses any other config."""
    from kobe.config.pin import write_pin
    from kobe.project import load_project, shown

    project = load_project(strategies, risk_path)
    fp = project.fingerprint()
    path = write_pin(project.root, fp)
    click.echo(f"pinned {fp.sha256} ({len(fp.files)} files) in {shown(path)}")


@click.command()
@click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml",
              show_default=True, help="The strategies file.")
@config_options
@click.option("--data", "data", default=None, help="Bars file, folder or lake; default: the config's data source.")
@click.option("--date", "date", default=None, help="Scan this session (YYYY-MM-DD); default: the latest bar.")
@click.option("--strategy", "strategy", default=None, help="Only this strategy.")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Picks file (default: logs/daily_picks.csv beside the config).")
@click.option("--json", "as_json", is_flag=True, help="Print the picks as JSON.")
@fail_cleanly
def scan(strategies: Path, risk_path: Path | None, data: str | None, date: str | None, strategy: str | None,
         out: Path | None, as_json: bool) -> None:
    """Evaluate the enabled strategies on the latest (or given) bar; write the picks."""
    from kobe.project import load_project, shown
    from kobe.scan import PICKS_FILE, write_picks
    from kobe.scan import scan as run_scan

    project = load_project(strategies, risk_path)
    result = run_scan(project, project.bars(data), parse_date(date), strategy)
    path = write_picks(result, out or project.root / PICKS_FILE)
    if as_json:
        click.echo(json.dumps({"date": result.date.isoformat(), "strategies": list(result.strategies),
                               "quality": {"verdict": result.quality.verdict(),
                                           "excluded": sorted(result.quality.excluded),
                                           "findings": len(result.quality.findings)},
                               "picks": result.picks.with_columns(date=result.picks["date"].cast(str)).to_dicts()},
                              indent=2))
        return
    quality = result.quality
    click.echo(f"data quality: {quality.verdict()}"
               + (f" ({len(quality.findings)} findings; `kobe data check` lists them)" if quality.findings else ""))
    click.echo(f"scan of {result.date.isoformat()} ({', '.join(result.strategies)}): "
               f"{result.picks.height} pick{'s' if result.picks.height != 1 else ''}")
    if result.picks.height:
        click.echo(table(result.picks.select("strategy", "symbol", "side", "close", "stop", "rank_score").rows(),
                          ("strategy", "symbol", "side", "close", "stop", "rank")))
    click.echo(f"written to {shown(path)}")


@click.command()
@click.argument("strategy")
@click.argument("symbol")
@click.argument("date")
@click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml", show_default=True)
@config_options
@click.option("--data", "data", default=None, help="Bars file or lake folder (default: the config's data source).")
@fail_cleanly
def explain(strategy: str, symbol: str, date: str, strategies: Path, risk_path: Path | None,
            data: str | None) -> None:
    """Show each sub-expression of STRATEGY for SYMBOL on DATE with its value."""
    from kobe.explain import explain as run_explain
    from kobe.explain import render
    from kobe.project import load_project

    project = load_project(strategies, risk_path)
    day = parse_date(date)
    assert day is not None
    click.echo(render(run_explain(project, project.bars(data), strategy, symbol.upper(), day)))


@click.command()
@click.argument("strategy")
@click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml", show_default=True)
@config_options
@click.option("--polars", "show_polars", is_flag=True, help="Show each Polars expression too.")
@fail_cleanly
def plan(strategy: str, strategies: Path, risk_path: Path | None, show_polars: bool) -> None:
    """Print STRATEGY's compiled plan: derived columns by stage, then outputs."""
    from kobe.project import load_project

    project = load_project(strategies, risk_path)
    click.echo(project.compiled(strategy).describe(polars=show_polars))


@click.command()
@click.option("--json", "as_json", is_flag=True)
def functions(as_json: bool) -> None:
    """List the rule language's built-in functions and bar columns."""
    from kobe.dsl.columns import BAR_COLUMNS, EXIT_COLUMNS
    from kobe.dsl.functions import REGISTRY

    specs = sorted(REGISTRY.values(), key=lambda s: s.name)
    if as_json:
        click.echo(json.dumps({
            "functions": [{"name": s.name, "signature": s.signature(), "doc": s.doc} for s in specs],
            "columns": [{"name": c.name, "doc": c.doc} for c in {**BAR_COLUMNS, **EXIT_COLUMNS}.values()],
        }, indent=2))
        return
    click.echo(table([(s.signature(), s.doc) for s in specs], ("function", "meaning")))
    click.echo("")
    click.echo(table([(c.name, c.doc) for c in {**BAR_COLUMNS, **EXIT_COLUMNS}.values()], ("column", "meaning")))


COMMANDS = [validate, pin, scan, explain, plan, functions]
