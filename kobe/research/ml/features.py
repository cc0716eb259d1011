"""The meta-model's features: entries of the feature library, evaluated on the bars.

A feature is what the screener's alphas are (:mod:`kobe.research.library`): a definition
without parameters, checked by the same :class:`~kobe.dsl.check.Checker` and compiled by
the same :class:`~kobe.dsl.compile.Compiler` as a strategy, its value on bar t reading
bars up to t only. This module only chooses them and names the model's errors; the
checking and the evaluation are the library's, one code path for research and the model.
A feature may not read ``meta_prob`` (the model would feed on its own output).

By default the features are the entries of ``rules/features.kobe`` (the feature library),
or when it has none, of every rules file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.dsl import ast
from kobe.research.library import FEATURES, Entry, check_entries, entries, evaluate


def default_features(definitions: Mapping[str, ast.Definition]) -> list[str]:
    """The entries of the feature library when it has any, else of every rules file; in
    file order."""
    return list(entries(definitions, FEATURES) or entries(definitions))


def check_features(definitions: Mapping[str, ast.Definition], names: Sequence[str]) -> dict[str, Entry]:
    """Each of ``names`` checked; an unknown name, one that needs arguments, one that reads
    ``meta_prob`` or a repeat is an error naming it (all of them at once)."""
    known = default_features(definitions)
    hint = f"features: {', '.join(known)}" if known else "write parameterless definitions in rules/features.kobe"
    problems: list[Diagnostic] = []
    seen: set[str] = set()
    for name in names:
        if name in seen:
            problems.append(Diagnostic(f"feature {name!r} is named twice", file="--features"))
        elif name not in definitions:
            problems.append(Diagnostic(f"unknown feature {name!r}: no definition of that name in rules/*.kobe",
                                       file="--features", hint=hint))
        seen.add(name)
    if problems:
        raise KobeError(problems)
    if not names:
        raise KobeError(Diagnostic("no features", file="rules/",
                                   hint="write parameterless definitions in rules/features.kobe, or name them "
                                        "with --features"))
    return {entry.name: entry for entry in check_entries(definitions, names)}


def feature_frame(bars: pl.LazyFrame | pl.DataFrame, features: Mapping[str, Entry], *,
                  presorted: bool = False) -> pl.LazyFrame:
    """``symbol``, ``date`` and one Float64 column per feature, one row per bar; a value
    is null during the feature's warm-up (as a strategy's signal is)."""
    frame = evaluate(bars.lazy(), list(features.values()), presorted=presorted)
    return frame.select(pl.col("symbol").cast(pl.String), "date", *features)
