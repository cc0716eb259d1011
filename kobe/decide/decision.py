"""A gate's answer: allowed, or blocked with the gate's name and the reason a trader reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    gate: str = ""

    @classmethod
    def allow(cls, gate: str) -> Decision:
        return cls(True, "ok", gate)

    @classmethod
    def block(cls, gate: str, reason: str) -> Decision:
        return cls(False, reason, gate)
