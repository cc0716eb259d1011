"""Features and alphas: the definitions of ``rules/features.kobe`` and ``rules/alphas.kobe``
evaluated as columns over every symbol at once.

There is no second language for research: a feature or an alpha is a definition with no
parameters (``mom_12_1 = close[21] / close[252] - 1``), checked by the same
:class:`~kobe.dsl.check.Checker` and compiled by the same
:class:`~kobe.dsl.compile.Compiler` as a strategy's rank expression. A definition *with*
parameters (``parkinson_var(n) = ...``) is a building block the others call, not an entry
of the library. The comment lines right above a definition are its description.

:func:`evaluate` compiles many of them with one compiler, so a column two alphas share
(``rank(volume)``, ``sma(close, 20)``) is computed once, and adds one column per entry to
the bars. Each value is blanked (null) during the entry's warm-up, as a strategy's signal
is: the checker knows how many bars each expression needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kobe.config.errors import Diagnostic, KobeError
from kobe.dsl import ast
from kobe.dsl.check import CheckedExpr, Checker
from kobe.dsl.types import Type
from kobe.strategy import reads_meta_prob

if TYPE_CHECKING:
    import polars as pl

FEATURES = "features"
ALPHAS = "alphas"


@dataclass(frozen=True)
class Entry:
    """One feature or alpha: its definition, checked, and its description."""

    name: str
    library: str            # the rules file's stem: "features", "alphas", ...
    description: str
    checked: CheckedExpr
    source: str             # the definition as written in its file

    @property
    def warmup(self) -> int:
        return self.checked.warmup


def library_of(definition: ast.Definition) -> str:
    """The stem of the rules file a definition was read from (``rules/alphas.kobe``: alphas)."""
    return Path(definition.source.file).stem  # type: ignore[attr-defined]


def description(definition: ast.Definition) -> str:
    """The comment lines right above ``definition`` in its file, joined; "" when none."""
    source = definition.source
    first_line = source.lines[0][0]  # type: ignore[attr-defined]
    try:
        lines = Path(source.file).read_text(encoding="utf-8").splitlines()  # type: ignore[attr-defined]
    except OSError:
        return ""
    comment: list[str] = []
    for line in reversed(lines[: first_line - 1]):
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        comment.append(stripped.lstrip("#").strip())
    return " ".join(reversed(comment))


def entries(definitions: Mapping[str, ast.Definition], library: str | None = None) -> dict[str, ast.Definition]:
    """The definitions without parameters (of one rules file when ``library`` is given), in
    file order."""
    return {name: d for name, d in definitions.items()
            if not d.params and (library is None or library_of(d) == library)}


def check_entries(definitions: Mapping[str, ast.Definition], names: Sequence[str]) -> list[Entry]:
    """``names`` checked as number expressions; raises :class:`KobeError` with every
    problem, located in the rules files, and an unknown name with its nearest ones."""
    import difflib

    known = entries(definitions)
    problems: list[Diagnostic] = []
    checker = Checker(definitions)
    out: list[Entry] = []
    for name in names:
        definition = known.get(name)
        if definition is None:
            if name in definitions:
                message = f"{name!r} takes parameters: only a definition without parameters is a feature or an alpha"
                problems.append(Diagnostic(message, file=str(definitions[name].source.file),  # type: ignore[attr-defined]
                                           line=definitions[name].source.lines[0][0],  # type: ignore[attr-defined]
                                           hint="define one with its parameters set, e.g. `name = f(20)`"))
                continue
            close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
            hint = (f"did you mean {', '.join(repr(c) for c in close)}?" if close
                    else "alphas are the definitions without parameters of rules/alphas.kobe "
                         "(any of rules/*.kobe may be named)")
            problems.append(Diagnostic(f"no feature or alpha named {name!r} in rules/*.kobe", hint=hint))
            continue
        checked = checker.check(definition.source, definition.body, Type.NUM,  # type: ignore[arg-type]
                                what=f"the definition {name!r}")
        if checked is not None and reads_meta_prob(checked):
            # The meta-model's output exists only where a model was trained on trades.
            problems.append(definition.source.diagnostic(  # type: ignore[attr-defined]
                0, f"{name!r} reads meta_prob, the meta-model's output: not a feature or an alpha",
                width=len(name)))
            continue
        if checked is not None:
            out.append(Entry(name, library_of(definition), description(definition), checked,
                             definition.source.text))  # type: ignore[attr-defined]
    problems.extend(checker.diagnostics)
    if problems:
        raise KobeError(list(dict.fromkeys(problems)))
    return out


def evaluate(bars: pl.LazyFrame, items: Sequence[Entry], *, presorted: bool = False) -> pl.LazyFrame:
    """``bars`` (symbol, date, OHLCV) sorted by symbol and date with ``bar_index`` and one
    column per entry, named as it, null during its warm-up. One compiler for them all.
    ``presorted``: the caller guarantees that order already (a backtest's market)."""
    import polars as pl

    from kobe.dsl.compile import Compiler
    from kobe.strategy import prepare_bars

    compiler = Compiler()
    outputs = {item.name: compiler.compile(item.checked.node) for item in items}
    frame = compiler.apply(prepare_bars(bars, presorted=presorted))
    warm = pl.col("bar_index")
    # A value that is not a finite number (an overflow of pow) is unknown, and a screen
    # must not rank it: null.
    values = []
    for item in items:
        value = pl.when(warm >= item.warmup).then(outputs[item.name]).cast(pl.Float64)
        values.append(pl.when(value.is_finite()).then(value).alias(item.name))
    return frame.with_columns(values).select("symbol", "date", "open", "high", "low", "close", "volume",
                                             "bar_index", *(item.name for item in items))
