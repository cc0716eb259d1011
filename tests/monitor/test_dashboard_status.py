"""What the runner's status gives the dashboard, from a replay: a point of equity per
cycle kept in logs/equity.jsonl, the backtest of the same sessions as the expectation,
positions with their last price, unrealized P&L and resting stop, P&L per strategy, and
alerts folded."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "runner"))
from replay import passing_preflight, replay_runner  # type: ignore[import-not-found]  # tests/runner's

from kobe.broker.exchange import ExchangeConfig, serve_exchange
from kobe.data import calendar
from kobe.monitor.alerts import Alerts
from kobe.monitor.dashboard import view
from kobe.runner.run import EQUITY_FILE, read_equity

NY = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    import shutil

    from kobe.config.pin import write_pin
    from kobe.project import load_project

    repo = Path(__file__).resolve().parent.parent.parent
    root = tmp_path_factory.mktemp("project")
    for name in ("strategies.yaml", "risk.yaml"):
        shutil.copy(repo / name, root / name)
    for folder in ("rules", "universe"):
        shutil.copytree(repo / folder, root / folder)
    write_pin(root, load_project(root / "strategies.yaml").fingerprint())
    start = dt.datetime(2017, 6, 1, 9, 0, tzinfo=NY)
    until = dt.datetime(2017, 6, 14, 16, 0, tzinfo=NY)
    with serve_exchange(ExchangeConfig(start=start, state=root / "exchange.sqlite")) as url:
        # A served runner (any free port) computes the expectation; the checks are tested elsewhere.
        runner = replay_runner(root, url, until, monitoring=False)
        runner.health_port = 0
        assert runner.run(passing_preflight) == 0
        status = runner.status()
    return root, status


def test_one_equity_point_per_cycle(replayed: tuple[Path, dict]) -> None:
    root, status = replayed
    points = read_equity(root / EQUITY_FILE)
    assert len(points) == status["cycles"] == 2 * len(calendar.sessions(dt.date(2017, 6, 1), dt.date(2017, 6, 14)))
    assert status["equity_history"] == points
    assert points[-1]["equity"] == status["equity"]
    assert [p["time"] for p in points] == sorted(p["time"] for p in points)
    assert {p["session"] for p in points} == {d.isoformat() for d in calendar.sessions(dt.date(2017, 6, 1),
                                                                                       dt.date(2017, 6, 14))}


def test_the_expectation_is_the_backtest_of_the_same_sessions(replayed: tuple[Path, dict]) -> None:
    _, status = replayed
    expected = status["expected"]
    # Through the last session closed by the broker's clock (the last cycle is at 15:55 on
    # the 14th), though the replay's bars run on.
    assert (expected["start"], expected["through"]) == ("2017-06-01", "2017-06-13")
    sessions = [p["session"] for p in expected["points"]]
    assert sessions == [d.isoformat() for d in calendar.sessions(dt.date(2017, 6, 1), dt.date(2017, 6, 13))]
    assert expected["strategies"] and set(expected["strategies"]) <= {"donchian_breakout", "ict_turtle_soup"}
    # The curve's last point is the strategies' P&L added up.
    assert expected["points"][-1]["pnl"] == pytest.approx(sum(expected["strategies"].values()), abs=0.05)


def test_positions_carry_price_pnl_and_stop(replayed: tuple[Path, dict]) -> None:
    _, status = replayed
    held = status["positions"]
    assert held, "the replay holds something at its end"
    for p in held:
        assert p["last_price"] and p["strategy"]
        assert p["unrealized_pnl"] == pytest.approx(p["qty"] * (p["last_price"] - p["avg_cost"]), abs=0.01)
        if p["stop_price"] is not None:
            side = 1 if p["qty"] > 0 else -1
            assert p["stop_distance_pct"] == pytest.approx(100 * side * (p["last_price"] - p["stop_price"])
                                                           / p["last_price"], abs=0.01)
    assert any(p["stop_price"] for p in held), "entries rest a protective stop"
    unrealized = sum(p["unrealized_pnl"] for p in held)
    assert status["metrics"]["pnl_unrealized_usd"] == pytest.approx(unrealized, abs=0.02)
    per_strategy = status["strategies"]
    assert sum(s["unrealized"] for s in per_strategy.values()) == pytest.approx(unrealized, abs=0.05)
    assert sum(s["realized"] for s in per_strategy.values()) == pytest.approx(
        status["metrics"]["pnl_realized_usd"], abs=0.05)


def test_the_view_of_a_replay_draws_every_chart(replayed: tuple[Path, dict]) -> None:
    _, status = replayed
    page = view(json.loads(json.dumps(status, default=str)))     # as /health sends it
    for name, figure in page["charts"].items():
        assert any(len(trace["y"]) for trace in figure["data"]), name
    assert len(page["charts"]["pnl"]["data"]) == 2               # live and the backtest


def test_a_repeated_alert_is_shown_once_with_its_count() -> None:
    alerts = Alerts()
    t0 = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)
    for n in range(30):
        alerts.send("error", "no trading: the bars are not fresh", now=t0 + dt.timedelta(seconds=10 * n))
    alerts.send("warning", "reconcile after the cycle failed: Timeout", now=t0 + dt.timedelta(seconds=5))
    folded = alerts.folded()
    assert [(f.level, f.count) for f in folded] == [("error", 30), ("warning", 1)]
    assert (folded[0].first, folded[0].last) == ("2026-11-25T15:00:00+00:00", "2026-11-25T15:04:50+00:00")
    rows = view({"alerts_folded": [f.__dict__ for f in folded]})["tables"]["alerts"]["rows"]
    assert [c["text"] for c in rows[0]] == [
        "error", "no trading: the bars are not fresh", "×30", "2026-11-25 15:00:00 UTC", "2026-11-25 15:04:50 UTC"]
    # Without the folded list (an older status), the raw alerts are folded the same way.
    raw = view({"alerts": [a.__dict__ for a in alerts.recent]})["tables"]["alerts"]["rows"]
    assert raw == rows


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failed_expectation_is_recorded_by_the_loop_not_its_thread(pinned_project_dir: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The expectation's backtest runs in a thread of its own; when it fails, the failure
    reaches the audit trail through the runner's loop (the audit log anchors its head in
    the order store, whose SQLite connection belongs to that thread), and the run ends
    cleanly with its stop recorded."""
    from kobe.backtest import engine
    from kobe.config.errors import Diagnostic, KobeError

    tmp_path = pinned_project_dir

    def broken(*args: object, **kwargs: object) -> None:
        raise KobeError(Diagnostic("the expectation's bars are broken"))

    monkeypatch.setattr(engine, "run_backtest", broken)
    start = dt.datetime(2017, 6, 1, 9, 0, tzinfo=NY)
    with serve_exchange(ExchangeConfig(start=start, state=tmp_path / "exchange.sqlite")) as url:
        runner = replay_runner(tmp_path, url, dt.datetime(2017, 6, 5, 16, 0, tzinfo=NY), monitoring=False)
        runner.health_port = 0
        assert runner.run(passing_preflight) == 0
    events = [json.loads(line) for line in (tmp_path / "logs" / "events.jsonl").read_text().splitlines()]
    failed = [e for e in events if e["kind"] == "monitor.failed" and e.get("check") == "the expectation backtest"]
    assert failed and failed[0]["error"] == "the expectation's bars are broken"
    assert events[-1]["kind"] == "runner.stopped"
