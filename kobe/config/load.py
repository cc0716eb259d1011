"""Read ``strategies.yaml`` and ``risk.yaml`` into the typed config of :mod:`kobe.config.model`.

Loading goes in four steps, and every step reports *all* it finds before anything is
raised, so one ``kobe validate`` run lists every mistake of both files:

1. :func:`load_yaml` parses with PyYAML's composer, so every key and value keeps its
   line and column (and duplicate keys, which PyYAML silently merges, are caught).
2. :func:`validate_schema` checks the shipped JSON Schema and rewrites jsonschema's
   messages into short ones located at the offending key or value.
3. Cross-field checks that a schema cannot express (budgets, duplicate names,
   universe files, parameter references, sweep ranges, a stop for risk-per-trade sizing).
4. The dataclasses are built, expressions as :class:`ExprSource` (see :func:`expr_source`)
   so the rule language can point at the exact column of the YAML file.

Problems become :class:`Diagnostic` objects; the public loaders raise one
:class:`KobeError` holding all of them.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kobe.config.errors import Diagnostic, DiagnosticSink, KobeError
from kobe.config.model import (BacktestSettings, Config, Exits, ExprSource, LimitPriceRule, Location,
                               RiskConfig, Sizing, StrategyConfig)

JsonPath = tuple[str | int, ...]

# The line breaks PyYAML counts in its marks (the file is read with universal newlines).
_LINE_BREAKS = re.compile("[\n\x85\u2028\u2029]")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PROPERTIES = re.compile(r"(?:[&!]\S*\s+)*")  # anchors and tags before a node


# --------------------------------------------------------------------------- YAML


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
    try:
        # utf-8-sig: a BOM would otherwise shift every column of the first line.
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise KobeError(Diagnostic("file not found", file=file)) from None
    except UnicodeDecodeError as exc:
        raise KobeError(Diagnostic(f"not a UTF-8 text file ({exc.reason} at byte {exc.start})", file=file)) from None
    except OSError as exc:
        raise KobeError(Diagnostic(f"cannot read file: {exc.strerror}", file=file)) from None
    lines = tuple(_LINE_BREAKS.split(text))
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
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
    data = builder.value(root, ())
    loaded = LoadedYaml(file, Path(path), text, lines, data, builder.values, builder.keys,
                        builder.nodes, builder.key_nodes, tuple(builder.diagnostics))
    if strict and loaded.diagnostics:
        raise KobeError(loaded.diagnostics)
    return loaded


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

    def location(self, node: Node) -> Location:
        mark = node.start_mark
        source = self.lines[mark.line] if mark.line < len(self.lines) else ""
        return Location(self.file, mark.line + 1, mark.column + 1, source)

    def error(self, node: Node, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(self.location(node).diagnostic(message, hint=hint, width=_width(node)))

    def value(self, node: Node, path: JsonPath) -> Any:
        self.values[path] = self.location(node)
        self.nodes[path] = node
        if id(node) in self._open:
            self.error(node, "this alias refers to a node that contains it")
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, path, {})
            if isinstance(node, SequenceNode):
                return [self.value(item, path + (i,)) for i, item in enumerate(node.value)]
            try:
                return self.constructor.construct_object(node)
            except yaml.constructor.ConstructorError as exc:
                self.error(node, f"cannot read this value: {exc.problem}")
                return node.value
        finally:
            self._open.discard(id(node))

    def mapping(self, node: MappingNode, path: JsonPath, out: dict[str, Any], merged: bool = False) -> dict[str, Any]:
        """Fill ``out`` from ``node``. Explicit keys win over ``<<`` merge keys, as in
        YAML; a ``merged`` mapping only adds the keys still missing."""
        seen: dict[str, Node] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
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
        for merge in merges:
            for source in merge.value if isinstance(merge, SequenceNode) else [merge]:
                if isinstance(source, MappingNode):
                    self.mapping(source, path, out, merged=True)
                else:
                    self.error(source, "'<<' merges mappings only")
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


# --------------------------------------------------------------------------- schema


@lru_cache(maxsize=None)
def _schema(schema_name: str) -> dict[str, Any]:
    name = schema_name if schema_name.endswith(".json") else f"{schema_name}.schema.json"
    return json.loads(resources.files("kobe.config.schema").joinpath(name).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def _validator(schema_name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schema(schema_name))


def validate_schema(loaded: LoadedYaml, schema_name: str) -> list[Diagnostic]:
    """Check ``loaded`` against the shipped schema ``schema_name`` (``"strategies"`` or
    ``"risk"``) and return every problem, sorted by position, each with a short message
    at the offending key or value."""
    root = _schema(schema_name)
    out: list[Diagnostic] = []
    done: set[tuple[Any, ...]] = set()  # jsonschema repeats some errors (one per missing key)
    for error in _validator(schema_name).iter_errors(loaded.data):
        for path, message, hint, key in _explain(error, root):
            if (path, message, key) not in done:
                done.add((path, message, key))
                out.append(loaded.at(path, message, hint=hint, key=key))
    for path, value in _walk(loaded.data, ()):
        if isinstance(value, float) and not math.isfinite(value):
            out.append(loaded.at(path, f"{_field(path)}: expected a finite number, got {value}"))
    return sorted(out, key=lambda d: (d.line or 0, d.col or 0))  # stable: schema order within a spot


_Problem = tuple[JsonPath, str, str | None, bool]  # path, message, hint, at the key?

_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "true or false", "null": "an empty value"}
_IDENTIFIER = "^[A-Za-z_][A-Za-z0-9_]*$"
_UNIVERSE = "^(?:[A-Za-z0-9_][A-Za-z0-9_-]*|.+\\.csv)$"
_PATTERN_MESSAGES = {
    _IDENTIFIER: "'{value}' is not a valid name: use letters, digits and _, not starting with a digit",
    "\\S": "{field}: expected a non-empty string",
    _UNIVERSE: "'{value}' is neither a universe name nor a path ending in .csv",
}


def _explain(error: jsonschema.ValidationError, root: dict[str, Any]) -> list[_Problem]:
    """Rewrite one jsonschema error as located, human messages."""
    path: JsonPath = tuple(error.absolute_path)
    kind, expected, value, schema = error.validator, error.validator_value, error.instance, error.schema
    field = _field(path)
    when = _condition(root, list(error.absolute_schema_path))
    if kind == "required":
        missing = [k for k in expected if isinstance(value, dict) and k not in value]
        return [(path, f"'{k}' is required{when}", None, False) for k in missing]
    if kind == "additionalProperties":
        problems: list[_Problem] = []
        allowed = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        for k in value:
            if k in allowed or any(re.search(p, k) for p in patterns):
                continue
            if patterns and not allowed:
                problems.append((path + (k,), _PATTERN_MESSAGES[_IDENTIFIER].format(value=k), None, True))
            else:
                problems.append((path + (k,), f"unknown key '{k}'", _did_you_mean(k, allowed, show_all=True), True))
        return problems
    if kind == "not" and expected == {} and path and isinstance(path[-1], str):
        return [(path, f"'{path[-1]}' is not allowed{when}", "remove it", True)]
    if kind in ("anyOf", "oneOf"):
        # A branch failing on "type" right here is the wrong branch; the others (and a
        # wrong type inside the value, as in a list of numbers) say what is wrong.
        relevant = [c for c in error.context or []
                    if c.validator != "type" or len(c.absolute_path) > len(error.absolute_path)]
        if relevant:
            return [p for c in relevant for p in _explain(c, root)]
        branches = [b.get("title") or _TYPE_NAMES.get(b.get("type", ""), "something else") for b in expected]
        return [(path, f"{field}: expected {' or '.join(branches)}, got {_describe(value)}", None, False)]
    message = _value_message(kind, expected, value, schema, field) + when
    return [(path, message, _value_hint(kind, expected, value), False)]


def _value_message(kind: str | None, expected: Any, value: Any, schema: Any, field: str) -> str:
    if kind == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        return f"{field}: expected {' or '.join(_TYPE_NAMES.get(t, t) for t in types)}, got {_describe(value)}"
    if kind == "enum":
        return f"{field}: expected one of {', '.join(map(str, expected))}; got {_describe(value)}"
    if kind == "const":
        return f"{field}: expected {expected!r}, got {_describe(value)}"
    bounds = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "greater than",
              "exclusiveMaximum": "less than"}
    if kind in bounds:
        return f"{field}: must be {bounds[kind]} {expected}, got {value}"
    if kind == "minItems":
        return f"{field}: expected at least {expected} item{'s' if expected != 1 else ''}, got {len(value)}"
    if kind == "minLength":
        return f"{field}: expected a non-empty string"
    if kind == "pattern":
        template = _PATTERN_MESSAGES.get(expected, "{field}: '{value}' does not match {pattern}")
        return template.format(value=value, field=field, pattern=expected)
    if kind == "minProperties" and isinstance(schema, dict) and schema.get("properties"):
        return f"{field} needs at least one of: {', '.join(schema['properties'])}"
    return f"{field}: {kind} failed" if kind else f"{field}: not allowed here"


def _value_hint(kind: str | None, expected: Any, value: Any) -> str | None:
    if kind == "enum" and isinstance(value, str):
        return _did_you_mean(value, [str(e) for e in expected])
    if kind != "type" or not isinstance(value, str):
        return None
    if {"number", "integer"} & ({expected} if isinstance(expected, str) else set(expected)):
        exponent = re.fullmatch(r"([-+]?\d+)[eE]([-+]?)(\d+)", value.strip())
        if exponent:  # YAML 1.1 wants a dot and a signed exponent in a float
            mantissa, sign, digits = exponent.groups()
            number = float(value)
            plain = int(number) if number.is_integer() and abs(number) < 1e16 else number
            return f"YAML reads {value} as text; write {plain} or {mantissa}.0e{sign or '+'}{digits}"
        if re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)\s*", value):  # only quotes make this text
            return "remove the quotes"
    return None


def _condition(root: dict[str, Any], schema_path: list[Any]) -> str:
    """' when method is ...' for an error raised inside an ``if``/``then`` of the schema."""
    if "then" not in schema_path:
        return ""
    at = len(schema_path) - 1 - schema_path[::-1].index("then")
    condition = _subschema(root, schema_path[:at]).get("if", {})
    parts = []
    for name, rule in condition.get("properties", {}).items():
        options = [rule["const"]] if "const" in rule else rule.get("enum", [])
        parts.append(f"{name} is " + " or ".join(f"'{o}'" for o in options))
    return f" when {' and '.join(parts)}" if parts else ""


def _subschema(root: dict[str, Any], schema_path: list[Any]) -> Any:
    # jsonschema leaves "$ref" hops out of its schema paths: follow them when stuck.
    node: Any = root
    for part in schema_path:
        while isinstance(node, dict) and part not in node and "$ref" in node:
            node = _resolve(root, node["$ref"])
        node = node[part]
    return node


def _resolve(root: dict[str, Any], ref: str) -> Any:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _field(path: JsonPath) -> str:
    if not path:
        return "the file"
    if isinstance(path[-1], int):
        return f"{_field(path[:-1])}[{path[-1]}]" if len(path) > 1 else f"item {path[-1]}"
    return str(path[-1])


def _describe(value: Any) -> str:
    """A short human description of a YAML value (never a whole mapping)."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string '{value if len(value) <= 40 else value[:37] + '...'}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    return f"{type(value).__name__} {value}"


