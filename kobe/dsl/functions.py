"""The one registry of built-in functions of the rule language.

Each entry says everything Kobe knows about a function: its parameters (with types and
whether they are windows), its result type, its own lookback (the warm-up bars it adds),
its Polars implementation and a one-line doc. The checker, the compiler and
``kobe functions`` all read this table; adding a function is one entry plus its tests.

Conventions (as TA-Lib): warm-up rows are null; EMA is seeded with the SMA of its first
n values; ATR and RSI are seeded with the simple mean of their first n values, then
Wilder smoothing (alpha = 1/n); highest/lowest include the current bar; stdev is the
population one (``ddof=0``) unless asked. Every function is causal: the value on bar t
depends only on bars up to t.

Implementation contract: ``impl`` receives keyword arguments named as the parameters:
``pl.Expr`` for SERIES parameters and Python numbers for WINDOW/CONST ones. It returns
an expression over ONE symbol's bars sorted by date; the compiler applies
``.over(partition)`` to it. Series arguments are plain column references, because the
compiler materialises every nested call as its own column first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

import polars as pl

from kobe.dsl.types import Type


class ParamKind(Enum):
    SERIES = "series"  # any expression of the parameter's type
    WINDOW = "window"  # a positive integer constant (literal or strategy param)
    CONST = "const"    # a number constant (literal or strategy param)


@dataclass(frozen=True)
class Param:
    name: str
    kind: ParamKind = ParamKind.SERIES
    type: Type = Type.NUM
    default: float | int | None = None  # None: required

    @property
    def required(self) -> bool:
        return self.default is None


Constants = Mapping[str, float | int]


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    params: tuple[Param, ...]
    result: Type
    impl: Callable[..., pl.Expr]
    lookback: Callable[[Constants], int]
    doc: str
    # "symbol": a time-series function of one symbol; "date": a cross-section of all
    # symbols on one date; None: element-wise, needs no partition.
    partition: str | None = "symbol"
    # True when the last parameter may repeat (min, max): f(a, b, c, ...).
    variadic: bool = False

    def signature(self) -> str:
        parts = []
        for p in self.params:
            text = p.name if p.kind is ParamKind.SERIES else f"{p.name}:{p.kind.value}"
            if p.default is not None:
                text += f"={p.default}"
            parts.append(text)
        if self.variadic:
            parts.append("...")
        return f"{self.name}({', '.join(parts)}) -> {self.result}"


REGISTRY: dict[str, FunctionSpec] = {}


def register(spec: FunctionSpec) -> FunctionSpec:
    if spec.name in REGISTRY:
        raise ValueError(f"function {spec.name!r} registered twice")
    REGISTRY[spec.name] = spec
    return spec


def lookup(name: str) -> FunctionSpec | None:
    return REGISTRY.get(name)


# ---------------------------------------------------------------------------------
# Entries. Helpers shared by several entries stay above the entries that use them.

_X = Param("x")
_N = Param("n", ParamKind.WINDOW)


def _window_minus_one(c: Constants) -> int:
    return int(c["n"]) - 1


register(FunctionSpec(
    name="sma",
    params=(_X, _N),
    result=Type.NUM,
    impl=lambda x, n: x.rolling_mean(n),
    lookback=_window_minus_one,
    doc="Simple moving average of x over the last n bars, the current one included.",
))
