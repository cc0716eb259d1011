"""The backtest: a strategy's compiled rules run over bars through a simulated account.

:func:`run_strategy` runs one compiled strategy (its params already in it) over a
:class:`~kobe.backtest.market.Market` and returns its trades and daily equity; it is
the unit that walk-forward, sweeps and Monte Carlo build on. :func:`run_backtest` runs
a project's strategies over one bars frame, each in its own account, and adds them up.

The pipeline, fast because only step 3 walks the sessions (``docs/backtest.md``):

1. :func:`~kobe.backtest.candidates.find_candidates`: the strategy's plan in Polars
   over all symbols at once; every signal becomes a candidate trade with its fill
   price, exit levels and rank;
2. :func:`~kobe.backtest.exits.find_exits`: how each candidate would end, in numpy
   over all candidates at once;
3. :func:`~kobe.backtest.portfolio.simulate`: the account takes candidates session by
   session (cash, slots, rank) and marks its equity.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from kobe.backtest.benchmark import buy_and_hold
from kobe.backtest.candidates import (
    CHUNK_ROWS,
    Candidates,
    candidates_from,
    find_candidates,
    shared_candidates,
    symbol_chunks,
)
from kobe.backtest.exits import OPEN, REASONS, Exits, find_exits_by_side
from kobe.backtest.market import Market, SimulatedPeriod, scoped_market
from kobe.backtest.metrics import Number, benchmark_metrics, compute_metrics
from kobe.backtest.parity import EntryGates, entry_gates
from kobe.backtest.portfolio import Book, simulate
from kobe.backtest.receipt import start_data_sha256
from kobe.config.errors import Diagnostic, KobeError
from kobe.config.model import BacktestSettings, Sizing
from kobe.decide import adv as advs
from kobe.project import Project
from kobe.strategy import CompiledStrategy

TRADE_SCHEMA = {
    "strategy": pl.String, "symbol": pl.String, "side": pl.String, "signal_date": pl.Date,
    "signal_price": pl.Float64, "entry_date": pl.Date, "entry_price": pl.Float64, "exit_date": pl.Date, "exit_price": pl.Float64,
    "quantity": pl.Int64, "pnl": pl.Float64, "return": pl.Float64, "exit_reason": pl.String,
    "bars_held": pl.Int64, "commission": pl.Float64, "stop_price": pl.Float64, "target_price": pl.Float64,
}
"""The columns of a trades table. ``signal_price`` is the signal bar's close; entry and
exit prices are fills, after the spread and slippage. For an open trade the exit is the
mark: the last session's date and close, ``exit_reason`` ``open``, P&L unrealised (entry
costs only). With ``close_at_end`` there is none: such a trade is sold at that close with
its costs, ``exit_reason`` ``end``, and is a closed trade. ``stop_price`` and
``target_price`` are the levels set at the entry (null where the strategy has none); a
trailing stop moves with the price and is not among them."""


@dataclass(frozen=True)
class StrategyResult:
    """One strategy's account over the backtest.

    ``trades``: closed trades by entry date, then symbol (:data:`TRADE_SCHEMA`), those
    sold by ``close_at_end`` among them (``exit_reason`` ``end``);
    ``open_trades``: those still held on the last session, marked at its close (none
    with ``close_at_end``);
    ``equity``: one row per session (``date``, ``cash``, ``equity``, ``positions`` held
    at the close, ``benchmark``: the equal-weight buy-and-hold of the universe);
    ``signals``: the signals in the period; ``skipped``: those not taken, by cause;
    ``gated``: whether risk.yaml's gates were applied (``blocked_*`` counts what they blocked).
    """

    name: str
    settings: BacktestSettings
    trades: pl.DataFrame
    open_trades: pl.DataFrame
    equity: pl.DataFrame
    signals: int
    skipped: dict[str, int]
    gated: bool = False

    def metrics(self) -> dict[str, Number]:
        return compute_metrics(self.trades, self.equity, self.settings.initial_cash, self.open_trades)

    def benchmark_metrics(self) -> dict[str, Number]:
        return benchmark_metrics(self.equity.select("date", pl.col("benchmark").alias("equity")),
                             self.settings.initial_cash)


@dataclass(frozen=True)
class BacktestResult(SimulatedPeriod):
    """Every strategy's account, and all of them added up (``combined``: a
    :class:`StrategyResult` named ``combined`` whose cash, equity and benchmark are the
    sums, and whose trades are all the trades)."""

    market: Market
    first_session: int
    strategies: tuple[StrategyResult, ...]
    combined: StrategyResult


def gates_apply(sizing: Sizing, gates: bool | None) -> bool:
    """Whether risk.yaml's gates run inside the backtest: as asked, or by default when
    the strategy sizes in dollars (``fixed_dollars``), the orders the budgets are written
    for. An account sized in percent of a simulated equity has no dollar scale that
    live budgets would mean anything against."""
    return gates if gates is not None else sizing.method == "fixed_dollars"


def strategy_gates(project: Project, name: str, market: Market, gates: bool | None,
                   cache: dict[int, np.ndarray] | None = None) -> EntryGates | None:
    """The gates one strategy runs with (:func:`gates_apply`), or ``None``. ``cache``
    keeps the ADV per window across calls on the same market."""
    if not gates_apply(project.strategy(name).config.sizing, gates):
        return None
    risk = project.config.risk
    cache = cache if cache is not None else {}
    if risk.adv_window_days not in cache:
        cache[risk.adv_window_days] = _adv_by_row(market, risk.adv_window_days)
    return entry_gates(risk, market, adv=cache[risk.adv_window_days])


def _adv_by_row(market: Market, window: int, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """:func:`~kobe.backtest.parity.adv_by_row`, a chunk of whole symbols at a time on a
    large market (:func:`~kobe.backtest.candidates.symbol_chunks`): each symbol's ADV is
    its own bars' mean, so the values are the same, and only one chunk's intermediate
    columns are held at once."""
    # A market's rows are sorted by symbol: flagged so, the window per symbol takes them as slices.
    bars = market.bars.with_columns(pl.col("symbol").set_sorted())
    chunks = symbol_chunks(market, chunk_rows)
    if len(chunks) == 1:
        return advs.adv_by_row(bars, window)
    return np.concatenate([advs.adv_by_row(bars.slice(start, end - start), window) for start, end in chunks])


def resolve_settings(project: Project, name: str) -> BacktestSettings:
    """The strategy's backtest settings with the position limit filled in from risk.yaml."""
    settings = project.strategy(name).config.backtest
    if settings.max_open_positions is None:
        settings = replace(settings, max_open_positions=project.config.risk.max_open_positions)
    return settings


