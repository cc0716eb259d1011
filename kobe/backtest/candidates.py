"""Candidate trades: every signal of a strategy as a trade it could take.

One Polars query over all symbols at once evaluates the strategy's compiled plan and
keeps the bars whose ``signal`` holds. For each it records what the portfolio pass and
the exit search need, all known at the fill without hindsight:

- the fill bar and the raw fill price: the next bar's open (``fill: next_open``) or the
  signal bar's close (``fill: close``);
- the exit levels (``stop``, ``target``, ``trailing_stop``), evaluated on the signal bar
  with ``entry_price`` set to that raw fill price. Reading the next open is legitimate
  here and only here: the order is sent before the open, and the levels are attached
  to it once it fills;
- the rank (higher first when slots are scarce);
- the first bar, from the first bar held on, whose ``exit`` rule holds;
- the side: +1 long, -1 short. A ``side: both`` strategy's candidates are its long and
  its short signals, each with its side's levels and exit rule, and the other side's
  signal counts as an exit rule of the position (the reversal, ``docs/backtest.md``).

Whether a candidate is taken depends on the account (cash, free slots, a position
already held in the symbol) and is decided later, in :mod:`kobe.backtest.portfolio`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import polars as pl

from kobe.backtest.market import Market
from kobe.dsl.compile import Compiler
from kobe.strategy import CompiledStrategy, compile_strategy, prepare_bars

# "No such bar": larger than any row or session, small enough to add to without overflow.
NEVER = np.iinfo(np.int64).max // 4


@dataclass(frozen=True)
class Candidates:
    """The signals of one strategy, one element per signal, in market row order.

    Rows index :class:`~kobe.backtest.market.Market` arrays. ``first_held`` is the first
    bar on which the position is exposed: the fill bar for next-open fills, the bar
    after it for close fills (a position bought at the close holds no part of that
    bar). Levels are NaN where the strategy has none or the expression is null.
    """

    row: np.ndarray            # the signal bar
    entry_row: np.ndarray      # the bar of the entry fill
    first_held: np.ndarray     # signal row + 1, for both fill modes
    entry_price: np.ndarray    # raw fill price, before slippage
    rank: np.ndarray
    stop: np.ndarray
    target: np.ndarray
    trailing_stop: np.ndarray
    exit_rule_row: np.ndarray  # first row >= first_held where the exit rule holds; NEVER if none
    side: np.ndarray           # +1 long, -1 short (int8)

    def __len__(self) -> int:
        return len(self.row)

    def take(self, keep: np.ndarray) -> Candidates:
        """Only the candidates where ``keep`` (a boolean array) holds, in the same order."""
        return Candidates(*(getattr(self, f.name)[keep] for f in fields(self)))


def has_next() -> pl.Expr:
    """Whether the bar has a next bar of its symbol, in rows sorted by symbol and date
    (the next row, when it is of the same symbol): no window per symbol."""
    return (pl.col("symbol").shift(-1) == pl.col("symbol")).fill_null(False)


def fill_price(fill: str) -> pl.Expr:
    """The raw price a signal of bar t fills at: t+1's open or t's close (rows sorted
    by symbol and date)."""
    return pl.when(has_next()).then(pl.col("open").shift(-1)) if fill == "next_open" else pl.col("close")


def candidate_query(compiled: CompiledStrategy, market: Market, *, symbols: Sequence[str] | None = None,
                    first_session: int = 0, rows: tuple[int, int] | None = None) -> pl.LazyFrame:
    """The Polars query behind :func:`find_candidates`, to collect together with others
    (``pl.collect_all`` runs several strategies' plans in parallel). ``rows``: only the
    market's rows ``start <= row < end``, whole symbols (see :func:`symbol_chunks`)."""
    fill = compiled.checked.config.fill
    # A market's bars are sorted by symbol and date already (filtering keeps the order).
    prepared = prepare_bars(market_bars(market, symbols, rows), fill_price(fill), presorted=True)
    plan = compiled.add_outputs(compiled.compiler.apply(prepared))
    return select_candidates(plan, compiled, market, first_session)


def shared_candidate_queries(compiled: Sequence[CompiledStrategy], market: Market,
                             universes: Mapping[str, Sequence[str] | None], first_session: int = 0,
                             rows: tuple[int, int] | None = None) -> list[pl.LazyFrame]:
    """:func:`candidate_query` of each of ``compiled`` (its symbols ``universes[name]``),
    in order, with their common work shared: strategies with the same fill and the same
    symbols are compiled again into one :class:`~kobe.dsl.compile.Compiler`, so that
    ``atr(14)``, ``sma(close, 200)``, ``bar_index`` and the fill price used by several of
    them are one column of one plan, which ``pl.collect_all`` computes once. Each
    strategy's rows and values are those of its own :func:`candidate_query`."""
    groups: dict[tuple[str, frozenset[str] | None], list[int]] = {}
    for i, c in enumerate(compiled):
        symbols = universes.get(c.name)
        key = None if symbols is None or set(symbols) >= set(market.symbols) else frozenset(symbols)
        groups.setdefault((c.checked.config.fill, key), []).append(i)
    queries: list[pl.LazyFrame | None] = [None] * len(compiled)
    for (fill, key), members in groups.items():
        if len(members) == 1:
            c = compiled[members[0]]
            queries[members[0]] = candidate_query(c, market, symbols=universes.get(c.name),
                                                  first_session=first_session, rows=rows)
            continue
        compiler = Compiler()
        recompiled = [compile_strategy(compiled[i].checked, compiler) for i in members]
        symbols = sorted(key) if key is not None else None
        base = compiler.apply(prepare_bars(market_bars(market, symbols, rows), fill_price(fill), presorted=True))
        for i, c in zip(members, recompiled):
            queries[i] = select_candidates(c.add_outputs(base), c, market, first_session)
    return [q for q in queries if q is not None]


CHUNK_ROWS = 1 << 20
"""Rows of bars a plan runs over at once when the strategies allow it: a plan holds a
column per indicator over its rows, so a large market runs in chunks of whole symbols
(the same values: every time-series column reads only its own symbol's bars)."""


def symbol_chunks(market: Market, rows: int = CHUNK_ROWS) -> list[tuple[int, int]]:
    """The market's rows as ranges ``(start, end)`` of whole symbols, each of about
    ``rows`` rows (one symbol longer than that is a range of its own), in row order."""
    starts = np.flatnonzero(np.r_[True, market.symbol[1:] != market.symbol[:-1]])
    bounds = [0]
    for start in starts[1:]:
        if start - bounds[-1] >= rows:
            bounds.append(int(start))
    bounds.append(market.rows)
    return list(itertools.pairwise(bounds))


def shared_candidates(compiled: Sequence[CompiledStrategy], market: Market,
                      universes: Mapping[str, Sequence[str] | None], first_session: int = 0,
                      chunk_rows: int = CHUNK_ROWS) -> list[pl.DataFrame]:
    """The collected :func:`shared_candidate_queries`, one frame per strategy of
    ``compiled``, found a chunk of whole symbols at a time (:func:`symbol_chunks`) so
    that the plans' columns are held for one chunk only. A strategy with a
    cross-sectional column (``rank``) needs every symbol of a date at once: then the
    market is one chunk."""
    across = any(d.partition != "symbol" for c in compiled for d in c.compiler.derived.values())
    chunks = [(0, market.rows)] if across else symbol_chunks(market, chunk_rows)
    if len(chunks) == 1:
        return pl.collect_all(shared_candidate_queries(compiled, market, universes, first_session))
    found = [pl.collect_all(shared_candidate_queries(compiled, market, universes, first_session, rows))
             for rows in chunks]
    return [pl.concat([frames[i] for frames in found]) for i in range(len(compiled))]


def market_bars(market: Market, symbols: Sequence[str] | None = None,
                rows: tuple[int, int] | None = None) -> pl.LazyFrame:
    """The market's bars (with ``_row``), only ``symbols`` when given, and only the rows
    ``start <= row < end`` of ``rows`` when given."""
    bars = (market.bars if rows is None else market.bars.slice(rows[0], rows[1] - rows[0])).lazy()
    if symbols is not None and set(symbols) != set(market.symbols):
        known = set(market.symbols)     # the Enum column holds only these: drop names without bars
        bars = bars.filter(pl.col("symbol").is_in([s for s in symbols if s in known]))
    return bars


def select_candidates(plan: pl.LazyFrame, compiled: CompiledStrategy, market: Market,
                      first_session: int = 0) -> pl.LazyFrame:
    """The candidate rows of a frame carrying ``compiled``'s output columns (its
    :meth:`~kobe.strategy.CompiledStrategy.plan`, or its outputs added to a frame of
    shared derived columns, as a sweep does), with ``entry_price`` the raw fill price."""
    config = compiled.checked.config
    fill = config.fill
    present = compiled.outputs
    both = compiled.checked.short_entry is not None
    is_long = pl.col("signal")

    def level(name: str, sided: bool = True) -> pl.Expr:
        long_ = (pl.col(name) if name in present else pl.lit(None)).cast(pl.Float64)
        if not (both and sided):
            return long_.alias(name)
        short_name = compiled.checked.columns(-1).prefix + name
        short = (pl.col(short_name) if short_name in present else pl.lit(None)).cast(pl.Float64)
        return pl.when(is_long).then(long_).otherwise(short).alias(name)

    # The last row of each row's symbol (rows sorted by symbol and date).
    last_row = pl.when(~has_next()).then(pl.col("_row")).backward_fill()

    def first_from_next(rule: pl.Expr) -> pl.Expr:
        # The first bar after each row where ``rule`` holds: the signal row reads it from
        # its first bar held (row + 1) on. Over the whole column, one past the symbol's
        # last row is another symbol's: none.
        found = pl.when(rule).then(pl.col("_row")).backward_fill().shift(-1)
        return pl.when(found <= last_row).then(found).otherwise(NEVER)

    def ends(side: int) -> pl.Expr:
        # Its own exit rule, and for a both-sided strategy a signal of the other side.
        return pl.any_horizontal([pl.col(name) for name in compiled.checked.columns(side).exits])

    if both:
        exit_row = pl.when(is_long).then(first_from_next(ends(1))).otherwise(first_from_next(ends(-1)))
        signalled = pl.col(compiled.checked.columns(1).signal) | pl.col(compiled.checked.columns(-1).signal)
        side = pl.when(is_long).then(1).otherwise(-1)
    else:
        exit_row = first_from_next(ends(config.sides[0]))
        signalled = pl.col("signal")
        side = pl.lit(1 if config.side == "long" else -1)
    keep = signalled & pl.col("entry_price").is_not_null()
    if fill != "next_open":
        # Bought at the close of a symbol's last bar, a position would have no bar to exit
        # on unless the backtest ends there too (then it is open, marked at that close).
        keep = keep & (has_next() | (pl.col("date") == market.sessions[-1]))
    if first_session > 0:
        keep = keep & (pl.col("date") >= market.sessions[first_session])
    return (plan.with_columns(exit_row.alias("exit_rule_row"))
            .filter(keep)
            .select("_row", "entry_price", level("rank_score", sided=False), level("stop"), level("target"),
                    level("trailing_stop"), "exit_rule_row", side.cast(pl.Int8).alias("side")))


def candidates_from(frame: pl.DataFrame, fill: str) -> Candidates:
    """:class:`Candidates` from a collected :func:`candidate_query`."""
    row = frame["_row"].to_numpy().astype(np.int64)
    return Candidates(
        row=row,
        entry_row=row + 1 if fill == "next_open" else row,
        first_held=row + 1,
        entry_price=frame["entry_price"].to_numpy(),
        rank=frame["rank_score"].fill_null(np.nan).to_numpy(),
        stop=frame["stop"].fill_null(np.nan).to_numpy(),
        target=frame["target"].fill_null(np.nan).to_numpy(),
        trailing_stop=frame["trailing_stop"].fill_null(np.nan).to_numpy(),
        exit_rule_row=frame["exit_rule_row"].to_numpy().astype(np.int64),
        side=frame["side"].to_numpy().astype(np.int8),
    )


def find_candidates(compiled: CompiledStrategy, market: Market, *, symbols: Sequence[str] | None = None,
                    first_session: int = 0) -> Candidates:
    """Every signal of ``compiled`` on ``market`` (only ``symbols`` when given) from
    session ``first_session`` on; bars before it serve as warm-up only.

    A signal on a symbol's last bar has no fill (next open) or no bar to exit on (close
    fill) and is left out, except a close fill on the backtest's last session.
    """
    query = candidate_query(compiled, market, symbols=symbols, first_session=first_session)
    return candidates_from(query.collect(), compiled.checked.config.fill)
