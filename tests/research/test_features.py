"""rules/features.kobe: every feature compiles, and the volatility estimators agree with
their textbook formulas computed here with numpy alone, on real bars (the embedded sample)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from kobe.data.bars import read_bars
from kobe.project import load_definitions
from kobe.research.library import FEATURES, check_entries, entries, evaluate

REPO = Path(__file__).resolve().parents[2]
N = 20
LN2 = math.log(2.0)


@pytest.fixture(scope="module")
def definitions():
    table, _, problems = load_definitions(REPO)
    assert not problems
    return table


@pytest.fixture(scope="module")
def aapl(definitions) -> pl.DataFrame:
    names = ["vol_cc_20", "vol_parkinson_20", "vol_garman_klass_20", "vol_rogers_satchell_20", "vol_yang_zhang_20"]
    bars = read_bars(None, symbols=["AAPL"])
    return evaluate(bars, check_entries(definitions, names)).collect()


def test_the_library_has_25_features_each_described(definitions) -> None:
    features = entries(definitions, FEATURES)
    assert len(features) >= 25
    for item in check_entries(definitions, list(features)):
        assert item.description, f"{item.name} has no description comment"


def test_every_feature_compiles_and_has_values(definitions) -> None:
    items = check_entries(definitions, list(entries(definitions, FEATURES)))
    frame = evaluate(read_bars(None, symbols=["AAPL", "MSFT"]), items).collect()
    for item in items:
        assert frame[item.name].drop_nulls().len() > 500, item.name
        assert frame[item.name].is_finite().all(), item.name


def _rolling(values: np.ndarray, func) -> np.ndarray:
    """func over each window of N values ending on a bar; NaN before the first full one."""
    out = np.full(values.shape, np.nan)
    out[N - 1:] = [func(w) for w in sliding_window_view(values, N)]
    return out


def _check(frame: pl.DataFrame, name: str, expected: np.ndarray) -> None:
    got = frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
    valid = ~np.isnan(expected)
    assert valid.sum() > 1000
    assert np.array_equal(np.isnan(got[valid]), np.zeros(valid.sum(), dtype=bool)), name
    np.testing.assert_allclose(got[valid], expected[valid], rtol=1e-9, err_msg=name)


def test_close_to_close_volatility(aapl: pl.DataFrame) -> None:
    c = aapl["close"].to_numpy()
    r = np.concatenate([[np.nan], np.log(c[1:] / c[:-1])])
    _check(aapl, "vol_cc_20", _rolling(r, lambda w: np.std(w, ddof=1)))


def test_parkinson_volatility(aapl: pl.DataFrame) -> None:
    h, low = aapl["high"].to_numpy(), aapl["low"].to_numpy()
    hl = np.log(h / low) ** 2
    _check(aapl, "vol_parkinson_20", np.sqrt(_rolling(hl, np.mean) / (4 * LN2)))


def test_garman_klass_volatility(aapl: pl.DataFrame) -> None:
    o, h, low, c = (aapl[k].to_numpy() for k in ("open", "high", "low", "close"))
    terms = 0.5 * np.log(h / low) ** 2 - (2 * LN2 - 1) * np.log(c / o) ** 2
    _check(aapl, "vol_garman_klass_20", np.sqrt(_rolling(terms, np.mean)))


def _rogers_satchell_terms(frame: pl.DataFrame) -> np.ndarray:
    o, h, low, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
    return np.log(h / c) * np.log(h / o) + np.log(low / c) * np.log(low / o)


def test_rogers_satchell_volatility(aapl: pl.DataFrame) -> None:
    _check(aapl, "vol_rogers_satchell_20", np.sqrt(_rolling(_rogers_satchell_terms(aapl), np.mean)))


def test_yang_zhang_volatility(aapl: pl.DataFrame) -> None:
    o, c = aapl["open"].to_numpy(), aapl["close"].to_numpy()
    overnight = np.concatenate([[np.nan], np.log(o[1:] / c[:-1])])
    open_close = np.log(c / o)
    k = 0.34 / (1.34 + (N + 1) / (N - 1))
    variance = (_rolling(overnight, lambda w: np.var(w, ddof=1)) + k * _rolling(open_close, lambda w: np.var(w, ddof=1))
                + (1 - k) * _rolling(_rogers_satchell_terms(aapl), np.mean))
    _check(aapl, "vol_yang_zhang_20", np.sqrt(variance))
