"""What a backtest leaves behind: files in the output folder and the summary a person reads.

Files, each written atomically (a reader never sees half of one):

``trades.csv``
    closed trades of every strategy (columns: :data:`~kobe.backtest.engine.TRADE_SCHEMA`);
``open_trades.csv``
    trades still held on the last session, marked at its close;
``equity.csv``
    one row per session and account (each strategy, then ``combined``): cash, equity,
    positions held at the close, and the buy-and-hold benchmark;
``summary.json``
    the metrics of every account and of its benchmark, the signal counts, the settings
    and the receipt;
``receipt.json``
    the receipt alone (:mod:`kobe.backtest.receipt`), for the CSV files beside it.

Nothing in them depends on the clock, so the same inputs give the same bytes.

``kobe sweep``, ``kobe walkforward`` and ``kobe montecarlo`` leave their own files
(:func:`write_sweep`, :func:`write_walkforward`, :func:`write_montecarlo`), each with
the receipt too.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import polars as pl

from kobe.backtest.engine import BacktestResult, StrategyResult
from kobe.backtest.metrics import Number
from kobe.backtest.montecarlo import MonteCarloResult
from kobe.backtest.receipt import Receipt
from kobe.backtest.sweep import SweepResult
from kobe.backtest.walkforward import WalkForwardResult
from kobe.files import write_atomic

FILES = ("trades.csv", "open_trades.csv", "equity.csv", "summary.json", "receipt.json")

# The metrics table, in reading order: key, label, how to show it.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("final_equity", "final equity", "usd"),
    ("total_return", "total return", "pct"),
    ("capital_at_risk", "capital at risk (peak)", "usd"),
    ("return_on_capital_at_risk", "return on capital at risk", "pct"),
    ("cagr", "CAGR", "pct"),
    ("volatility", "volatility (ann.)", "pct"),
    ("sharpe", "Sharpe", "ratio"),
    ("sortino", "Sortino", "ratio"),
    ("calmar", "Calmar", "ratio"),
    ("max_drawdown", "max drawdown", "pct"),
    ("max_drawdown_days", "max drawdown days", "int"),
    ("trades", "trades (closed)", "int"),
    ("open_trades", "trades open at end", "int"),
    ("win_rate", "win rate", "pct"),
    ("profit_factor", "profit factor", "ratio"),
    ("expectancy", "expectancy", "usd"),
    ("average_trade_return", "average trade return", "pct"),
    ("average_win", "average win", "usd"),
    ("average_loss", "average loss", "usd"),
    ("average_bars_held", "average bars held", "ratio"),
    ("exposure", "exposure", "pct"),
    ("sqn", "SQN", "ratio"),
)


def account_summary(result: StrategyResult) -> dict[str, Any]:
    return {
        "settings": asdict(result.settings),
        "gates": result.gated,
        "signals": result.signals,
        "skipped": dict(result.skipped),
        "metrics": result.metrics(),
        "benchmark": result.benchmark_metrics(),
    }


def summary(result: BacktestResult, receipt: Receipt | None = None) -> dict[str, Any]:
    """Everything ``summary.json`` holds (and ``kobe backtest --json`` prints)."""
    out: dict[str, Any] = {
        "period": {"start": result.start.isoformat(), "end": result.end.isoformat(),
                   "sessions": len(result.market.sessions) - result.first_session},
        "strategies": {r.name: account_summary(r) for r in result.strategies},
        "combined": account_summary(result.combined),
    }
    if receipt is not None:
        out["receipt"] = receipt.to_dict()
    return out


SKIP_CAUSES = {
    "zero_shares": "less than one share within the sizing and the cash",
    "no_free_slot": "no free slot (max_open_positions)",
    "symbol_held": "the symbol was held",
    "blocked_budget": "the budget gate",
    "blocked_liquidity": "the liquidity gate",
}
"""Why a signal was not taken, as the terminal says it (the ``skipped`` counters)."""


def skip_lines(data: dict[str, Any]) -> list[str]:
    """Per strategy of a :func:`summary`: its signals, how many were taken, and each cause
    of the others with its count (largest first), so that a strategy whose orders mostly
    never happen is seen to be one."""
    lines = []
    for name, account in data["strategies"].items():
        signals, skipped = account["signals"], account["skipped"]
        taken = signals - sum(skipped.values())
        causes = sorted(((n, k) for k, n in skipped.items() if n), reverse=True)
        text = "; ".join(f"{n:,} {SKIP_CAUSES.get(k, k)}" for n, k in causes)
        lines.append(f"{name}: {signals:,} signals, {taken:,} taken" + (f"; not taken: {text}" if text else ""))
    return lines


def benchmark_columns(data: dict[str, Any]) -> list[tuple[str, dict[str, Number]]]:
    """The buy-and-hold column(s) of the table, each on the same capital as a strategy's
    account: one column when every strategy has the same benchmark (the same universe
    and initial cash), else one per strategy."""
    marks = {name: s["benchmark"] for name, s in data["strategies"].items()}
    distinct = {json.dumps(m, sort_keys=True) for m in marks.values()}
    if len(distinct) == 1:
        return [("buy & hold", next(iter(marks.values())))]
    return [(f"buy & hold ({name})", m) for name, m in marks.items()]


def metrics_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The metrics table of a :func:`summary`: a header and one row per metric, a column
    per strategy, then combined, then the buy-and-hold benchmark on a strategy's capital
    (:func:`benchmark_columns`)."""
    accounts = [(name, s["metrics"]) for name, s in data["strategies"].items()]
    if len(accounts) > 1:
        accounts.append(("combined", data["combined"]["metrics"]))
    accounts += benchmark_columns(data)
    header = ["metric"] + [name for name, _ in accounts]
    rows = [[label] + [show(values.get(key), kind) if key in values else "" for _, values in accounts]
            for key, label, kind in METRICS]
    return header, rows


