"""A strategy, checked and compiled: the one definition the scan, the backtest and live
trading all evaluate.

:func:`check_strategy` resolves and types every expression of a
:class:`~kobe.config.model.StrategyConfig`; :func:`compile_strategy` turns the result into
Polars; :meth:`CompiledStrategy.plan` adds, to a frame of bars, the strategy's columns:

``entry``, ``filter_1`` … ``filter_n``
    the entry rule and each filter on that bar (null counts as false);
``signal``
    entry and every filter hold and the warm-up has passed: act at bar t + 1;
``rank_score``
    the rank expression (higher is preferred when slots are scarce);
``stop``, ``target``, ``trailing_stop``
    exit levels evaluated on the signal bar with ``entry_price`` (by default the
    signal bar's close, the scan's estimate of the fill);
``exit_signal``
    the exit expression on that bar (false when the strategy has none).

A ``side: both`` strategy adds its short half: ``short_entry``, ``short_stop``,
``short_target``, ``short_trailing_stop``, ``short_exit_signal`` (its ``short_exits``)
and ``short_signal``. ``signal`` and ``short_signal`` need the filters and the warm-up
alike, and exclude each other: a bar where both entries hold is no signal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kobe.config.errors import Diagnostic, KobeError
from kobe.config.model import ExprSource, StrategyConfig
from kobe.dsl import ast
from kobe.dsl.check import CheckedExpr, Checker
from kobe.dsl.columns import BAR_COLUMNS, EXIT_COLUMNS
from kobe.dsl.compile import Compiler, describe
from kobe.dsl.functions import REGISTRY
from kobe.dsl.parse import parse_expr
from kobe.dsl.types import Type

if TYPE_CHECKING:
    # Imported where a plan is built: checking a strategy (kobe validate) needs no Polars.
    import polars as pl

EXIT_LEVELS = ("stop", "target", "trailing_stop")
SHORT = "short_"      # the prefix of a both-sided strategy's short outputs
META_PROB = "meta_prob"   # the meta-model's column (kobe.research.ml): filters only


def reads_meta_prob(expr: CheckedExpr) -> bool:
    """Whether ``expr`` (resolved: definitions inlined) reads ``meta_prob``."""
    return any(isinstance(n, ast.Name) and n.id == META_PROB for n in ast.walk(expr.node))


@dataclass(frozen=True)
class SideColumns:
    """What a position of one side reads of a strategy's outputs (:meth:`CheckedStrategy.columns`)."""

    signal: str                    # the entry signal of that side
    prefix: str                    # of its levels: ``prefix + "stop"``...
    exits: tuple[str, ...]         # true on bar t: it exits at t+1 (its exit rule, and for
                                   # a both-sided strategy the other side's signal: the reversal)


@dataclass(frozen=True)
class CheckedStrategy:
    config: StrategyConfig
    entry: CheckedExpr
    filters: tuple[CheckedExpr, ...]
    rank: CheckedExpr | None
    levels: Mapping[str, CheckedExpr]          # stop / target / trailing_stop, when given
    exit: CheckedExpr | None
    warmup: int                                # bars before the first possible signal
    short_entry: CheckedExpr | None = None     # side: both only, with its short exits
    short_levels: Mapping[str, CheckedExpr] = field(default_factory=dict)
    short_exit: CheckedExpr | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def columns(self, side: int) -> SideColumns:
        """The output columns a position of ``side`` (+1 long, -1 short) reads: the scan,
        the backtest's candidates and live holdings all ask here, so the three cannot
        read a side differently."""
        both = self.short_entry is not None
        prefix = SHORT if both and side < 0 else ""
        closing = ((SHORT + "signal" if side > 0 else "signal"),) if both else ()
        return SideColumns(prefix + "signal", prefix, (prefix + "exit_signal", *closing))

    @property
    def meta_filtered(self) -> bool:
        """Whether a filter reads the meta-model's ``meta_prob``."""
        return any(reads_meta_prob(f) for f in self.filters)

    def primary(self) -> CheckedStrategy:
        """The strategy without its ``meta_prob`` filters: the primary model whose trades
        label the meta-model (López de Prado's meta-labelling), so the labels do not
        depend on the filter they train."""
        from dataclasses import replace

        return replace(self, filters=tuple(f for f in self.filters if not reads_meta_prob(f)))

    def expressions(self) -> list[tuple[str, CheckedExpr]]:
        items = [("entry", self.entry)] + [(f"filter_{i}", f) for i, f in enumerate(self.filters, start=1)]
        if self.rank is not None:
            items.append(("rank_score", self.rank))
        items += list(self.levels.items())
        if self.exit is not None:
            items.append(("exit_signal", self.exit))
        if self.short_entry is not None:
            items.append((SHORT + "entry", self.short_entry))
        items += [(SHORT + name, level) for name, level in self.short_levels.items()]
        if self.short_exit is not None:
            items.append((SHORT + "exit_signal", self.short_exit))
        return items


