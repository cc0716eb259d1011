"""The kill switch: checked at call time, and a file written by hand counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobe.risk.killswitch import KillSwitch, KillSwitchActive


def test_kill_switch_guard_checks_at_call_time(tmp_path: Path) -> None:
    switch = KillSwitch(tmp_path / "KILL_SWITCH")
    sent = []

    @switch.guard
    def submit(order: str) -> str:
        sent.append(order)
        return order

    assert submit("a") == "a"
    switch.set("broker is acting up", who="tester")
    with pytest.raises(KillSwitchActive, match="broker is acting up"):
        submit("b")
    assert switch.info()["who"] == "tester"
    switch.clear()
    submit("c")
    assert sent == ["a", "c"]


def test_kill_switch_file_written_by_hand_counts(tmp_path: Path) -> None:
    path = tmp_path / "KILL_SWITCH"
    path.write_text("stop everything\n")
    switch = KillSwitch(path)
    assert switch.active() and switch.info() == {"reason": "stop everything"}
    with pytest.raises(KillSwitchActive):
        switch.check()
