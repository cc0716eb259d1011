"""Backtest commands: ``kobe backtest``, and later walk-forward, sweeps, Monte Carlo."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from kobe.cli.common import config_options, fail_cleanly, parse_date, table

DEFAULT_OUT = Path("out") / "backtest"


@click.command()
@click.argument("strategies", type=click.Path(path_type=Path), default="strategies.yaml")
@config_options
@click.option("--strategy", "strategy", default=None, help="Only this strategy (default: every enabled one).")
@click.option("--data", "data", default=None, help="Bars file (CSV or Parquet); default: the embedded sample.")
@click.option("--universe", "universe_file", type=click.Path(path_type=Path), default=None,
              help="A universe CSV (a `symbol` column) replacing every strategy's own.")
@click.option("--start", "start", default=None,
              help="First session whose signals count (YYYY-MM-DD); earlier bars only warm up indicators.")
@click.option("--end", "end", default=None, help="Last session read (YYYY-MM-DD); later bars are never read.")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: out/backtest beside the strategies file).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary (metrics, receipt) as JSON.")
@fail_cleanly
def backtest(strategies: Path, risk_path: Path | None, strategy: str | None, data: str | None,
             universe_file: Path | None, start: str | None, end: str | None, out: Path | None,
             as_json: bool) -> None:
    """Backtest the enabled strategies (or one) and write trades, equity and a summary.

    Signals of bar t fill at t+1's open (or t's close, per strategy); costs, slots and
    sizing come from the YAML (docs/backtest.md). Prints the metrics of each strategy,
    all of them combined, and an equal-weight buy-and-hold of the universe.
    """
    from kobe.backtest import run_backtest
    from kobe.backtest.outputs import metrics_rows, summary, write_outputs
    from kobe.backtest.receipt import make_receipt
    from kobe.data.bars import read_bars
    from kobe.data.universe import load_universe
    from kobe.project import load_project, shown

    project = load_project(strategies, risk_path)
    universe = load_universe(universe_file, shown(universe_file)) if universe_file is not None else None
    first, last = parse_date(start), parse_date(end)
    result = run_backtest(project, read_bars(data, end=last), strategy=strategy, universe=universe,
                          start=first, end=last)
    command = _command_line(strategies, risk_path, strategy, data, universe_file, start, end, out, as_json)
    receipt = make_receipt(command=command, config_sha256=project.fingerprint().sha256,
                           bars=result.market.bars, data_source=data or "embedded")
    folder = out if out is not None else project.root / DEFAULT_OUT
    write_outputs(result, folder, receipt)
    data_summary = summary(result, receipt)
    if as_json:
        click.echo(json.dumps(data_summary, indent=2))
        return
    click.echo(f"backtest {result.start.isoformat()} .. {result.end.isoformat()} "
               f"({data_summary['period']['sessions']} sessions, {result.market.rows:,} bars, "
               f"{len(result.market.symbols)} symbols)")
    header, rows = metrics_rows(data_summary)
    click.echo(table(rows, header))
    click.echo(f"config sha256: {receipt.config_sha256}")
    click.echo(f"data sha256:   {receipt.data_sha256}")
    click.echo(f"written to {shown(folder)}")


def _command_line(strategies: Path, risk: Path | None, strategy: str | None, data: str | None,
                  universe: Path | None, start: str | None, end: str | None, out: Path | None,
                  as_json: bool) -> str:
    """The command, rebuilt from its parsed options, so a receipt reads the same however
    the command was started (shell, script, test)."""
    words = ["kobe", "backtest", str(strategies)]
    for flag, value in (("--risk", risk), ("--strategy", strategy), ("--data", data), ("--universe", universe),
                        ("--start", start), ("--end", end), ("--out", out)):
        if value is not None:
            words += [flag, str(value)]
    if as_json:
        words.append("--json")
    return shlex.join(words)


COMMANDS: list[click.Command] = [backtest]