def edge_lines(data: dict[str, Any]) -> list[str]:
    """Per strategy of a :func:`summary`, its edge in one line: what it earned on the money
    it put to work, against buy and hold of that same money over the same sessions. The
    account return understates an edge when most of the cash never leaves the account
    (small fixed-dollar orders); this line does not."""
    lines = []
    for name, account in data["strategies"].items():
        m, bench = account["metrics"], account["benchmark"]
        at_risk, earned = m.get("capital_at_risk") or 0.0, m.get("return_on_capital_at_risk")
        initial = account["settings"]["initial_cash"]
        if not at_risk or earned is None:
            lines.append(f"{name}: no trade, nothing at risk")
            continue
        held = bench.get("total_return")
        benchmark = "no bar to buy" if held is None else f"{_usd(held * at_risk, sign=True)}, {show(held, 'pct')}"
        lines.append(f"{name}: {_usd(earned * at_risk, sign=True)} on at most {_usd(at_risk)} held at once, "
                     f"{show(earned, 'pct')} on capital at risk ({show(m.get('total_return'), 'pct')} on the "
                     f"{_usd(initial)} account); buy & hold of the same {_usd(at_risk)}: {benchmark}")
    return lines


def _usd(value: float, *, sign: bool = False) -> str:
    text = f"${abs(value):,.2f}"
    return ("-" if value < 0 else "+" if sign else "") + text


def show(value: Number, kind: str) -> str:
    """A metric as the table shows it."""
    if value is None:
        return "-"
    if kind == "pct":
        return f"{value * 100:,.2f}%"
    if kind == "usd":
        return f"{value:,.2f}"
    if kind == "int":
        return f"{int(value):,}"
    return f"{value:,.2f}"


def write_outputs(result: BacktestResult, out_dir: Path, receipt: Receipt) -> list[Path]:
    """Write the files of the module doc into ``out_dir``; returns their paths."""
    accounts = [*result.strategies, result.combined]
    trades = pl.concat([r.trades for r in result.strategies])
    open_trades = pl.concat([r.open_trades for r in result.strategies])
    equity = pl.concat([r.equity.select(pl.col("date"), pl.lit(r.name).alias("strategy"), pl.all().exclude("date"))
                        .with_columns(pl.col("positions").cast(pl.Int64)) for r in accounts])
    payloads = {
        "trades.csv": trades.write_csv(),
        "open_trades.csv": open_trades.write_csv(),
        "equity.csv": equity.write_csv(),
        "summary.json": json.dumps(summary(result, receipt), indent=2) + "\n",
        "receipt.json": json.dumps(receipt.to_dict(), indent=2) + "\n",
    }
    paths = []
    for name in FILES:
        write_atomic(out_dir / name, payloads[name])
        paths.append(out_dir / name)
    return paths


