"""The research functions of issue 14 (time series and element-wise), each against an
independent computation on real bars: pandas' rolling statistics, NumPy, TA-Lib.

The bars are ``tests/data/sp500_12_2015_2016.parquet``: twelve symbols of the shared
``sp500_5yr_2013_2018.parquet`` from 2015-01-02 to 2016-06-30 (DHR and O miss days
there, HPE and PYPL start late, CHK falls from 20 to 3). The cross-sectional functions
have their own module, ``test_cross_section.py``; the registry-wide checks (causality,
warm-up, partitions) of ``test_functions.py`` cover every entry here too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_series_equal

from kobe.config.model import ExprSource
from kobe.dsl.check import Checker
from kobe.dsl.compile import Compiler
from kobe.dsl.functions import REGISTRY
from kobe.dsl.parse import parse_expr
from kobe.strategy import prepare_bars

SLICE = pl.read_parquet(Path(__file__).resolve().parents[1] / "data" / "sp500_12_2015_2016.parquet")
SYMBOLS = ["AAPL", "CHK", "DHR", "PYPL"]


def bars(symbol: str) -> pl.DataFrame:
    return SLICE.filter(pl.col("symbol") == symbol).sort("date").with_columns(
        pl.col("volume").cast(pl.Float64),
        # Whole-dollar closes: real data with many ties, for the ranks.
        pl.col("close").round(0).alias("close_rounded"),
    )


def series(frame: pl.DataFrame, column: str) -> pd.Series:
    return pd.Series(frame[column].to_numpy())


def call(frame: pl.DataFrame, name: str, **args: Any) -> pl.Series:
    """One entry on one symbol's bars (strings name columns), as the compiler runs it."""
    impl_args = {k: pl.col(v) if isinstance(v, str) else v for k, v in args.items()}
    return frame.select(REGISTRY[name].impl(**impl_args).alias("got")).to_series()


def assert_matches(got: pl.Series, expected: pd.Series | np.ndarray, *, rtol: float = 1e-9,
                   atol: float = 1e-12) -> None:
    """Same values to rtol; null exactly where the reference has NaN; never NaN itself."""
    want = pl.Series("got", np.asarray(expected, dtype=np.float64), nan_to_null=True)
    assert not got.cast(pl.Float64).is_nan().any(), "undefined values must be null, not NaN"
    assert got.is_null().to_list() == want.is_null().to_list(), "null positions differ"
    assert_series_equal(got.cast(pl.Float64), want, check_names=False, rel_tol=rtol, abs_tol=atol)
    assert want.null_count() < len(want)


# ---------------------------------------------------------------------------------
# Rolling statistics against pandas (which uses the same estimators, computed its own way)


