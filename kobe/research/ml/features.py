"""The meta-model's features: definitions of the project's rules, evaluated on the bars.

A feature is a definition that can be called without arguments (``name = ...``, or one
whose parameters all have defaults), checked by the same :class:`~kobe.dsl.check.Checker`
and compiled by the same :class:`~kobe.dsl.compile.Compiler` as a strategy: there is no
second language, and a feature's value on bar t reads bars up to t only. A boolean
feature counts as 0/1. A feature may not read ``meta_prob`` (the model would feed on
its own output).

By default the features are the parameterless definitions of ``rules/features.kobe``
(the feature library), or when it has none, of every rules file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.config.model import ExprSource
from kobe.dsl import ast
from kobe.dsl.check import CheckedExpr, Checker
from kobe.dsl.compile import Compiler
from kobe.dsl.types import Type
from kobe.strategy import prepare_bars, reads_meta_prob

LIBRARY = "features"
"""The stem of the feature library's rules file (``rules/features.kobe``)."""


def _callable(definitions: Mapping[str, ast.Definition], name: str) -> CheckedExpr | None:
    checker = Checker(definitions)
    source = ExprSource.inline(name, file="--features")
    checked = checker.check(source, ast.Name(name, (0, len(name))), None)
    if checked is None or reads_meta_prob(checked):
        return None
    return checked


def default_features(definitions: Mapping[str, ast.Definition]) -> list[str]:
    """The definitions callable without arguments, of the feature library when it has
    any, else of every rules file; in file order."""
    usable = [name for name in definitions if _callable(definitions, name) is not None]
    library = [n for n in usable if Path(str(getattr(definitions[n].source, "file", ""))).stem == LIBRARY]
    return library or usable


def check_features(definitions: Mapping[str, ast.Definition], names: Sequence[str]) -> dict[str, CheckedExpr]:
    """Each of ``names`` checked; an unknown name, one that needs arguments, one that reads
    ``meta_prob`` or a repeat is an error naming it (all of them at once)."""
    problems: list[Diagnostic] = []
    checked: dict[str, CheckedExpr] = {}
    known = default_features(definitions)
    for name in names:
        if name in checked:
            problems.append(Diagnostic(f"feature {name!r} is named twice", file="--features"))
            continue
        definition = definitions.get(name)
        expr = _callable(definitions, name) if definition is not None else None
        if definition is None:
            why = f"unknown feature {name!r}: no definition of that name in rules/*.kobe"
        elif expr is None:
            reads = Checker(definitions).check(ExprSource.inline(name), ast.Name(name), None)
            why = (f"feature {name!r} reads meta_prob, the model's own output" if reads is not None
                   else f"feature {name!r} needs arguments ({definition.signature()})")
        else:
            checked[name] = expr
            continue
        problems.append(Diagnostic(why, file="--features",
                                   hint=f"features: {', '.join(known)}" if known else
                                   "write parameterless definitions in rules/features.kobe"))
    if problems:
        raise KobeError(problems)
    if not checked:
        raise KobeError(Diagnostic("no features", file="rules/",
                                   hint="write parameterless definitions in rules/features.kobe, or name them "
                                        "with --features"))
    return checked


def feature_frame(bars: pl.LazyFrame | pl.DataFrame, features: Mapping[str, CheckedExpr], *,
                  presorted: bool = False) -> pl.LazyFrame:
    """``symbol``, ``date`` and one Float64 column per feature, one row per bar; a value
    is null during the feature's warm-up (as a strategy's signal is)."""
    compiler = Compiler()
    exprs = {name: compiler.compile(expr.node) for name, expr in features.items()}
    frame = compiler.apply(prepare_bars(bars.lazy(), presorted=presorted))

    def value(name: str, expr: pl.Expr) -> pl.Expr:
        number = expr.cast(pl.Float64) if features[name].type is not Type.NUM else expr
        # Warm-up bars and non-finite arithmetic are unknown: null, which the models handle.
        number = pl.when(pl.col("bar_index") >= features[name].warmup).then(number)
        return pl.when(number.is_finite()).then(number).alias(name)

    return frame.select(pl.col("symbol").cast(pl.String), "date", *(value(n, e) for n, e in exprs.items()))
