"""rules/alphas.kobe: every alpha compiles and is described, the formulaic ones cite
their number in "101 Formulaic Alphas"; and no feature or alpha looks ahead: changing the
bars from some date on never changes a value before that date, for any symbol."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kobe.data.bars import read_bars
from kobe.project import load_definitions
from kobe.research.library import ALPHAS, FEATURES, check_entries, entries, evaluate

REPO = Path(__file__).resolve().parents[2]
SYMBOLS = ["AAPL", "JPM", "XOM", "MSFT", "KO", "ORCL"]   # ORCL misses 2 sessions: a gap in the rows
BARS = 330                                                # past the longest warm-up (252 bars and a month)


@pytest.fixture(scope="module")
def definitions():
    table, _, problems = load_definitions(REPO)
    assert not problems
    return table


def test_the_library_has_18_alphas_each_described(definitions) -> None:
    alphas = check_entries(definitions, list(entries(definitions, ALPHAS)))
    assert len(alphas) >= 18
    for item in alphas:
        assert item.description, f"{item.name} has no description comment"
    for name in ("mom_12_1", "reversal_21d", "low_vol_63"):
        assert name in {a.name for a in alphas}


def test_formulaic_alphas_cite_their_number(definitions) -> None:
    formulaic = [a for a in check_entries(definitions, list(entries(definitions, ALPHAS)))
                 if a.name.startswith("alpha_")]
    assert len(formulaic) >= 10
    for item in formulaic:
        number = int(item.name.removeprefix("alpha_"))
        assert re.match(rf"Alpha#{number}: ", item.description), item.description


def test_every_alpha_compiles_and_has_values(definitions) -> None:
    items = check_entries(definitions, list(entries(definitions, ALPHAS)))
    frame = evaluate(read_bars(None), items).collect()
    for item in items:
        values = frame[item.name].drop_nulls()
        assert values.len() > 10_000, item.name
        assert values.is_finite().all(), item.name
        assert values.n_unique() > 2, item.name


@pytest.fixture(scope="module")
def sample() -> pl.DataFrame:
    bars = read_bars(None, symbols=SYMBOLS).collect()
    return bars.filter(pl.int_range(pl.len()).over("symbol") < BARS)


@pytest.fixture(scope="module")
def everything(definitions):
    names = list(entries(definitions, FEATURES)) + list(entries(definitions, ALPHAS))
    return check_entries(definitions, names)


@pytest.fixture(scope="module")
def baseline(sample: pl.DataFrame, everything) -> pl.DataFrame:
    return evaluate(sample.lazy(), everything).collect()


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=5, max_value=BARS - 2), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_no_feature_or_alpha_reads_a_later_bar(sample: pl.DataFrame, everything, baseline: pl.DataFrame,
                                               cut: int, seed: int) -> None:
    dates = sample["date"].unique().sort()
    day = dates[cut]
    rng = np.random.default_rng(seed)
    later = (sample["date"] >= day).to_numpy()
    # Every bar from `day` on, of every symbol, replaced by another valid bar.
    scale = np.where(later, rng.uniform(0.5, 2.0, sample.height), 1.0)
    spread = np.where(later, rng.uniform(1.0, 1.05, sample.height), 1.0)
    changed = sample.with_columns(
        (pl.col("open") * scale).alias("open"), (pl.col("close") * scale * spread).alias("close"),
        (pl.col("high") * scale * spread * spread).alias("high"), (pl.col("low") * scale / spread).alias("low"),
        (pl.col("volume") * np.where(later, rng.uniform(0.1, 10.0, sample.height), 1.0)).alias("volume"))
    after = evaluate(changed.lazy(), everything).collect()
    before_day = pl.col("date") < day
    assert after.filter(before_day).equals(baseline.filter(before_day)), f"a value before {day} changed"
    assert not after.filter(~before_day).equals(baseline.filter(~before_day))   # the change did reach the values


def test_the_project_template_ships_the_same_libraries() -> None:
    for name in ("features.kobe", "alphas.kobe"):
        template = REPO / "kobe" / "project_template" / "rules" / name
        assert template.read_text() == (REPO / "rules" / name).read_text(), f"copy rules/{name} into {template}"
