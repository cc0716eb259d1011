"""The alpha screener: how well each alpha's ranking of the symbols on a session foretells
the returns that follow (``kobe research screen``; docs/research.md, "The screener").

For every alpha and horizon h, on every session t:

- the **forward return** of a symbol is ``open[t+1+h] / open[t+1] - 1``: bought at the
  open after the session the alpha was computed on (its close), held h sessions. Nothing
  of it is known on t, and the alpha on t reads bars up to t only;
- the **cross-section** of t is the symbols with a value of every screened alpha and a
  forward return at every horizon: every alpha and horizon is measured on the same
  symbols (and the forward returns are ranked once for all alphas);
- the **IC** (information coefficient) is Spearman's rank correlation, across the
  cross-section, of the alpha and the forward return: each is ranked within the session
  (average ranks for ties), and the Pearson correlation of the ranks is taken. Computed
  for all sessions at once in Polars: ranks per date, then sums per date; no loop over
  sessions;
- the symbols are cut in **quintiles** by the alpha (5: the top fifth); the quintile's
  return is the mean forward return of its symbols, and the **spread** is quintile 5's
  less quintile 1's;
- the **turnover** is the share of the symbols in the top quintile on t that were not in
  it on the session before (it does not depend on h).

A session counts when its cross-section has at least :data:`MIN_SYMBOLS` symbols.

**Folds.** The screen period runs from ``start`` (default: the first session on which
every screened alpha has an IC, so all are measured on the same sessions) to the last
session with a forward return at every horizon. Its sessions are cut into ``folds`` contiguous blocks of
(nearly) equal length, walked forward: fold k's train window is every session before it,
less the last h, whose forward returns reach into fold k (an embargo). Nothing is fit,
but the train window says which way the alpha pointed so far: ``sign_kept`` is the share
of folds 2..N whose IC has the sign of their train window's. The **out-of-sample**
figures (those ranked, and the top-level ones of the JSON) are over the sessions of folds
2..N, the sessions that came after some past to judge the alpha on; ``all_folds`` has
the same figures over every fold.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.dsl import ast
from kobe.research.library import ALPHAS, Entry, check_entries, entries, evaluate
from kobe.scale import Executor, LocalExecutor, Task

DEFAULT_HORIZONS = (1, 5, 20)
DEFAULT_FOLDS = 5
MIN_SYMBOLS = 5          # fewer symbols with values on a session: no IC, no quintiles that day
MIN_FOLD_SESSIONS = 20   # a fold shorter than a trading month says little
MAX_HORIZON = 252
QUINTILES = 5


@dataclass(frozen=True)
class Fold:
    index: int
    start: dt.date
    end: dt.date
    first: int               # index of its first session in the screen period
    last: int


@dataclass
class ScreenResult:
    """The ranked rows (one per alpha and horizon, :func:`figures`), the daily series the
    report draws, and what was screened."""

    rows: list[dict[str, Any]]
    daily: pl.DataFrame       # date, fold, then ic/spread/q1..q5/n per pair and turnover per alpha
    folds: list[Fold]
    alphas: list[Entry]
    horizons: tuple[int, ...]
    symbols: int
    start: dt.date
    end: dt.date


def check_horizons(horizons: Sequence[int]) -> tuple[int, ...]:
    """Sorted distinct horizons; a KobeError for any not a whole number of sessions 1..252."""
    bad = [h for h in horizons if not isinstance(h, int) or not 1 <= h <= MAX_HORIZON]
    if bad or not horizons:
        raise KobeError(Diagnostic(f"horizons must be whole numbers of sessions from 1 to {MAX_HORIZON}, got "
                                   f"{', '.join(map(str, bad)) if bad else 'none'}",
                                   hint="e.g. --horizons 1,5,20"))
    return tuple(sorted(set(horizons)))


def alpha_names(definitions: Mapping[str, ast.Definition]) -> list[str]:
    """The alphas of ``rules/alphas.kobe`` (its definitions without parameters), in file order."""
    return list(entries(definitions, ALPHAS))


def _ic_column(alpha: str, h: int, what: str) -> str:
    return f"{what}|{alpha}|{h}"


def daily_statistics(frame: pl.DataFrame, alphas: Sequence[str], horizons: Sequence[int]) -> pl.DataFrame:
    """Per date: for each alpha and horizon its IC, quintile returns, spread and symbol
    count, and for each alpha its top-quintile turnover. ``frame`` has symbol, date, open
    and the alphas' columns, sorted by symbol and date (:func:`~kobe.research.library.evaluate`).

    The cross-section of a date is the symbols with a value of every alpha and a forward
    return at every horizon: each alpha and horizon is measured on the same symbols."""
    symbol, opened = pl.col("symbol"), pl.col("open")
    # Rows are sorted by symbol then date: the row 1 + h below is the same symbol's bar
    # 1 + h sessions on exactly when its symbol is this one's.
    frame = frame.with_columns(
        pl.when(symbol.shift(-1 - h) == symbol).then(opened.shift(-1 - h) / opened.shift(-1) - 1).alias(f"fwd|{h}")
        for h in horizons)
    # One cross-section a date for every alpha and horizon: the symbols with a value of
    # every alpha and a forward return at every horizon. The alphas are compared on the
    # same symbols, and the ranks of the forward returns are shared by all of them (the
    # ranking is what costs).
    inside = pl.all_horizontal([pl.col(a).is_not_null() for a in alphas]
                               + [pl.col(f"fwd|{h}").is_not_null() for h in horizons])
    frame = frame.with_columns(inside.alias("inside"))
    # Date-major rows (the numbers only: moving the symbols' strings costs): a rank per
    # date is then a rank per group of the group_by, whose lists come back (explode) in
    # this very row order.
    order = frame["date"].arg_sort()
    by_date = frame.select("date", "inside", *alphas, *(f"fwd|{h}" for h in horizons))[order]
    kept = pl.col("inside")
    ranks = [pl.when(kept).then(pl.col(a)).rank("average").alias(f"rx|{a}") for a in alphas]
    ranks += [pl.when(kept).then(pl.col(f"fwd|{h}")).rank("average").alias(f"ry|{h}") for h in horizons]
    ranked = by_date.lazy().group_by("date", maintain_order=True).agg(*ranks, kept.sum().alias("n"))
    # The count is one number per date, repeated on its rows by the explode.
    rank_names = [c for c in ranked.collect_schema().names() if c not in ("date", "n")]
    ranked_rows = ranked.explode(rank_names).collect()
    by_date = by_date.hstack(ranked_rows.drop("date"))

    n = pl.col("n")
    # Average ranks less their mean (n + 1) / 2: the rank correlation is then a ratio of
    # sums per date, which group_by aggregates fast.
    centred = [(pl.col(f"ry|{h}") - (n + 1) / 2).alias(f"cy|{h}") for h in horizons]
    for a in alphas:
        centred += [(pl.col(f"rx|{a}") - (n + 1) / 2).alias(f"cx|{a}"),
                    (pl.col(f"rx|{a}") * QUINTILES / n).ceil().alias(f"q|{a}")]
    # Only what the aggregations read from here on: the alphas' values and raw ranks go.
    by_date = by_date.select("date", "inside", *(f"fwd|{h}" for h in horizons), *centred)
    del ranked_rows

    # Turnover: in the top quintile today, and on the symbol's bar before? Read in the
    # symbol-major order, where the bar before is the row above.
    tops = by_date.select("date", *(pl.col(f"q|{a}") == QUINTILES for a in alphas))[order.arg_sort()] \
        .with_columns(frame["symbol"])
    tops = tops.with_columns(
        pl.when(symbol.shift(1) == symbol).then(pl.col(f"q|{a}").shift(1)).fill_null(False).alias(f"was|{a}")
        for a in alphas)

    aggs: list[pl.Expr] = [pl.col("cy|" + str(h)).pow(2).sum().alias(f"syy|{h}") for h in horizons]
    aggs.append(pl.col("inside").sum().alias("n"))
    for a in alphas:
        cx = pl.col(f"cx|{a}")
        aggs.append((cx * cx).sum().alias(f"sxx|{a}"))
        for h in horizons:
            cy = pl.col(f"cy|{h}")
            aggs.append((cx * cy).sum().alias(f"sxy|{a}|{h}"))
    per_date = by_date.lazy().group_by("date").agg(aggs)
    turnover = tops.lazy().group_by("date").agg(
        expr for a in alphas
        for expr in (pl.col(f"q|{a}").sum().alias(f"top|{a}"), (pl.col(f"q|{a}") & ~pl.col(f"was|{a}")).sum()
                     .alias(f"new|{a}"), pl.col(f"was|{a}").sum().alias(f"wasn|{a}")))
    # The quintiles' mean returns: one group_by per alpha on (date, quintile), pivoted to
    # a column per quintile and horizon (a mask per quintile would copy the returns 5
    # times per alpha and horizon).
    lean = by_date.lazy().select("date", *(f"fwd|{h}" for h in horizons), *(f"q|{a}" for a in alphas))
    quintile_means = [
        lean.filter(pl.col(f"q|{a}").is_not_null())
        .group_by("date", pl.col(f"q|{a}").cast(pl.Int8).alias("q"))
        .agg(pl.col(f"fwd|{h}").mean().alias(f"{a}|{h}") for h in horizons)
        for a in alphas]
    per_date_frame, turnover_frame, *quintile_frames = pl.collect_all([per_date, turnover, *quintile_means])
    result = per_date_frame.join(turnover_frame, on="date")
    for a, means in zip(alphas, quintile_frames):
        wide = means.pivot(on="q", index="date", values=[f"{a}|{h}" for h in horizons],
                           on_columns=list(range(1, QUINTILES + 1)))
        # Pivot names a column value_q, or only q when there is one value: q{k}|alpha|h here.
        wide = wide.rename({(f"{a}|{h}_{k}" if len(horizons) > 1 else str(k)): f"q{k}|{a}|{h}"
                            for h in horizons for k in range(1, QUINTILES + 1)})
        result = result.join(wide, on="date", how="left")
    result = result.sort("date")

    out: list[pl.Expr] = [n]
    enough = n >= MIN_SYMBOLS
    for a in alphas:
        sxx = pl.col(f"sxx|{a}")
        for h in horizons:
            sxy, syy = pl.col(f"sxy|{a}|{h}"), pl.col(f"syy|{h}")
            out += [pl.when(enough & (sxx > 0) & (syy > 0)).then(sxy / (sxx * syy).sqrt()).alias(_ic_column(a, h, "ic")),
                    pl.when(enough).then(pl.col(f"q{QUINTILES}|{a}|{h}") - pl.col(f"q1|{a}|{h}"))
                    .alias(_ic_column(a, h, "spread")),
                    *(pl.when(enough).then(pl.col(f"q{k}|{a}|{h}")).alias(_ic_column(a, h, f"q{k}"))
                      for k in range(1, QUINTILES + 1))]
        # No top quintile the session before (the alpha's first session): no turnover.
        out.append(pl.when(enough & (pl.col(f"wasn|{a}") > 0) & (pl.col(f"top|{a}") > 0))
                   .then(pl.col(f"new|{a}") / pl.col(f"top|{a}")).alias(f"turnover|{a}"))
    return result.select("date", *out)


def make_folds(sessions: Sequence[dt.date], count: int) -> list[Fold]:
    """``sessions`` cut into ``count`` contiguous blocks of nearly equal length, in order."""
    blocks = np.array_split(np.arange(len(sessions)), count)
    return [Fold(i + 1, sessions[b[0]], sessions[b[-1]], int(b[0]), int(b[-1])) for i, b in enumerate(blocks)]


def figures(ic: np.ndarray, spread: np.ndarray, turnover: np.ndarray, horizon: int,
            quintiles: np.ndarray | None = None) -> dict[str, Any]:
    """The figures of one alpha and horizon over some sessions (NaN: no value that day)."""
    values = ic[~np.isnan(ic)]
    days = int(values.size)
    mean = float(values.mean()) if days else math.nan
    std = float(values.std(ddof=1)) if days > 1 else math.nan
    # The one-sample t of the daily ICs is mean / (std / sqrt(days)) = IC IR * sqrt(days)
    # (tests/research check it against scipy's; importing scipy.stats costs a second).
    # The ICs of overlapping h-session returns share h - 1 sessions: about days / h of
    # them are independent, hence sqrt(days / h).
    t = mean / std * math.sqrt(days / horizon) if days > 1 and std > 0 else math.nan
    out: dict[str, Any] = {
        "days": days,
        "ic_mean": _num(mean),
        "ic_std": _num(std),
        "ic_ir": _num(mean / std) if days > 1 and std > 0 else None,
        "t_stat": _num(t),
        "hit_rate": _num(float((values > 0).mean())) if days else None,
        "quintile_spread": _num(float(np.nanmean(spread))) if np.any(~np.isnan(spread)) else None,
        "turnover": _num(float(np.nanmean(turnover))) if np.any(~np.isnan(turnover)) else None,
    }
    if quintiles is not None:
        out["quintile_returns"] = [_num(float(np.nanmean(col))) if np.any(~np.isnan(col)) else None
                                   for col in quintiles.T]
    return out


def _num(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 6)


def alpha_block(bars: pl.LazyFrame | pl.DataFrame, items: Sequence[Entry], with_open: bool, *,
                step: Any = None) -> pl.DataFrame:
    """One task of a screen (:mod:`kobe.scale`): the columns of the alphas ``items``
    over every bar, evaluated with a compiler of their own (:data:`ALPHAS_PER_BLOCK`),
    in the (symbol, date) order of :func:`~kobe.research.library.evaluate`.
    ``with_open``: with symbol, date and open before them (the first block; the others
    carry symbol and date, to check the order)."""
    keys = ("symbol", "date", "open") if with_open else ("symbol", "date")
    frame = evaluate(bars.lazy(), items).select(*keys, *(i.name for i in items)).collect()
    if step is not None:
        step(len(items))
    return frame


ALPHAS_PER_BLOCK = 6
"""Alphas evaluated together, with one compiler: in this process and on Ray alike, so
the two evaluate the same queries and get the same bits. Polars can round an alpha's
last bit differently in a larger plan (a ts_rank tie then breaks the other way), so the
blocks are fixed by the alphas, never by the executor's size."""


