"""``kobe promote``: a strategy's evidence, computed, checked and recorded.

Runs :func:`kobe.evidence.gate.evaluate` (the neighbourhood sweep, Monte Carlo, the
deflated Sharpe ratio, walk-forward, CSCV), prints each figure against its threshold,
writes ``state/evidence/<strategy>.json`` and chains its SHA256 into the audit trail
(:mod:`kobe.evidence.record`). Exit codes: 0 every figure passes, 1 one fails (the
record is written all the same: it says why), 2 the config or the data is wrong.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kobe.cli.common import config_option, config_options, fail_cleanly, table


@click.command()
@click.argument("strategy")
@config_option
@config_options
@click.option("--data", default=None, help="Bars file, folder or lake; default: the config's data source.")
@click.option("--variants", "variants", type=click.IntRange(min=1), default=None,
              help="Variants tried on the way to this strategy, for the deflated Sharpe ratio "
                   "(default, and at least: the neighbourhood's points).")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@fail_cleanly
def promote(strategy: str, strategies: Path, risk_path: Path | None, data: str | None, variants: int | None,
            as_json: bool) -> None:
    """Compute STRATEGY's evidence (walk-forward, Monte Carlo, deflated Sharpe, CSCV, parameter
    stability), print each figure against risk.yaml's evidence: thresholds and record it in
    state/evidence/ and the audit chain; `kobe run --live` needs a passing record
    (docs/evidence.md). Exits 1 when a figure fails."""
    from kobe.evidence.gate import evaluate
    from kobe.evidence.record import write_record
    from kobe.project import load_project, shown

    project = load_project(strategies, risk_path)
    project.strategy(strategy)          # an unknown name is a located error before any work
    report = evaluate(project, strategy, variants, data=data,
                      progress=None if as_json else lambda stage: click.echo(f"... {stage}", err=True))
    path, sha = write_record(project, report)
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "record": str(path), "record_sha256": sha}, indent=2))
    else:
        rows = [[f.name, "-" if f.value is None else f"{f.value:g}", f"{f.op} {f.threshold:g}",
                 "pass" if f.passed else "FAIL"] for f in report.figures]
        click.echo(table(rows, ["figure", "value", "threshold", "verdict"]))
        inputs = report.inputs
        click.echo(f"neighbourhood: {inputs['neighbourhood_points']} points; variants tried: "
                   f"{inputs['variants_tried']}; sessions: {inputs['sessions']}")
        click.echo(f"config sha256: {report.binding['config_sha256']}")
        click.echo(f"data sha256:   {report.binding['data_sha256']} ({report.binding['data_source']})")
        verdict = "PASSED: may trade live" if report.passed else \
            "FAILED: " + ", ".join(f"evidence.{f.key}" for f in report.failing())
        click.echo(f"{verdict}; record {shown(path)} (sha256 {sha[:12]}..., chained in logs/)")
    if not report.passed:
        sys.exit(1)


COMMANDS: list[click.Command] = [promote]