# --------------------------------------------------------------------------- sweeps, walk-forward, Monte Carlo


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2) + "\n"


def _write(out_dir: Path, payloads: dict[str, str]) -> list[Path]:
    for name, payload in payloads.items():
        write_atomic(out_dir / name, payload)
    return [out_dir / name for name in payloads]


def period_of(market: Any, first_session: int, last: Any = None) -> dict[str, Any]:
    sessions = market.sessions[first_session:]
    return {"start": sessions[0].isoformat(), "end": (last or sessions[-1]).isoformat(), "sessions": len(sessions)}


def sweep_summary(result: SweepResult, grid: dict[str, list[float]], receipt: Receipt | None = None) -> dict[str, Any]:
    """What ``sweep.json`` holds (and ``kobe sweep --json`` prints): every point, best first."""
    out: dict[str, Any] = {"strategy": result.strategy, "metric": result.metric, "gates": result.gated,
                           "period": period_of(result.market, result.first_session), "grid": grid,
                           "points": result.rows}
    if receipt is not None:
        out["receipt"] = receipt.to_dict()
    return out


def write_sweep(result: SweepResult, grid: dict[str, list[float]], out_dir: Path, receipt: Receipt) -> list[Path]:
    """``sweep.csv`` (a row per point, best first), ``sweep.json``, ``receipt.json``."""
    return _write(out_dir, {"sweep.csv": result.table().write_csv(),
                            "sweep.json": _dump(sweep_summary(result, grid, receipt)),
                            "receipt.json": _dump(receipt.to_dict())})


def walkforward_summary(result: WalkForwardResult, receipt: Receipt | None = None) -> dict[str, Any]:
    """What ``walkforward.json`` holds: the folds with their choices, the out-of-sample
    metrics and those of the buy-and-hold benchmark over the same sessions."""
    dates = result.equity["date"]
    out: dict[str, Any] = {
        "strategy": result.strategy, "metric": result.metric, "splits": "anchored" if result.anchored else "rolling",
        "gates": result.gated, "params": result.params,
        "out_of_sample": {"start": dates[0].isoformat(), "end": dates[-1].isoformat(), "sessions": len(dates)},
        "folds": result.folds, "metrics": result.metrics(), "benchmark": result.benchmark_metrics(),
    }
    if receipt is not None:
        out["receipt"] = receipt.to_dict()
    return out


def write_walkforward(result: WalkForwardResult, out_dir: Path, receipt: Receipt) -> list[Path]:
    """``folds.csv``, ``equity.csv`` (stitched, out of sample), ``trades.csv`` and
    ``open_trades.csv`` (with their fold), ``walkforward.json``, ``receipt.json``."""
    return _write(out_dir, {"folds.csv": pl.DataFrame(result.folds, infer_schema_length=None).write_csv(),
                            "equity.csv": result.equity.write_csv(),
                            "trades.csv": result.trades.write_csv(),
                            "open_trades.csv": result.open_trades.write_csv(),
                            "walkforward.json": _dump(walkforward_summary(result, receipt)),
                            "receipt.json": _dump(receipt.to_dict())})


def write_montecarlo(result: MonteCarloResult, summary_data: dict[str, Any], out_dir: Path,
                     receipt: Receipt) -> list[Path]:
    """``montecarlo.json`` (``summary_data``), ``runs.csv`` (every path's final return
    and maximum drawdown), ``receipt.json``."""
    return _write(out_dir, {"montecarlo.json": _dump(summary_data), "runs.csv": result.paths.write_csv(),
                            "receipt.json": _dump(receipt.to_dict())})