def alpha_columns(executor: Executor, bars: pl.LazyFrame, items: Sequence[Entry]) -> pl.DataFrame:
    """symbol, date, open and the alphas' columns, in the order of ``items``: blocks of
    :data:`ALPHAS_PER_BLOCK` alphas run by ``executor`` (in this process, or on Ray with
    the bars shared once), their columns put side by side in the alphas' order."""
    collected = executor.share(bars.collect())
    parts = [range(k, min(k + ALPHAS_PER_BLOCK, len(items))) for k in range(0, len(items), ALPHAS_PER_BLOCK)]
    tasks = [Task(alpha_block, (collected, [items[k] for k in part], k == 0),
                  "screen alphas " + ", ".join(items[k].name for k in part), weight=len(part))
             for k, part in enumerate(parts)]
    blocks = executor.map(tasks)
    frame = blocks[0].select("symbol", "date", "open")
    for block in blocks:
        if not (block["symbol"].equals(frame["symbol"]) and block["date"].equals(frame["date"])):
            raise KobeError(Diagnostic("the screen's blocks of alphas came back in different bar orders",
                                       hint="duplicate (symbol, date) bars in the data? run without --ray"))
    return frame.hstack([block[i.name] for block, part in zip(blocks, parts) for i in (items[k] for k in part)])


