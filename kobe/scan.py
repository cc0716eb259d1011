"""The daily scan: which symbols every enabled strategy would buy, or sell short, at the
next open.

A pick is a symbol whose ``signal`` holds on the scan date (the latest bar, or the one
asked for). Its ``side`` is ``long`` (buy) or ``short`` (sell short): a ``side: short``
strategy's signals are short picks, a ``side: both`` strategy's ``short_signal`` too,
with its short levels. Its ``stop`` is the strategy's stop level computed with the
signal bar's close standing in for the not-yet-known fill price (above it for a short);
``rank_score`` orders picks when there are more than free slots (higher first).

Before anything is evaluated the data-quality gate runs over the universe's bars as of
the scan date: symbols it excludes get no picks, and a STOP verdict refuses the scan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.data.bars import in_order
from kobe.data.quality import QualityPolicy, QualityReport, check_bars
from kobe.dsl.compile import Compiler
from kobe.files import write_atomic
from kobe.project import Project
from kobe.strategy import (
    CheckedStrategy,
    CompiledStrategy,
    compile_strategy,
    prepare_bars,
)

PICK_COLUMNS = ("date", "strategy", "symbol", "side", "close", "stop", "rank_score")
PICKS_FILE = Path("logs") / "daily_picks.csv"
PICK_SCHEMA = pl.Schema({"date": pl.Date, "strategy": pl.String, "symbol": pl.String, "side": pl.String,
               "close": pl.Float64, "stop": pl.Float64, "rank_score": pl.Float64})


@dataclass(frozen=True)
class ScanResult:
    date: dt.date
    strategies: tuple[str, ...]
    picks: pl.DataFrame  # PICK_COLUMNS, by strategy then rank_score (best first)
    quality: QualityReport


def latest_date(bars: pl.LazyFrame) -> dt.date:
    value = bars.select(pl.col("date").max()).collect().item()
    if value is None:
        raise KobeError(Diagnostic("no bars for the universe", hint="check the data source and the universe file"))
    return value


def scan(project: Project, bars: pl.LazyFrame, date: dt.date | None = None,
         strategy: str | None = None, quality: QualityPolicy | None = None) -> ScanResult:
    """Evaluate the enabled strategies (or only ``strategy``) on ``date``, after the
    data-quality gate.

    The gate reports the findings that can act on ``date`` (``check_bars(recent=True)``):
    older ones only warn, and ``kobe data check`` lists them. Strategies with the same
    universe share one plan, so an indicator several of them use is computed once."""
    chosen = [project.strategy(strategy)] if strategy else project.enabled()
    if not chosen:
        raise KobeError(Diagnostic("no enabled strategy to scan", file="strategies.yaml",
                                   hint="set `enabled: true` on a strategy"))
    symbols = sorted({sym for s in chosen for sym in project.universe(s.config)})
    # Read once: the gate and every plan below use these rows.
    scoped = bars.lazy().filter(pl.col("symbol").is_in(symbols)).collect()
    newest = latest_date(scoped.lazy())
    day = date or newest
    if date is not None:
        if not scoped["date"].is_in([date]).any():
            raise KobeError(Diagnostic(f"no bars on {date.isoformat()}",
                                       hint=f"not a session in the data; the latest bar is {newest.isoformat()}"))
        scoped = scoped.filter(pl.col("date") <= day)
    if not in_order(scoped):
        scoped = scoped.sort("symbol", "date")
    report = check_bars(scoped, quality or project.quality_policy(), as_of=day, recent=True, presorted=True)
    if report.stop:
        stops = [f for f in report.findings if f.action == "stop"]
        raise KobeError([Diagnostic(f"data-quality gate: {f.rule} {f.symbol} {f.date}: {f.detail}",
                                    hint="`kobe data check` lists every finding") for f in stops])
    tradable = pl.col("symbol").is_in(sorted(report.excluded)).not_()
    # The symbol as an Enum of the sorted symbols: the same order, and the windows that
    # remain per symbol group integers instead of text.
    scoped = scoped.with_columns(pl.col("symbol").cast(pl.Enum(scoped["symbol"].unique(maintain_order=True))))
    # Strategies of one universe are compiled again into one Compiler, so that atr(14) or
    # sma(close, 200) used by several of them is one column of one plan. The outputs are
    # bar arithmetic over those columns, so they are computed on the scan date's rows only.
    groups: dict[tuple[str, ...], list[CheckedStrategy]] = {}
    for checked in chosen:
        groups.setdefault(tuple(sorted(set(project.universe(checked.config)))), []).append(checked)
    compiled: list[tuple[CompiledStrategy, int]] = []
    queries: list[pl.LazyFrame] = []
    for universe, members in groups.items():
        compiler = Compiler()
        compiled += [(compile_strategy(c, compiler), len(queries)) for c in members]
        rows = scoped.lazy() if len(universe) == len(symbols) else \
            scoped.lazy().filter(pl.col("symbol").is_in(list(universe)))
        queries.append(compiler.apply(prepare_bars(rows, presorted=True)).filter((pl.col("date") == day) & tradable))
    todays = pl.collect_all(queries)
    order = {s.name: i for i, s in enumerate(chosen)}
    frames = []
    for c, group in sorted(compiled, key=lambda item: order[item[0].name]):
        evaluated = todays[group]
        if c.checked.meta_filtered:
            evaluated = _with_meta_prob(project, c.name, evaluated, scoped, day)
        today = c.add_outputs(evaluated.lazy())
        for side in c.checked.config.sides:
            signal, prefix = c.checked.columns(side).signal, c.checked.columns(side).prefix
            stop = (pl.col(prefix + "stop") if prefix + "stop" in c.outputs
                    else pl.lit(None, dtype=pl.Float64))
            rank = pl.col("rank_score") if "rank_score" in c.outputs else pl.lit(None, dtype=pl.Float64)
            frames.append(
                today.filter(pl.col(signal))
                .select(pl.col("date"), pl.lit(c.name).alias("strategy"), pl.col("symbol").cast(pl.String),
                        pl.lit("long" if side > 0 else "short").alias("side"), pl.col("close"), stop.cast(pl.Float64).alias("stop"),
                        rank.cast(pl.Float64).alias("rank_score"))
            )
    picks = pl.concat(frames).collect() if frames else pl.DataFrame(schema=PICK_SCHEMA)
    picks = (picks.with_columns(pl.col("strategy").replace_strict(order, return_dtype=pl.Int64).alias("_order"))
             .sort(["_order", "rank_score", "symbol"], descending=[False, True, False], nulls_last=True)
             .drop("_order"))
    return ScanResult(day, tuple(s.name for s in chosen), picks, report)


def _with_meta_prob(project: Project, name: str, rows: pl.DataFrame, scoped: pl.DataFrame,
                    day: dt.date) -> pl.DataFrame:
    """The scan date's ``rows`` with ``name``'s ``meta_prob`` from its pinned meta-model
    (features over the strategy's universe, as it was trained)."""
    from kobe.research.ml.meta import scan_meta_prob

    universe = project.universe(project.strategy(name).config)
    probs = scan_meta_prob(project, name, scoped.filter(pl.col("symbol").cast(pl.String).is_in(universe)), day)
    probs = probs.with_columns(pl.col("symbol").cast(rows.schema["symbol"]))
    return rows.drop("meta_prob").join(probs, on=["symbol", "date"], how="left")


def write_picks(result: ScanResult, path: Path) -> Path:
    """Merge the scan into the picks file: rows of the same date and strategies are
    replaced (a re-scan is idempotent), other dates are kept. Written atomically."""
    existing = _read_picks(path) if path.exists() else pl.DataFrame(schema=PICK_SCHEMA)
    keep = existing.filter(~((pl.col("date") == result.date) & pl.col("strategy").is_in(list(result.strategies))))
    merged = pl.concat([keep, result.picks.select(PICK_COLUMNS).cast(PICK_SCHEMA)]).sort(
        ["date", "strategy", "rank_score"], descending=[False, False, True], nulls_last=True)
    write_atomic(path, merged.write_csv(float_precision=4))
    return path


def _read_picks(path: Path) -> pl.DataFrame:
    """The picks file so far; one that cannot be read is an error, never overwritten:
    the earlier sessions' picks in it would be lost."""
    try:
        if path.is_dir():
            raise IsADirectoryError(path)
        found = pl.read_csv(path, schema_overrides=PICK_SCHEMA)
        if "side" not in found.columns:    # written before short picks: every pick was a buy
            found = found.with_columns(pl.lit("long").alias("side"))
        return found.select(PICK_COLUMNS).cast(PICK_SCHEMA)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise KobeError(Diagnostic(f"cannot read the picks so far: {str(exc).splitlines()[0][:120]}",
                                   file=str(path),
                                   hint="move the file aside (it is not overwritten); the scan writes a new one")
                        ) from None
