"""The one user-facing error type of Kobe.

Every problem a user can fix (a typo in YAML, an unknown function, a type error in a
rule) is a :class:`Diagnostic` with a location. One run collects all of them and raises
a single :class:`KobeError`, which the CLI prints as::

    strategies.yaml:14:11: error: unknown function 'smaa' (did you mean 'sma'?)
       14 |     entry: smaa(close, 20) > close
          |            ^^^^

Tracebacks are for bugs only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    """One problem, located in a file.

    ``line`` and ``col`` are 1-based, as editors show them. ``source_line`` is the text
    of that line in the file, shown with a caret under ``col`` spanning ``width``
    characters. Any field but ``message`` may be unknown (``None``).
    """

    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    hint: str | None = None
    source_line: str | None = None
    width: int = 1
    severity: str = "error"

    def location(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)

    def render(self) -> str:
        """The diagnostic as printed by the CLI: location, message, source and caret."""
        # An error of no file (a bad option, a broker's answer) starts with its severity:
        # a made-up "<input>" would send the reader looking for a file that does not exist.
        where = f"{self.location()}: " if self.file is not None or self.line is not None else ""
        out = [f"{where}{self.severity}: {self.message}"]
        if self.source_line is not None and self.line is not None:
            gutter = f"{self.line:>5} | "
            text = self.source_line.rstrip("\n")
            out.append(gutter + text)
            if self.col is not None:
                pad = "".join("\t" if ch == "\t" else " " for ch in text[: self.col - 1])
                out.append(" " * (len(gutter) - 2) + "| " + pad + "^" * max(1, self.width))
        if self.hint:
            out.append(f"      = hint: {self.hint}")
        return "\n".join(out)

    def to_dict(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "message": self.message,
            "hint": self.hint,
        }


class KobeError(Exception):
    """Raised with every diagnostic of a run; the CLI prints them and exits 2."""

    exit_code = 2

    def __init__(self, diagnostics: Diagnostic | Iterable[Diagnostic]) -> None:
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        if not self.diagnostics:
            raise ValueError("KobeError needs at least one diagnostic")
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(d.render() for d in self.diagnostics)

    @classmethod
    def single(cls, message: str, **where: object) -> KobeError:
        return cls(Diagnostic(message, **where))  # type: ignore[arg-type]


class DiagnosticSink:
    """Collects diagnostics so a run can report all of them at once."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def add(self, diagnostic: Diagnostic) -> None:
        self.items.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items.extend(diagnostics)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise KobeError(self.items)