def screen(bars: pl.LazyFrame | pl.DataFrame, definitions: Mapping[str, ast.Definition],
           names: Sequence[str] | None = None, *, horizons: Sequence[int] = DEFAULT_HORIZONS,
           folds: int = DEFAULT_FOLDS, universe: Sequence[str] | None = None, start: dt.date | None = None,
           end: dt.date | None = None, executor: Executor | None = None) -> ScreenResult:
    """Screen the alphas ``names`` (default: every alpha of rules/alphas.kobe) over
    ``bars`` (the module doc). ``end`` is the last bar read; bars before ``start`` only
    warm the alphas up. ``executor`` (:mod:`kobe.scale`) evaluates the alphas, in blocks
    on Ray, in this process by default; the statistics are computed here either way.
    Raises :class:`KobeError` on an unknown alpha, bad horizons or a period too short for
    the folds."""
    hs = check_horizons(list(horizons))
    if folds < 2:
        raise KobeError(Diagnostic(f"--folds must be at least 2, got {folds}",
                                   hint="fold 1 is the first past the others are judged against"))
    if start is not None and end is not None and start > end:
        raise KobeError(Diagnostic(f"--start {start} is after --end {end}"))
    chosen = list(names) if names else alpha_names(definitions)
    if not chosen:
        raise KobeError(Diagnostic("rules/alphas.kobe defines no alpha (a definition without parameters)",
                                   hint="add one, e.g. `mom_12_1 = close[21] / close[252] - 1`"))
    items = check_entries(definitions, list(dict.fromkeys(chosen)))
    lazy = bars.lazy()
    if universe is not None:
        lazy = lazy.filter(pl.col("symbol").is_in(list(universe)))
    if end is not None:
        lazy = lazy.filter(pl.col("date") <= end)
    alphas = [i.name for i in items]
    frame = alpha_columns(executor or LocalExecutor(), lazy, items)
    daily = daily_statistics(frame, alphas, hs)
    n_symbols = frame["symbol"].n_unique()

    first_h = hs[0]
    ics = daily.select([pl.col(_ic_column(a, first_h, "ic")) for a in alphas])
    has_all = pl.all_horizontal(pl.col(c).is_not_null() for c in ics.columns)
    has_any = pl.any_horizontal(pl.col(c).is_not_null() for c in ics.columns)
    marks = daily.select("date", has_all.alias("all"), has_any.alias("any"))
    usable = marks.filter(pl.col("any"))
    if start is not None:
        period = usable.filter(pl.col("date") >= start)
    else:
        warm = marks.filter(pl.col("all"))
        period = usable.filter(pl.col("date") >= warm["date"][0]) if warm.height else usable
    sessions: list[dt.date] = period["date"].to_list()
    if len(sessions) < folds * MIN_FOLD_SESSIONS:
        if not sessions:
            raise KobeError(Diagnostic(
                f"no session has {MIN_SYMBOLS} symbols with a value of every alpha and a forward return at every "
                "horizon: nothing to screen",
                hint="use a larger --universe, a later --end, more data, or alphas with a shorter warm-up"))
        raise KobeError(Diagnostic(
            f"the screen period ({sessions[0]} .. {sessions[-1]}: {len(sessions)} sessions with an IC) is too short "
            f"for {folds} folds of at least {MIN_FOLD_SESSIONS} sessions",
            hint="use fewer --folds, an earlier --start or a later --end, more data, or shorter horizons "
                 "and alphas with a shorter warm-up"))
    fold_list = make_folds(sessions, folds)
    daily = daily.filter(pl.col("date").is_in(sessions))
    fold_of = np.concatenate([np.full(f.last - f.first + 1, f.index) for f in fold_list])
    daily = daily.with_columns(pl.Series("fold", fold_of, dtype=pl.Int64))

    rows = _rows(daily, items, hs, fold_list)
    return ScreenResult(rows, daily, fold_list, items, hs, n_symbols, sessions[0], sessions[-1])


