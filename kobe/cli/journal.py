"""Journal commands: ``kobe journal``, ``kobe reflect``, ``kobe hypothesize`` (docs/journal.md).

Thin click over :mod:`kobe.journal`: the journal is written only when asked
(``--record-backtest``, ``--record-live``), read by the three commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from kobe.cli.common import (
    config_option,
    config_options,
    fail_cleanly,
    parse_date,
    table,
)
from kobe.config.errors import Diagnostic, KobeError

SOURCE = click.Choice(["backtest", "live"])


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{100 * value:+.{digits}f}%"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _journal_trades(project: Any, strategy: str, source: str | None) -> tuple[Any, Any]:
    """The journal's rows of ``strategy`` (a strategy of the config: an unknown name is a
    located error) and its context columns; an error when there are none."""
    from kobe.journal.store import JOURNAL, open_existing

    project.strategy(strategy)
    journal = open_existing(project.root)
    try:
        trades, context = journal.trades(strategy, source), journal.context_columns()
    finally:
        journal.close()
    if trades.is_empty():
        what = f"{source} trades" if source else "trades"
        how = "--record-live" if source == "live" else "--record-backtest"
        raise KobeError(Diagnostic(f"the journal has no {what} of {strategy!r}", file=str(JOURNAL),
                                   hint=f"run `kobe journal {how} --strategy {strategy}`"))
    return trades, context


@click.command()
@config_option
@config_options
@click.option("--record-backtest", "record_backtest", is_flag=True,
              help="Backtest the enabled strategies (or --strategy) and make their closed trades the journal's "
                   "backtest rows.")
@click.option("--record-live", "record_live", is_flag=True,
              help="Add the closed round trips of the order store (state/orders.sqlite) as live rows.")
@click.option("--strategy", "strategy", default=None, help="Only this strategy (to record or to list).")
@click.option("--source", "source", type=SOURCE, default=None, help="List only backtest or live rows.")
@click.option("--data", "data", default=None, help="Bars file, folder or lake; default: the config's data source.")
@click.option("--start", "start", default=None, help="--record-backtest: first session whose signals count.")
@click.option("--end", "end", default=None, help="--record-backtest: last session read (YYYY-MM-DD).")
@click.option("--limit", "limit", type=click.IntRange(0), default=20, show_default=True,
              help="List the last N trades (0: all); --json prints them all.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows, with their context, as JSON.")
@fail_cleanly
def journal(**params: Any) -> None:
    """The trade journal (state/journal.sqlite): record trades, or list them.

    Every closed trade, backtest and live, with its signal bar's features and regimes,
    the gates' decisions, its exit reason and, live, its slippage against the backtest
    (docs/journal.md).
    """
    from kobe.journal import store
    from kobe.project import load_project, shown

    project = load_project(params["strategies"], params["risk_path"])
    strategy = params["strategy"]
    if strategy is not None:
        project.strategy(strategy)
    if not params["record_backtest"] and (params["start"] or params["end"]):
        raise click.UsageError("--start and --end choose the bars of --record-backtest")
    if params["record_backtest"] or params["record_live"]:
        bars = project.bars(params["data"])
        if params["record_backtest"]:
            counts = store.record_backtest(project, bars, strategy=strategy, start=parse_date(params["start"]),
                                           end=parse_date(params["end"]))
            for name, n in counts.items():
                click.echo(f"recorded {n:,} backtest trades of {name}")
        if params["record_live"]:
            n = store.record_live(project, bars)
            click.echo(f"recorded {n:,} live round trips from state/orders.sqlite")
        click.echo(f"journal {shown(store.journal_path(project.root))}")
        return
    book = store.open_existing(project.root)
    try:
        trades = book.trades(strategy, params["source"])
        summary = book.counts()
    finally:
        book.close()
    if params["as_json"]:
        click.echo(json.dumps(trades.to_dicts(), indent=2, default=str))
        return
    if trades.is_empty():
        raise KobeError(Diagnostic("no trade in the journal matches", file=str(store.JOURNAL),
                                   hint="record some: `kobe journal --record-backtest`"))
    click.echo(table([(c["strategy"], c["source"], c["trades"], c["first"], c["last"]) for c in summary
                      if (strategy is None or c["strategy"] == strategy)
                      and (params["source"] is None or c["source"] == params["source"])],
                     ("strategy", "source", "trades", "first entry", "last exit")))
    shown_rows = trades.sort("exit_date", "symbol").tail(params["limit"]) if params["limit"] else trades
    regimes = [c for c in ("trend_regime", "vol_regime") if c in trades.columns]
    rows = [(r["strategy"], r["source"], r["symbol"], r["signal_date"], r["entry_date"], r["exit_date"],
             _pct(r["return"]), r["exit_reason"], *(_num(r[c], 0) for c in regimes),
             _num(r["slippage_entry_bps"], 1)) for r in shown_rows.iter_rows(named=True)]
    click.echo("")
    click.echo(table(rows, ("strategy", "source", "symbol", "signal", "entry", "exit", "return", "exit reason",
                            *(c.removesuffix("_regime") for c in regimes), "slip bps")))


@click.command()
@click.argument("strategy")
@config_option
@config_options
@click.option("--source", "source", type=SOURCE, default="backtest", show_default=True,
              help="Whose trades to group (live against backtest is compared whatever the source).")
@click.option("--seed", "seed", type=int, default=0, show_default=True, help="The bootstrap's seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the groups, comparisons and findings as JSON.")
@click.option("--report", "report", type=click.Path(path_type=Path), default=None,
              help="Also write an HTML report (each comparison with its intervals); opens offline.")
@fail_cleanly
def reflect(**params: Any) -> None:
    """Where STRATEGY makes and loses money: by regime, feature quintile, exit reason, weekday.

    Each difference of mean trade returns comes with a bootstrap 95% interval; the
    findings are those whose Bonferroni-corrected interval excludes 0 (docs/journal.md).
    """
    from kobe.journal.reflect import live_pairs
    from kobe.journal.reflect import reflect as run_reflect
    from kobe.project import load_project, shown

    project = load_project(params["strategies"], params["risk_path"])
    name = params["strategy"]
    everything, context = _journal_trades(project, name, None)
    trades = everything.filter(everything["source"] == params["source"])
    if trades.is_empty():
        raise KobeError(Diagnostic(f"the journal has no {params['source']} trades of {name!r}",
                                   file="state/journal.sqlite",
                                   hint=f"run `kobe journal --record-{params['source']} --strategy {name}`"))
    result = run_reflect(trades, context, strategy=name, source=params["source"], seed=params["seed"],
                         paired=live_pairs(everything))
    if params["report"] is not None:
        from kobe.journal.report import write_report

        write_report(params["report"], result)
    if params["as_json"]:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    click.echo(f"reflect {name}: {result.trades:,} {result.source} trades, {result.first} .. {result.last}; "
               f"{result.tested} comparisons tested, Bonferroni level {100 * result.family_level:.2f}%")
    for section in ("regime", "feature", "exit_reason", "weekday", "live_vs_backtest"):
        chosen = [c for c in result.comparisons if c.section == section]
        if not chosen:
            continue
        click.echo("")
        rows = [(c.factor, f"{c.group} vs {c.other}", c.n, c.n_other, _pct(c.mean), _pct(c.mean_other),
                 _pct(c.difference), f"{_pct(c.low)} .. {_pct(c.high)}" if c.tested else "too few",
                 "yes" if c.supported else "") for c in chosen]
        click.echo(table(rows, (section.replace("_", " "), "groups", "n", "n other", "mean", "mean other",
                                "difference", "95% CI", "finding")))
    findings = result.findings()
    click.echo("")
    if findings:
        click.echo(f"findings ({len(findings)}, Bonferroni-corrected intervals exclude 0):")
        for c in findings:
            click.echo(f"- {c.sentence()}")
    else:
        click.echo("no finding: no corrected interval excludes 0")
    if params["report"] is not None:
        click.echo(f"report {shown(params['report'])}")


@click.command()
@click.argument("strategy")
@config_option
@config_options
@click.option("--data", "data", default=None, help="Bars file, folder or lake; default: the config's data source.")
@click.option("--max", "limit", type=click.IntRange(1, 50), default=10, show_default=True,
              help="At most N variants (feature filters first, then parameter neighbours).")
@click.option("--gate/--no-gate", "gate", default=True, show_default=True,
              help="Run each variant through the evidence gate (a few seconds each).")
@click.option("--json", "as_json", is_flag=True, help="Print the variants, their metrics and evidence as JSON.")
@fail_cleanly
def hypothesize(**params: Any) -> None:
    """Propose variants of STRATEGY from its journal and put each to the evidence gate.

    A filter on the features whose quintiles best separate its winners from its losers,
    and its params' neighbours; ranked by Sharpe, with ready-to-paste YAML for each
    variant that passes the gate (docs/journal.md).
    """
    from kobe.journal.hypothesize import MIN_JOURNAL_TRADES, variant_yaml
    from kobe.journal.hypothesize import hypothesize as run
    from kobe.project import load_project

    project = load_project(params["strategies"], params["risk_path"])
    name = params["strategy"]
    trades, context = _journal_trades(project, name, "backtest")

    def say(what: str) -> None:
        if not params["as_json"]:
            click.echo(f"  running {what}", err=True)

    variants, gated = run(project, name, trades, context, bars=project.bars(params["data"]), limit=params["limit"],
                          gate=params["gate"], progress=say if sys.stderr.isatty() else None)
    if params["as_json"]:
        click.echo(json.dumps({"strategy": name, "gated": gated, "variants_tried": len(variants),
                               "variants": [v.to_dict() for v in variants]}, indent=2, default=str))
        return
    click.echo(f"hypothesize {name}: {len(variants) - 1} variants from {trades.height:,} backtest trades "
               f"(variants tried, for the deflated Sharpe: {len(variants)})")
    if trades.height < MIN_JOURNAL_TRADES:
        click.echo(f"fewer than {MIN_JOURNAL_TRADES} trades: no feature filter, only parameter neighbours")
    rows = []
    for rank, v in enumerate(variants, 1):
        m = v.metrics
        evidence = "-" if v.evidence is None else ("pass" if v.passed else
                                                   "fail: " + ", ".join(v.evidence.get("failing", [])))
        dsr = _num(v.evidence.get("deflated_sharpe"), 3) if v.evidence else "-"
        rows.append((rank, v.change if v.error is None else f"{v.change} ({v.error})", _num(m.get("sharpe")),
                     m.get("trades", "-"), _pct(m.get("total_return")), _pct(m.get("max_drawdown")), dsr, evidence))
    click.echo(table(rows, ("#", "variant", "sharpe", "trades", "return", "max dd", "deflated SR", "gate")))
    passed = [v for v in variants if v.passed]
    click.echo("")
    if not gated:
        click.echo("not gated (--no-gate): no variant is offered as YAML")
    elif not passed:
        click.echo("no variant passes the evidence gate")
    else:
        click.echo("variants that pass the evidence gate (paste under `strategies:`; each is disabled):")
        for number, v in enumerate(passed, 1):
            click.echo(variant_yaml(project, name, v, number))


COMMANDS = [journal, reflect, hypothesize]
