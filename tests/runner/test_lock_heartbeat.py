"""One runner at a time, a dead runner's lock taken over, and the heartbeat."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kobe.config.errors import KobeError
from kobe.runner.heartbeat import STALE_AFTER, read_heartbeat, write_heartbeat
from kobe.runner.lock import InstanceLock

HOLD = """
import sys, time
from pathlib import Path
from kobe.runner.lock import InstanceLock
InstanceLock(Path(sys.argv[1])).acquire("paper")
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_runner_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "kobe.lock"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(KobeError, match=f"pid {proc.pid}, mode paper"):
            InstanceLock(path).acquire("paper")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert path.exists()  # the dead runner left its file behind: a stale lock
    lock = InstanceLock(path)
    lock.acquire("live")
    assert lock.holder()["pid"] == os.getpid() and lock.holder()["mode"] == "live"
    lock.release()


def test_release_lets_the_next_one_in(tmp_path: Path) -> None:
    with InstanceLock(tmp_path / "kobe.lock") as lock:
        lock.acquire("paper")
    second = InstanceLock(tmp_path / "kobe.lock")
    second.acquire("paper")
    second.release()


def test_heartbeat_round_trip_and_staleness(tmp_path: Path) -> None:
    now = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)
    beat = write_heartbeat(tmp_path / "heartbeat.json", "paper", "scan 09:35", "abc", now=now)
    assert read_heartbeat(tmp_path / "heartbeat.json") == beat
    assert not beat.stale(now + STALE_AFTER)
    assert beat.stale(now + STALE_AFTER + dt.timedelta(seconds=1))
    stopped = write_heartbeat(tmp_path / "heartbeat.json", "paper", "shutdown", "abc", now=now, state="stopped")
    assert stopped.stale(now)
    assert read_heartbeat(tmp_path / "missing.json") is None
