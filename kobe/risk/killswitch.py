"""The kill switch: while its file exists, no order leaves.

The file (``state/KILL_SWITCH`` by default) holds who set it, when and why. Every path to
the broker goes through :meth:`KillSwitch.guard`, which checks at the last moment, right
before the network call, so a switch set between a gate check and the submit still stops
the order.
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kobe.files import write_atomic

F = TypeVar("F", bound=Callable[..., Any])


class KillSwitchActive(RuntimeError):
    """Raised instead of sending an order while the kill switch is set."""


class KillSwitch:
    def __init__(self, path: Path) -> None:
        self.path = path

    def active(self) -> bool:
        return self.path.exists()

    def info(self) -> dict[str, Any]:
        """Who set it, when and why ({} when not set; the raw text if it is not ours)."""
        if not self.path.exists():
            return {}
        text = self.path.read_text(encoding="utf-8", errors="replace")
        try:
            value = json.loads(text)
            return value if isinstance(value, dict) else {"reason": text.strip()}
        except ValueError:
            return {"reason": text.strip()}

    def set(self, reason: str, who: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
        record = {"reason": reason, "who": who or getpass.getuser(),
                  "at": (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")}
        write_atomic(self.path, json.dumps(record) + "\n")
        return record

    def clear(self) -> dict[str, Any]:
        record = self.info()
        self.path.unlink(missing_ok=True)
        return record

    def check(self) -> None:
        if self.path.exists():
            reason = self.info().get("reason", "")
            raise KillSwitchActive(f"kill switch is set ({self.path}): {reason}")

    def guard(self, func: F) -> F:
        """Wrap a function that sends to the broker: it checks the switch first, every call."""
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.check()
            return func(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
