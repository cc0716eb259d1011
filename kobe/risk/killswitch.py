"""The kill switch: while its file exists, no order leaves.

The file (``state/KILL_SWITCH`` by default) holds who set it, when and why. Every path to
the broker goes through :meth:`KillSwitch.guard`, which checks at the last moment, right
before the network call, so a switch set between a gate check and the submit still stops
the order.

:meth:`KillSwitch.of_project` finds a project's switch from ``risk.yaml`` alone, without
loading (or validating) the config: a broken config must never stop anyone from stopping
the trading.
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kobe.config.errors import Diagnostic, KobeError
from kobe.config.yamlpos import load_yaml
from kobe.files import write_atomic

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_KILL_SWITCH = "state/KILL_SWITCH"


# The schema's rule for kill_switch_file (maxLength and pattern): a name the file system
# accepts, that is not blank.
MAX_NAME = 200


def usable_name(name: object) -> bool:
    return isinstance(name, str) and bool(name.strip()) and len(name) <= MAX_NAME and "\x00" not in name


class KillSwitchActive(RuntimeError):
    """Raised instead of sending an order while the kill switch is set."""


class KillSwitch:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of_project(cls, root: Path, risk_path: Path | None = None) -> KillSwitch:
        """The switch of the project in folder ``root`` (that of strategies.yaml): the
        ``kill_switch_file`` of ``risk_path`` (default ``root/risk.yaml``), relative to
        ``root``. Only that one key is read; when the file is missing, unreadable, not
        YAML, or has no usable ``kill_switch_file``, the switch is the default
        ``state/KILL_SWITCH``, so ``kobe kill`` works whatever state the config is in."""
        # The bounded loader: a hostile risk.yaml (an alias bomb, deep nesting) must not
        # hang or crash the one command that stops trading.
        try:
            data = load_yaml(risk_path or root / "risk.yaml", strict=False).data
        except KobeError:
            data = None
        return cls.at(root, data.get("kill_switch_file") if isinstance(data, dict) else None)

    @classmethod
    def at(cls, root: Path, name: object) -> KillSwitch:
        """The switch named ``name`` (as ``kill_switch_file`` holds it) in the project in
        ``root``; the default when the name is unusable. The one rule: ``kobe kill`` and
        the trading that checks the switch must agree on its file, and the schema refuses
        every name this would replace, so a valid config always names its own file."""
        return cls(root / (name if usable_name(name) else DEFAULT_KILL_SWITCH))  # type: ignore[operator]

    def active(self) -> bool:
        return self.path.exists()

    def info(self) -> dict[str, Any]:
        """Who set it, when and why ({} when not set; the raw text if it is not ours)."""
        try:
            if not self.path.exists():
                return {}
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:  # a folder in its place: still set, since the path exists
            return {"reason": f"(unreadable: {exc.strerror})"}
        try:
            value = json.loads(text)
            return value if isinstance(value, dict) else {"reason": text.strip()}
        except ValueError:
            return {"reason": text.strip()}

    def set(self, reason: str, who: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
        record = {"reason": reason, "who": who or getpass.getuser(),
                  "at": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")}
        try:
            write_atomic(self.path, json.dumps(record) + "\n")
        except OSError as exc:
            already = " (something exists at that path, so the switch is set all the same)" \
                if self.path.exists() else ""
            raise KobeError(Diagnostic(f"cannot write the kill switch: {exc.strerror}{already}", file=str(self.path),
                                       hint="stop the runner by other means if the switch is not set")) from None
        return record

    def clear(self) -> dict[str, Any]:
        record = self.info()
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise KobeError(Diagnostic(f"cannot remove the kill switch: {exc.strerror}", file=str(self.path),
                                       hint="look at what is at that path and remove it by hand")) from None
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