def _did_you_mean(word: str, options: list[str], show_all: bool = False) -> str | None:
    close = difflib.get_close_matches(word, options, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    if show_all and options:
        return "allowed keys: " + ", ".join(options)
    return None


def _walk(value: Any, path: JsonPath) -> list[tuple[JsonPath, Any]]:
    out = [(path, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _walk(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _walk(v, path + (i,))
    return out


# --------------------------------------------------------------------------- loaders


def load_risk(path: Path) -> RiskConfig:
    """Load and check ``risk.yaml``; raises :class:`KobeError` with every problem."""
    sink = DiagnosticSink()
    _, risk = _read_risk(Path(path), str(path), sink)
    sink.raise_if_any()
    assert risk is not None
    return risk


def load_strategies(path: Path) -> tuple[StrategyConfig, ...]:
    """Load and check ``strategies.yaml`` (universes resolve against its folder);
    raises :class:`KobeError` with every problem."""
    sink = DiagnosticSink()
    _, strategies = _read_strategies(Path(path), str(path), sink)
    sink.raise_if_any()
    assert strategies is not None
    return strategies


def load_config(strategies_path: Path, risk_path: Path) -> Config:
    """Load both files and check them against each other; raises one
    :class:`KobeError` with the problems of both files."""
    sink = DiagnosticSink()
    strategies_yaml, strategies = _read_strategies(Path(strategies_path), str(strategies_path), sink)
    risk_yaml, risk = _read_risk(Path(risk_path), str(risk_path), sink)
    if strategies_yaml is not None and risk_yaml is not None:
        _check_amounts(strategies_yaml, risk_yaml, sink)
    if sink:
        order = {str(strategies_path): 0, str(risk_path): 1}
        raise KobeError(sorted(sink.items, key=lambda d: (order.get(d.file or "", 2), d.line or 0, d.col or 0)))
    assert strategies is not None and risk is not None
    return Config(Path(strategies_path).parent, Path(strategies_path), Path(risk_path), strategies, risk)


def _read(path: Path, file: str, schema_name: str, sink: DiagnosticSink) -> LoadedYaml | None:
    try:
        loaded = load_yaml(path, file, strict=False)
    except KobeError as exc:
        sink.extend(exc.diagnostics)
        return None
    sink.extend(loaded.diagnostics)
    sink.extend(validate_schema(loaded, schema_name))
    return loaded


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _read_risk(path: Path, file: str, sink: DiagnosticSink) -> tuple[LoadedYaml | None, RiskConfig | None]:
    before = len(sink.items)
    loaded = _read(path, file, "risk", sink)
    if loaded is None:
        return None, None
    data = loaded.data if isinstance(loaded.data, dict) else {}
    per_order, daily = data.get("per_order_budget_usd"), data.get("daily_budget_usd")
    if _number(per_order) and _number(daily) and per_order > daily:
        sink.add(loaded.at(("per_order_budget_usd",),
                           f"per_order_budget_usd {per_order} exceeds daily_budget_usd {daily}"))
    if len(sink.items) > before:
        return loaded, None
    limit = data.get("limit_price", {})
    defaults = LimitPriceRule()
    return loaded, RiskConfig(
        per_order_budget_usd=float(per_order),
        daily_budget_usd=float(daily),
        min_adv_usd=float(data["min_adv_usd"]),
        adv_window_days=int(data.get("adv_window_days", 20)),
        max_spread_pct=float(data["max_spread_pct"]),
        max_order_pct_adv=float(data["max_order_pct_adv"]),
        max_open_positions=int(data["max_open_positions"]),
        kill_switch_file=data["kill_switch_file"],
        limit_price=LimitPriceRule(limit.get("reference", defaults.reference),
                                   float(limit.get("multiplier", defaults.multiplier))),
        location=Location(loaded.file, 1, 1, loaded.lines[0]),
    )


def _read_strategies(path: Path, file: str, sink: DiagnosticSink
                     ) -> tuple[LoadedYaml | None, tuple[StrategyConfig, ...] | None]:
    before = len(sink.items)
    loaded = _read(path, file, "strategies", sink)
    if loaded is None:
        return None, None
    root = path.parent
    first_line: dict[str, int] = {}
    for i, strategy in _strategies(loaded):
        name = strategy.get("name")
        if isinstance(name, str):
            if name in first_line:
                sink.add(loaded.at(("strategies", i, "name"), f"duplicate strategy name '{name}'",
                                   hint=f"first used at line {first_line[name]}"))
            else:
                first_line[name] = loaded.location(("strategies", i, "name")).line
        sink.extend(_check_universe(loaded, i, strategy, root))
        sink.extend(_check_params(loaded, i, strategy))
        sink.extend(_check_time_stop(loaded, i, strategy))
        sink.extend(_check_risk_sizing(loaded, i, strategy))
    if len(sink.items) > before:
        return loaded, None
    return loaded, tuple(_build_strategy(loaded, i, s) for i, s in _strategies(loaded))


def _strategies(loaded: LoadedYaml) -> list[tuple[int, dict[str, Any]]]:
    """The strategy mappings, skipping whatever the schema already rejected."""
    items = loaded.data.get("strategies") if isinstance(loaded.data, dict) else None
    return [(i, s) for i, s in enumerate(items if isinstance(items, list) else []) if isinstance(s, dict)]


def _universe_path(universe: str) -> str:
    return universe if universe.endswith(".csv") else f"universe/{universe}.csv"


def _check_universe(loaded: LoadedYaml, i: int, strategy: dict[str, Any], root: Path) -> list[Diagnostic]:
    universe = strategy.get("universe")
    if not isinstance(universe, str) or not re.fullmatch(_UNIVERSE, universe):
        return []  # the schema reported it
    relative = _universe_path(universe)
    if (root / relative).is_file():
        return []
    known = sorted(p.stem for p in (root / "universe").glob("*.csv"))
    hint = _did_you_mean(universe, known) or f"create {relative} with a 'symbol' column"
    return [loaded.at(("strategies", i, "universe"), f"universe file not found: {relative}", hint=hint)]


def _check_time_stop(loaded: LoadedYaml, i: int, strategy: dict[str, Any]) -> list[Diagnostic]:
    exits = strategy.get("exits")
    name = exits.get("time_stop_bars") if isinstance(exits, dict) else None
    if not isinstance(name, str) or not re.fullmatch(_IDENTIFIER, name):
        return []
    params = strategy.get("params") if isinstance(strategy.get("params"), dict) else {}
    where = ("strategies", i, "exits", "time_stop_bars")
    if name not in params:
        hint = _did_you_mean(name, list(params)) or "define it under params, or write a number of bars"
        return [loaded.at(where, f"time_stop_bars names param '{name}', which is not defined", hint=hint)]
    values, _ = param_values(params[name]) or ([], None)
    for value in values:
        if not (float(value).is_integer() and value >= 1):
            line = loaded.location(("strategies", i, "params", name)).line
            return [loaded.at(where, f"time_stop_bars names param '{name}' = {value}; it must be a whole number >= 1",
                              hint=f"'{name}' is set at line {line}")]
    return []


# A sweep is run point by point: caps that keep a typo (a step of 0.001) from asking for
# a million backtests.
MAX_PARAM_VALUES = 1_000
MAX_GRID_POINTS = 10_000
_RANGE_KEYS = ("from", "to", "step")


def param_values(raw: Any) -> tuple[list[float], float] | None:
    """The values of a param as written and the one the other commands use.

    A number is its only value. A list sweeps its values; ``{from, to, step}`` sweeps
    from ``from`` up to ``to`` (included when the steps land on it); ``{values: [..]}``
    is a list. The value used outside sweeps is ``default``, else the first. Whole
    numbers stay integers; a range of floats is rounded to 10 decimals, so 0.1 steps
    give 0.3, not 0.30000000000000004. ``None`` for a shape the checks reject.
    """
    if _number(raw):
        return [raw], raw
    if isinstance(raw, list) and raw and all(_number(v) for v in raw):
        return list(raw), raw[0]
    if not isinstance(raw, dict):
        return None
    if isinstance(raw.get("values"), list) and not any(k in raw for k in _RANGE_KEYS):
        values = raw["values"]
        if not (values and all(_number(v) for v in values)):
            return None
    elif "values" not in raw and all(_number(raw.get(k)) for k in _RANGE_KEYS):
        start, stop, step = (raw[k] for k in _RANGE_KEYS)
        if step <= 0 or start > stop:
            return None
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        if count > MAX_PARAM_VALUES:
            return None
        if all(isinstance(raw[k], int) for k in _RANGE_KEYS):
            values = [start + k * step for k in range(count)]
        else:
            values = [round(start + k * step, 10) for k in range(count)]
    else:
        return None
    default = raw.get("default", values[0])
    return (list(values), default) if _number(default) else None


def _check_params(loaded: LoadedYaml, i: int, strategy: dict[str, Any]) -> list[Diagnostic]:
    """Sweeps the schema cannot judge: a range's shape and size, repeated values, the
    size of the whole grid."""
    params = strategy.get("params")
    if not isinstance(params, dict):
        return []
    out: list[Diagnostic] = []
    points = 1
    for name, raw in params.items():
        where: JsonPath = ("strategies", i, "params", name)
        if isinstance(raw, dict):
            keys = [k for k in _RANGE_KEYS if k in raw]
            if "values" in raw and keys:
                out.append(loaded.at(where, f"param '{name}': give either values or from, to and step, not both"))
                continue
            if "values" not in raw and len(keys) < len(_RANGE_KEYS):
                missing = ", ".join(f"'{k}'" for k in _RANGE_KEYS if k not in raw)
                out.append(loaded.at(where, f"param '{name}': a range needs {missing}",
                                     hint="write {from: 10, to: 50, step: 10}, or a list of values"))
                continue
            if not all(_number(raw.get(k)) for k in keys) or ("step" in raw and raw["step"] <= 0):
                continue  # the schema reported it
            if keys and raw["from"] > raw["to"]:
                out.append(loaded.at(where + ("to",), f"param '{name}': to {raw['to']} is below from {raw['from']}"))
                continue
            if keys and (raw["to"] - raw["from"]) / raw["step"] + 1 > MAX_PARAM_VALUES + 1e-9:
                count = int((raw["to"] - raw["from"]) / raw["step"]) + 1
                out.append(loaded.at(where + ("step",), f"param '{name}': the range has {count:,} values, "
                                                        f"at most {MAX_PARAM_VALUES:,}", hint="use a larger step"))
                continue
        listed = raw.get("values") if isinstance(raw, dict) else raw
        if isinstance(listed, list):
            base = where + ("values",) if isinstance(raw, dict) else where
            seen: set[float] = set()
            for j, value in enumerate(listed):
                if _number(value) and value in seen:
                    out.append(loaded.at(base + (j,), f"param '{name}': value {value} is listed twice"))
                seen.add(value)
        parsed = param_values(raw)
        if parsed is not None:
            points *= len(parsed[0])
    if points > MAX_GRID_POINTS and not out:
        out.append(loaded.at(("strategies", i, "params"), f"the params' sweep has {points:,} combinations, "
                                                          f"at most {MAX_GRID_POINTS:,}", key=True,
                             hint="sweep fewer values, or fewer params at once"))
    return out


def _check_risk_sizing(loaded: LoadedYaml, i: int, strategy: dict[str, Any]) -> list[Diagnostic]:
    # Risk per trade sizes from the distance to the stop: without a stop there is none.
    sizing, exits = strategy.get("sizing"), strategy.get("exits")
    if not (isinstance(sizing, dict) and sizing.get("method") == "risk_per_trade" and isinstance(exits, dict)):
        return []
    if "stop" in exits:
        return []
    return [loaded.at(("strategies", i, "sizing", "method"), "sizing method risk_per_trade needs exits.stop",
                      hint="it sizes from the distance between the entry price and the stop")]


def _backtest_settings(top: Any, own: Any) -> BacktestSettings:
    """The strategy's backtest settings: its own keys over the file's top-level ones."""
    merged = {**(top if isinstance(top, dict) else {}), **(own if isinstance(own, dict) else {})}
    defaults = BacktestSettings()
    limit = merged.get("max_open_positions")
    return BacktestSettings(
        initial_cash=float(merged.get("initial_cash", defaults.initial_cash)),
        commission_per_share=float(merged.get("commission_per_share", defaults.commission_per_share)),
        commission_bps=float(merged.get("commission_bps", defaults.commission_bps)),
        slippage_bps=float(merged.get("slippage_bps", defaults.slippage_bps)),
        max_open_positions=int(limit) if limit is not None else None,
    )


def _check_amounts(strategies: LoadedYaml, risk: LoadedYaml, sink: DiagnosticSink) -> None:
    limit = risk.data.get("per_order_budget_usd") if isinstance(risk.data, dict) else None
    if not _number(limit):
        return
    for i, strategy in _strategies(strategies):
        sizing = strategy.get("sizing")
        amount = sizing.get("amount_usd") if isinstance(sizing, dict) else None
        if _number(amount) and amount > limit:
            sink.add(strategies.at(("strategies", i, "sizing", "amount_usd"),
                                   f"amount_usd {amount} exceeds per_order_budget_usd {limit} in {risk.file}"))


def _build_strategy(loaded: LoadedYaml, i: int, raw: dict[str, Any]) -> StrategyConfig:
    """The dataclass of a strategy that passed every check."""
    base: JsonPath = ("strategies", i)

    def expr(*path: str | int) -> ExprSource:
        return expr_source(loaded, base + path)

    def exit_expr(key: str) -> ExprSource | None:
        return expr("exits", key) if key in raw["exits"] else None

    params: dict[str, float] = {}
    sweep: dict[str, tuple[float, ...]] = {}
    for name, value in raw.get("params", {}).items():
        values, params[name] = param_values(value)  # type: ignore[misc]  # checked: never None here
        if not _number(value):
            sweep[name] = tuple(values)
    time_stop = raw["exits"].get("time_stop_bars")
    time_stop_param = time_stop if isinstance(time_stop, str) else None
    if time_stop_param is not None:
        time_stop = params[time_stop_param]
    sizing = raw["sizing"]
    return StrategyConfig(
        name=raw["name"],
        enabled=raw.get("enabled", True),
        universe=_universe_path(raw["universe"]),
        params=params,
        entry=expr("entry"),
        filters=tuple(expr("filters", j) for j in range(len(raw.get("filters", [])))),
        exits=Exits(stop=exit_expr("stop"),
                    time_stop_bars=int(time_stop) if time_stop is not None else None,
                    target=exit_expr("target"),
                    trailing_stop=exit_expr("trailing_stop"),
                    exit=exit_expr("exit"),
                    time_stop_param=time_stop_param),
        rank=expr("rank") if "rank" in raw else None,
        sizing=Sizing(method=sizing["method"],
                      amount_usd=float(sizing["amount_usd"]) if "amount_usd" in sizing else None,
                      percent=float(sizing["percent"]) if "percent" in sizing else None),
        side=raw.get("side", "long"),
        fill=raw.get("fill", "next_open"),
        location=loaded.location(base),
        param_locations={k: loaded.location(base + ("params", k)) for k in params},
        backtest=_backtest_settings(loaded.data.get("backtest"), raw.get("backtest")),
        sweep=sweep,
    )


def salvage_strategies(path: Path) -> tuple[StrategyConfig, ...]:
    """Best-effort strategies from a file that failed its checks, so the rule language
    can still check their expressions and a run reports every error at once.

    Only what is well-formed is kept: string expressions, numeric params. Never use the
    result for anything but more diagnostics.
    """
    try:
        loaded = load_yaml(Path(path), str(path), strict=False)
    except KobeError:
        return ()
    out = []
    for i, raw in _strategies(loaded):
        base: JsonPath = ("strategies", i)

        def text(*path: str | int, raw=raw) -> ExprSource | None:
            value: Any = raw
            for key in path:
                if isinstance(value, dict) and isinstance(key, str):
                    value = value.get(key)
                elif isinstance(value, list) and isinstance(key, int) and key < len(value):
                    value = value[key]
                else:
                    return None
            return expr_source(loaded, base + path) if isinstance(value, str) and value.strip() else None

        entry = text("entry")
        if entry is None:
            continue
        raw_params = raw.get("params") if isinstance(raw.get("params"), dict) else {}
        parsed = {k: param_values(v) for k, v in raw_params.items() if isinstance(k, str)}
        params = {k: p[1] for k, p in parsed.items() if p is not None}
        filters = raw.get("filters") if isinstance(raw.get("filters"), list) else []
        out.append(StrategyConfig(
            name=str(raw.get("name", f"#{i + 1}")), enabled=True, universe="", params=params, entry=entry,
            filters=tuple(f for f in (text("filters", j) for j in range(len(filters))) if f is not None),
            exits=Exits(stop=text("exits", "stop"), target=text("exits", "target"),
                        trailing_stop=text("exits", "trailing_stop"), exit=text("exits", "exit")),
            rank=text("rank"), sizing=Sizing(),
            param_locations={k: loaded.location(base + ("params", k)) for k in params},
        ))
    return tuple(out)
