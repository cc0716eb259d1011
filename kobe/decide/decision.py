"""A gate's answer: allowed, or blocked with the gate's name and the reason a trader reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    gate: str = ""
    _allows: ClassVar[dict[str, Decision]] = {}

    @classmethod
    def allow(cls, gate: str) -> Decision:
        # One shared (immutable) allow per gate: the backtest asks the chain per entry.
        found = cls._allows.get(gate)
        if found is None:
            found = cls._allows[gate] = cls(True, "ok", gate)
        return found

    @classmethod
    def block(cls, gate: str, reason: str) -> Decision:
        return cls(False, reason, gate)
