"""The compiler's whole-column path: a lag or a function with a ``reach`` is computed over
the whole column of bars sorted by symbol and date, each symbol's first ``reach`` bars
blanked, instead of one window per symbol. Its values must be exactly (bit for bit, the
same nulls) those of the function run over each symbol alone, on symbols of different
lengths with gaps of missing values, and the inputs the compiler materialises (atr's
true range) must give atr's own values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from kobe.config.model import ExprSource
from kobe.dsl.check import Checker
from kobe.dsl.compile import Compiler
from kobe.dsl.functions import REGISTRY
from kobe.dsl.parse import parse_expr
from kobe.dsl.types import Type
from kobe.strategy import prepare_bars


def market() -> pl.DataFrame:
    """Five symbols: one shorter than every window, one with nulls inside, one with a
    tie of lows; rows shuffled, as a file may hold them."""
    rng = np.random.default_rng(7)
    frames = []
    for symbol, length in (("AAA", 90), ("BBB", 3), ("CCC", 60), ("DDD", 75), ("EEE", 1)):
        close = 50 + np.cumsum(rng.normal(0, 1, length))
        high = close + rng.uniform(0, 2, length)
        low = close - rng.uniform(0, 2, length)
        frame = pl.DataFrame({
            "symbol": symbol,
            "date": [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(length)],
            "open": close + rng.normal(0, 0.5, length), "high": high, "low": low, "close": close,
            "volume": rng.uniform(1e5, 1e6, length),
        })
        if symbol == "CCC":
            frame = frame.with_columns(pl.when(pl.int_range(pl.len()).is_in([20, 21, 40]))
                                       .then(None).otherwise(pl.col(c)).alias(c) for c in ("high", "low", "close"))
        if symbol == "DDD":
            frame = frame.with_columns(pl.when(pl.int_range(pl.len()).is_in([30, 35]))
                                       .then(pl.lit(40.0)).otherwise(pl.col("low")).alias("low"))
        frames.append(frame)
    return pl.concat(frames).sample(fraction=1.0, shuffle=True, seed=1)


MARKET = market()

# Rules on every function with a reach, a lag of each kind, and nesting through them.
TEXTS = [
    "highest(high, 20)", "lowest(low, 20)", "highest(high, 20)[1]", "lowest(low, 5)[3]",
    "true_range()", "roc(close, 10)", "crosses_above(close, sma(close, 10))",
    "crosses_below(close, lowest(low, 5)[1])", "close[1]", "(close - close[5]) / close[5]",
    "highest(lowest(low, 4), 6)", "highest(high - low, 3)[2]", "atr(14)", "atr(3) + true_range()",
    "lowest_age(low, 20)[1] + 1", "highest(close, 1)",
    "ts_rank(close, 10)", "ts_rank(delta(close, 1), 5)[1]", "returns(5)", "log_returns(3, high)",
    "delta(close, 4)", "delay(low, 2)", "returns(1, delay(close, 3))",
]


class PerSymbol(Compiler):
    """The reference: every time-series column in its own window per symbol (.over)."""

    def _materialise(self, node, expr, partition, inner_stage, reach=None):  # type: ignore[no-untyped-def]
        return super()._materialise(node, expr, partition, inner_stage, None)


def compiled(text: str, compiler: Compiler | None = None) -> pl.Series:
    checker = Checker({})
    source = ExprSource.inline(text)
    checked = checker.check(source, parse_expr(source), None)
    assert checked is not None, checker.diagnostics
    compiler = compiler if compiler is not None else Compiler()
    expr = compiler.compile(checked.node)
    return compiler.apply(prepare_bars(MARKET.lazy())).select(expr.alias("x")).collect().to_series()


def one_symbol_at_a_time(text: str) -> pl.Series:
    return compiled(text, PerSymbol())


@pytest.mark.parametrize("text", TEXTS)
def test_whole_column_equals_one_symbol_at_a_time(text: str) -> None:
    got = compiled(text)
    want = one_symbol_at_a_time(text)
    assert got.dtype == want.dtype
    assert got.is_null().to_list() == want.is_null().to_list()
    assert got.to_list() == want.to_list()          # exact, not approximately
    assert got.null_count() < len(got)


def test_the_cases_reach_across_symbols() -> None:
    # Without the blanking, the first bars of a symbol would read the previous one's:
    # the comparison above would then fail (this shows it can).
    sorted_bars = MARKET.sort("symbol", "date")
    leaky = sorted_bars.select(pl.col("high").rolling_max(20).alias("x")).to_series()
    assert leaky.to_list() != one_symbol_at_a_time("highest(high, 20)").to_list()


def test_atr_reads_the_materialised_true_range() -> None:
    compiler = Compiler()
    checker = Checker({})
    source = ExprSource.inline("atr(14)")
    node = checker.check(source, parse_expr(source), Type.NUM)
    assert node is not None
    compiler.compile(node.node)
    compiler.compile(parse_expr(ExprSource.inline("atr(3)")))
    # One input column for both, not listed among the derived ones (the trader wrote atr).
    assert set(compiler.derived) == {"atr(14)", "atr(3)"} and list(compiler.inputs) == ["true_range() (input)"]
    assert compiler.derived["atr(14)"].stage == 1
    # atr's impl alone (its own true range inline) gives the same values.
    inline = (prepare_bars(MARKET.lazy()).select(REGISTRY["atr"].impl(n=14).over("symbol").alias("x"))
              .collect().to_series())
    assert compiled("atr(14)").to_list() == inline.to_list()


@pytest.mark.parametrize("name", sorted(n for n, spec in REGISTRY.items() if spec.reach is not None))
def test_reach_is_only_given_to_time_series_functions(name: str) -> None:
    assert REGISTRY[name].partition == "symbol"