def run_strategy(compiled: CompiledStrategy, market: Market, settings: BacktestSettings, *,
                 symbols: Sequence[str] | None = None, first_session: int = 0,
                 candidates: Candidates | None = None, gates: EntryGates | None = None,
                 benchmark: np.ndarray | None = None) -> StrategyResult:
    """Run ``compiled`` over ``market`` (only ``symbols`` when given) in one account.

    Signals count from ``first_session`` on; earlier bars only warm the indicators up.
    ``settings.max_open_positions`` must be set (see :func:`resolve_settings`).
    ``candidates``, when given, are this strategy's, found beforehand with the same
    arguments (:func:`run_backtest` finds those of all strategies in one parallel query).
    ``gates``: risk.yaml's budget and liquidity gates, applied to every entry
    (:mod:`kobe.backtest.parity`); see :func:`strategy_gates`. ``benchmark``: the
    buy-and-hold curve of these arguments when already computed (a sweep's points share it).
    """
    config = compiled.checked.config
    if settings.max_open_positions is None:
        raise ValueError("settings.max_open_positions must be resolved before running")
    if candidates is None:
        candidates = find_candidates(compiled, market, symbols=symbols, first_session=first_session)
    if settings.close_at_end:
        # Bought at the last session's close, a position would be sold in the same instant,
        # paying the costs twice for nothing: such a signal is not a trade.
        candidates = candidates.take(candidates.first_held <= market.last_row[candidates.row])
    exits = find_exits_by_side(market, candidates, fill=config.fill, close_at_end=settings.close_at_end,
                               time_stop_bars={side: config.exits_of(side).time_stop_bars for side in config.sides})
    book = simulate(market, candidates, exits, fill=config.fill, sizing=config.sizing,
                    settings=settings, max_open_positions=settings.max_open_positions, gates=gates)
    trades = _trades(compiled.name, market, candidates, book.exits, book)
    is_open = trades["exit_reason"] == REASONS[OPEN]
    universe = symbols if symbols is not None else market.symbols
    equity = pl.DataFrame({
        "date": pl.Series(market.sessions[first_session:], dtype=pl.Date),
        "cash": book.cash[first_session:],
        "equity": book.equity[first_session:],
        "positions": book.positions[first_session:],
        "benchmark": benchmark if benchmark is not None else buy_and_hold(market, universe, settings.initial_cash,
                                                                          first_session),
    })
    return StrategyResult(compiled.name, settings, trades.filter(~is_open), trades.filter(is_open), equity,
                          len(candidates), book.skipped, gates is not None)


