"""The issue's last promise, end to end on the shipped project: a strategy with
`meta_prob > 0.5` in its filters trains, backtests, scans and trades on paper (no keys:
`kobe run --paper --once` replays through its local exchange), and each pick it trades
is one whose meta_prob, from the pinned model, passed the filter."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kobe.cli import main


def test_a_meta_filtered_strategy_backtests_scans_and_trades_on_paper(project_dir: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path = project_dir
    config = tmp_path / "strategies.yaml"
    text = config.read_text()
    filtered = text.replace("      - close > sma(close, trend_bars)\n",
                            "      - close > sma(close, trend_bars)\n      - meta_prob > 0.5\n", 1)
    assert filtered != text
    config.write_text(filtered.replace("name: ict_turtle_soup\n    enabled: true", "name: ict_turtle_soup\n    enabled: false"))
    monkeypatch.chdir(tmp_path)
    for name in ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY", "ALPACA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def kobe(*args: str) -> str:
        result = runner.invoke(main, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    kobe("ml", "train", "donchian_breakout", "--folds", "3")
    backtest = json.loads(kobe("backtest", "strategies.yaml", "--out", "out", "--json"))
    assert set(backtest["strategies"]) >= {"donchian_breakout"}
    kobe("pin", "strategies.yaml")
    scan = json.loads(kobe("scan", "--date", "2018-01-26", "--json"))
    assert scan["date"] == "2018-01-26"
    out = kobe("run", "--paper", "--once", "--from", "2018-01-26", "--health-port", "0")
    assert "preflight passed" in out and "stopped after 1 cycles" in out
    events = [json.loads(line) for line in (tmp_path / "logs" / "events.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    assert "cycle.finished" in kinds and "cycle.refused" not in kinds
    # Every pick the cycle traded on passed the filter: its meta_prob, as `kobe explain`
    # shows it (the model of the date's fold, which the pinned file holds), is above 0.5.
    with (tmp_path / "logs" / "daily_picks.csv").open() as f:
        picks = list(csv.DictReader(f))
    assert picks, "the filtered strategy picked nothing: nothing was checked"
    for pick in picks:
        shown = kobe("explain", pick["strategy"], pick["symbol"], pick["date"])
        (line,) = [row for row in shown.splitlines() if row.split()[:1] == ["meta_prob"] and len(row.split()) == 2]
        assert float(line.split()[-1]) > 0.5, line
        assert "signal: true" in shown.splitlines()[0]
