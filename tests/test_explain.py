"""kobe explain: each value it shows, recomputed by hand from the raw bars."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kobe.config.errors import KobeError
from kobe.data.bars import read_bars
from kobe.explain import explain, render
from kobe.project import load_project

REPO = Path(__file__).resolve().parent.parent
DAY = dt.date(2017, 8, 24)


@pytest.fixture(scope="module")
def explanation():
    return explain(load_project(REPO / "strategies.yaml"), read_bars(), "ict_turtle_soup", "WMT", DAY)


def test_values_match_hand_computation(explanation) -> None:
    bars = read_bars(symbols=["WMT"], end=DAY).collect()
    today = bars.row(-1, named=True)
    prior = bars["low"][-21:-1]                      # the 20 lows before today
    values = {(line.section, line.text): line.value for line in explanation.lines}
    assert values[("entry", "lowest(low, 20)[1]")] == pytest.approx(prior.min())
    assert values[("entry", "low")] == today["low"]
    ibs = (today["close"] - today["low"]) / (today["high"] - today["low"])
    assert values[("entry", "ibs()")] == pytest.approx(ibs)
    assert values[("entry", "ibs() < 0.2")] is (ibs < 0.2)
    assert values[("filter_1", "sma(close, 200)")] == pytest.approx(bars["close"][-200:].mean())
    # The age of the prior low, counted from today: the most recent bar that made it.
    ages = [20 - i for i, v in enumerate(prior.to_list()) if v == prior.min()]
    assert values[("entry", "lowest_age(low, 20)[1] + 1")] == min(ages)
    assert explanation.signal is True


def test_render_lists_sections_with_the_written_rule(explanation) -> None:
    text = render(explanation)
    assert "entry: low < prior_low(channel_bars)" in text
    assert "filter_1: close > sma(close, trend_bars)" in text
    assert "stop: entry_price - stop_atr * atr(atr_bars)" in text


def test_warmup_is_called_out_and_missing_bar_is_an_error() -> None:
    project = load_project(REPO / "strategies.yaml")
    early = explain(project, read_bars(), "donchian_breakout", "AAPL", dt.date(2013, 3, 1))
    assert early.signal is False
    assert "warm-up" in render(early)
    assert any(line.value is None for line in early.lines)  # sma(close, 200) is not ready
    with pytest.raises(KobeError, match="no bar for AAPL on 2017-08-26"):
        explain(project, read_bars(), "donchian_breakout", "AAPL", dt.date(2017, 8, 26))
    with pytest.raises(KobeError, match="not in the universe"):
        explain(project, read_bars(), "donchian_breakout", "TSLA", DAY)