def _level(values: np.ndarray) -> pl.Series:
    """A level as the trade table holds it: null where the strategy has none."""
    return pl.Series(values.astype(float), dtype=pl.Float64, nan_to_null=True)


def _trades(name: str, market: Market, candidates: Candidates, exits: Exits, book: Book) -> pl.DataFrame:
    """The taken trades as a table, in a fixed order: entry date, then symbol."""
    taken = book.taken
    side = candidates.side[taken].astype(np.int64)
    sessions = np.array(market.sessions, dtype="datetime64[D]")
    exit_row = exits.row[taken]
    is_open = exits.reason[taken] == OPEN
    # An open trade is marked at the last close, without exit costs: it has not been sold.
    exit_price = np.where(is_open, exits.price[taken], book.exit_fill)
    quantity = book.quantity
    # A short's borrow fee is in its P&L (an open one's accrued to the last session).
    pnl = (side * quantity * (exit_price - book.entry_fill) - book.entry_commission - book.exit_commission
           - book.borrow)
    frame = pl.DataFrame({
        "strategy": pl.Series([name] * len(taken), dtype=pl.String),
        "symbol": pl.Series(np.array(market.symbols, dtype=object)[market.symbol[candidates.row[taken]]],
                            dtype=pl.String),
        "side": pl.Series(np.where(side > 0, "long", "short").astype(object), dtype=pl.String),
        "signal_date": sessions[market.session[candidates.row[taken]]],
        "signal_price": market.close[candidates.row[taken]],
        "entry_date": sessions[market.session[candidates.entry_row[taken]]],
        "entry_price": book.entry_fill,
        "exit_date": sessions[market.session[exit_row]],
        "exit_price": exit_price,
        "quantity": quantity.astype(np.int64),
        "pnl": pnl,
        "return": pnl / (quantity * book.entry_fill),
        "exit_reason": pl.Series(np.array(REASONS, dtype=object)[exits.reason[taken]], dtype=pl.String),
        "bars_held": exit_row - candidates.first_held[taken] + 1,
        "commission": book.entry_commission + book.exit_commission,
        "stop_price": _level(candidates.stop[taken]),
        "target_price": _level(candidates.target[taken]),
    }, schema=TRADE_SCHEMA)
    return frame.sort("entry_date", "symbol", maintain_order=True)


