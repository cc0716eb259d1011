"""Why a strategy did or did not fire on one bar: every sub-expression and its value.

``kobe explain donchian_breakout AAPL 2017-06-05`` walks the entry and each filter (and
the rank and exit levels), as resolved (definitions expanded, params replaced by their
values), and prints each node with its value on that bar.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.dsl import ast
from kobe.project import Project


@dataclass(frozen=True)
class Line:
    section: str      # entry, filter_1, rank_score, stop, ...
    written: str      # the expression as the trader wrote it (first line of a section)
    depth: int
    text: str
    value: object


@dataclass(frozen=True)
class Explanation:
    strategy: str
    symbol: str
    date: dt.date
    signal: bool
    warmup: int
    bar_index: int
    lines: tuple[Line, ...]


def _nodes(node: ast.Node, depth: int = 0):
    """The nodes worth showing, parents first: operators are opened up (an ``and`` chain
    as one level), indicators and lags are shown whole (their inner values are of other
    bars or of no interest), constants are left out."""
    if isinstance(node, (ast.Number, ast.Bool)):
        return
    yield depth, node
    if isinstance(node, ast.Binary) and node.op in ast.LOGIC_OPS:
        for term in _chain(node, node.op):
            yield from _nodes(term, depth + 1)
    elif isinstance(node, (ast.Binary, ast.Unary)):
        for child in ast.children(node):
            yield from _nodes(child, depth + 1)


def _chain(node: ast.Node, op: str) -> list[ast.Node]:
    if isinstance(node, ast.Binary) and node.op == op:
        return _chain(node.left, op) + _chain(node.right, op)
    return [node]


def explain(project: Project, bars: pl.LazyFrame, strategy: str, symbol: str, date: dt.date) -> Explanation:
    """Every sub-expression of ``strategy`` evaluated for ``symbol`` on ``date``."""
    checked = project.strategy(strategy)
    compiled = project.compiled(strategy)
    universe = project.universe(checked.config)
    if symbol not in universe:
        raise KobeError(Diagnostic(f"{symbol} is not in the universe of {strategy} ({checked.config.universe})"))
    scoped = bars.filter(pl.col("symbol").is_in(universe) & (pl.col("date") <= date))
    if checked.meta_filtered:
        scoped = _with_meta_prob(project, strategy, scoped, date)
    plan = compiled.plan(scoped)
    items: list[tuple[str, str, int, ast.Node]] = []
    exprs: list[pl.Expr] = []
    for section, expr in checked.expressions():
        for depth, node in _nodes(expr.node):
            items.append((section, expr.source.text, depth, node))
            exprs.append(compiled.compiler.compile(node).alias(f"_{len(exprs)}"))
    row = (plan.filter((pl.col("symbol") == symbol) & (pl.col("date") == date))
           .select([pl.col("signal"), pl.col("bar_index"), *exprs]).collect())
    if row.height == 0:
        raise KobeError(Diagnostic(f"no bar for {symbol} on {date.isoformat()}",
                                   hint="not a session in the data, or the symbol has no data then"))
    values = row.row(0)
    lines = tuple(Line(section, written, depth, node.to_text(), values[2 + i])
                  for i, (section, written, depth, node) in enumerate(items))
    return Explanation(strategy, symbol, date, bool(values[0]), checked.warmup, int(values[1]), lines)


def _with_meta_prob(project: Project, strategy: str, bars: pl.LazyFrame, date: dt.date) -> pl.LazyFrame:
    """The bars with the strategy's ``meta_prob`` on ``date``, as its backtest read it:
    without it the filter would read null and the explanation would not be the backtest's."""
    from kobe.research.ml.meta import bar_meta_prob

    frame = bars.collect().sort("symbol", "date")
    probs = bar_meta_prob(project, strategy, frame, date)
    probs = probs.with_columns(pl.col("symbol").cast(frame.schema["symbol"]))
    return frame.join(probs, on=["symbol", "date"], how="left", maintain_order="left").lazy()


def format_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1e9 else f"{value:.6g}"
    return str(value)


def render(explanation: Explanation) -> str:
    e = explanation
    out = [f"{e.strategy}  {e.symbol}  {e.date.isoformat()}  signal: {format_value(e.signal)}"]
    if e.bar_index < e.warmup:
        out.append(f"  (bar {e.bar_index + 1} of the symbol's history; the strategy needs {e.warmup} bars of warm-up)")
    current = None
    width = max((2 * line.depth + len(line.text) for line in e.lines), default=0) + 4
    for line in e.lines:
        if line.section != current:
            current = line.section
            out.append("")
            out.append(f"{line.section}: {' '.join(line.written.split())}")
        label = "  " * line.depth + line.text
        out.append(f"  {label:<{width}} {format_value(line.value)}")
    return "\n".join(out)
