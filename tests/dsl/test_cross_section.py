"""The cross-sectional functions (partition "date"): cs_rank, cs_zscore, cs_demean,
cs_quantile, cs_scale, and rank (the same as cs_rank).

Each is compiled as a rule would be and compared with pandas' own group-by-date
statistics on twelve real S&P 500 symbols (``tests/data/sp500_12_2015_2016.parquet``,
where DHR and O miss days, and HPE and PYPL start late, so the cross-section changes
size), and cs_quantile with exact rational arithmetic over scipy's ranks. A property
test then changes, removes and adds bars after a date, for any symbol, and checks that
no value of any symbol on or before that date moves: a cross-section reads only its
own date, and the time series inside it only their own past.
"""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.stats
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


def evaluate(frame: pl.DataFrame, *texts: str) -> pl.DataFrame:
    """The rules' values on every bar of ``frame``, sorted by symbol and date, through
    the checker and the compiler (one shared set of derived columns, as a strategy)."""
    checker = Checker({})
    compiler = Compiler()
    exprs = []
    for i, text in enumerate(texts):
        source = ExprSource.inline(text)
        checked = checker.check(source, parse_expr(source), None)
        assert checked is not None, checker.diagnostics
        exprs.append(compiler.compile(checked.node).alias(f"v{i}"))
    return compiler.apply(prepare_bars(frame.lazy())).select("symbol", "date", *exprs).collect()


def pandas_bars() -> pd.DataFrame:
    """The slice in pandas, sorted by symbol and date, with the per-symbol inputs the
    rules below rank (their time-series part computed by pandas too)."""
    ordered = SLICE.sort("symbol", "date")
    frame = pd.DataFrame({c: ordered[c].to_numpy() for c in ("symbol", "date", "open", "close", "volume")})
    by_symbol = frame.groupby("symbol", sort=False)
    frame["ret1"] = by_symbol["close"].pct_change(1)
    frame["ret20"] = by_symbol["close"].pct_change(20)
    frame["sma_volume"] = by_symbol["volume"].transform(lambda v: v.astype(float).rolling(10).mean())
    # Whole-dollar closes: real values with ties across symbols.
    frame["whole"] = frame["close"].round(0)
    return frame


PD = pandas_bars()
INPUTS = {"returns(1)": "ret1", "returns(20)": "ret20", "sma(volume, 10)": "sma_volume",
          "round_close": "whole"}


def assert_matches(got: pl.Series, expected: pd.Series, *, rtol: float, atol: float) -> None:
    want = pl.Series("want", np.asarray(expected, dtype=np.float64), nan_to_null=True)
    assert not got.is_nan().any(), "undefined values must be null, not NaN"
    assert got.is_null().to_list() == want.is_null().to_list(), "null positions differ"
    assert_series_equal(got, want, check_names=False, rel_tol=rtol, abs_tol=atol)
    assert want.null_count() < len(want)


def compiled_on_slice(template: str, inner: str) -> pl.Series:
    if inner == "round_close":
        # The rule language has no rounding: the tied closes replace the bars' own.
        return evaluate(SLICE.with_columns(pl.col("close").round(0)), template.format("close"))["v0"]
    return evaluate(SLICE, template.format(inner))["v0"]


