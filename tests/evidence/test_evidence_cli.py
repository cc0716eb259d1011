"""``kobe promote``, the record it writes and chains, and the refusals to trade without one."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from evidence_bars import REPO, bars, project_dir

from kobe.cli import main
from kobe.evidence.record import record_path, refusal
from kobe.project import Project, load_project

LIVE_ENV = "ALPACA_BASE_URL=https://api.alpaca.markets\nALPACA_API_KEY_ID=k\nALPACA_API_SECRET_KEY=s\n"


def kobe(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped project after `kobe promote donchian_breakout` (which fails the gate)."""
    root = tmp_path_factory.mktemp("shipped")
    for name in ("strategies.yaml", "risk.yaml"):
        shutil.copy(REPO / name, root / name)
    for folder in ("rules", "universe"):
        shutil.copytree(REPO / folder, root / folder)
    (root / ".env").write_text(LIVE_ENV)
    code, out = kobe("promote", "donchian_breakout", "--config", str(root / "strategies.yaml"))
    assert code == 1, out
    return root


def copy_of(shipped: Path, tmp_path: Path) -> Path:
    root = tmp_path / "p"
    shutil.copytree(shipped, root)
    return root


def test_promote_prints_each_figure_against_its_threshold(shipped: Path) -> None:
    code, out = kobe("promote", "donchian_breakout", "--config", str(shipped / "strategies.yaml"))
    assert code == 1
    for name in ("closed trades", "walk-forward out-of-sample Sharpe", "Monte Carlo 5th-percentile max drawdown",
                 "deflated Sharpe ratio", "probability of backtest overfitting", "parameter stability"):
        assert name in out
    assert "FAILED: evidence.min_oos_sharpe, evidence.min_deflated_sharpe" in out
    record = json.loads(record_path(shipped, "donchian_breakout").read_text())
    assert record["passed"] is False and record["record_version"] == 1
    assert record["binding"]["config_sha256"] == load_project(shipped / "strategies.yaml").fingerprint().sha256
    assert record["binding"]["data_source"] == "embedded"
    assert {"data_sha256", "kobe_version", "data_first_date", "data_last_date"} <= set(record["binding"])
    events = [json.loads(line) for line in (shipped / "logs" / "events.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in events] == ["evidence.recorded"] * 2
    assert events[-1]["failing"] == ["min_oos_sharpe", "min_deflated_sharpe"]


def test_promote_json_is_the_record(shipped: Path, tmp_path: Path) -> None:
    root = copy_of(shipped, tmp_path)
    code, out = kobe("promote", "donchian_breakout", "--config", str(root / "strategies.yaml"), "--json")
    assert code == 1
    shown = json.loads(out)
    written = json.loads(record_path(root, "donchian_breakout").read_text())
    assert shown["figures"] == written["figures"] and shown["binding"] == written["binding"]


def test_promote_of_an_unknown_strategy_is_a_located_error(shipped: Path) -> None:
    code, out = kobe("promote", "nope", "--config", str(shipped / "strategies.yaml"))
    assert code == 2 and "no strategy named 'nope'" in out and "strategies.yaml" in out


def test_live_refuses_a_failing_record_naming_the_threshold(shipped: Path) -> None:
    code, out = kobe("run", "--live", "--confirm-live", "--cap", "1", "--once", "--health-port", "0",
                     "--config", str(shipped / "strategies.yaml"))
    assert code == 2
    assert "strategy 'donchian_breakout' may not trade: its evidence fails" in out
    assert "(evidence.min_deflated_sharpe: >= 0.95)" in out and "donchian_breakout.json" in out
    assert "strategy 'ict_turtle_soup' may not trade: it has no evidence record" in out
    assert "run `kobe promote ict_turtle_soup`" in out
    assert "Traceback" not in out


def test_a_tampered_record_is_caught(shipped: Path, tmp_path: Path) -> None:
    root = copy_of(shipped, tmp_path)
    logs = str(root / "logs")
    assert kobe("audit", "verify", "--logs", logs)[0] == 0
    path = record_path(root, "donchian_breakout")
    path.write_text(path.read_text().replace('"passed": false', '"passed": true'))
    code, out = kobe("audit", "verify", "--logs", logs)
    assert code == 1 and "donchian_breakout.json: is not the evidence record chain record 2 holds" in out
    code, out = kobe("run", "--live", "--confirm-live", "--cap", "1", "--once", "--health-port", "0",
                     "--config", str(root / "strategies.yaml"))
    assert code == 2 and "its evidence record was modified after `kobe promote`" in out


def test_paper_refuses_only_with_require_evidence(shipped: Path, tmp_path: Path) -> None:
    root = copy_of(shipped, tmp_path)
    (root / ".env").write_text("")
    risk = root / "risk.yaml"
    risk.write_text(risk.read_text().replace("require_evidence: false", "require_evidence: true"))
    for command in (["run", "--paper", "--once", "--health-port", "0"], ["trade", "--paper", "--once"]):
        code, out = kobe(*command, "--config", str(root / "strategies.yaml"))
        assert code == 2, (command, out)
        # risk.yaml changed since the promote: the record is of another config.
        assert "its evidence record is of another config" in out, (command, out)


def test_a_passing_record_lets_the_strategy_trade_until_something_changes(tmp_path: Path) -> None:
    root = project_dir(tmp_path)
    data = root / "bars.parquet"
    bars(edge=True, seed=8).write_parquet(data)
    strategies = root / "strategies.yaml"
    strategies.write_text(strategies.read_text() + f"data:\n  provider: files\n  path: {data.name}\n")
    code, out = kobe("promote", "edge", "--config", str(strategies))
    assert code == 0 and "PASSED" in out, out
    project = load_project(strategies)
    assert refusal(project, "edge") is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=91)
    assert "91 days old (evidence.max_age_days: 90)" in why(project, now=later)
    assert "of the data 'files:bars.parquet', this run reads 'files:other.csv'" in why(project, data="other.csv")
    bars(edge=True, seed=9).write_parquet(data)          # the same file, other bars
    assert "its evidence record is of other bars" in why(project)


def why(project: Project, **kwargs: Any) -> str:
    found = refusal(project, "edge", **kwargs)
    assert found is not None
    return found.message
