"""Backtest commands: ``kobe backtest``, ``kobe sweep``, ``kobe walkforward``, ``kobe montecarlo``.

Each parses its options, calls the library (:mod:`kobe.backtest`), writes its files with
a receipt and prints a table, or the summary as JSON with ``--json``. Long runs draw a
progress bar on stderr, so ``--json`` output on stdout stays clean.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from kobe.cli.common import config_options, fail_cleanly, parse_date, table
from kobe.scale.cli import ray_option

DEFAULT_OUT = Path("out") / "backtest"
METRIC_CHOICES = ("sharpe", "sortino", "calmar", "cagr", "total_return", "final_equity", "max_drawdown",
                  "profit_factor", "expectancy", "win_rate", "sqn", "volatility", "max_drawdown_days", "trades")


ALL_ENABLED = "Only this strategy (default: every enabled one)."
SWEPT = "The strategy to run (default: the one enabled strategy with swept params)."


def data_options(func: Callable[..., Any], strategy_help: str = ALL_ENABLED) -> Callable[..., Any]:
    """The options every backtest command shares, in the order the receipt shows them."""
    for decorator in reversed([
        click.argument("strategies", type=click.Path(path_type=Path), default="strategies.yaml"),
        config_options,
        click.option("--strategy", "strategy", default=None, help=strategy_help),
        click.option("--data", "data", default=None, help="Bars file, folder or lake; default: the config's data source."),
        click.option("--universe", "universe_file", type=click.Path(path_type=Path), default=None,
                     help="A universe CSV (a `symbol` column) replacing every strategy's own."),
        click.option("--start", "start", default=None,
                     help="First session whose signals count (YYYY-MM-DD); earlier bars only warm up indicators."),
        click.option("--end", "end", default=None, help="Last session read (YYYY-MM-DD); later bars are never read."),
        click.option("--gates/--no-gates", "gates", default=None,
                     help="Apply risk.yaml's budget and liquidity gates to entries "
                          "(default: on for strategies sized in fixed dollars)."),
    ]):
        func = decorator(func)
    return func


def swept_options(func: Callable[..., Any]) -> Callable[..., Any]:
    return data_options(func, SWEPT)


@contextmanager
def executor(params: dict[str, Any], inputs: Inputs) -> Iterator[Any]:
    """The executor of ``--ray`` or the config's ``compute:`` section, stopped after use."""
    from kobe.scale import executor_for, ray_address

    with executor_for(ray_address(params["ray"], inputs.project.config.compute)) as chosen:
        yield chosen


