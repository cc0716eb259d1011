"""The meta-model commands: ``kobe ml train`` and ``kobe ml report`` (docs/research.md,
"The meta-model")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kobe.cli.common import (
    config_option,
    config_options,
    fail_cleanly,
    names_list,
    table,
)
from kobe.scale.cli import ray_option


@click.group()
def ml() -> None:
    """The meta-model: the probability that a strategy's signal wins (meta_prob)."""


@ml.command()
@click.argument("strategy")
@config_option
@config_options
@click.option("--features", "features", default=None, callback=names_list("feature", "--features ret_5d,rsi_14"),
              help="Feature definitions, comma-separated (default: the parameterless ones of rules/features.kobe).")
@click.option("--data", "data", default=None, help="Bars file (CSV or Parquet); default: the config's data source.")
@click.option("--folds", "folds", type=click.IntRange(1, 50), default=5, show_default=True,
              help="Walk-forward test periods.")
@click.option("--json", "as_json", is_flag=True, help="Print the receipt (every fold's figures) as JSON.")
@ray_option
@fail_cleanly
def train(strategy: str, strategies: Path, risk_path: Path | None, features: list[str] | None, data: str | None,
          folds: int, as_json: bool, ray: str | None) -> None:
    """Train STRATEGY's meta-model on its own backtest trades, walk-forward.

    Writes state/models/STRATEGY.joblib and its receipt STRATEGY.json; prints each
    fold's AUC, Brier score and log loss, and the out-of-sample reliability table.
    With --ray the folds' fits run as Ray tasks, to the same model file (docs/scale.md).
    """
    from kobe.project import load_project, shown
    from kobe.research.ml.store import save
    from kobe.research.ml.train import train as run_train
    from kobe.scale import executor_for, ray_address

    project = load_project(strategies, risk_path)
    bars = project.bars(data)
    with executor_for(ray_address(ray, project.config.compute)) as executor:
        result = run_train(project, strategy, bars, features=features, folds=folds, executor=executor)
    path, receipt = save(project, result, data_source=data or project.config.data.provider)
    if as_json:
        import json

        click.echo(json.dumps(receipt, indent=2))
        return
    _print(receipt)
    click.echo(f"model written to {shown(path)} (sha256 {receipt['model_sha256'][:12]}), receipt beside it; "
               f"`kobe pin` to trade it")


@ml.command()
@click.argument("strategy")
@config_option
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print the receipt and its checks as JSON.")
@fail_cleanly
def report(strategy: str, strategies: Path, risk_path: Path | None, as_json: bool) -> None:
    """Show STRATEGY's trained meta-model: its receipt, folds and reliability table, and
    whether it still matches the config and the pin."""
    from kobe.config.pin import pinned_models
    from kobe.project import load_project
    from kobe.research.ml.store import file_sha256, model_path, read_receipt

    project = load_project(strategies, risk_path)
    project.strategy(strategy)
    receipt = read_receipt(project.root, strategy)
    path = model_path(project.root, strategy)
    relative = path.relative_to(project.root).as_posix()
    pinned = pinned_models(project.root)
    checks = {
        "file_matches_receipt": file_sha256(path) == receipt["model_sha256"],
        "config_matches": receipt["config_sha256"] == project.fingerprint().sha256,
        "pinned": None if pinned is None else pinned.get(relative) == receipt["model_sha256"],
    }
    if as_json:
        import json

        click.echo(json.dumps({**receipt, "checks": checks}, indent=2))
        return
    _print(receipt)
    click.echo(f"trained {receipt['trained_at']} on data {receipt['data_source']} "
               f"(sha256 {receipt['data_sha256'][:12]}), config {receipt['config_sha256'][:12]}")
    click.echo("versions: " + ", ".join(f"{k} {v}" for k, v in receipt["versions"].items()))
    click.echo(f"model file {'matches' if checks['file_matches_receipt'] else 'DOES NOT MATCH'} its receipt; "
               f"config {'matches' if checks['config_matches'] else 'CHANGED since training (train again)'}; "
               + {None: "config not pinned", True: "the pinned model",
                  False: "NOT the pinned model (run `kobe pin`)"}[checks["pinned"]])


def _print(receipt: dict[str, Any]) -> None:
    training, oos = receipt["training"], receipt["out_of_sample"]
    features = receipt["features"]
    click.echo(f"meta-model of {receipt['strategy']}: {training['trades']} closed trades "
               f"({training['first_signal']} .. {training['last_exit']}, {training['wins']} won), "
               f"{len(features)} features, {len(receipt['folds'])} folds, embargo {training['embargo_sessions']} "
               f"sessions")
    rows = [(f["fold"], f["train_trades"], f["test_start"], f["test_end"], f["trades"], _f(f["base_rate"]),
             _f(f["auc"]), _f(f["brier"]), _f(f["log_loss"]), f["calibration"]) for f in receipt["folds"]]
    click.echo(table(rows, ("fold", "trained on", "test from", "test to", "trades", "win rate", "AUC", "Brier",
                            "log loss", "calibration")))
    base = oos["base_rate"]
    click.echo(f"out of sample: {oos['trades']} trades, AUC {_f(oos['auc'])}, Brier {_f(oos['brier'])} "
               f"(always saying the win rate {_f(base)} scores {_f(base * (1 - base))}), "
               f"log loss {_f(oos['log_loss'])}")
    click.echo("reliability, out of sample (a calibrated model's win rate is its mean probability in every bin):")
    click.echo(table([(f"{b['low']:.1f}-{b['high']:.1f}", b["trades"], _f(b["mean_prob"]), _f(b["win_rate"]))
                      for b in oos["reliability"]], ("probability", "trades", "mean prob", "win rate")))


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


COMMANDS = [ml]
