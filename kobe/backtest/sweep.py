"""Parameter sweeps: one strategy run at every combination of its swept params.

A param written as a list or a range in ``strategies.yaml`` (``channel_bars: [10, 20,
30]``, ``{from: 10, to: 50, step: 10}``) is swept; the grid is every combination
(:meth:`~kobe.config.model.StrategyConfig.grid`). Each point is the strategy with those
values, checked like any strategy (a window of 2.5 is reported at its expression, with
the point that produced it) and backtested in its own account with the strategy's own
settings.

Fast because the work the points share is done once:

- the bars are loaded once, into one :class:`~kobe.backtest.market.Market`;
- every point is compiled with **one** :class:`~kobe.dsl.compile.Compiler`, which names
  derived columns by their canonical text: ``sma(close, 200)`` used by the 40 points
  that share ``trend_bars: 200`` is one column. The grid is **one Polars plan**
  (:func:`grid_query`): the distinct indicator columns of all points are added to the
  bars once, each point's outputs and candidate rows branch off that frame, and the
  branches are concatenated (collected as one, Polars evaluates the shared frame once
  and the branches in parallel). :func:`grid_candidates` runs it in two steps to bound
  memory: the shared frame once, then the branches a few points at a time;
- only the exit search and the account run once per point, on arrays.

With ``--ray`` (:mod:`kobe.scale`, docs/scale.md) the grid is cut into contiguous blocks
of points, each block run as above in a Ray task; the rows are assembled in grid order,
so the result is the single-process one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import polars as pl

from kobe.backtest.benchmark import buy_and_hold
from kobe.backtest.candidates import (
    Candidates,
    candidates_from,
    fill_price,
    market_bars,
    select_candidates,
)
from kobe.backtest.engine import (
    StrategyResult,
    resolve_settings,
    run_strategy,
    strategy_gates,
)
from kobe.backtest.market import Market, SimulatedPeriod, scoped_market
from kobe.backtest.metrics import Number
from kobe.backtest.parity import EntryGates
from kobe.backtest.tier import prefer_compiled
from kobe.config.errors import Diagnostic, KobeError
from kobe.config.model import BacktestSettings
from kobe.dsl.compile import Compiler
from kobe.project import Project
from kobe.scale import Executor, LocalExecutor, Task, split
from kobe.strategy import (
    CheckedStrategy,
    CompiledStrategy,
    check_strategy,
    compile_strategy,
    prepare_bars,
)

# Lower is better for these; higher for every other metric (drawdowns are negative, so
# the shallowest, closest to 0, ranks first).
LOWER_IS_BETTER = frozenset({"volatility", "max_drawdown_days"})

Progress = Callable[[int, int], None]
"""Told ``(steps done, steps in all)`` after each step of a long run, for a progress bar."""


def counter(progress: Progress | None, total: int) -> Callable[[], None] | None:
    """A step callback that reports to ``progress`` out of ``total`` steps."""
    if progress is None:
        return None
    done = [0]

    def step() -> None:
        done[0] += 1
        progress(done[0], total)

    return step


@dataclass(frozen=True)
class Grid:
    """A strategy's sweep points, checked, and compiled with one shared compiler.

    ``points[k]`` are the swept params' values of point k; ``checked[k]`` and
    ``compiled[k]`` the strategy with them. A strategy without swept params is a grid
    of one point (``{}``).
    """

    name: str
    points: tuple[dict[str, float], ...]
    checked: tuple[CheckedStrategy, ...]
    compiled: tuple[CompiledStrategy, ...]
    compiler: Compiler

    def __len__(self) -> int:
        return len(self.points)

    @property
    def params(self) -> list[str]:
        return list(self.points[0]) if self.points else []

    def standalone(self, k: int) -> CompiledStrategy:
        """Point ``k`` compiled on its own (only its own columns), to run it alone."""
        return compile_strategy(self.checked[k])


def point_text(point: dict[str, float]) -> str:
    """``channel_bars=20, trend_bars=200``: a point as messages and tables show it."""
    return ", ".join(f"{name}={_number(value)}" for name, value in point.items()) or "(no swept params)"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def compile_grid(project: Project, name: str) -> Grid:
    """Check and compile every point of ``name``'s grid.

    Raises one :class:`KobeError` with every problem of every point (a problem shared by
    many points is reported once, naming the first point that has it).
    """
    config = project.strategy(name).config
    compiler = Compiler()
    points = config.grid()
    checked: list[CheckedStrategy] = []
    compiled: list[CompiledStrategy] = []
    problems: dict[tuple[object, ...], Diagnostic] = {}
    for point in points:
        found: list[Diagnostic] = []
        one = check_strategy(config.with_params(point), project.definitions, found)
        for d in found:
            key = (d.file, d.line, d.col, d.message)
            if key not in problems:
                hint = f"at the sweep point {point_text(point)}" + (f"; {d.hint}" if d.hint else "")
                problems[key] = replace(d, hint=hint)
        if one is not None and not found:
            checked.append(one)
            compiled.append(compile_strategy(one, compiler))
    if problems:
        raise KobeError(list(problems.values()))
    return Grid(name, tuple(points), tuple(checked), tuple(compiled), compiler)


def shared_columns(grid: Grid, market: Market, symbols: Sequence[str] | None = None) -> pl.LazyFrame:
    """The bars with every distinct derived column of the grid: what all points read."""
    fill = grid.checked[0].config.fill
    return grid.compiler.apply(prepare_bars(market_bars(market, symbols), fill_price(fill), presorted=True))


def grid_query(grid: Grid, market: Market, *, symbols: Sequence[str] | None = None, first_session: int = 0,
               points: Sequence[int] | None = None, shared: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """The candidate rows of every point (or of ``points``) as one plan, a ``_point``
    column telling them apart (the module doc). ``shared``: :func:`shared_columns`,
    when already computed."""
    base = shared if shared is not None else shared_columns(grid, market, symbols)
    chosen = range(len(grid)) if points is None else points
    branches = [select_candidates(grid.compiled[k].add_outputs(base), grid.compiled[k], market, first_session)
                .with_columns(pl.lit(k, dtype=pl.Int32).alias("_point"))
                for k in chosen]
    return pl.concat(branches)


# Points collected together. Each branch holds its outputs over every bar until its filter
# ends, so collecting 100 at once peaks at gigabytes; a few at a time keep the parallelism.
CHUNK = 8


def grid_candidates(grid: Grid, market: Market, *, symbols: Sequence[str] | None = None,
                    first_session: int = 0) -> list[Candidates]:
    """Each point's :class:`Candidates`. The shared columns are computed once and kept;
    the points' branches of :func:`grid_query` then run on them :data:`CHUNK` at a time."""
    fill = grid.checked[0].config.fill
    shared = shared_columns(grid, market, symbols).collect().lazy()
    out: list[Candidates] = []
    for lo in range(0, len(grid), CHUNK):
        points = range(lo, min(lo + CHUNK, len(grid)))
        frame = grid_query(grid, market, first_session=first_session, points=points, shared=shared).collect()
        parts = {key[0]: part for key, part in frame.partition_by("_point", as_dict=True, maintain_order=True).items()}
        out += [candidates_from(parts.get(k, frame.clear()), fill) for k in points]
    return out


