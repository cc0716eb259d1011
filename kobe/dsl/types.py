"""The two value types of the rule language."""

from __future__ import annotations

from enum import Enum


class Type(Enum):
    NUM = "number"
    BOOL = "boolean"

    def __str__(self) -> str:
        return self.value
