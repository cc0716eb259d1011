"""Compiled strategies: the plan's shape (golden files), signals checked against plain
loops over the raw bars, and the no-lookahead property."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kobe.project import load_project

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def project():
    return load_project(REPO / "strategies.yaml")


@pytest.mark.parametrize("name", ["donchian_breakout", "ict_turtle_soup"])
def test_compiled_plan_matches_golden(project, golden, name: str) -> None:
    golden(f"plan_{name}.txt", project.compiled(name).describe() + "\n")


def test_shared_indicator_is_computed_once(project) -> None:
    compiled = project.compiled("donchian_breakout")
    names = list(compiled.compiler.derived)
    # atr(14) is used by the rank and the stop; highest(high, 20)[1] by entry and rank.
    assert names.count("atr(14)") == 1
    assert names.count("highest(high, 20)[1]") == 1
    assert len(names) == 4


def _by_symbol(bars: pl.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for (symbol,), frame in bars.sort("symbol", "date").group_by("symbol", maintain_order=True):
        out[symbol] = {c: frame[c].to_numpy() for c in ("open", "high", "low", "close")}
        out[symbol]["date"] = frame["date"].to_list()
    return out


def _signals(project, name: str, bars: pl.DataFrame) -> set[tuple[str, dt.date]]:
    plan = project.compiled(name).plan(bars.lazy()).filter(pl.col("signal")).select("symbol", "date").collect()
    return set(plan.iter_rows())


def test_donchian_signals_match_a_plain_loop(project, embedded_bars) -> None:
    expected = set()
    for symbol, b in _by_symbol(embedded_bars).items():
        for t in range(199, len(b["close"])):
            upper = max(b["high"][t - 20:t])          # previous 20 highs, today excluded
            trend = sum(b["close"][t - 199:t + 1]) / 200
            if b["close"][t] > upper and b["close"][t] > trend:
                expected.add((symbol, b["date"][t]))
    got = _signals(project, "donchian_breakout", embedded_bars)
    assert len(expected) > 1000
    assert got == expected


def test_turtle_soup_signals_match_a_plain_loop(project, embedded_bars) -> None:
    expected = set()
    for symbol, b in _by_symbol(embedded_bars).items():
        low, close, high = b["low"], b["close"], b["high"]
        for t in range(199, len(close)):
            window = list(low[t - 20:t])
            prior = min(window)
            # bars ago of the most recent bar that made that low, counted from today
            age = 20 - max(i for i, v in enumerate(window) if v == prior)
            ibs = (close[t] - low[t]) / (high[t] - low[t]) if high[t] > low[t] else None
            trend = sum(close[t - 199:t + 1]) / 200
            if (low[t] < prior and age >= 3 and close[t] > prior and ibs is not None and ibs < 0.2
                    and close[t] > trend):
                expected.add((symbol, b["date"][t]))
    got = _signals(project, "ict_turtle_soup", embedded_bars)
    assert len(expected) >= 10
    assert got == expected


def test_stop_uses_entry_price_and_signal_bar_atr(project, embedded_bars) -> None:
    plan = project.compiled("donchian_breakout").plan(embedded_bars.lazy(), entry_price=pl.lit(100.0))
    row = plan.filter(pl.col("signal")).select("stop", "atr(14)").collect().row(0)
    assert row[0] == pytest.approx(100.0 - 2 * row[1])


def test_no_signal_during_warmup(project, embedded_bars) -> None:
    for name in ("donchian_breakout", "ict_turtle_soup"):
        plan = project.compiled(name).plan(embedded_bars.lazy()).collect()
        assert plan.filter(pl.col("bar_index") < project.strategy(name).warmup)["signal"].sum() == 0


# -- No lookahead: changing any future bar never changes an earlier output -----------

# A strategy that touches every kind of function, including the cross-sectional rank.
EVERYTHING = """\
strategies:
  - name: everything
    universe: default
    params: {n: 10}
    entry: >-
      crosses_above(ema(close, n), wma(close, 15)) or rsi(close, 5) < 30
      or bars_since(close > highest(high, 5)[1]) == 2 or zscore(close, 12) > 1
      or rank(roc(close, 3)) > 0.8 or lowest_age(low, 8) == 0 or highest_age(high, 6) > 3
    filters:
      - stdev(close, 7) > 0 and log(close) > 0 and abs(close - open) >= 0
      - max(close, open) >= min(close, open) and sum(volume, 4) > 0 and true_range() >= 0
    exits:
      stop: entry_price - 3 * atr(5)
      time_stop_bars: 4
    rank: ibs() + sma(close, 3)[2] - crosses_below(close, open)[1] * 0
    sizing: {method: fixed_dollars, amount_usd: 75}