def check_strategy(strategy: StrategyConfig, definitions: Mapping[str, ast.Definition],
                   diagnostics: list[Diagnostic]) -> CheckedStrategy | None:
    """Check every expression of ``strategy``; append problems to ``diagnostics``.

    Returns ``None`` when anything is wrong (all problems are recorded, not only the
    first).
    """
    before = len(diagnostics)
    for name in strategy.params:
        clash = _clash(name, definitions)
        if clash:
            where = strategy.param_locations.get(name)
            message = f"param {name!r} hides the {clash} of that name"
            diagnostics.append(where.diagnostic(message, hint="rename the param", width=len(name))
                               if where else Diagnostic(message))

    checker = Checker(definitions)

    def one(source: ExprSource | None, expected: Type, what: str, entry_price: bool = False) -> CheckedExpr | None:
        if source is None:
            return None
        try:
            node = parse_expr(source)
        except KobeError as err:
            checker.diagnostics.extend(err.diagnostics)
            return None
        return checker.check(source, node, expected, strategy.params, allow_entry_price=entry_price, what=what)

    entry = one(strategy.entry, Type.BOOL, "entry")
    filters = [one(f, Type.BOOL, "a filter") for f in strategy.filters]
    rank = one(strategy.rank, Type.NUM, "rank")
    levels = {name: one(getattr(strategy.exits, name), Type.NUM, name, entry_price=True) for name in EXIT_LEVELS}
    exit_ = one(strategy.exits.exit, Type.BOOL, "exit")
    short_exits = strategy.short_exits
    short_entry = one(strategy.short_entry, Type.BOOL, "short_entry")
    short_levels = {name: one(getattr(short_exits, name), Type.NUM, name, entry_price=True)
                    for name in EXIT_LEVELS} if short_exits is not None else {}
    short_exit = one(short_exits.exit, Type.BOOL, "exit") if short_exits is not None else None
    diagnostics.extend(checker.diagnostics)
    if len(diagnostics) > before or entry is None:
        return None
    # meta_prob is learnt from the trades the entry, exits and rank make: read by them
    # it would feed on itself.
    for what, expr in [("entry", entry), ("rank", rank), *levels.items(), ("exit", exit_),
                       ("short_entry", short_entry), *short_levels.items(), ("exit", short_exit)]:
        if expr is not None and reads_meta_prob(expr):
            diagnostics.append(expr.source.diagnostic(0, f"{what} reads meta_prob, which only a filter may read",
                                                      width=max(1, len(expr.source.text.split("\n")[0])),
                                                      hint="move the condition on meta_prob to `filters:`"))
    if len(diagnostics) > before:
        return None
    present = {k: v for k, v in levels.items() if v is not None}
    short_present = {k: v for k, v in short_levels.items() if v is not None}
    all_exprs = [entry, *filters, rank, exit_, *present.values(), short_entry, short_exit, *short_present.values()]
    warmup = max(e.warmup for e in all_exprs if e is not None)
    return CheckedStrategy(strategy, entry, tuple(f for f in filters if f is not None), rank, present, exit_, warmup,
                           short_entry, short_present, short_exit)


def _clash(name: str, definitions: Mapping[str, ast.Definition]) -> str | None:
    if name in BAR_COLUMNS or name in EXIT_COLUMNS:
        return "bar column"
    if name in REGISTRY:
        return "built-in function"
    if name in definitions:
        return "definition"
    return None


