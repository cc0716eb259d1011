"""Resolved expressions to Polars.

Every time-series or cross-sectional node (a built-in call with a partition, or a lag)
becomes a named column, computed once however often it appears: ``atr(14)`` used by the
entry and by the stop is one column. Columns are named by the node's canonical text
(``highest(high, 20)[1]``), so a compiled plan and ``kobe explain`` read in the trader's
own words. Columns are grouped in stages by dependency depth; each stage is one
``with_columns`` whose expressions only read columns of earlier stages.

Time-series columns are computed ``.over("symbol")`` on bars sorted by (symbol, date),
so a value on bar t reads only that symbol's bars up to t; cross-sectional ones
``.over("date")`` read only the same date. Nothing reads a later bar. A lag, and a
function with a fixed ``reach`` (``highest``, ``lowest_age``, ``true_range``...), is
computed over the whole sorted column instead, with each symbol's first ``reach`` bars
(``bar_index`` below it) blanked: the same values, without a window per column.

Polars is imported when something is compiled, not with this module: ``kobe validate``
imports it (through :mod:`kobe.strategy`) and never compiles.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kobe.dsl import ast
from kobe.dsl.columns import BAR_COLUMNS, EXIT_COLUMNS
from kobe.dsl.functions import REGISTRY, ParamKind

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class Derived:
    """One materialised column: its name (canonical text), expression and stage."""

    name: str
    expr: pl.Expr
    stage: int
    partition: str  # "symbol" (time series) or "date" (cross-section)


@dataclass
class Compiler:
    """Compiles many resolved expressions that share one set of derived columns."""

    derived: dict[str, Derived] = field(default_factory=dict)
    # Inputs of built-ins that the compiler materialises for them (FunctionSpec.inputs,
    # e.g. atr's true range), by column name: computed before the first stage, as
    # bar_index is, and not listed in the plan (the trader did not write them).
    inputs: dict[str, pl.Expr] = field(default_factory=dict)

    def compile(self, node: ast.Node) -> pl.Expr:
        """The Polars expression of ``node``, reading derived columns by name."""
        expr, _ = self._compile(node)
        return expr

    def stages(self) -> list[list[Derived]]:
        """Derived columns grouped by stage, in a stable order (by name within a stage)."""
        if not self.derived:
            return []
        depth = max(d.stage for d in self.derived.values())
        return [sorted((d for d in self.derived.values() if d.stage == s), key=lambda d: d.name)
                for s in range(1, depth + 1)]

    def apply(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """Add every derived column to ``frame`` (bars sorted by symbol, date)."""
        if self.inputs:
            frame = frame.with_columns([expr.alias(name) for name, expr in sorted(self.inputs.items())])
        for stage in self.stages():
            frame = frame.with_columns([d.expr.alias(d.name) for d in stage])
        return frame

    # Returns the expression and its stage: 0 for plain bar arithmetic, else the stage of
    # the deepest derived column it reads.
    def _compile(self, node: ast.Node) -> tuple[pl.Expr, int]:
        import polars as pl

        if isinstance(node, ast.Number):
            return pl.lit(node.value, dtype=pl.Float64), 0
        if isinstance(node, ast.Bool):
            return pl.lit(node.value, dtype=pl.Boolean), 0
        if isinstance(node, ast.Name):
            column = BAR_COLUMNS.get(node.id) or EXIT_COLUMNS[node.id]
            return column.expr, 0
        if isinstance(node, ast.Unary):
            inner, stage = self._compile(node.operand)
            return (-inner if node.op == "-" else ~inner), stage
        if isinstance(node, ast.Binary):
            left, ls = self._compile(node.left)
            right, rs = self._compile(node.right)
            return _binary(node.op, left, right), max(ls, rs)
        if isinstance(node, ast.Lag):
            inner, stage = self._compile(node.operand)
            k = int(node.index.value)  # type: ignore[union-attr]
            return self._materialise(node, inner.shift(k), "symbol", stage, reach=k)
        if isinstance(node, ast.Call):
            spec = REGISTRY[node.name]
            kwargs: dict[str, object] = {}
            stage = 0
            params = list(spec.params)
            series: list[pl.Expr] = []
            for i, arg in enumerate(node.args):
                param = params[min(i, len(params) - 1)]
                if param.kind is ParamKind.SERIES:
                    expr, s = self._compile(arg)
                    stage = max(stage, s)
                    if spec.variadic and i >= len(params) - 1:
                        series.append(expr)
                    else:
                        kwargs[param.name] = expr
                else:
                    value = arg.value  # type: ignore[union-attr]
                    kwargs[param.name] = int(value) if param.kind is ParamKind.WINDOW else value
            if spec.variadic:
                kwargs[params[-1].name] = series if len(series) > 1 else series[0]
            for param_name, entry in spec.inputs:
                kwargs[param_name] = self._input(entry)
            expr = spec.impl(**kwargs)
            if spec.partition is None:
                return expr, stage
            constants = {k: v for k, v in kwargs.items() if isinstance(v, int | float)}
            reach = spec.reach(constants) if spec.reach is not None and spec.partition == "symbol" else None
            return self._materialise(node, expr, spec.partition, stage, reach)
        raise TypeError(f"cannot compile {node!r}")

    def _input(self, entry: str) -> pl.Expr:
        """The column of built-in ``entry`` called with no arguments, as an input of
        another built-in (computed before the first stage; see ``inputs``)."""
        import polars as pl

        name = f"{entry}() (input)"
        if name not in self.inputs:
            compiler = Compiler()
            compiler.compile(ast.Call(entry))
            (column,) = compiler.derived.values()    # a time-series entry of bar columns: one stage-1 column
            self.inputs[name] = column.expr
        return pl.col(name)

    def _materialise(self, node: ast.Node, expr: pl.Expr, partition: str, inner_stage: int,
                     reach: int | None = None) -> tuple[pl.Expr, int]:
        import polars as pl

        name = node.to_text()
        if name not in self.derived:
            if reach is None:
                windowed = expr.over(partition)
            elif reach > 0:
                # Rows sorted by symbol and date: only a symbol's first ``reach`` bars read
                # another symbol's, and over one symbol they would be null (warm-up) anyway.
                windowed = pl.when(pl.col("bar_index") >= reach).then(expr)
            else:
                windowed = expr
            self.derived[name] = Derived(name, windowed, inner_stage + 1, partition)
        derived = self.derived[name]
        return pl.col(name), derived.stage


def _binary(op: str, left: pl.Expr, right: pl.Expr) -> pl.Expr:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "**":
        from kobe.dsl.functions import power

        return power(left, right)
    if op == "/":
        import polars as pl

        # A zero denominator has no meaning in a rule: null (no signal), never inf.
        return pl.when(right != 0).then(left / right).otherwise(None)
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op == "and":
        return left & right
    if op == "or":
        return left | right
    raise ValueError(op)


def describe(compiler: Compiler, outputs: Iterable[tuple[str, str, pl.Expr]], *, polars: bool = False) -> str:
    """A readable listing of a compiled plan: derived columns by stage, then the outputs
    (name, canonical text, expression). With ``polars`` the Polars expressions too."""
    lines = []
    for i, stage in enumerate(compiler.stages(), start=1):
        lines.append(f"stage {i}:")
        for d in stage:
            lines.append(f"  {d.name}  [per {d.partition}]")
            if polars:
                lines.append(f"      {d.expr}")
    lines.append("outputs:")
    for name, text, expr in outputs:
        lines.append(f"  {name} := {text}")
        if polars:
            lines.append(f"      {expr}")
    return "\n".join(lines)
