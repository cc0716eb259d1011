"""The screener: its daily IC is scipy's Spearman correlation on the same cross-section,
a planted edge is found (ranked first, IC as constructed), pure noise gives ICs near 0,
and bad input is refused with a located error."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import polars as pl
import pytest
from scipy import stats  # type: ignore[import-untyped]

from kobe.config.errors import KobeError
from kobe.dsl.check import check_definitions
from kobe.dsl.parse import parse_rules
from kobe.research.screen import MIN_SYMBOLS, screen

RULES = """
# The planted edge: volume carries tomorrow's move.
planted = log(volume)
# Minus the last week's return.
reversal = -returns(5)
# The day's body over its range.
body = (close - open) / (high - low)
# Where the close sits in the day's range.
strength = ibs()
"""
SIGNAL, NOISE = 0.01, 0.01


def definitions(text: str = RULES):
    table, problems = check_definitions(parse_rules(text, "rules/alphas.kobe"))
    assert not problems
    return table


def synthetic(symbols: int = 50, days: int = 400, *, edge: bool, seed: int = 7) -> pl.DataFrame:
    """Bars in which log(volume) on day t is s_t and, with ``edge``, the return from the
    open of t+1 to the open of t+2 is exp(SIGNAL s_t + NOISE e); s, e standard normal."""
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((symbols, days))
    step = NOISE * rng.standard_normal((symbols, days)) + (SIGNAL * s if edge else 0.0)
    opens = np.empty((symbols, days))
    opens[:, :2] = 100.0
    # open[t+2] = open[t+1] * exp(step[t]): the move after the next open is day t's.
    opens[:, 2:] = 100.0 * np.exp(np.cumsum(step[:, :-2], axis=1))
    closes = opens * np.exp(0.01 * rng.standard_normal((symbols, days)))
    highs = np.maximum(opens, closes) * (1 + 0.01 * rng.random((symbols, days)))
    lows = np.minimum(opens, closes) * (1 - 0.01 * rng.random((symbols, days)))
    start = dt.date(2020, 1, 1)
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    return pl.DataFrame({
        "symbol": np.repeat([f"S{i:03d}" for i in range(symbols)], days),
        "date": dates * symbols,
        "open": opens.ravel(), "high": highs.ravel(), "low": lows.ravel(), "close": closes.ravel(),
        "volume": np.exp(13 + s).ravel(),
    })


def test_a_planted_edge_ranks_first_with_its_constructed_ic() -> None:
    result = screen(synthetic(edge=True), definitions(), horizons=[1, 5], folds=4)
    top = result.rows[0]
    assert (top["alpha"], top["horizon"]) == ("planted", 1)
    # Spearman's rho of a bivariate normal with Pearson correlation r: (6 / pi) asin(r / 2).
    r = SIGNAL / math.hypot(SIGNAL, NOISE)
    expected = 6 / math.pi * math.asin(r / 2)
    assert top["ic_mean"] == pytest.approx(expected, abs=0.02)
    assert top["hit_rate"] > 0.99 and top["t_stat"] > 20 and top["sign_kept"] == 1.0
    assert all(f["ic_mean"] == pytest.approx(expected, abs=0.04) for f in top["folds"])
    q = top["quintile_returns"]
    assert q == sorted(q) and top["quintile_spread"] > 0.02
    # A one-day edge: the 5-session return holds it once among four more steps of noise.
    five = next(r for r in result.rows if (r["alpha"], r["horizon"]) == ("planted", 5))
    assert 0.1 < five["ic_mean"] < top["ic_mean"] and five["decay"] == pytest.approx(five["ic_mean"] / top["ic_mean"],
                                                                                      abs=1e-3)
    others = [r for r in result.rows if r["alpha"] != "planted"]
    assert all(abs(r["ic_mean"]) < 0.04 for r in others)


def test_pure_noise_gives_ics_near_zero() -> None:
    result = screen(synthetic(edge=False), definitions(), horizons=[1, 5], folds=4)
    for row in result.rows:
        assert abs(row["ic_mean"]) < 0.04, row["alpha"]
        assert abs(row["all_folds"]["ic_mean"]) < 0.04, row["alpha"]
        assert 0.4 < row["hit_rate"] < 0.6


def test_the_daily_ic_is_scipys_spearman_on_the_same_cross_section() -> None:
    bars = synthetic(symbols=30, days=120, edge=True, seed=3)
    # Holes: a symbol missing days, and bars whose body is undefined (high == low).
    bars = bars.filter(~((pl.col("symbol") == "S001") & (pl.col("date").dt.day() == 5)))
    flat = (pl.col("symbol") == "S002") & (pl.col("date").dt.day() < 10)
    bars = bars.with_columns(pl.when(flat).then(pl.col("open")).otherwise(pl.col(c)).alias(c)
                             for c in ("high", "low", "close"))
    result = screen(bars, definitions(), horizons=[1, 3], folds=2)
    ordered = bars.sort("symbol", "date")
    pdf = pd.DataFrame({c: ordered[c].to_list() if c in ("symbol", "date") else ordered[c].to_numpy()
                        for c in ordered.columns})
    group = pdf.groupby("symbol")
    for h in (1, 3):
        pdf[f"fwd{h}"] = group["open"].shift(-1 - h) / group["open"].shift(-1) - 1
    close5 = group["close"].shift(5)
    pdf["planted"] = np.log(pdf["volume"])
    pdf["reversal"] = -(pdf["close"] / close5 - 1)
    pdf["body"] = np.where(pdf["high"] != pdf["low"], (pdf["close"] - pdf["open"]) / (pdf["high"] - pdf["low"]), np.nan)
    pdf["strength"] = np.where(pdf["high"] != pdf["low"], (pdf["close"] - pdf["low"]) / (pdf["high"] - pdf["low"]),
                               np.nan)
    days = result.daily["date"].to_list()
    checked = 0
    for day in (days[0], days[7], days[len(days) // 2], days[-5]):
        today = pdf[pdf["date"] == day].dropna(subset=["planted", "reversal", "body", "strength", "fwd1", "fwd3"])
        assert len(today) >= MIN_SYMBOLS
        for alpha in ("planted", "reversal", "body", "strength"):
            for h in (1, 3):
                expected = stats.spearmanr(today[alpha], today[f"fwd{h}"]).statistic
                got = result.daily.filter(pl.col("date") == day)[f"ic|{alpha}|{h}"].item()
                assert got == pytest.approx(expected, abs=1e-12), (day, alpha, h)
                checked += 1
    assert checked == 32


def test_folds_are_contiguous_blocks_of_the_screen_period() -> None:
    result = screen(synthetic(edge=True), definitions(), horizons=[1], folds=4)
    sessions = result.daily["date"].to_list()
    assert [f.index for f in result.folds] == [1, 2, 3, 4]
    assert result.folds[0].start == sessions[0] and result.folds[-1].end == sessions[-1]
    for before, after in zip(result.folds, result.folds[1:]):
        assert sessions.index(after.start) == sessions.index(before.end) + 1
    lengths = [f.last - f.first + 1 for f in result.folds]
    assert max(lengths) - min(lengths) <= 1
    row = result.rows[0]
    assert row["folds"][0]["train_ic"] is None and all(f["train_ic"] is not None for f in row["folds"][1:])
    # The top-level figures are those of folds 2..4.
    assert row["days"] == sum(f["days"] for f in row["folds"][1:])


def test_start_and_end_bound_the_period() -> None:
    bars = synthetic(edge=True)
    result = screen(bars, definitions(), horizons=[1], folds=2, start=dt.date(2020, 3, 1), end=dt.date(2020, 12, 1))
    assert result.start == dt.date(2020, 3, 1)
    # The last session with a forward return: two bars before the last one read.
    assert result.end == dt.date(2020, 11, 29)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"names": ["nope"]}, "no feature or alpha named 'nope'"),
    ({"horizons": [0, 5]}, "horizons must be whole numbers"),
    ({"horizons": [1000]}, "horizons must be whole numbers"),
    ({"folds": 30}, "too short for 30 folds"),
    ({"folds": 1}, "--folds must be at least 2"),
    ({"start": dt.date(2020, 5, 1), "end": dt.date(2020, 4, 1)}, "--start 2020-05-01 is after --end 2020-04-01"),
])
def test_bad_input_is_a_located_error(kwargs: dict, message: str) -> None:
    with pytest.raises(KobeError) as err:
        screen(synthetic(symbols=10, days=200, edge=False), definitions(), **kwargs)
    assert message in err.value.diagnostics[0].message


def test_a_definition_with_parameters_is_not_an_alpha() -> None:
    table = definitions(RULES + "\n# A building block.\nblock(n) = sma(close, n)\n")
    with pytest.raises(KobeError) as err:
        screen(synthetic(symbols=10, days=200, edge=False), table, ["block"])
    diagnostic = err.value.diagnostics[0]
    assert "takes parameters" in diagnostic.message and diagnostic.file == "rules/alphas.kobe"


def test_the_t_statistic_is_scipys_one_sample_t_over_root_h() -> None:
    result = screen(synthetic(edge=True), definitions(), horizons=[1, 5], folds=3)
    oos = (result.daily["fold"] >= 2).to_numpy()
    for row in result.rows:
        ic = result.daily[f"ic|{row['alpha']}|{row['horizon']}"].cast(pl.Float64).fill_null(np.nan).to_numpy()[oos]
        ic = ic[~np.isnan(ic)]
        expected = stats.ttest_1samp(ic, 0.0).statistic / math.sqrt(row["horizon"])
        assert row["t_stat"] == pytest.approx(expected, rel=1e-5, abs=1e-5)
        assert row["days"] == ic.size and row["ic_mean"] == pytest.approx(ic.mean(), abs=1e-6)
        assert row["hit_rate"] == pytest.approx((ic > 0).mean(), abs=1e-6)


def test_the_meta_models_output_is_not_an_alpha() -> None:
    table = definitions(RULES + "\n# The model's say.\nmodel = meta_prob\n")
    with pytest.raises(KobeError) as err:
        screen(synthetic(symbols=10, days=200, edge=False), table, ["model"])
    assert "reads meta_prob" in err.value.diagnostics[0].message