def _rows(daily: pl.DataFrame, items: Sequence[Entry], horizons: Sequence[int],
          fold_list: Sequence[Fold]) -> list[dict[str, Any]]:
    def array(name: str) -> np.ndarray:
        return daily[name].cast(pl.Float64).fill_null(np.nan).to_numpy()

    fold_index = daily["fold"].to_numpy()
    oos = fold_index >= 2
    rows: list[dict[str, Any]] = []
    for item in items:
        a = item.name
        turnover = array(f"turnover|{a}")
        first_ic: float | None = None
        for h in horizons:
            ic, spread = array(_ic_column(a, h, "ic")), array(_ic_column(a, h, "spread"))
            quintiles = np.column_stack([array(_ic_column(a, h, f"q{k}")) for k in range(1, QUINTILES + 1)])
            per_fold = []
            kept: list[bool] = []
            for fold in fold_list:
                inside = fold_index == fold.index
                row = {"fold": fold.index, "start": fold.start.isoformat(), "end": fold.end.isoformat(),
                       **figures(ic[inside], spread[inside], turnover[inside], h)}
                # The train window: every session before the fold whose forward return
                # ends before the fold's first session opens (an embargo of h + 1).
                train = np.arange(len(ic)) < fold.first - h
                train_ic = ic[train][~np.isnan(ic[train])]
                row["train_ic"] = _num(float(train_ic.mean())) if fold.index > 1 and train_ic.size else None
                if row["train_ic"] is not None and row["ic_mean"] is not None and row["train_ic"] != 0:
                    kept.append((row["ic_mean"] > 0) == (row["train_ic"] > 0))
                per_fold.append(row)
            out = figures(ic[oos], spread[oos], turnover[oos], h, quintiles[oos])
            if first_ic is None:
                first_ic = out["ic_mean"]
            result: dict[str, Any] = {
                "alpha": a, "horizon": h, **out,
                "decay": _num(out["ic_mean"] / first_ic) if first_ic and out["ic_mean"] is not None else None,
                "sign_kept": _num(sum(kept) / len(kept)) if kept else None,
                "all_folds": figures(ic, spread, turnover, h, quintiles),
                "folds": per_fold,
                "description": item.description,
            }
            rows.append(result)
    return rank_rows(rows, horizons[0])


def rank_rows(rows: list[dict[str, Any]], horizon: int) -> list[dict[str, Any]]:
    """Alphas by their out-of-sample mean IC at ``horizon`` (the shortest), best first,
    each alpha's horizons together in increasing order; an alpha without one last."""
    key = {r["alpha"]: r["ic_mean"] for r in rows if r["horizon"] == horizon}
    order = sorted(key, key=lambda a: (key[a] is None, -(key[a] or 0.0)))
    place = {a: i for i, a in enumerate(order)}
    return sorted(rows, key=lambda r: (place[r["alpha"]], r["horizon"]))