def run_backtest(project: Project, bars: pl.LazyFrame | pl.DataFrame, *, strategy: str | None = None,
                 universe: Sequence[str] | None = None, start: dt.date | None = None,
                 end: dt.date | None = None, gates: bool | None = None, unfiltered: bool = False) -> BacktestResult:
    """Run the enabled strategies (or only ``strategy``) of ``project`` over ``bars``.

    ``universe`` replaces every strategy's own. Bars after ``end`` are never read; bars
    before ``start`` only warm the indicators up: signals, equity and the benchmark
    start with the first session on or after ``start``. ``gates``: apply risk.yaml's
    budget and liquidity gates to the entries (default: to strategies sized in dollars,
    :func:`gates_apply`).

    A strategy whose filters read ``meta_prob`` reads its meta-model's out-of-sample
    probabilities (:mod:`kobe.research.ml.meta`); with ``unfiltered`` (``kobe backtest``)
    it runs a second time without those filters, as ``<name> (no meta filter)``: an
    account listed after the strategies and left out of ``combined``. Off by default:
    the live checks (shadow, drift) compare the strategies that trade.
    """
    chosen = [project.strategy(strategy)] if strategy else project.enabled()
    if not chosen:
        raise KobeError(Diagnostic("no enabled strategy to backtest", file="strategies.yaml",
                                   hint="set `enabled: true` on a strategy, or name one with --strategy"))
    universes = {s.name: list(universe) if universe is not None else project.universe(s.config) for s in chosen}
    symbols = sorted({sym for names in universes.values() for sym in names})
    market = scoped_market(bars, symbols, end)
    first = market.session_index(start)
    if first >= len(market.sessions):
        raise KobeError(Diagnostic(f"no session on or after {start}",
                                   hint=f"the data ends on {market.sessions[-1].isoformat()}"))
    compiled = [project.compiled(s.name) for s in chosen]
    plain = [c for c in compiled if not c.checked.meta_filtered]
    # One parallel query for every strategy's plan, sharing their common columns.
    found = dict(zip([c.name for c in plain], shared_candidates(plain, market, universes, first) if plain else []))
    baselines = []
    for c in compiled:
        if c.checked.meta_filtered:
            found[c.name], pair = _meta_candidates(project, c, market, universes[c.name], first, unfiltered)
            if pair is not None:
                baselines.append(pair)
    frames = [found[c.name] for c in compiled]
    # The receipt's hash of these bars runs beside the simulation.
    start_data_sha256(market.bars)
    adv: dict[int, np.ndarray] = {}
    benchmarks: dict[tuple[tuple[str, ...], float], np.ndarray] = {}
    results = []
    for c, frame in zip(compiled, frames):
        settings = resolve_settings(project, c.name)
        # Strategies of one universe and one starting cash share one buy-and-hold curve.
        key = (tuple(universes[c.name]), settings.initial_cash)
        if key not in benchmarks:
            benchmarks[key] = buy_and_hold(market, universes[c.name], settings.initial_cash, first)
        results.append(run_strategy(c, market, settings, symbols=universes[c.name], first_session=first,
                                    candidates=candidates_from(frame, c.checked.config.fill),
                                    gates=strategy_gates(project, c.name, market, gates, adv),
                                    benchmark=benchmarks[key]))
    combined = _combined(market, first, results, symbols)
    for baseline, frame in baselines:
        original = baseline.name.removesuffix(NO_META)
        results.append(run_strategy(baseline, market, resolve_settings(project, original),
                                    symbols=universes[original], first_session=first,
                                    candidates=candidates_from(frame, baseline.checked.config.fill),
                                    gates=strategy_gates(project, original, market, gates, adv)))
    return BacktestResult(market, first, tuple(results), combined)


NO_META = " (no meta filter)"


def _meta_candidates(project: Project, compiled: CompiledStrategy, market: Market, symbols: Sequence[str],
                     first: int, unfiltered: bool) -> tuple[pl.DataFrame, tuple[CompiledStrategy, pl.DataFrame] | None]:
    """The candidates of a strategy that filters on ``meta_prob`` (over its market with
    that column), and its primary model's (without those filters) for the side-by-side."""
    from kobe.backtest.candidates import candidate_query
    from kobe.research.ml.meta import with_meta_prob
    from kobe.strategy import compile_strategy

    own = candidate_query(compiled, with_meta_prob(project, compiled.name, market, symbols), symbols=symbols,
                          first_session=first).collect()
    if not unfiltered:
        return own, None
    primary = compiled.checked.primary()
    primary = replace(primary, config=replace(primary.config, name=compiled.name + NO_META))
    baseline = compile_strategy(primary)
    return own, (baseline, candidate_query(baseline, market, symbols=symbols, first_session=first).collect())


def _combined(market: Market, first: int, results: Sequence[StrategyResult], symbols: Sequence[str]) -> StrategyResult:
    """All accounts as one: trades together, cash and equity summed."""
    cash = sum(r.settings.initial_cash for r in results)
    equity = results[0].equity.select(
        "date",
        pl.sum_horizontal([r.equity["cash"] for r in results]).alias("cash"),
        pl.sum_horizontal([r.equity["equity"] for r in results]).alias("equity"),
        pl.sum_horizontal([r.equity["positions"] for r in results]).alias("positions"),
    ).with_columns(pl.Series("benchmark", buy_and_hold(market, symbols, cash, first)))
    skipped = {k: sum(r.skipped[k] for r in results) for k in results[0].skipped}
    settings = BacktestSettings(initial_cash=cash)
    return StrategyResult("combined", settings, pl.concat([r.trades for r in results]),
                          pl.concat([r.open_trades for r in results]), equity,
                          sum(r.signals for r in results), skipped, any(r.gated for r in results))
