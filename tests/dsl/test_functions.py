"""The built-in function registry, entry by entry.

Each entry is checked against TA-Lib on real GOOG bars where TA-Lib has the function,
against a plain-Python loop written from the definition where it has not, and on tiny
hand-computed series that read as its specification. Registry-wide tests then check
causality, warm-up lengths, partitions and docs for every entry, so a new entry that
lacks a typical call below fails the suite.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from kobe.dsl.functions import REGISTRY, ParamKind
from kobe.dsl.types import Type

DATA = Path(__file__).resolve().parents[1] / "data" / "GOOG_2004_2013.csv"
GOOG = pl.read_csv(DATA).sort("date")
assert GOOG["symbol"].n_unique() == 1 and GOOG.null_count().sum_horizontal().item() == 0

BARS = {k: GOOG[k].to_numpy().astype(np.float64) for k in ("open", "high", "low", "close")}

REL = 1e-9
# Values that are 0 by definition (a z-score on the mean) come out of the float
# arithmetic as ~1e-15: far below any price or indicator scale.
ABS = 1e-12


# ---------------------------------------------------------------------------------
# Helpers


def build(name: str, positional: Sequence[Any], args: dict[str, Any]) -> pl.Expr:
    """The entry's expression; strings name columns (SERIES), numbers are constants."""
    def arg(v: Any) -> Any:
        return pl.col(v) if isinstance(v, str) else v

    return REGISTRY[name].impl(*map(arg, positional), **{k: arg(v) for k, v in args.items()})


def call(frame: pl.DataFrame, name: str, *positional: str, **args: Any) -> pl.Series:
    """Evaluate one entry on one symbol's bars, as the compiler does before .over()."""
    return frame.select(build(name, positional, args).alias(name)).to_series()


def with_column(name: str, values: np.ndarray, frame: pl.DataFrame = GOOG) -> pl.DataFrame:
    """Add a column, turning TA-Lib's NaN warm-up into null like a materialised call."""
    return frame.with_columns(pl.Series(name, values, nan_to_null=True))


def assert_values(got: pl.Series, expected: Sequence[Any] | np.ndarray) -> None:
    """Same nulls in the same places (NaN/None expected), values equal to REL."""
    expected = [None if e is None or (isinstance(e, float) and math.isnan(e)) else e
                for e in (expected.tolist() if isinstance(expected, np.ndarray) else expected)]
    assert len(got) == len(expected)
    if got.dtype.is_float():
        assert not got.is_nan().any(), "warm-up or undefined values must be null, not NaN"
    values = got.to_list()
    null_got = [i for i, v in enumerate(values) if v is None]
    null_expected = [i for i, e in enumerate(expected) if e is None]
    assert null_got == null_expected, "null positions differ"
    pairs = [(v, e) for v, e in zip(values, expected) if e is not None]
    if got.dtype == pl.Boolean:
        assert [v for v, _ in pairs] == [e for _, e in pairs]
    elif pairs:
        np.testing.assert_allclose(
            np.array([v for v, _ in pairs], dtype=float),
            np.array([e for _, e in pairs], dtype=float),
            rtol=REL, atol=ABS,
        )


def leading_nulls(s: pl.Series) -> int:
    non_null = s.is_not_null().arg_true()
    return len(s) if len(non_null) == 0 else int(non_null[0])


# Reference loops, written from the definitions and nothing else.


def ref_window(values: Sequence[Any], n: int, fn: Callable[[list[Any]], Any]) -> list[Any]:
    """fn over each full window of n bars ending at t; None if short or holding a None."""
    out: list[Any] = []
    for t in range(len(values)):
        window = list(values[t - n + 1:t + 1]) if t >= n - 1 else []
        out.append(fn(window) if window and None not in window else None)
    return out


def ref_age(values: Sequence[Any], n: int, lowest: bool) -> list[Any]:
    def age(window: list[float]) -> int:
        extreme = min(window) if lowest else max(window)
        for back, v in enumerate(reversed(window)):
            if v == extreme:
                return back
        raise AssertionError("unreachable")

    return ref_window(values, n, age)


def ref_zscore(window: list[float]) -> float | None:
    sd = statistics.pstdev(window)
    return None if sd == 0 else (window[-1] - statistics.fmean(window)) / sd