@dataclass
class CompiledStrategy:
    """A strategy as Polars expressions over a frame of bars (see the module doc)."""

    checked: CheckedStrategy
    compiler: Compiler
    outputs: dict[str, pl.Expr] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.checked.name

    def plan(self, bars: pl.LazyFrame, entry_price: pl.Expr | None = None) -> pl.LazyFrame:
        """The strategy's columns added to ``bars`` (symbol, date, OHLCV), as one lazy plan.

        ``entry_price`` is what the exit levels use; by default the signal bar's close.
        """
        return self.add_outputs(self.compiler.apply(prepare_bars(bars, entry_price)))

    def add_outputs(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """The strategy's output columns (``entry`` ... ``signal``) on a frame that already
        has its derived columns: :func:`prepare_bars` then ``compiler.apply``. Strategies
        compiled with one shared :class:`Compiler` (a parameter sweep) add their outputs
        to one such frame, so each distinct indicator column is computed once."""
        import polars as pl

        filters = [name for name in self.outputs if name.startswith("filter_")]
        booleans = ("entry", "exit_signal", SHORT + "entry", SHORT + "exit_signal")
        frame = frame.with_columns(
            [expr.fill_null(False).alias(name) if name in booleans or name.startswith("filter_")
             else expr.alias(name) for name, expr in self.outputs.items()]
        )
        allowed = pl.col("bar_index") >= self.checked.warmup
        for name in filters:
            allowed = allowed & pl.col(name)
        if self.checked.short_entry is None:
            frame = frame.with_columns((pl.col("entry") & allowed).alias("signal"))
        else:
            # Both entries on one bar say opposite things: neither is acted on.
            long_, short = pl.col("entry"), pl.col(SHORT + "entry")
            frame = frame.with_columns((long_ & ~short & allowed).alias("signal"),
                                       (short & ~long_ & allowed).alias(SHORT + "signal"))
        missing = [name for name in ("exit_signal", *((SHORT + "exit_signal",) if self.checked.short_entry else ()))
                   if name not in self.outputs]
        if missing:
            frame = frame.with_columns([pl.lit(False).alias(name) for name in missing])
        return frame

    def describe(self, *, polars: bool = False) -> str:
        """The compiled plan as text: derived columns by stage, then the outputs."""
        head = f"strategy {self.name} (warm-up {self.checked.warmup} bars)"
        texts = {name: e.text for name, e in self.checked.expressions()}
        outputs = [(name, texts[name], expr) for name, expr in self.outputs.items()]
        return head + "\n" + describe(self.compiler, outputs, polars=polars)


def prepare_bars(bars: pl.LazyFrame, entry_price: pl.Expr | None = None, *, presorted: bool = False) -> pl.LazyFrame:
    """Bars sorted by symbol and date with ``bar_index`` (per symbol, for the warm-up) and
    ``entry_price`` (default: the close): what every compiled plan starts from.
    ``presorted``: the caller guarantees the order already (a backtest's market), which
    saves the sort."""
    import polars as pl

    # In (symbol, date) order a symbol's bar_index is the row number less that of its first
    # row: no window per symbol.
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    first = (pl.col("symbol") != pl.col("symbol").shift(1)).fill_null(True)
    # The sorted flag lets the windows that remain per symbol (.over) take its rows as slices.
    prepared = (bars if presorted else bars.sort("symbol", "date")).with_columns(pl.col("symbol").set_sorted()).with_columns(
        (row - pl.when(first).then(row).forward_fill()).alias("bar_index"),
        (entry_price if entry_price is not None else pl.col("close")).alias("entry_price"),
    )
    if META_PROB not in prepared.collect_schema().names():
        # No meta-model joined in (a sweep, kobe explain): null, which no filter passes.
        prepared = prepared.with_columns(pl.lit(None, dtype=pl.Float64).alias(META_PROB))
    return prepared


def compile_strategy(checked: CheckedStrategy, compiler: Compiler | None = None) -> CompiledStrategy:
    """Compile ``checked``; pass one ``compiler`` to many strategies (the points of a
    parameter sweep) to share their derived columns, each named by its canonical text:
    ``sma(close, 200)`` used by twenty points is one column."""
    compiler = compiler if compiler is not None else Compiler()
    outputs = {name: compiler.compile(expr.node) for name, expr in checked.expressions()}
    return CompiledStrategy(checked, compiler, outputs)


def compile_expressions(exprs: Iterable[CheckedExpr]) -> tuple[Compiler, list[pl.Expr]]:
    """Compile loose expressions (``kobe explain``) sharing one set of derived columns."""
    compiler = Compiler()
    return compiler, [compiler.compile(e.node) for e in exprs]