@pytest.mark.parametrize("n", [2, 5, 20, 60], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_corr_matches_pandas(symbol: str, n: int) -> None:
    frame = bars(symbol)
    expected = series(frame, "close").rolling(n).corr(series(frame, "volume"))
    assert_matches(call(frame, "corr", a="close", b="volume", n=n), expected, rtol=1e-8)


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("n", [2, 20, 60], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_cov_matches_pandas(symbol: str, n: int, ddof: int) -> None:
    frame = bars(symbol)
    expected = series(frame, "close").rolling(n).cov(series(frame, "volume"), ddof=ddof)
    assert_matches(call(frame, "cov", a="close", b="volume", n=n, ddof=ddof), expected, rtol=1e-8)


def test_cov_of_x_with_itself_is_the_square_of_stdev() -> None:
    # Both population by default: the identity holds without a ddof in sight.
    frame = bars("AAPL")
    var = call(frame, "cov", a="close", b="close", n=20)
    std = call(frame, "stdev", x="close", n=20)
    assert_series_equal(var, std**2, check_names=False, rel_tol=1e-8)


@pytest.mark.parametrize("n", [3, 5, 20, 60], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_skew_matches_pandas(symbol: str, n: int) -> None:
    frame = bars(symbol)
    # A skew is a ratio of small central moments of prices of ~100: pandas' own rolling
    # sums lose ~1e-9 of it, and a window that is nearly symmetric reads ~0 (hence atol).
    assert_matches(call(frame, "skew", x="close", n=n), series(frame, "close").rolling(n).skew(),
                   rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("n", [4, 5, 20, 60], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_kurt_matches_pandas(symbol: str, n: int) -> None:
    frame = bars(symbol)
    assert_matches(call(frame, "kurt", x="close", n=n), series(frame, "close").rolling(n).kurt(),
                   rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("column", ["close", "close_rounded"])
@pytest.mark.parametrize("n", [1, 5, 20], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_ts_rank_matches_pandas(symbol: str, n: int, column: str) -> None:
    frame = bars(symbol)
    expected = series(frame, column).rolling(n).rank(method="average", pct=True)
    # pandas multiplies the rank by 1/n where Kobe divides by n: an ulp apart at most.
    assert_matches(call(frame, "ts_rank", x=column, n=n), expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("n", [2, 20], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_zscore_matches_pandas(symbol: str, n: int) -> None:
    # The existing zscore, to the letter of issue 14: standard deviations (population)
    # above the n-bar mean.
    frame = bars(symbol)
    close = series(frame, "close").rolling(n)
    expected = (series(frame, "close") - close.mean()) / close.std(ddof=0)
    assert_matches(call(frame, "zscore", x="close", n=n), expected, rtol=1e-8, atol=1e-9)


# ---------------------------------------------------------------------------------
# Returns, lags and the weighted average


@pytest.mark.parametrize("n", [1, 5, 20], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_returns_match_pandas(symbol: str, n: int) -> None:
    frame = bars(symbol)
    close = series(frame, "close")
    assert_matches(call(frame, "returns", n=n, x="close"), close.pct_change(n))
    assert_matches(call(frame, "log_returns", n=n, x="close"), np.log(close / close.shift(n)))
    assert_matches(call(frame, "returns", n=n, x="volume"), series(frame, "volume").pct_change(n))


@pytest.mark.parametrize("n", [1, 5, 20], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_delta_and_delay_match_pandas(symbol: str, n: int) -> None:
    frame = bars(symbol)
    close = series(frame, "close")
    assert_matches(call(frame, "delta", x="close", n=n), close.diff(n), rtol=0, atol=0)
    assert_matches(call(frame, "delay", x="close", n=n), close.shift(n), rtol=0, atol=0)


@pytest.mark.parametrize("n", [1, 10, 30], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_decay_linear_matches_talib_wma(symbol: str, n: int) -> None:
    frame = bars(symbol)
    expected = talib.WMA(frame["close"].to_numpy(), n)
    assert_matches(call(frame, "decay_linear", x="close", n=n), expected)


# ---------------------------------------------------------------------------------
# Element-wise functions against NumPy


def test_if_sign_sqrt_pow_match_numpy() -> None:
    frame = bars("CHK").with_columns(
        move=pl.col("close") - pl.col("open"),
        up=pl.col("close") > pl.col("open"),
    )
    close, opens, move = (frame[c].to_numpy() for c in ("close", "open", "move"))
    assert_matches(call(frame, "if", cond="up", a="close", b="open"), np.where(close > opens, close, opens),
                   rtol=0, atol=0)
    assert_matches(call(frame, "sign", x="move"), np.sign(move), rtol=0, atol=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        assert_matches(call(frame, "sqrt", x="move"), np.sqrt(move))
        for p in (2.0, 0.5, -1.0, 1 / 3):
            expected = np.power(move, p)
            expected[~np.isfinite(expected)] = np.nan
            assert_matches(call(frame, "pow", x="move", p=p), expected)
    assert set(np.sign(move)) == {-1.0, 0.0, 1.0}, "the slice has flat, up and down bars"


# ---------------------------------------------------------------------------------
# Hand-computed cases: nulls, flat windows, undefined values

_: Any = None

HAND_CASES: list[tuple[str, str, dict[str, list[Any]], dict[str, Any], list[Any]]] = [
    # A perfectly linear pair, then a null inside the window of b.
    ("corr", "corr", {"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": [2.0, 4.0, 6.0, _, 1.0]},
     {"a": "a", "b": "b", "n": 2}, [_, 1.0, 1.0, _, _]),
    # A flat a has no correlation with anything; the covariance is simply 0.
    ("corr-flat-is-null", "corr", {"a": [3.0, 3.0, 3.0, 4.0], "b": [1.0, 2.0, 4.0, 8.0]},
     {"a": "a", "b": "b", "n": 3}, [_, _, _, (10 / 3) / math.sqrt(2 / 3 * 168 / 9)]),
    ("cov", "cov", {"a": [1.0, 2.0, 3.0, 3.0], "b": [1.0, 3.0, 2.0, 2.0]},
     {"a": "a", "b": "b", "n": 3}, [_, _, 1 / 3, -2 / 9]),
    ("cov-sample", "cov", {"a": [1.0, 2.0, 3.0, 3.0], "b": [1.0, 3.0, 2.0, 2.0]},
     {"a": "a", "b": "b", "n": 3, "ddof": 1}, [_, _, 0.5, -1 / 3]),
    ("cov-flat-is-0", "cov", {"a": [3.0, 3.0, 3.0], "b": [1.0, 2.0, 4.0]},
     {"a": "a", "b": "b", "n": 3}, [_, _, 0.0]),
    # (0, 0, 3): mean 1, m2 = 2, m3 = 2; G1 = sqrt(3 * 2) / 1 * 2 / 2**1.5.
    ("skew", "skew", {"x": [0.0, 0.0, 3.0, 3.0, 3.0, _, 1.0]}, {"x": "x", "n": 3},
     [_, _, math.sqrt(6) * 2 / 2**1.5, -math.sqrt(6) * 2 / 2**1.5, _, _, _]),
    # (0, 0, 0, 4): excess kurtosis 4 (scipy.stats.kurtosis(bias=False)).
    ("kurt", "kurt", {"x": [0.0, 0.0, 0.0, 4.0, 4.0, 4.0, 4.0]}, {"x": "x", "n": 4},
     [_, _, _, 4.0, -6.0, 4.0, _]),
    # Today's value ranked in its window: (2, 1, 2) -> today ties for ranks 2 and 3.
    ("ts_rank", "ts_rank", {"x": [2.0, 1.0, 2.0, 3.0, _, 1.0, 2.0, 3.0]}, {"x": "x", "n": 3},
     [_, _, 2.5 / 3, 1.0, _, _, _, 1.0]),
    ("returns", "returns", {"x": [2.0, 3.0, 0.0, 1.0, _, 2.0]}, {"n": 1, "x": "x"},
     [_, 0.5, -1.0, _, _, _]),
    ("log_returns", "log_returns", {"x": [2.0, 4.0, 0.0, 1.0, -1.0, -2.0]}, {"n": 1, "x": "x"},
     [_, math.log(2), _, _, _, math.log(2)]),
    ("delta", "delta", {"x": [1.0, 4.0, _, 9.0]}, {"x": "x", "n": 1}, [_, 3.0, _, _]),
    ("delay", "delay", {"x": [1.0, 4.0, _, 9.0]}, {"x": "x", "n": 2}, [_, _, 1.0, 4.0]),
    # A null condition is unknown: neither branch.
    ("if", "if", {"c": [True, False, _], "a": [1.0, 1.0, 1.0], "b": [2.0, 2.0, 2.0]},
     {"cond": "c", "a": "a", "b": "b"}, [1.0, 2.0, _]),
    ("if-null-branch", "if", {"c": [True, False], "a": [_, 1.0], "b": [2.0, _]},
     {"cond": "c", "a": "a", "b": "b"}, [_, _]),
    ("sign", "sign", {"x": [-2.5, 0.0, 3.0, _]}, {"x": "x"}, [-1.0, 0.0, 1.0, _]),
    ("sqrt", "sqrt", {"x": [4.0, 0.0, -1.0, _]}, {"x": "x"}, [2.0, 0.0, _, _]),
    ("pow", "pow", {"x": [2.0, -8.0, 0.0, 0.0, _], "p": [3.0, 1 / 3, -1.0, 0.0, 2.0]},
     {"x": "x", "p": "p"}, [8.0, _, _, 1.0, _]),
]


@pytest.mark.parametrize("name, columns, args, expected",
                         [pytest.param(*case[1:], id=case[0]) for case in HAND_CASES])
def test_hand_computed(name: str, columns: dict[str, list[Any]], args: dict[str, Any],
                       expected: list[Any]) -> None:
    got = call(pl.DataFrame(columns), name, **args)
    assert not got.cast(pl.Float64).is_nan().any()
    assert got.is_null().to_list() == [e is None for e in expected]
    np.testing.assert_allclose([v for v in got.to_list() if v is not None],
                               [e for e in expected if e is not None], rtol=1e-12, atol=1e-12)


@given(values=st.lists(st.none() | st.integers(0, 3).map(float), min_size=1, max_size=30),
       n=st.integers(1, 5))
@settings(max_examples=200, deadline=None)
def test_ts_rank_matches_pandas_on_series_full_of_ties_and_nulls(values: list[float | None], n: int) -> None:
    frame = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    expected = pd.Series([np.nan if v is None else v for v in values]).rolling(n).rank(pct=True)
    got = call(frame, "ts_rank", x="x", n=n)
    want = pl.Series("got", expected.to_numpy(), nan_to_null=True)
    assert got.is_null().to_list() == want.is_null().to_list()
    assert_series_equal(got, want, rel_tol=1e-15, abs_tol=0)


# ---------------------------------------------------------------------------------
# Through the checker and the compiler


def check(text: str) -> tuple[Any, list[str]]:
    checker = Checker({})
    source = ExprSource.inline(text)
    checked = checker.check(source, parse_expr(source), None)
    return checked, [d.message for d in checker.diagnostics]


@pytest.mark.parametrize("text, canonical, warmup", [
    ("returns(5)", "returns(5, close)", 5),
    ("returns(5, open)", "returns(5, open)", 5),
    ("log_returns(x=high, n=3)", "log_returns(3, high)", 3),
    ("if(close > open, 1, -1)", "if(close > open, 1, -1)", 0),
    ("corr(returns(1), returns(1, volume), 20)", "corr(returns(1, close), returns(1, volume), 20)", 20),
    ("decay_linear(delta(close, 1), 10)", "decay_linear(delta(close, 1), 10)", 10),
    ("kurt(delay(close, 2), 4)", "kurt(delay(close, 2), 4)", 5),
    ("sign(delta(close, 1)) * pow(abs(delta(close, 1)), 0.5)",
     "sign(delta(close, 1)) * pow(abs(delta(close, 1)), 0.5)", 1),
])
def test_checks_with_defaults_and_warm_up(text: str, canonical: str, warmup: int) -> None:
    checked, problems = check(text)
    assert problems == [] and checked is not None
    assert (checked.text, checked.warmup) == (canonical, warmup)


@pytest.mark.parametrize("text, message", [
    ("skew(close, 2)", "window 'n' of skew() must be a whole number of at least 3, got 2"),
    ("kurt(close, 3)", "window 'n' of kurt() must be a whole number of at least 4, got 3"),
    ("corr(close, open, 1)", "window 'n' of corr() must be a whole number of at least 2, got 1"),
    ("ts_rank(close, 0)", "window 'n' of ts_rank() must be a positive integer, got 0"),
    ("if(close, 1, 2)", "argument 'cond' of if() must be a boolean, got a number"),
    ("returns()", "returns() is missing argument 'n'"),
])
def test_refuses(text: str, message: str) -> None:
    checked, problems = check(text)
    assert checked is None and problems == [message]


def test_a_default_column_is_never_a_definition_parameter_of_that_name() -> None:
    from kobe.dsl.check import check_definitions
    from kobe.dsl.parse import parse_rules

    table, problems = check_definitions(parse_rules("gain(close) = returns(1) + 0 * close\n", "r.kobe"))
    assert problems == []
    checker = Checker(table)
    source = ExprSource.inline("gain(volume)")
    checked = checker.check(source, parse_expr(source), None)
    assert checked is not None and checked.text == "returns(1, close) + 0 * volume"


@pytest.mark.parametrize("text, reference", [
    ("corr(close, volume, 10)", lambda g: g["close"].rolling(10).corr(g["volume"])),
    ("skew(returns(1), 20)", lambda g: g["close"].pct_change(1).rolling(20).skew()),
    ("ts_rank(volume, 10)", lambda g: g["volume"].rolling(10).rank(pct=True)),
    ("delta(close, 3)", lambda g: g["close"].diff(3)),
    ("log_returns(5)", lambda g: np.log(g["close"] / g["close"].shift(5))),
])
def test_compiled_over_every_symbol_matches_pandas_per_symbol(text: str, reference: Any) -> None:
    checked, problems = check(text)
    assert checked is not None, problems
    compiler = Compiler()
    expr = compiler.compile(checked.node)
    got = compiler.apply(prepare_bars(SLICE.lazy())).select("symbol", expr.alias("got")).collect()
    ordered = SLICE.sort("symbol", "date")
    expected = np.concatenate([
        np.asarray(reference(pd.DataFrame({"close": part["close"].to_numpy(),
                                           "volume": part["volume"].to_numpy().astype(float)})), dtype=float)
        for _, part in ordered.group_by("symbol", maintain_order=True)
    ])
    assert_matches(got["got"], expected, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------------------
# The ** operator: pow() written as an operator


@pytest.mark.parametrize("text, value", [
    ("2 ** 3", 8.0), ("-2 ** 2", -4.0), ("(-2) ** 2", 4.0), ("2 ** 3 ** 2", 512.0), ("4 ** -0.5", 0.5),
])
def test_power_of_constants_folds_as_python(text: str, value: float) -> None:
    checked, problems = check(text)
    assert problems == [] and checked is not None and checked.text == ast_number(value)


def ast_number(value: float) -> str:
    from kobe.dsl.ast import Number

    return Number(value).to_text()


@pytest.mark.parametrize("text, message", [
    ("10 ** 400", "this constant is out of range (at most 1e+15 in size)"),
    ("(close > open) ** 2", "'**' needs numbers, got a boolean on the left"),
])
def test_power_refuses(text: str, message: str) -> None:
    checked, problems = check(text)
    assert checked is None and problems == [message]


def test_power_operator_is_pow_and_null_where_undefined() -> None:
    frame = bars("CHK").with_columns(move=pl.col("close") - pl.col("open"))
    move = frame["move"].to_numpy()
    for p in (2.0, 0.5, -1.0):
        checked, problems = check(f"(close - open) ** {p} + 0 * sma(close, 2)")
        assert checked is not None, problems
        compiler = Compiler()
        expr = compiler.compile(checked.node)
        got = compiler.apply(prepare_bars(frame.lazy())).select(expr.alias("got")).collect().to_series()
        with np.errstate(invalid="ignore", divide="ignore"):
            expected = np.power(move, p)
        expected[~np.isfinite(expected)] = np.nan
        expected[0] = np.nan    # sma(close, 2)'s warm-up
        assert_matches(got, expected)
    # Undefined constants are not folded: they stay an expression that is null on every bar.
    checked, _ = check("(-8) ** (1 / 3) + close")
    assert checked is not None and checked.text == "(-8) ** 0.3333333333333333 + close"
    compiler = Compiler()
    expr = compiler.compile(checked.node)
    assert compiler.apply(prepare_bars(frame.lazy())).select(expr).collect().to_series().null_count() == frame.height
