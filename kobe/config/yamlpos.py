"""YAML with positions: every key and value of a file keeps its line and column.

:func:`load_yaml` parses with PyYAML's composer (duplicate keys, which PyYAML silently
merges, are errors at the second key); :func:`expr_source` maps each character of an
expression scalar back to its file line and column, for plain, quoted and block scalars.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kobe.config.errors import Diagnostic, KobeError
from kobe.config.limits import MAX_NESTING, MAX_NUMBER, MAX_VALUES
from kobe.config.model import ExprSource, Location
from kobe.config.text import read_text

JsonPath = tuple[str | int, ...]
# The line breaks PyYAML counts in its marks (the file is read with universal newlines).
_LINE_BREAKS = re.compile("[\n\x85\u2028\u2029]")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PROPERTIES = re.compile(r"(?:[&!]\S*\s+)*")  # anchors and tags before a node


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a nesting limit, reported where the limit is crossed."""

    depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:  # type: ignore[override]
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(None, None, f"values nest deeper than {MAX_NESTING} levels", mark)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self.depth -= 1


class _TooLarge(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class LoadedYaml:
    """A YAML file as plain Python data plus where each part of it was written.

    ``values`` maps a JSON path such as ``("strategies", 0, "entry")`` to the start of
    that value; ``keys`` maps the same path to the start of its mapping key. ``nodes``
    keeps the composed value nodes (for :func:`expr_source`). ``diagnostics`` holds the
    problems that did not stop reading, such as duplicate keys (the first one is kept).
    """

    file: str
    path: Path
    text: str
    lines: tuple[str, ...]
    data: Any
    values: dict[JsonPath, Location]
    keys: dict[JsonPath, Location]
    nodes: dict[JsonPath, Node]
    key_nodes: dict[JsonPath, Node]
    diagnostics: tuple[Diagnostic, ...] = ()

    def location(self, path: JsonPath, *, key: bool = False) -> Location:
        """Where the value (or, with ``key``, the key) at ``path`` starts; falls back to
        the nearest enclosing value, then to the top of the file."""
        if key and path in self.keys:
            return self.keys[path]
        for n in range(len(path), -1, -1):
            if path[:n] in self.values:
                return self.values[path[:n]]
        return Location(self.file, 1, 1, self.lines[0] if self.lines else "")

    def at(self, path: JsonPath, message: str, *, hint: str | None = None, key: bool = False) -> Diagnostic:
        """A diagnostic pointing at the value (or key) at ``path``, underlining it when it
        fits on one line."""
        node = (self.key_nodes if key else self.nodes).get(path)
        return self.location(path, key=key).diagnostic(message, hint=hint, width=_width(node))


def _width(node: Node | None) -> int:
    """How many columns a caret under ``node`` spans: all of it if it fits on one line."""
    if node is None or node.start_mark.line != node.end_mark.line:
        return 1
    return max(1, node.end_mark.column - node.start_mark.column)


def load_yaml(path: Path, display_name: str | None = None, *, strict: bool = True) -> LoadedYaml:
    """Parse one YAML file, keeping the location of every key and value.

    Scalars are converted by PyYAML's SafeLoader constructors, so values mean exactly
    what ``yaml.safe_load`` makes of them (``true`` is a bool, ``1e5`` is a string).
    Mapping keys are always kept as text, as JSON Schema wants. ``display_name`` is the
    file name shown in messages (default: ``path`` as given).

    Raises :class:`KobeError` for an unreadable or empty file and for YAML syntax
    errors; with ``strict`` (the default) also for the problems that do not stop
    reading (duplicate keys), which are otherwise left in ``LoadedYaml.diagnostics``.
    """
    file = display_name if display_name is not None else str(path)
    text = read_text(Path(path), file)
    lines = tuple(_LINE_BREAKS.split(text))
    try:
        root = yaml.compose(text, Loader=_BoundedLoader)
    except yaml.MarkedYAMLError as exc:
        raise KobeError(_syntax_error(exc, file, lines)) from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line = before.count("\n") + 1
        col = exc.position - (before.rfind("\n") + 1) + 1
        raise KobeError(Diagnostic(f"invalid character {exc.character!r} ({exc.reason})", file=file,
                                   line=line, col=col, source_line=lines[line - 1])) from None
    if root is None:
        raise KobeError(Diagnostic("the file is empty", file=file, line=1, col=1))
    builder = _Builder(file, lines)
    try:
        data = builder.value(root, ())
    except _TooLarge as exc:
        raise KobeError(exc.diagnostic) from None
    loaded = LoadedYaml(file, Path(path), text, lines, data, builder.values, builder.keys,
                        builder.nodes, builder.key_nodes, tuple(builder.diagnostics))
    if strict and loaded.diagnostics:
        raise KobeError(loaded.diagnostics)
    return loaded


def _short(exc: Exception) -> str:
    text = str(exc).split(";")[0].strip()
    if "Exceeds the limit" in text:
        return "too many digits"
    return text if len(text) <= 80 else text[:77] + "..."


def _syntax_error(exc: yaml.MarkedYAMLError, file: str, lines: tuple[str, ...]) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    problem, context, hint = exc.problem or exc.context or "invalid YAML", exc.context, None
    if context and problem.startswith("but "):  # PyYAML splits such sentences in two
        problem, context = f"{context}, {problem}", None
    if "'\\t'" in problem:
        hint = "indent with spaces; YAML does not allow tabs there"
    elif context and exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
        hint = f"{context} at line {exc.context_mark.line + 1}"
    if mark is None:
        return Diagnostic(f"invalid YAML: {problem}", file=file, hint=hint)
    source = lines[mark.line] if mark.line < len(lines) else None
    return Diagnostic(f"invalid YAML: {problem}", file=file, line=mark.line + 1, col=mark.column + 1,
                      source_line=source, hint=hint)


class _Builder:
    """Turns composed nodes into plain Python, recording locations on the way."""

    def __init__(self, file: str, lines: tuple[str, ...]) -> None:
        self.file, self.lines = file, lines
        self.constructor = yaml.SafeLoader("")
        self.values: dict[JsonPath, Location] = {}
        self.keys: dict[JsonPath, Location] = {}
        self.nodes: dict[JsonPath, Node] = {}
        self.key_nodes: dict[JsonPath, Node] = {}
        self.diagnostics: list[Diagnostic] = []
        self._open: set[int] = set()  # nodes being converted: an alias to one is a cycle
        self.count = 0  # values built, aliases expanded: bounded by MAX_VALUES

    def scalar(self, node: Node) -> Any:
        try:
            value = self.constructor.construct_object(node)
        except yaml.constructor.ConstructorError as exc:
            self.error(node, f"cannot read this value: {exc.problem}")
            return node.value
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            # SafeLoader's constructors trust the tag: '!!int abc', '!!bool maybe', an
            # integer of more digits than Python converts.
            tag = node.tag.rsplit(":", 1)[-1]
            self.error(node, f"cannot read this value as {tag}: {_short(exc)}")
            return node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value
        if isinstance(value, float) and not math.isfinite(value):
            self.error(node, f"numbers must be finite, got {node.value}")
            return node.value
        if abs(value) > MAX_NUMBER:
            self.error(node, f"number out of range: at most {MAX_NUMBER:.0e} in size",
                       hint="no budget, window or threshold comes near it; is a digit repeated?")
            return node.value
        return value

    def location(self, node: Node) -> Location:
        mark = node.start_mark
        source = self.lines[mark.line] if mark.line < len(self.lines) else ""
        return Location(self.file, mark.line + 1, mark.column + 1, source)

    def error(self, node: Node, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(self.location(node).diagnostic(message, hint=hint, width=_width(node)))

    def value(self, node: Node, path: JsonPath) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _TooLarge(self.location(node).diagnostic(
                f"the file expands to more than {MAX_VALUES:,} values", width=_width(node),
                hint="YAML aliases (*name) repeat what they refer to; a config needs only a few"))
        self.values[path] = self.location(node)
        self.nodes[path] = node
        if id(node) in self._open:
            self.error(node, "this alias refers to a node that contains it")
            return None
        if len(self._open) >= 2 * MAX_NESTING:  # aliases and merges nest what they refer to
            raise _TooLarge(self.location(node).diagnostic(
                f"values nest deeper than {MAX_NESTING} levels once aliases and merges are expanded",
                width=_width(node)))
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, path, {})
            if isinstance(node, SequenceNode):
                return [self.value(item, path + (i,)) for i, item in enumerate(node.value)]
            return self.scalar(node)
        finally:
            self._open.discard(id(node))

    def mapping(self, node: MappingNode, path: JsonPath, out: dict[str, Any], merged: bool = False) -> dict[str, Any]:
        """Fill ``out`` from ``node``. Explicit keys win over ``<<`` merge keys, as in
        YAML; a ``merged`` mapping only adds the keys still missing."""
        seen: dict[str, Node] = {}
        merges: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append((key_node, value_node))
                continue
            if not isinstance(key_node, ScalarNode):
                self.error(key_node, "a key must be a plain name, not a mapping or a list")
                continue
            key = key_node.value
            if key in seen:
                if not merged:  # a merged mapping reports its duplicates where it is defined
                    self.error(key_node, f"duplicate key '{key}'",
                               hint=f"first defined at line {seen[key].start_mark.line + 1}")
                continue
            seen[key] = key_node
            if merged and key in out:
                continue
            self.keys[path + (key,)] = self.location(key_node)
            self.key_nodes[path + (key,)] = key_node
            out[key] = self.value(value_node, path + (key,))
        # Errors point at the '<<' key: an alias has no position of its own (it is the
        # node it refers to, which starts at its anchor).
        for key_node, merge in merges:
            for source in merge.value if isinstance(merge, SequenceNode) else [merge]:
                if not isinstance(source, MappingNode):
                    self.error(key_node, "'<<' merges mappings only")
                elif id(source) in self._open or source is node:
                    self.error(key_node, "'<<' merges a mapping that contains this one")
                else:
                    self.count += len(source.value)
                    self._open.add(id(source))
                    try:
                        self.mapping(source, path, out, merged=True)
                    finally:
                        self._open.discard(id(source))
        return out


# --------------------------------------------------------------------------- expressions


def expr_source(loaded: LoadedYaml, path: JsonPath) -> ExprSource:
    """The string scalar at ``path`` as an :class:`ExprSource` whose offsets map to the
    file: character ``i`` of ``text`` is at ``locate(i)`` in ``loaded.file``.

    YAML folds multi-line plain/quoted scalars and ``>`` blocks (a line break becomes a
    space), which loses where each line started. For those, ``text`` keeps the line
    breaks the user wrote instead; whitespace means the same in the rule language, and
    every line maps to its file line. Escapes in quoted scalars (``\\"``, ``''``) shift
    the columns after them; expressions have no reason to use them.
    """
    node, value = loaded.nodes[path], _value_at(loaded, path)
    if not isinstance(node, ScalarNode) or not isinstance(value, str):
        raise TypeError(f"{path!r} in {loaded.file} is not a string")
    index, line, col = _scalar_start(loaded, node)
    if node.style in ("|", ">"):
        return _block_source(loaded, node, value, index, line, col)
    quote = 1 if node.style in ("'", '"') else 0
    pieces = _LINE_BREAKS.split(loaded.text[index + quote:node.end_mark.index - quote])
    first = (line + 1, col + 1 + quote, loaded.lines[line])
    if len(pieces) == 1:
        return ExprSource(value, loaded.file, (first,))
    # A continuation line starts after its indentation; trailing blanks were folded away.
    texts, entries = [pieces[0].rstrip(" \t")], [first]
    for i, piece in enumerate(pieces[1:], start=1):
        body = piece.lstrip(" \t")
        texts.append(body.rstrip(" \t"))
        entries.append((line + 1 + i, len(piece) - len(body) + 1, loaded.lines[line + i]))
    text = "\n".join(texts)
    if text.split() != value.split():  # escapes: keep the true value, locate by its start
        return ExprSource(value, loaded.file, (first,))
    return ExprSource(text, loaded.file, tuple(entries))


def _block_source(loaded: LoadedYaml, node: ScalarNode, value: str, index: int, line: int, col: int
                  ) -> ExprSource:
    """``|`` and ``>`` blocks: the content starts on the line after the indicator, each
    line at the block's indentation (the smallest one of its non-blank lines)."""
    content = _LINE_BREAKS.split(loaded.text[index:node.end_mark.index])[1:]
    while content and not content[-1].strip():  # blank tail: chomped, or not the block's
        content.pop()
    if not content:
        return ExprSource(value, loaded.file, ((line + 1, col + 1, loaded.lines[line]),))
    indent = min(len(text) - len(text.lstrip(" ")) for text in content if text.strip())
    entries = tuple((line + 2 + i, indent + 1, loaded.lines[line + 1 + i]) for i in range(len(content)))
    text = "\n".join(text[indent:] for text in content)
    if value.endswith("\n"):
        text += "\n"
    return ExprSource(text, loaded.file, entries)


def _scalar_start(loaded: LoadedYaml, node: ScalarNode) -> tuple[int, int, int]:
    """Text index, 0-based line and column where the scalar itself starts: a node's
    start mark is at its anchor (``&a``) or tag (``!!str``) when it has one."""
    mark = node.start_mark
    properties = _PROPERTIES.match(loaded.text, mark.index).group()
    breaks = list(_LINE_BREAKS.finditer(properties))
    if not breaks:
        return mark.index + len(properties), mark.line, mark.column + len(properties)
    return mark.index + len(properties), mark.line + len(breaks), len(properties) - breaks[-1].end()


def _value_at(loaded: LoadedYaml, path: JsonPath) -> Any:
    value = loaded.data
    for part in path:
        value = value[part]
    return value