# Points from which a sweep runs its accounts with the compiled loop from the first one:
# its fixed cost per process (~0.6 s) is that of about this many accounts in Python.
COMPILED_FROM = 8


def run_grid(grid: Grid, market: Market, settings: BacktestSettings, *, symbols: Sequence[str] | None = None,
             first_session: int = 0, gates: EntryGates | None = None,
             step: Callable[[], None] | None = None) -> list[StrategyResult]:
    """Every point of ``grid`` backtested over ``market``, each in its own account;
    ``step()`` after each point."""
    if len(grid) >= COMPILED_FROM:
        prefer_compiled()
    candidates = grid_candidates(grid, market, symbols=symbols, first_session=first_session)
    benchmark = buy_and_hold(market, symbols if symbols is not None else market.symbols, settings.initial_cash,
                             first_session)
    results = []
    for k, (compiled, found) in enumerate(zip(grid.compiled, candidates)):
        try:
            results.append(run_strategy(compiled, market, settings, symbols=symbols, first_session=first_session,
                                        candidates=found, gates=gates, benchmark=benchmark))
        except Exception as e:
            # Names the point when the run is a remote task's (kobe.scale reports this note).
            e.add_note(f"at the sweep point {point_text(grid.points[k])}")
            raise
        if step is not None:
            step()
    return results


PointSummary = tuple[dict[str, Number], int, dict[str, int]]
"""What a sweep keeps of a point's run: its metrics, signals and skip counts."""


def subgrid(grid: Grid, points: Sequence[int]) -> Grid:
    """The points ``points`` of ``grid``, compiled with a compiler of their own (so
    their shared frame holds only their columns); each point's columns are named by
    their text, so its results are those of the whole grid's run."""
    compiler = Compiler()
    checked = tuple(grid.checked[k] for k in points)
    return Grid(grid.name, tuple(grid.points[k] for k in points), checked,
                tuple(compile_strategy(c, compiler) for c in checked), compiler)