@pytest.mark.parametrize("inner", list(INPUTS))
@pytest.mark.parametrize("name", ["cs_rank", "rank"])
def test_cs_rank_matches_pandas_percentile_rank(name: str, inner: str) -> None:
    expected = PD.groupby("date")[INPUTS[inner]].rank(method="average", pct=True)
    # pandas multiplies by 1/count where Kobe divides by it: an ulp apart at most.
    assert_matches(compiled_on_slice(name + "({})", inner), expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("inner", list(INPUTS))
def test_cs_zscore_matches_pandas(inner: str) -> None:
    column = PD.groupby("date")[INPUTS[inner]]
    std = column.transform(lambda v: v.std(ddof=0))
    flat = column.transform("max") == column.transform("min")
    expected = ((PD[INPUTS[inner]] - column.transform("mean")) / std).where(~flat)
    assert_matches(compiled_on_slice("cs_zscore({})", inner), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("inner", list(INPUTS))
def test_cs_demean_matches_pandas(inner: str) -> None:
    expected = PD[INPUTS[inner]] - PD.groupby("date")[INPUTS[inner]].transform("mean")
    # Returns are ~1e-2 and their demeaned values can be ~1e-5: an absolute tolerance.
    assert_matches(compiled_on_slice("cs_demean({})", inner), expected, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("a", [1, 0.5])
@pytest.mark.parametrize("inner", list(INPUTS))
def test_cs_scale_matches_pandas(inner: str, a: float) -> None:
    column = PD[INPUTS[inner]]
    total = column.abs().groupby(PD["date"]).transform("sum")
    expected = column * a / total
    assert_matches(compiled_on_slice(f"cs_scale({{}}, {a})", inner), expected, rtol=1e-9, atol=1e-15)


def exact_buckets(values: pd.Series, q: int) -> pd.Series:
    """ceil(q * rank / count) in fractions, ranks from scipy (average of ties)."""
    out = pd.Series(np.nan, index=values.index)
    present = values.dropna()
    if len(present):
        ranks = scipy.stats.rankdata(present.to_numpy(), method="average")
        out[present.index] = [math.ceil(Fraction(q) * Fraction(r) / len(present)) for r in ranks]
    return out


@pytest.mark.parametrize("q", [1, 3, 5, 12, 20])
@pytest.mark.parametrize("inner", list(INPUTS))
def test_cs_quantile_is_ceil_q_times_the_percentile_rank(inner: str, q: int) -> None:
    expected = PD.groupby("date", group_keys=False)[INPUTS[inner]].apply(lambda v: exact_buckets(v, q))
    got = compiled_on_slice(f"cs_quantile({{}}, {q})", inner)
    assert_matches(got, expected.sort_index(), rtol=0, atol=0)
    assert set(got.drop_nulls().to_list()) <= set(map(float, range(1, q + 1)))


@pytest.mark.parametrize("q", [2, 3, 4, 6, 12])
def test_cs_quantile_buckets_hold_equal_counts(q: int) -> None:
    # On a date where all twelve symbols have distinct values, each bucket holds 12 / q.
    got = evaluate(SLICE, f"cs_quantile(close, {q})")
    full = got.group_by("date").agg(pl.len().alias("n"), pl.col("v0").value_counts().alias("counts"))
    full = full.filter(pl.col("n") == 12)
    assert full.height > 100
    for counts in full["counts"].to_list():
        assert sorted(c["count"] for c in counts) == [12 // q] * q


def test_the_cross_section_is_the_symbols_with_a_value_that_date() -> None:
    frame = pl.DataFrame({
        "symbol": ["A", "B", "C", "D", "A", "B"],
        "date": [dt.date(2020, 1, 1)] * 4 + [dt.date(2020, 1, 2)] * 2,
        "open": 1.0, "high": 1.0, "low": 1.0, "volume": 1.0,
        "close": [10.0, 20.0, 20.0, None, 7.0, 7.0],
    })
    got = evaluate(frame, "cs_rank(close)", "cs_zscore(close)", "cs_demean(close)", "cs_quantile(close, 2)",
                   "cs_scale(close - 20)")
    _ = None
    # Rows by symbol then date: A1 A2 B1 B2 C1 D1. The 1st date has three values (B and
    # C tie for ranks 2 and 3; D has none); on the 2nd, A and B tie.
    assert got["v0"].to_list()[5] is None
    assert got["v0"].to_list()[:5] == pytest.approx([1 / 3, 0.75, 2.5 / 3, 0.75, 2.5 / 3], rel=1e-15)
    # Mean 50/3, population variance 200/9; all equal on the 2nd date: no spread, null.
    sd = math.sqrt(200 / 9)
    zscores = got["v1"].to_list()
    assert [zscores[i] for i in (1, 3, 5)] == [_, _, _]
    assert [zscores[i] for i in (0, 2, 4)] == pytest.approx([-20 / 3 / sd, 10 / 3 / sd, 10 / 3 / sd])
    assert got["v2"].to_list()[:5] == pytest.approx([-20 / 3, 0.0, 10 / 3, 0.0, 10 / 3])
    assert got["v2"].to_list()[5] is None
    # ceil(2 * 1/3) = 1, ceil(2 * 2.5/3) = 2; the tie of two: ceil(2 * 0.75) = 2.
    assert got["v3"].to_list() == [1.0, 2.0, 2.0, 2.0, 2.0, _]
    # |-10| + 0 + 0 on the 1st date; -13 twice on the 2nd: -0.5 each.
    assert got["v4"].to_list() == [-1.0, -0.5, 0.0, -0.5, 0.0, _]


def test_the_checker_knows_which_expressions_are_cross_sectional() -> None:
    checker = Checker({})
    for text, across in [("cs_rank(close) > 0.5", True), ("sma(cs_demean(returns(1)), 5)", True),
                         ("rank(close)", True), ("ts_rank(close, 5)", False), ("close > open", False)]:
        source = ExprSource.inline(text)
        checked = checker.check(source, parse_expr(source), None)
        assert checked is not None and checked.cross_sectional is across, text
    assert {n for n, s in REGISTRY.items() if s.partition == "date"} == {
        "rank", "cs_rank", "cs_zscore", "cs_demean", "cs_quantile", "cs_scale"}


def test_compiled_cross_sections_run_per_date() -> None:
    compiler = Compiler()
    source = ExprSource.inline("sma(cs_rank(returns(1)), 5)")
    checker = Checker({})
    checked = checker.check(source, parse_expr(source), None)
    assert checked is not None
    compiler.compile(checked.node)
    partitions = {d.name: d.partition for d in compiler.derived.values()}
    assert partitions == {"returns(1, close)": "symbol", "cs_rank(returns(1, close))": "date",
                          "sma(cs_rank(returns(1, close)), 5)": "symbol"}


# ---------------------------------------------------------------------------------
# No lookahead, across symbols

RULES = (
    "cs_rank(close)", "rank(close - open)", "cs_zscore(returns(1))", "cs_demean(close)",
    "cs_quantile(volume, 3)", "sma(cs_rank(close), 3)", "cs_zscore(ts_rank(close, 3))",
    "corr(close, cs_demean(close), 3)", "if(cs_rank(close) > 0.5, cs_quantile(returns(2), 2), -1)",
    "cs_rank(delta(close, 1))[1]", "cs_demean(skew(close, 3))", "cs_scale(returns(1), 2)",
)
SYMBOLS = ["A", "B", "C", "D"]
DAYS = [dt.date(2021, 1, 4) + dt.timedelta(days=i) for i in range(10)]
price = st.none() | st.integers(1, 6).map(float)


@st.composite
def markets(draw: st.DrawFn) -> pl.DataFrame:
    """A few symbols on a few dates, some bars missing, closes with nulls and ties."""
    rows = []
    for symbol in SYMBOLS:
        for day in DAYS:
            if draw(st.integers(0, 5)) == 0:
                continue
            rows.append({"symbol": symbol, "date": day, "open": float(draw(st.integers(1, 6))),
                         "close": draw(price), "volume": float(draw(st.integers(1, 4)))})
    return pl.DataFrame(rows, schema={"symbol": pl.String, "date": pl.Date, "open": pl.Float64,
                                      "close": pl.Float64, "volume": pl.Float64}).with_columns(
        high=pl.col("open") + 1, low=pl.col("open") - 1)


@given(market=markets(), cut=st.integers(0, len(DAYS) - 1), data=st.data())
@settings(max_examples=60, deadline=None)
def test_a_later_bar_of_any_symbol_never_changes_an_earlier_value(market: pl.DataFrame, cut: int,
                                                                  data: st.DataObject) -> None:
    day = DAYS[cut]
    later = pl.col("date") > day
    symbol = data.draw(st.sampled_from([*SYMBOLS, "NEW"]), label="symbol")
    change = data.draw(st.sampled_from(["rewrite", "remove", "add"]), label="change")
    if change == "rewrite":
        # Every later bar of the symbol gets other prices (nulls included).
        closes = data.draw(st.lists(price, min_size=market.height, max_size=market.height), label="closes")
        changed = market.with_columns(
            close=pl.when(later & (pl.col("symbol") == symbol)).then(pl.Series(closes, dtype=pl.Float64))
            .otherwise(pl.col("close")),
            volume=pl.when(later & (pl.col("symbol") == symbol)).then(pl.col("volume") * 7 + 1)
            .otherwise(pl.col("volume")))
    elif change == "remove":
        changed = market.filter(~(later & (pl.col("symbol") == symbol)))
    else:
        # A symbol listed after the cut (NEW), or later bars of an existing one.
        extra = pl.DataFrame({"symbol": symbol, "date": DAYS[cut + 1:], "open": 2.0, "close": 9.0,
                              "volume": 5.0, "high": 3.0, "low": 1.0}).with_columns(pl.col("date").cast(pl.Date))
        changed = pl.concat([market.filter(~(later & (pl.col("symbol") == symbol))),
                             extra.select(market.columns)], how="vertical_relaxed")
    if market.height == 0 or changed.height == 0:
        return
    before = evaluate(market, *RULES).filter(~later)
    after = evaluate(changed, *RULES).filter(~later)
    assert before.to_dicts() == after.to_dicts()
