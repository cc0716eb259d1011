"""What the runner tests share: a runner that replays a local exchange's scan times, and
a preflight that passes (the real checks are tested on their own)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from kobe.broker.exchange import ExchangeAdmin
from kobe.data.bars import read_bars
from kobe.project import load_project
from kobe.runner.preflight import Check, Preflight
from kobe.runner.run import ReplayClock, Runner, paper_env
from kobe.runner.schedule import Schedule, parse_times
from kobe.trade.cycle import open_trader


def replay_runner(project_dir: Path, url: str, until: dt.datetime, *, checkpoint: Any = None,
                  **kwargs: Any) -> Runner:
    """A runner over the exchange at ``url`` that replays its scan times up to ``until``;
    the executor's waits pass exchange time."""
    admin = ExchangeAdmin(url)
    project = load_project(project_dir / "strategies.yaml")
    trader = open_trader(project, paper_env(url), paper=True, timeout=5, retry_wait=0, sleep=admin.advance,
                         checkpoint=checkpoint)
    clock = ReplayClock(admin.set_clock,
                        lambda: dt.datetime.fromisoformat(admin.clock()["now"].replace("Z", "+00:00")), end=until)
    return Runner(trader, lambda: read_bars(), Schedule(parse_times(["09:35", "15:55"])), clock, health_port=None,
                  **kwargs)


def passing_preflight() -> Preflight:
    return Preflight((Check("test", True, "ok"),))
