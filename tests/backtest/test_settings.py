"""The `backtest:` settings of strategies.yaml: defaults, overrides, and mistakes located."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kobe.config.errors import KobeError
from kobe.config.load import load_config
from kobe.config.model import BacktestSettings, Margin

REPO = Path(__file__).resolve().parents[2]

BASE = """\
strategies:
  - name: a
    universe: default
    entry: close > 1
    exits:
      time_stop_bars: 3
    sizing:
      method: all_cash
  - name: b
    universe: default
    entry: close > 1
    exits:
      time_stop_bars: 3
    sizing:
      method: all_cash
"""


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    shutil.copy(REPO / "risk.yaml", tmp_path / "risk.yaml")
    (tmp_path / "universe").mkdir()
    (tmp_path / "universe" / "default.csv").write_text("symbol\nAAPL\n")
    monkeypatch.chdir(tmp_path)

    def run(text: str):
        Path("strategies.yaml").write_text(text)
        return load_config(Path("strategies.yaml"), Path("risk.yaml"))

    return run


def test_defaults_without_a_backtest_section(load) -> None:
    config = load(BASE)
    assert config.strategies[0].backtest == BacktestSettings()
    assert BacktestSettings().max_open_positions is None     # then risk.yaml's applies


def test_top_level_settings_with_a_strategy_override(load) -> None:
    text = BASE.replace("  - name: b\n", "  - name: b\n    backtest:\n      slippage_bps: 2\n      max_open_positions: 3\n")
    text += "backtest:\n  initial_cash: 5000\n  slippage_bps: 7\n  commission_per_share: 0.005\n"
    a, b = load(text).strategies
    assert a.backtest == BacktestSettings(initial_cash=5000, slippage_bps=7, commission_per_share=0.005)
    assert b.backtest == BacktestSettings(initial_cash=5000, slippage_bps=2, commission_per_share=0.005,
                                          max_open_positions=3)


def test_spread_minimum_commission_and_close_at_end_merge_key_by_key(load) -> None:
    text = BASE.replace("  - name: b\n", "  - name: b\n    backtest:\n      close_at_end: false\n      spread_bps: 4\n")
    text += "backtest:\n  close_at_end: true\n  spread_bps: 10\n  commission_per_share: 0.005\n  commission_min_usd: 1\n"
    a, b = load(text).strategies
    assert a.backtest == BacktestSettings(close_at_end=True, spread_bps=10, commission_per_share=0.005,
                                          commission_min_usd=1)
    assert b.backtest == BacktestSettings(close_at_end=False, spread_bps=4, commission_per_share=0.005,
                                          commission_min_usd=1)
    assert BacktestSettings().close_at_end is False         # off unless asked (docs/backtest.md says why)


def test_margin_is_off_by_default_and_a_strategy_replaces_it_whole(load) -> None:
    assert BacktestSettings().margin is None                # a cash account, as before margin existed
    text = BASE.replace("  - name: b\n", "  - name: b\n    backtest:\n      margin:\n        maintenance_long_pct: 40\n")
    text += "backtest:\n  margin:\n    initial_pct: 60\n"
    a, b = load(text).strategies
    assert a.backtest.margin == Margin(initial_pct=60)
    assert b.backtest.margin == Margin(maintenance_long_pct=40)      # Reg-T's initial 50, not the file's 60
    assert Margin() == Margin(initial_pct=50, maintenance_long_pct=25, maintenance_short_pct=30)


# id, text appended to BASE, (location, message fragment)
MISTAKES = [
    pytest.param("backtest:\n  slipage_bps: 5\n", ("strategies.yaml:17:3", "unknown key 'slipage_bps'"),
                 id="unknown-key"),
    pytest.param("backtest:\n  commission_bps: -1\n", ("strategies.yaml:17:19", "must be at least 0"),
                 id="negative-commission"),
    pytest.param("backtest:\n  initial_cash: 0\n", ("strategies.yaml:17:17", "must be greater than 0"),
                 id="no-cash"),
    pytest.param("backtest:\n  max_open_positions: 2.5\n", ("strategies.yaml:17:23", "expected an integer"),
                 id="fractional-slots"),
    pytest.param("backtest:\n  spread_bps: -2\n", ("strategies.yaml:17:15", "must be at least 0"),
                 id="negative-spread"),
    pytest.param("backtest:\n  spread_bps: 10000\n", ("strategies.yaml:17:15", "must be less than 10000"),
                 id="spread-of-the-whole-price"),
    pytest.param("backtest:\n  commission_min_usd: -1\n", ("strategies.yaml:17:23", "must be at least 0"),
                 id="negative-minimum-commission"),
    pytest.param("backtest:\n  close_at_end: 1\n", ("strategies.yaml:17:17", "expected true or false"),
                 id="close-at-end-not-a-boolean"),
    pytest.param("backtest:\n  margin:\n    initial: 50\n", ("strategies.yaml:18:5", "unknown key 'initial'"),
                 id="margin-unknown-key"),
    pytest.param("backtest:\n  margin:\n    initial_pct: 0\n", ("strategies.yaml:18:18", "must be greater than 0"),
                 id="margin-no-initial-requirement"),
    pytest.param("backtest:\n  margin:\n    initial_pct: 150\n", ("strategies.yaml:18:18", "must be at most 100"),
                 id="margin-initial-above-100pct"),
    pytest.param("backtest:\n  margin:\n    maintenance_short_pct: -5\n",
                 ("strategies.yaml:18:28", "must be at least 0"), id="margin-negative-maintenance"),
    pytest.param("backtest:\n  margin: true\n", ("strategies.yaml:17:11", "expected a mapping"),
                 id="margin-not-a-mapping"),
]


@pytest.mark.parametrize(("extra", "expected"), MISTAKES)
def test_mistakes_are_located(load, extra, expected) -> None:
    with pytest.raises(KobeError) as caught:
        load(BASE + extra)
    shown = [(d.location(), d.message) for d in caught.value.diagnostics]
    where, fragment = expected
    assert any(loc == where and fragment in msg for loc, msg in shown), shown


def test_risk_per_trade_needs_a_stop(load) -> None:
    text = BASE.replace("      method: all_cash\n  - name: b", "      method: risk_per_trade\n      percent: 1\n  - name: b")
    with pytest.raises(KobeError) as caught:
        load(text)
    (problem,) = caught.value.diagnostics
    assert problem.location() == "strategies.yaml:8:15"
    assert problem.message == "sizing method risk_per_trade needs exits.stop"


def test_the_repository_config_has_backtest_settings() -> None:
    config = load_config(REPO / "strategies.yaml", REPO / "risk.yaml")
    for strategy in config.strategies:
        assert strategy.backtest.initial_cash > 0