"""


@pytest.fixture(scope="module")
def everything(tmp_path_factory):
    import shutil

    folder = tmp_path_factory.mktemp("everything")
    (folder / "strategies.yaml").write_text(EVERYTHING.replace("- crosses_below(close, open)[1] * 0", ""))
    shutil.copy(REPO / "risk.yaml", folder / "risk.yaml")
    shutil.copytree(REPO / "universe", folder / "universe")
    return load_project(folder / "strategies.yaml")


OUTPUTS = ["signal", "entry", "filter_1", "filter_2", "rank_score", "stop"]


def _outputs(project, name: str, bars: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    return project.compiled(name).plan(bars.lazy()).select(["symbol", "date", *columns]).collect()


@pytest.fixture(scope="module")
def small_bars(embedded_bars):
    symbols = ["AAPL", "JPM", "XOM", "KO"]
    return embedded_bars.filter(pl.col("symbol").is_in(symbols) & (pl.col("date") < dt.date(2014, 6, 1)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=30, max_value=320), seed=st.integers(0, 2**32 - 1),
       which=st.sampled_from(["everything", "donchian_breakout", "ict_turtle_soup"]))
def test_future_bars_never_change_earlier_outputs(project, everything, small_bars, cut: int, seed: int,
                                                  which: str) -> None:
    target = everything if which == "everything" else project
    dates = small_bars["date"].unique().sort()
    cut_date = dates[min(cut, len(dates) - 1)]
    rng = np.random.default_rng(seed)
    future = small_bars["date"] > cut_date
    n = small_bars.height
    # Rewrite every future bar: new prices (kept consistent: low <= open, close <= high) and volume.
    scale = rng.uniform(0.5, 1.5, n)
    spread = rng.uniform(0.0, 0.05, n)
    base = small_bars["close"].to_numpy() * scale
    new = small_bars.with_columns(
        pl.when(future).then(pl.Series(base * (1 + spread / 2))).otherwise(pl.col("open")).alias("open"),
        pl.when(future).then(pl.Series(base * (1 + spread))).otherwise(pl.col("high")).alias("high"),
        pl.when(future).then(pl.Series(base * (1 - spread))).otherwise(pl.col("low")).alias("low"),
        pl.when(future).then(pl.Series(base)).otherwise(pl.col("close")).alias("close"),
        pl.when(future).then(pl.Series(rng.uniform(1e5, 1e7, n))).otherwise(pl.col("volume")).alias("volume"),
    )
    columns = [c for c in OUTPUTS if c in target.compiled(which).outputs or c == "signal"]
    before = _outputs(target, which, small_bars, columns).filter(pl.col("date") <= cut_date)
    after = _outputs(target, which, new, columns).filter(pl.col("date") <= cut_date)
    assert before.height > 0
    assert before.equals(after), f"an output on or before {cut_date} changed when later bars changed"


def test_lookahead_property_would_catch_a_peek(everything, small_bars) -> None:
    """The property test's check is not vacuous: a plan that peeks one bar ahead fails it."""
    compiled = everything.compiled("everything")
    peek = compiled.plan(small_bars.lazy()).with_columns(pl.col("close").shift(-1).over("symbol").alias("peek"))
    cut_date = small_bars["date"].unique().sort()[100]
    changed = small_bars.with_columns(
        pl.when(pl.col("date") > cut_date).then(pl.col("close") * 2).otherwise(pl.col("close")).alias("close"))
    peek2 = compiled.plan(changed.lazy()).with_columns(pl.col("close").shift(-1).over("symbol").alias("peek"))
    a = peek.filter(pl.col("date") <= cut_date).select("peek").collect()
    b = peek2.filter(pl.col("date") <= cut_date).select("peek").collect()
    assert not a.equals(b)


@pytest.mark.parametrize(("side", "short_entry", "position", "expected"), [
    pytest.param("long", None, 1, ("signal", "", ("exit_signal",)), id="long"),
    pytest.param("short", None, -1, ("signal", "", ("exit_signal",)), id="short-reads-unprefixed"),
    pytest.param("both", "close < open", 1, ("signal", "", ("exit_signal", "short_signal")), id="both-long"),
    pytest.param("both", "close < open", -1, ("short_signal", "short_", ("short_exit_signal", "signal")),
                 id="both-short"),
])
def test_each_side_reads_its_own_columns(tmp_path, side, short_entry, position, expected) -> None:
    """The one answer the scan, the backtest's candidates and live holdings share."""
    import shutil

    from kobe.project import load_project

    shutil.copy(REPO / "risk.yaml", tmp_path / "risk.yaml")
    (tmp_path / "universe").mkdir()
    (tmp_path / "universe" / "all.csv").write_text("symbol\nAAA\n")
    lines = ["strategies:", "  - name: s", "    universe: all", f"    side: {side}", "    entry: close > open"]
    if short_entry:
        lines.append(f"    short_entry: {short_entry}")
    lines += ["    exits:", "      time_stop_bars: 3", "    sizing:", "      method: all_cash"]
    (tmp_path / "strategies.yaml").write_text("\n".join(lines) + "\n")
    columns = load_project(tmp_path / "strategies.yaml").strategy("s").columns(position)
    assert (columns.signal, columns.prefix, columns.exits) == expected