def ref_crosses(a: Sequence[Any], b: Sequence[Any], above: bool) -> list[Any]:
    out: list[Any] = [None]
    for t in range(1, len(a)):
        if None in (a[t], b[t], a[t - 1], b[t - 1]):
            out.append(None)
        elif above:
            out.append(a[t] > b[t] and a[t - 1] <= b[t - 1])
        else:
            out.append(a[t] < b[t] and a[t - 1] >= b[t - 1])
    return out


def ref_bars_since(cond: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    last: int | None = None
    for t, c in enumerate(cond):
        if c:
            last = t
        out.append(None if c is None or last is None else t - last)
    return out


def ref_rank(values: list[Any]) -> list[Any]:
    present = [v for v in values if v is not None]
    out: list[Any] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        below = sum(1 for w in present if w < v)
        ties = sum(1 for w in present if w == v)
        out.append((below + (ties + 1) / 2) / len(present))
    return out


# ---------------------------------------------------------------------------------
# TA-Lib parity on GOOG

C, H, L = BARS["close"], BARS["high"], BARS["low"]

TALIB_CASES: dict[str, tuple[dict[str, Any], Callable[[int], np.ndarray]]] = {
    "sma": ({"x": "close"}, lambda n: talib.SMA(C, n)),
    "ema": ({"x": "close"}, lambda n: talib.EMA(C, n)),
    "wma": ({"x": "close"}, lambda n: talib.WMA(C, n)),
    "highest": ({"x": "close"}, lambda n: talib.MAX(C, n)),
    "lowest": ({"x": "close"}, lambda n: talib.MIN(C, n)),
    # nbdev scales the result: 1 is the plain population standard deviation.
    "stdev": ({"x": "close"}, lambda n: talib.STDDEV(C, n, nbdev=1)),
    "atr": ({}, lambda n: talib.ATR(H, L, C, n)),
    "rsi": ({"x": "close"}, lambda n: talib.RSI(C, n)),
    "roc": ({"x": "close"}, lambda n: talib.ROC(C, n)),
}


@pytest.mark.parametrize("n", [2, 14, 50], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("name", list(TALIB_CASES))
def test_matches_talib_on_goog(name: str, n: int) -> None:
    args, reference = TALIB_CASES[name]
    assert_values(call(GOOG, name, **args, n=n), reference(n))


def test_true_range_matches_talib_on_goog() -> None:
    assert_values(call(GOOG, "true_range"), talib.TRANGE(H, L, C))


# A nested call reaches the function as a column with its own warm-up nulls: TA-Lib
# skips leading NaNs the same way, so the warm-ups add up.
NESTED_INPUT = talib.RSI(C, 14)
NESTED = with_column("rsi14", NESTED_INPUT)


NESTED_TALIB: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "sma": talib.SMA, "ema": talib.EMA, "wma": talib.WMA, "highest": talib.MAX,
    "lowest": talib.MIN, "rsi": talib.RSI, "roc": talib.ROC,
    "stdev": lambda x, n: talib.STDDEV(x, n, nbdev=1),
}


@pytest.mark.parametrize("name", list(NESTED_TALIB))
def test_matches_talib_on_an_input_with_its_own_warm_up(name: str) -> None:
    n = 5
    expected = NESTED_TALIB[name](NESTED_INPUT, n)
    got = call(NESTED, name, x="rsi14", n=n)
    assert_values(got, expected)
    assert leading_nulls(got) == 14 + REGISTRY[name].lookback({"n": n})


def test_ema_of_an_integer_column_matches_talib() -> None:
    volume = GOOG["volume"]
    assert volume.dtype.is_integer()
    expected = talib.EMA(volume.to_numpy().astype(np.float64), 10)
    assert_values(call(GOOG, "ema", x="volume", n=10), expected)


@pytest.mark.parametrize("n", [5, 20], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("lowest", [False, True], ids=["highest_age", "lowest_age"])
def test_age_matches_talib_where_the_extreme_is_unique(lowest: bool, n: int) -> None:
    # MAXINDEX/MININDEX give an absolute index and break ties inconsistently (first or
    # latest occurrence depending on its internal state), so compare on unique extremes.
    name = "lowest_age" if lowest else "highest_age"
    got = call(GOOG, name, x="close", n=n).to_list()
    index = (talib.MININDEX if lowest else talib.MAXINDEX)(C, n)
    compared = 0
    for t in range(n - 1, len(C)):
        window = C[t - n + 1:t + 1]
        extreme = window.min() if lowest else window.max()
        if (window == extreme).sum() == 1:
            assert got[t] == t - index[t], t
            compared += 1
    assert compared > 0.9 * (len(C) - n)


# ---------------------------------------------------------------------------------
# Reference loops on GOOG, for what TA-Lib lacks

CLOSE = GOOG["close"].to_list()
REFERENCE_FRAME = GOOG.with_columns(
    sma20=pl.col("close").rolling_mean(20),
    up=pl.col("close") > pl.col("open"),
)
SMA20 = REFERENCE_FRAME["sma20"].to_list()


@pytest.mark.parametrize("n", [1, 3, 20], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("lowest", [False, True], ids=["highest_age", "lowest_age"])
def test_age_matches_a_loop_on_goog(lowest: bool, n: int) -> None:
    name = "lowest_age" if lowest else "highest_age"
    assert_values(call(GOOG, name, x="close", n=n), ref_age(CLOSE, n, lowest))


@given(
    values=st.lists(st.none() | st.integers(0, 4).map(float), min_size=1, max_size=40),
    n=st.integers(1, 6),
    lowest=st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_age_matches_a_loop_on_series_full_of_ties_and_nulls(
    values: list[float | None], n: int, lowest: bool
) -> None:
    frame = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    name = "lowest_age" if lowest else "highest_age"
    assert_values(call(frame, name, x="x", n=n), ref_age(values, n, lowest))


def test_ibs_matches_a_loop_on_goog() -> None:
    expected = [(c - lo) / (h - lo) if h != lo else None
                for h, lo, c in zip(GOOG["high"], GOOG["low"], GOOG["close"])]
    assert_values(call(GOOG, "ibs"), expected)


@pytest.mark.parametrize("above", [True, False], ids=["crosses_above", "crosses_below"])
def test_crosses_match_a_loop_on_goog(above: bool) -> None:
    name = "crosses_above" if above else "crosses_below"
    got = call(REFERENCE_FRAME, name, a="close", b="sma20")
    assert_values(got, ref_crosses(CLOSE, SMA20, above))
    assert got.sum() > 10, "GOOG crosses its 20-day average many times"


@pytest.mark.parametrize("cond", ["up", "cross"])
def test_bars_since_matches_a_loop_on_goog(cond: str) -> None:
    # "cross" has a warm-up of nulls, "up" has none.
    above = pl.col("close") > pl.col("sma20")
    frame = REFERENCE_FRAME.with_columns(cross=above & ~above.shift(1))
    assert_values(call(frame, "bars_since", cond=cond), ref_bars_since(frame[cond].to_list()))


@pytest.mark.parametrize("n", [2, 20], ids=lambda n: f"n{n}")
def test_zscore_matches_a_loop_on_goog(n: int) -> None:
    assert_values(call(GOOG, "zscore", x="close", n=n), ref_window(CLOSE, n, ref_zscore))


@pytest.mark.parametrize("n", [2, 20], ids=lambda n: f"n{n}")
def test_sample_stdev_matches_a_loop_on_goog(n: int) -> None:
    expected = ref_window(CLOSE, n, statistics.stdev)
    assert_values(call(GOOG, "stdev", x="close", n=n, ddof=1), expected)


@pytest.mark.parametrize("n", [1, 20], ids=lambda n: f"n{n}")
def test_sum_matches_a_loop_on_goog(n: int) -> None:
    assert_values(call(GOOG, "sum", x="close", n=n), ref_window(CLOSE, n, math.fsum))


def test_log_matches_math_log_on_goog() -> None:
    assert_values(call(GOOG, "log", x="close"), [math.log(c) for c in CLOSE])


@pytest.mark.parametrize("name, pick", [("min", min), ("max", max)])
def test_min_max_match_builtins_on_goog(name: str, pick: Callable[..., float]) -> None:
    rows = GOOG.select("open", "high", "low", "close").rows()
    assert_values(call(GOOG, name, "open", "close"), [pick(o, c) for o, _, _, c in rows])
    assert_values(call(GOOG, name, "open", "high", "low", "close"), [pick(r) for r in rows])


# ---------------------------------------------------------------------------------
# Hand-computed cases: the specification in numbers

X6 = [1.0, 3.0, 2.0, 5.0, 4.0, 4.0]
_ = None

# Bars whose true ranges are 1.5, 2, 2.5, 3, 0.5 from the second bar on; the last one
# has high == low.
HAND_BARS = pl.DataFrame({
    "high": [10.0, 11.0, 12.0, 11.0, 13.0, 12.0],
    "low": [9.0, 10.0, 10.0, 9.0, 11.0, 12.0],
    "close": [9.5, 10.5, 11.5, 10.0, 12.5, 12.0],
})

HAND_CASES: list[tuple[str, str, dict[str, list[Any]], dict[str, Any], list[Any]]] = [
    # (id, function, columns, arguments, expected)
    ("sma", "sma", {"x": X6}, {"x": "x", "n": 3}, [_, _, 2.0, 10 / 3, 11 / 3, 13 / 3]),
    # alpha = 2/(3+1) = 0.5, seeded with mean(1, 3, 2) = 2 on the third bar.
    ("ema", "ema", {"x": X6}, {"x": "x", "n": 3}, [_, _, 2.0, 3.5, 3.75, 3.875]),
    # The seed is the mean of the first n NON-NULL values: (1 + 3) / 2; alpha = 2/3.
    ("ema-null-before-seed", "ema", {"x": [_, 1.0, _, 3.0, 5.0, 7.0]}, {"x": "x", "n": 2},
     [_, _, _, 2.0, 4.0, 6.0]),
    # A null bar after the seed is null itself and skipped: 2.5 + 2/3 * (5 - 2.5).
    ("ema-null-after-seed", "ema", {"x": [1.0, 2.0, 3.0, _, 5.0]}, {"x": "x", "n": 2},
     [_, 1.5, 2.5, _, 2.5 + 2 / 3 * 2.5]),
    # (1*1 + 2*3 + 3*2) / 6, and so on: the newest bar weighs most.
    ("wma", "wma", {"x": X6}, {"x": "x", "n": 3}, [_, _, 13 / 6, 22 / 6, 4.0, 25 / 6]),
    ("wma-null", "wma", {"x": [1.0, 2.0, _, 4.0, 5.0, 6.0]}, {"x": "x", "n": 2},
     [_, 5 / 3, _, _, 14 / 3, 17 / 3]),
    ("highest", "highest", {"x": X6}, {"x": "x", "n": 3}, [_, _, 3.0, 5.0, 5.0, 5.0]),
    ("lowest", "lowest", {"x": X6}, {"x": "x", "n": 3}, [_, _, 1.0, 2.0, 2.0, 4.0]),
    ("highest_age", "highest_age", {"x": X6}, {"x": "x", "n": 3}, [_, _, 1, 0, 1, 2]),
    # The last window (5, 4, 4) has its low twice: the latest one counts, so 0.
    ("lowest_age-tie", "lowest_age", {"x": X6}, {"x": "x", "n": 3}, [_, _, 2, 1, 2, 0]),
    ("highest_age-tie", "highest_age", {"x": [2.0, 2.0, 2.0, 1.0]}, {"x": "x", "n": 3},
     [_, _, 0, 1]),
    # Window (1, 3, 2): mean 2, squared deviations 1 + 1 + 0.
    ("stdev", "stdev", {"x": X6}, {"x": "x", "n": 3},
     [_, _, math.sqrt(2 / 3), math.sqrt(14 / 9), math.sqrt(14 / 9), math.sqrt(2 / 9)]),
    ("stdev-sample", "stdev", {"x": X6}, {"x": "x", "n": 3, "ddof": 1},
     [_, _, 1.0, math.sqrt(7 / 3), math.sqrt(7 / 3), math.sqrt(1 / 3)]),
    ("true_range", "true_range", HAND_BARS.to_dict(as_series=False), {},
     [_, 1.5, 2.0, 2.5, 3.0, 0.5]),
    # Seed (1.5 + 2) / 2 = 1.75, then (previous * 1 + tr) / 2.
    ("atr", "atr", HAND_BARS.to_dict(as_series=False), {"n": 2},
     [_, _, 1.75, 2.125, 2.5625, 1.53125]),
    # Changes +2 -1 +3 -1 0. Seed: gain 1, loss 0.5; then Wilder with n = 2.
    ("rsi", "rsi", {"x": X6}, {"x": "x", "n": 2},
     [_, _, 100 * 1 / 1.5, 100 * 2 / 2.25, 100 * 1 / 1.625, 100 * 0.5 / 0.8125]),
    ("rsi-flat-is-0", "rsi", {"x": [5.0, 5.0, 5.0, 5.0]}, {"x": "x", "n": 2}, [_, _, 0.0, 0.0]),
    ("rsi-only-gains", "rsi", {"x": [1.0, 2.0, 3.0, 4.0]}, {"x": "x", "n": 2},
     [_, _, 100.0, 100.0]),
    ("ibs-high-eq-low-is-null", "ibs", HAND_BARS.to_dict(as_series=False), {},
     [0.5, 0.5, 0.75, 0.5, 0.75, _]),
    ("roc", "roc", {"x": X6}, {"x": "x", "n": 1}, [_, 200.0, -100 / 3, 150.0, -20.0, 0.0]),
    ("roc-from-zero-is-null", "roc", {"x": [0.0, 1.0, 2.0]}, {"x": "x", "n": 1}, [_, _, 100.0]),
    ("crosses_above", "crosses_above", {"a": X6, "b": [2.0, 2.0, 2.0, 2.0, 4.5, 3.0]},
     {"a": "a", "b": "b"}, [_, True, False, True, False, True]),
    ("crosses_below", "crosses_below", {"a": X6, "b": [2.0, 2.0, 2.0, 2.0, 4.5, 3.0]},
     {"a": "a", "b": "b"}, [_, False, False, False, True, False]),
    # Touching b (2 -> 2) is not crossing; leaving it upwards afterwards is.
    ("crosses_above-touch", "crosses_above", {"a": [1.0, 2.0, 3.0], "b": [2.0, 2.0, 2.0]},
     {"a": "a", "b": "b"}, [_, False, True]),
    ("crosses_above-null", "crosses_above",
     {"a": [1.0, _, 3.0, 4.0], "b": [2.0, 2.0, 2.0, 2.0]}, {"a": "a", "b": "b"},
     [_, _, _, False]),
    ("bars_since", "bars_since", {"c": [False, True, False, False, True, False]}, {"cond": "c"},
     [_, 0, 1, 2, 0, 1]),
    # A null condition is unknown on its bar and not true afterwards.
    ("bars_since-null", "bars_since", {"c": [True, _, False, _]}, {"cond": "c"}, [0, _, 2, _]),
    ("abs", "abs", {"x": [-2.0, 0.0, 3.0, _]}, {"x": "x"}, [2.0, 0.0, 3.0, _]),
    ("log", "log", {"x": [1.0, math.e, 0.0, -1.0, _]}, {"x": "x"}, [0.0, 1.0, _, _, _]),
    ("zscore", "zscore", {"x": X6}, {"x": "x", "n": 3},
     [_, _, 0.0, 5 / math.sqrt(14), 1 / math.sqrt(14), -1 / math.sqrt(2)]),
    ("zscore-flat-is-null", "zscore", {"x": [2.0, 2.0, 2.0, 2.0, 3.0]}, {"x": "x", "n": 3},
     [_, _, _, _, math.sqrt(2)]),
    ("sum", "sum", {"x": X6}, {"x": "x", "n": 3}, [_, _, 6.0, 10.0, 11.0, 13.0]),
]


@pytest.mark.parametrize(
    "name, columns, args, expected",
    [pytest.param(*case[1:], id=case[0]) for case in HAND_CASES],
)
def test_hand_computed(name: str, columns: dict[str, list[Any]], args: dict[str, Any],
                       expected: list[Any]) -> None:
    frame = pl.DataFrame(columns)
    assert_values(call(frame, name, **args), expected)


@pytest.mark.parametrize("name, of_two, of_three", [
    ("min", [1.0, 3.0, _], [0.0, 3.0, _]),
    ("max", [2.0, 5.0, _], [2.0, 9.0, _]),
])
def test_min_max_take_two_or_more_arguments_and_propagate_nulls(
    name: str, of_two: list[Any], of_three: list[Any]
) -> None:
    frame = pl.DataFrame({"a": [1.0, 5.0, _], "b": [2.0, 3.0, 4.0], "c": [0.0, 9.0, 1.0]})
    assert_values(call(frame, name, a="a", b="b"), of_two)
    assert_values(call(frame, name, "a", "b", "c"), of_three)


def test_rank_is_a_percentile_among_the_symbols_of_each_date() -> None:
    frame = pl.DataFrame({
        "date": ["d1", "d1", "d1", "d1", "d2", "d2"],
        "symbol": ["A", "B", "C", "D", "A", "B"],
        "x": [10.0, 20.0, 20.0, None, 3.0, 1.0],
    })
    got = frame.select(REGISTRY["rank"].impl(x=pl.col("x")).over("date")).to_series()
    # d1: three values, B and C tie for ranks 2 and 3; D has none. d2: two values.
    assert_values(got, [1 / 3, 2.5 / 3, 2.5 / 3, _, 1.0, 0.5])


# ---------------------------------------------------------------------------------
# Every entry: causality, partitions, warm-up, metadata

def _two_symbols() -> pl.DataFrame:
    """GOOG and a made-up symbol on the same dates (GOOG's bars in reverse, a few nulls)."""
    other = GOOG.with_columns(
        pl.lit("ZZZ").alias("symbol"),
        *(pl.col(k).reverse() for k in ("open", "high", "low", "close", "volume")),
    ).with_columns(
        close=pl.when(pl.int_range(pl.len()).is_in([300, 301, 1500])).then(None)
        .otherwise(pl.col("close")),
    )
    return (
        pl.concat([GOOG, other])
        .sort("symbol", "date")
        .with_columns(
            sma20=pl.col("close").rolling_mean(20).over("symbol"),
            up=(pl.col("close") > pl.col("open")),
        )
    )


MARKET = _two_symbols()
DATES = MARKET["date"].unique().sort().to_list()

# One typical call of every entry (strings are columns of MARKET).
TYPICAL: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "sma": ((), {"x": "close", "n": 14}),
    "ema": ((), {"x": "close", "n": 14}),
    "wma": ((), {"x": "close", "n": 14}),
    "highest": ((), {"x": "close", "n": 14}),
    "lowest": ((), {"x": "close", "n": 14}),
    "highest_age": ((), {"x": "close", "n": 14}),
    "lowest_age": ((), {"x": "close", "n": 14}),
    "stdev": ((), {"x": "close", "n": 14}),
    "true_range": ((), {}),
    "atr": ((), {"n": 14}),
    "rsi": ((), {"x": "close", "n": 14}),
    "ibs": ((), {}),
    "roc": ((), {"x": "close", "n": 14}),
    "crosses_above": ((), {"a": "close", "b": "sma20"}),
    "crosses_below": ((), {"a": "close", "b": "sma20"}),
    "bars_since": ((), {"cond": "up"}),
    "abs": ((), {"x": "close"}),
    "log": ((), {"x": "close"}),
    "min": (("open", "close", "high"), {}),
    "max": (("open", "close", "high"), {}),
    "zscore": ((), {"x": "close", "n": 14}),
    "rank": ((), {"x": "close"}),
    "sum": ((), {"x": "close", "n": 14}),
    "corr": ((), {"a": "close", "b": "volume", "n": 14}),
    "cov": ((), {"a": "close", "b": "volume", "n": 14}),
    "skew": ((), {"x": "close", "n": 14}),
    "kurt": ((), {"x": "close", "n": 14}),
    "ts_rank": ((), {"x": "close", "n": 14}),
    "returns": ((), {"n": 14, "x": "close"}),
    "log_returns": ((), {"n": 14, "x": "close"}),
    "decay_linear": ((), {"x": "close", "n": 14}),
    "delta": ((), {"x": "close", "n": 14}),
    "delay": ((), {"x": "close", "n": 14}),
    "if": ((), {"cond": "up", "a": "close", "b": "open"}),
    "sign": ((), {"x": "sma20"}),
    "sqrt": ((), {"x": "close"}),
    "pow": ((), {"x": "close", "p": 0.5}),
    "cs_rank": ((), {"x": "close"}),
    "cs_zscore": ((), {"x": "close"}),
    "cs_demean": ((), {"x": "close"}),
    "cs_quantile": ((), {"x": "close", "q": 5}),
    "cs_scale": ((), {"x": "close", "a": 2}),
}
ALL = sorted(REGISTRY)


def typical_expr(name: str) -> pl.Expr:
    positional, args = TYPICAL[name]
    return build(name, positional, args)


def compiled(frame: pl.DataFrame, name: str) -> pl.Series:
    """The entry as the compiler runs it: over its partition, on several symbols."""
    expr = typical_expr(name)
    partition = REGISTRY[name].partition
    return frame.select((expr.over(partition) if partition else expr).alias(name)).to_series()


def test_every_entry_has_a_typical_call() -> None:
    assert set(TYPICAL) == set(REGISTRY)


@pytest.mark.parametrize("name", ALL)
@given(cut=st.integers(0, len(DATES) - 1))
@settings(max_examples=12, deadline=None)
def test_is_causal(name: str, cut: int) -> None:
    # Values up to a date must not change when the later bars are not there yet.
    full = compiled(MARKET, name)
    kept = MARKET["date"] <= DATES[cut]
    truncated = compiled(MARKET.filter(kept), name)
    assert truncated.to_list() == full.filter(kept).to_list()


@pytest.mark.parametrize("name", ALL)
@given(cut=st.integers(0, len(DATES) - 2), symbol=st.sampled_from(["GOOG", "ZZZ"]),
       seed=st.integers(0, 2**32 - 1))
@settings(max_examples=10, deadline=None)
def test_changing_later_bars_of_a_symbol_changes_no_earlier_value(name: str, cut: int, symbol: str,
                                                                   seed: int) -> None:
    # Not only absent: any later bar of either symbol may be anything, and nothing up to
    # the cut moves, for that symbol or the other (a cross-section reads both).
    later = (pl.col("date") > DATES[cut]) & (pl.col("symbol") == symbol)
    noise = pl.Series(np.random.default_rng(seed).uniform(0.5, 2.0, MARKET.height))
    changed = MARKET.with_columns(
        *(pl.when(later).then(pl.col(c) * noise).otherwise(pl.col(c)).cast(MARKET.schema[c]).alias(c)
          for c in ("open", "high", "low", "close", "volume", "sma20")),
        pl.when(later).then(~pl.col("up")).otherwise(pl.col("up")).alias("up"),
    )
    kept = MARKET["date"] <= DATES[cut]
    assert compiled(changed, name).filter(kept).to_list() == compiled(MARKET, name).filter(kept).to_list()


@pytest.mark.parametrize("name", [n for n in ALL if REGISTRY[n].partition == "symbol"])
def test_over_symbol_equals_one_symbol_at_a_time(name: str) -> None:
    together = compiled(MARKET, name)
    alone = pl.concat([compiled(MARKET.filter(pl.col("symbol") == s), name)
                       for s in MARKET["symbol"].unique().sort()])
    assert together.to_list() == alone.to_list()
    assert together.null_count() < len(together)


@pytest.mark.parametrize("name", [n for n in ALL if n != "bars_since"])
def test_lookback_is_the_number_of_leading_nulls_on_goog(name: str) -> None:
    # bars_since is left out: its leading nulls last until cond is first true, which is
    # data, not warm-up (its lookback is 0; the hand-computed cases pin that down).
    got = REFERENCE_FRAME.select(typical_expr(name)).to_series()
    _, args = TYPICAL[name]
    constants = {k: v for k, v in args.items() if not isinstance(v, str)}
    own = REGISTRY[name].lookback(constants)
    arguments = 19 if "sma20" in args.values() else 0  # the warm-up of sma20 itself
    assert leading_nulls(got) == own + arguments
    if got.dtype.is_float():
        assert not got.is_nan().any()


@pytest.mark.parametrize("name", ALL)
def test_result_dtype_matches_the_declared_type(name: str) -> None:
    got = compiled(MARKET, name)
    if REGISTRY[name].result is Type.BOOL:
        assert got.dtype == pl.Boolean
    else:
        assert got.dtype.is_numeric()


@pytest.mark.parametrize("name", ALL)
def test_metadata(name: str) -> None:
    spec = REGISTRY[name]
    assert spec.name == name
    assert spec.doc.strip() and "\n" not in spec.doc
    assert spec.partition in ("symbol", "date", None)
    assert not spec.variadic or len(spec.params) >= 2
    assert spec.signature().startswith(f"{name}(")
    for p in spec.params:
        if p.kind is not ParamKind.SERIES:
            assert p.type is Type.NUM