def output_options(default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        func = click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")(func)
        return click.option("--out", "out", type=click.Path(path_type=Path), default=None,
                            help=f"Output folder (default: {default} beside the strategies file).")(func)
    return wrap


class Inputs:
    """A command's project, bars and options, loaded once."""

    def __init__(self, params: dict[str, Any]) -> None:
        import polars as pl

        from kobe.data.universe import load_universe
        from kobe.project import load_project, shown

        self.project = load_project(params["strategies"], params["risk_path"])
        universe_file = params["universe_file"]
        self.universe = load_universe(universe_file, shown(universe_file)) if universe_file is not None else None
        self.start, self.end = parse_date(params["start"]), parse_date(params["end"])
        bars = self.project.bars(params["data"])
        self.bars = bars if self.end is None else bars.filter(pl.col("date") <= self.end)
        self.data_source = params["data"] or self.project.config.data.provider

    def folder(self, out: Path | None, default: str) -> Path:
        return out if out is not None else self.project.root / "out" / default

    def receipt(self, bars: Any) -> Any:
        from kobe.backtest.receipt import make_receipt

        return make_receipt(command=command_line(), config_sha256=self.project.fingerprint().sha256, bars=bars,
                            data_source=self.data_source)

    def swept(self, name: str | None) -> str:
        """The strategy a sweep or walk-forward runs: ``name``, else the one enabled
        strategy with swept params."""
        from kobe.config.errors import Diagnostic, KobeError

        if name is not None:
            return self.project.strategy(name).name
        swept = [s.name for s in self.project.enabled() if s.config.sweep]
        if len(swept) == 1:
            return swept[0]
        hint = f"strategies with swept params: {', '.join(swept)}" if swept else \
            "write a param as a list or a range, e.g. `channel_bars: [10, 20, 30]`"
        raise KobeError(Diagnostic("name the strategy to sweep with --strategy", hint=hint))


def command_line() -> str:
    """The command, rebuilt from its parsed options (in declaration order), so a receipt
    reads the same however the command was started (shell, script, test)."""
    ctx = click.get_current_context()
    words = ["kobe", ctx.info_name or ""]
    for param in ctx.command.params:
        if param.name == "ray":
            continue    # where it ran, not what it computed: a Ray run's receipt is the local run's
        value = ctx.params.get(param.name or "")
        # Left out when unset, except a --no-x switch, which says what it turned off.
        negated = isinstance(param, click.Option) and bool(param.secondary_opts) and value is False
        if (value is None or value is False or value == ()) and not negated:
            continue
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif isinstance(param, click.Option):
            if param.is_flag:
                words.append(param.opts[0] if value else param.secondary_opts[0])
            else:
                words += [param.opts[0], str(value)]
    return shlex.join(words)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A ``(done, total)`` callback drawing a progress bar on stderr once work starts."""
    state: dict[str, Any] = {}

    def report(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr,
                                             show_pos=True)
            state["bar"].__enter__()
        bar = state["bar"]
        bar.update(done - bar.pos)

    try:
        yield report
    finally:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


@click.command()
@data_options
@output_options("out/backtest")
@click.option("--report", "report", type=click.Path(path_type=Path), default=None,
              help="Also write an HTML report (charts, metrics, trades) to this file; opens offline.")
@fail_cleanly
def backtest(**params: Any) -> None:
    """Backtest the enabled strategies (or one) and write trades, equity and a summary.

    Signals of bar t fill at t+1's open (or t's close, per strategy); costs, slots and
    sizing come from the YAML (docs/backtest.md). Prints the metrics of each strategy,
    all of them combined, and an equal-weight buy-and-hold of the universe.
    """
    from kobe.backtest import run_backtest
    from kobe.backtest.outputs import (
        edge_lines,
        metrics_rows,
        skip_lines,
        summary,
        write_outputs,
    )
    from kobe.project import shown

    inputs = Inputs(params)
    result = run_backtest(inputs.project, inputs.bars, strategy=params["strategy"], universe=inputs.universe,
                          start=inputs.start, end=inputs.end, gates=params["gates"], unfiltered=True)
    receipt = inputs.receipt(result.market.bars)
    folder = inputs.folder(params["out"], "backtest")
    write_outputs(result, folder, receipt)
    data_summary = summary(result, receipt)
    if params["report"] is not None:
        from kobe.backtest.report import write_report

        write_report(params["report"], result, data_summary, receipt)
    if params["as_json"]:
        echo_json(data_summary)
        return
    click.echo(f"backtest {result.start.isoformat()} .. {result.end.isoformat()} "
               f"({data_summary['period']['sessions']} sessions, {result.market.rows:,} bars, "
               f"{len(result.market.symbols)} symbols)")
    header, rows = metrics_rows(data_summary)
    click.echo(table(rows, header))
    for line in [*edge_lines(data_summary), *skip_lines(data_summary)]:
        click.echo(line)
    blocked = {name: s["skipped"]["blocked_budget"] + s["skipped"]["blocked_liquidity"]
               for name, s in data_summary["strategies"].items() if s["gates"]}
    if blocked:
        click.echo("risk gates blocked: " + ", ".join(f"{n} {b:,}" for n, b in blocked.items()))
    click.echo(f"config sha256: {receipt.config_sha256}")
    click.echo(f"data sha256:   {receipt.data_sha256}")
    click.echo(f"written to {shown(folder)}" + (f"; report {shown(params['report'])}" if params["report"] else ""))


@click.command()
@swept_options
@click.option("--metric", type=click.Choice(METRIC_CHOICES), default="sharpe", show_default=True,
              help="Sort the points by this metric (best first).")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True, help="Rows of the printed table.")
@output_options("out/sweep")
@ray_option
@fail_cleanly
def sweep(**params: Any) -> None:
    """Backtest every combination of a strategy's swept params and rank them.

    A param written as a list (`[10, 20, 30]`) or a range (`{from: 10, to: 50, step:
    10}`) is swept. The data is loaded once and each distinct indicator computed once
    for the whole grid. Writes sweep.csv (a row per point, best first) and sweep.json.
    """
    from kobe.backtest.outputs import show, sweep_summary, write_sweep
    from kobe.backtest.sweep import run_sweep
    from kobe.project import shown

    inputs = Inputs(params)
    name = inputs.swept(params["strategy"])
    config = inputs.project.strategy(name).config
    grid = {k: list(v) for k, v in config.sweep.items()}
    with executor(params, inputs) as chosen, progress_bar(f"sweep {name}") as progress:
        result = run_sweep(inputs.project, inputs.bars, name, metric=params["metric"], universe=inputs.universe,
                           start=inputs.start, end=inputs.end, gates=params["gates"], progress=progress,
                           executor=chosen)
    receipt = inputs.receipt(result.market.bars)
    folder = inputs.folder(params["out"], "sweep")
    write_sweep(result, grid, folder, receipt)
    if params["as_json"]:
        echo_json(sweep_summary(result, grid, receipt))
        return
    click.echo(f"sweep {name}: {len(result.rows)} points, {result.start.isoformat()} .. {result.end.isoformat()}, "
               f"best by {params['metric']}")
    metric = params["metric"]
    columns = [("total_return", "pct"), ("cagr", "pct"), ("sharpe", "ratio"), ("max_drawdown", "pct"),
               ("trades", "int")]
    if metric not in dict(columns):
        columns.insert(0, (metric, _kind(metric)))
    header = ["rank", *result.params, *(c for c, _ in columns)]
    rows = [[row["rank"], *(row[p] for p in result.params), *(show(row[c], kind) for c, kind in columns)]
            for row in result.rows[:params["top"]]]
    click.echo(table(rows, header))
    click.echo(f"config sha256: {receipt.config_sha256}")
    click.echo(f"written to {shown(folder)}")


def _kind(metric: str) -> str:
    from kobe.backtest.outputs import METRICS

    return next((kind for key, _, kind in METRICS if key == metric), "ratio")


@click.command()
@swept_options
@click.option("--train-months", type=click.IntRange(min=1), default=24, show_default=True,
              help="Length of each train window, in calendar months.")
@click.option("--test-months", type=click.IntRange(min=1), default=6, show_default=True,
              help="Length of each test window, in calendar months; folds move forward by it.")
@click.option("--anchored", is_flag=True, help="Keep every train window's start at the first session "
                                               "(growing windows) instead of rolling it.")
@click.option("--metric", type=click.Choice(METRIC_CHOICES), default="sharpe", show_default=True,
              help="Pick each train window's params by this metric.")
@output_options("out/walkforward")
@ray_option
@fail_cleanly
def walkforward(**params: Any) -> None:
    """Walk-forward: pick params on each train window, run them on the next test window.

    Prints each fold's choice and the stitched out-of-sample result against buy and hold.
    Bars before a window only warm its indicators up; nothing reads past a window's end.
    """
    from kobe.backtest.outputs import (
        METRICS,
        show,
        walkforward_summary,
        write_walkforward,
    )
    from kobe.backtest.walkforward import run_walkforward
    from kobe.project import shown

    inputs = Inputs(params)
    name = inputs.swept(params["strategy"])
    with executor(params, inputs) as chosen, progress_bar(f"walk-forward {name}") as progress:
        result = run_walkforward(inputs.project, inputs.bars, name, train_months=params["train_months"],
                                 test_months=params["test_months"], anchored=params["anchored"],
                                 metric=params["metric"], universe=inputs.universe, start=inputs.start,
                                 end=inputs.end, gates=params["gates"], progress=progress, executor=chosen)
    receipt = inputs.receipt(result.market.bars)
    folder = inputs.folder(params["out"], "walkforward")
    write_walkforward(result, folder, receipt)
    data = walkforward_summary(result, receipt)
    if params["as_json"]:
        echo_json(data)
        return
    metric = params["metric"]
    click.echo(f"walk-forward {name}: {len(result.folds)} folds ({data['splits']}, train {params['train_months']} "
               f"months, test {params['test_months']} months), params by train {metric}")
    header = ["fold", "train", "test", *result.params, f"train {metric}", "test return", "test trades"]
    rows = [[f["fold"], f"{f['train_start']} .. {f['train_end']}", f"{f['test_start']} .. {f['test_end']}",
             *(f[p] for p in result.params), show(f[f"train_{metric}"], _kind(metric)),  # type: ignore[arg-type]
             show(f["test_total_return"], "pct"), f["test_trades"]] for f in result.folds]  # type: ignore[arg-type]
    click.echo(table(rows, header))
    oos = data["out_of_sample"]
    click.echo(f"\nout of sample {oos['start']} .. {oos['end']} ({oos['sessions']} sessions), stitched:")
    rows = [[label, show(data["metrics"].get(key), kind), show(data["benchmark"].get(key), kind)
             if key in data["benchmark"] else ""] for key, label, kind in METRICS]
    click.echo(table(rows, ["metric", name, "buy & hold"]))
    click.echo(f"config sha256: {receipt.config_sha256}")
    click.echo(f"written to {shown(folder)}")


def _levels(value: str) -> tuple[float, ...]:
    try:
        levels = tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of fractions such as 0.2,0.5") from None
    if not all(0 < v <= 1 for v in levels):
        raise click.BadParameter("each level is a fraction of the initial cash, greater than 0 and at most 1")
    return levels


@click.command()
@data_options
@click.option("--runs", type=click.IntRange(min=1, max=1_000_000), default=1_000, show_default=True,
              help="Paths per method.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed: the same seed, the same numbers.")
@click.option("--method", "method", type=click.Choice(["both", "bootstrap", "shuffle"]), default="both",
              show_default=True, help="Resample with replacement (bootstrap), reorder (shuffle), or both.")
@click.option("--ruin", "ruin", default="0.1,0.25,0.5", show_default=True,
              help="Loss levels, as fractions of the initial cash, for the risk of ruin.")
@output_options("out/montecarlo")
@ray_option
@fail_cleanly
def montecarlo(**params: Any) -> None:
    """Monte Carlo: resample the backtest's trade sequence, percentiles and risk of ruin.

    Runs the backtest (same options as `kobe backtest`), then applies the closed trades'
    P&L in random orders (shuffle) and random draws (bootstrap) to the initial cash:
    percentiles of the final return and the max drawdown, and the share of paths that
    lose each --ruin level of the initial cash. Of one strategy with --strategy, else of
    the enabled strategies combined.
    """
    from kobe.backtest import run_backtest
    from kobe.backtest.montecarlo import METHODS, monte_carlo
    from kobe.backtest.outputs import show, write_montecarlo
    from kobe.project import shown

    levels = _levels(params["ruin"])
    inputs = Inputs(params)
    result = run_backtest(inputs.project, inputs.bars, strategy=params["strategy"], universe=inputs.universe,
                          start=inputs.start, end=inputs.end, gates=params["gates"])
    account = result.strategies[0] if params["strategy"] else result.combined
    methods = METHODS if params["method"] == "both" else (params["method"],)
    with executor(params, inputs) as chosen, progress_bar(f"monte carlo {account.name}") as progress:
        mc = monte_carlo(account.trades, account.settings.initial_cash, runs=params["runs"], seed=params["seed"],
                         methods=methods, ruin_levels=levels, progress=progress, executor=chosen)
    receipt = inputs.receipt(result.market.bars)
    data = {"account": account.name, "period": {"start": result.start.isoformat(), "end": result.end.isoformat()},
            **mc.to_dict(), "receipt": receipt.to_dict()}
    folder = inputs.folder(params["out"], "montecarlo")
    write_montecarlo(mc, data, folder, receipt)
    if params["as_json"]:
        echo_json(data)
        return
    click.echo(f"monte carlo {account.name}: {mc.trades:,} closed trades, {mc.runs:,} paths per method, "
               f"seed {mc.seed}; {result.start.isoformat()} .. {result.end.isoformat()}")
    labels = list(next(iter(mc.methods.values()))["final_return"])
    rows = [[f"{method} {what.replace('_', ' ')}", *(show(v, "pct") for v in stats[what].values())]
            for method, stats in mc.methods.items() for what in ("final_return", "max_drawdown")]
    click.echo(table(rows, ["", *labels]))
    click.echo(f"backtest order: final return {show(mc.actual['final_return'], 'pct')}, "
               f"max drawdown {show(mc.actual['max_drawdown'], 'pct')}")
    rows = [[f"lose {float(level) * 100:g}%", *(show(stats["risk_of_ruin"][level], "pct")
                                                 for stats in mc.methods.values())]
            for level in next(iter(mc.methods.values()))["risk_of_ruin"]]
    click.echo(table(rows, ["risk of ruin", *mc.methods]))
    click.echo(f"written to {shown(folder)}")


COMMANDS: list[click.Command] = [backtest, sweep, walkforward, montecarlo]