def sweep_block(grid: Grid, market: Market, settings: BacktestSettings, symbols: Sequence[str] | None,
                first_session: int, gates: EntryGates | None, points: range, compiled_loop: bool, *,
                step: Callable[[], None] | None) -> list[PointSummary]:
    """The :data:`PointSummary` of ``points`` of ``grid``: one task of a sweep
    (:mod:`kobe.scale`). ``compiled_loop``: the whole grid's choice of account loop
    (:data:`COMPILED_FROM`), so a small block runs the loop the whole grid would."""
    if compiled_loop:
        prefer_compiled()
    part = grid if len(points) == len(grid) else subgrid(grid, points)
    results = run_grid(part, market, settings, symbols=symbols, first_session=first_session, gates=gates, step=step)
    return [(r.metrics(), r.signals, dict(r.skipped)) for r in results]


def block_label(grid: Grid, points: range) -> str:
    """A block of points as an error names it when it fails outside any one point."""
    first, last = point_text(grid.points[points[0]]), point_text(grid.points[points[-1]])
    return f"sweep points {first}" + (f" .. {last}" if len(points) > 1 else "")


def evaluate_grid(executor: Executor, grid: Grid, market: Market, settings: BacktestSettings, *,
                  symbols: Sequence[str] | None, first_session: int, gates: EntryGates | None,
                  progress: Progress | None) -> list[PointSummary]:
    """Every point's :data:`PointSummary`, in grid order, the blocks of points run by
    ``executor`` (one block locally: :func:`run_grid` as always)."""
    shared_grid, shared_market, shared_gates = executor.share(grid), executor.share(market), executor.share(gates)
    compiled_loop = len(grid) >= COMPILED_FROM
    tasks = [Task(sweep_block, (shared_grid, shared_market, settings, symbols, first_session, shared_gates, points,
                                compiled_loop), block_label(grid, points), weight=len(points))
             for points in split(executor, len(grid))]
    return [summary for block in executor.map(tasks, progress) for summary in block]


def ranking(metrics: Sequence[dict[str, Number]], metric: str) -> list[int]:
    """Indices of ``metrics`` best first by ``metric`` (:data:`LOWER_IS_BETTER`, else
    higher first); an undefined value (``None``) last; ties keep the grid order."""
    sign = 1 if metric in LOWER_IS_BETTER else -1

    def key(k: int) -> tuple[bool, float, int]:
        value = metrics[k].get(metric)
        return (value is None, sign * float(value) if value is not None else 0.0, k)

    return sorted(range(len(metrics)), key=key)


@dataclass(frozen=True)
class SweepResult(SimulatedPeriod):
    """A sweep's points best first by ``metric``: each point's params, metrics, signal
    and skip counts. ``rows`` are in that order; ``point`` is the grid position."""

    strategy: str
    metric: str
    params: list[str]
    rows: list[dict[str, object]]
    market: Market
    first_session: int
    gated: bool

    def table(self) -> pl.DataFrame:
        """One row per point, best first: ``rank``, the params, every metric, the counts."""
        return pl.DataFrame([{k: v for k, v in row.items() if k != "skipped"} for row in self.rows],
                            infer_schema_length=None)


def run_sweep(project: Project, bars: pl.LazyFrame | pl.DataFrame, name: str, *, metric: str = "sharpe",
              universe: Sequence[str] | None = None, start: dt.date | None = None, end: dt.date | None = None,
              gates: bool | None = None, progress: Progress | None = None,
              executor: Executor | None = None) -> SweepResult:
    """Backtest every point of ``name``'s grid over ``bars`` (the same period, universe
    and settings as ``kobe backtest --strategy name``) and rank them by ``metric``;
    ``executor`` (:mod:`kobe.scale`) runs the points, in this process by default."""
    grid = compile_grid(project, name)
    symbols = list(universe) if universe is not None else project.universe(project.strategy(name).config)
    market = scoped_market(bars, symbols, end)
    first = market.session_index(start)
    if first >= len(market.sessions):
        raise KobeError(Diagnostic(f"no session on or after {start}",
                                   hint=f"the data ends on {market.sessions[-1].isoformat()}"))
    settings = resolve_settings(project, name)
    entry = strategy_gates(project, name, market, gates)
    summaries = evaluate_grid(executor or LocalExecutor(), grid, market, settings, symbols=symbols,
                              first_session=first, gates=entry, progress=progress)
    metrics = [m for m, _, _ in summaries]
    rows: list[dict[str, object]] = []
    for rank, k in enumerate(ranking(metrics, metric), start=1):
        rows.append({"rank": rank, "point": k, **grid.points[k], **metrics[k], "signals": summaries[k][1],
                     "skipped": summaries[k][2]})
    return SweepResult(name, metric, grid.params, rows, market, first, entry is not None)
