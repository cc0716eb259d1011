"""The shipped JSON Schemas, with short messages located at the offending key or value.

jsonschema's own messages quote whole instances; :func:`validate_schema` rewrites each
error into one line at the right place, with a did-you-mean hint for unknown keys and
enum misses.

The schemas are checked by :class:`_Draft2020Subset`, a small validator of the keywords
they use, with jsonschema's semantics and error details (keyword, value, instance,
subschema, paths, an ``anyOf``'s context): importing jsonschema costs ~40 ms, a sixth of
``kobe validate``'s budget (issue 12). A schema using any other keyword is handed to
jsonschema itself, so a schema edit can make validation slower, never different; a test
compares the two on the shipped schemas and many broken configs.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from kobe.config.errors import Diagnostic
from kobe.config.yamlpos import JsonPath, LoadedYaml


@cache
def _schema(schema_name: str) -> dict[str, Any]:
    name = schema_name if schema_name.endswith(".json") else f"{schema_name}.schema.json"
    return json.loads(resources.files("kobe.config.schema").joinpath(name).read_text(encoding="utf-8"))


SchemaPath = tuple[Any, ...]


@dataclass
class SchemaError:
    """One violation, with the details of a ``jsonschema.ValidationError`` that
    :func:`_explain` reads."""

    validator: str | None              # the failing keyword (None: a false schema)
    validator_value: Any               # the keyword's value in the schema
    instance: Any                      # the value that fails
    schema: Any                        # the (sub)schema holding the keyword
    absolute_path: JsonPath            # where the value sits in the document
    absolute_schema_path: SchemaPath   # as jsonschema's: without $ref hops, nor "if"
    context: list[SchemaError] = field(default_factory=list)  # anyOf: every branch's errors


class _Validator:
    """What :func:`validate_schema` needs of a validator."""

    def iter_errors(self, instance: Any) -> Iterator[SchemaError]:
        raise NotImplementedError


@cache
def _validator(schema_name: str) -> _Validator:
    root = _schema(schema_name)
    return _Draft2020Subset(root) if _Draft2020Subset.supports(root) else _Jsonschema(root)


class _Jsonschema(_Validator):
    """jsonschema's Draft 2020-12 validator: for a schema :class:`_Draft2020Subset` does not cover."""

    def __init__(self, root: dict[str, Any]) -> None:
        import jsonschema  # type: ignore[import-untyped]

        self._validator = jsonschema.Draft202012Validator(root)

    def iter_errors(self, instance: Any) -> Iterator[SchemaError]:
        for error in self._validator.iter_errors(instance):
            yield _converted(error)


def _converted(error: Any) -> SchemaError:
    return SchemaError(error.validator, error.validator_value, error.instance, error.schema,
                       tuple(error.absolute_path), tuple(error.absolute_schema_path),
                       [_converted(c) for c in error.context or ()])


# Keywords that never fail a document (annotations and structure).
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples",
                          "deprecated", "readOnly", "writeOnly", "then", "else"})
_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    # Draft 6 on: 1.0 is an integer.
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}
_Errors = Iterator[SchemaError]


class _Draft2020Subset(_Validator):
    """Draft 2020-12 for the keywords of ``_KEYWORDS`` and local ``$ref``s.

    Mirrors jsonschema 4's order and details: keywords in the schema's order, one
    ``required`` error per missing key, ``$ref`` and ``if`` left out of schema paths.
    """

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    @classmethod
    def supports(cls, root: Any) -> bool:
        """Whether every keyword of ``root`` is one this class checks exactly as jsonschema."""
        return _supported(root, root, top=True)

    def iter_errors(self, instance: Any) -> _Errors:
        return self._errors(instance, self.root, (), ())

    def _valid(self, instance: Any, schema: Any) -> bool:
        return next(self._errors(instance, schema, (), ()), None) is None

    def _errors(self, instance: Any, schema: Any, path: JsonPath, spath: SchemaPath) -> _Errors:
        if schema is True:
            return
        if schema is False:
            yield SchemaError(None, None, instance, schema, path, spath)
            return
        for key, value in schema.items():
            if key in _ANNOTATIONS:
                continue
            yield from _KEYWORDS[key](self, value, instance, schema, path, spath)

    # One method per keyword: (value, instance, schema, path, schema path) -> errors.

    def _fail(self, key: str, value: Any, instance: Any, schema: Any, path: JsonPath, spath: SchemaPath,
              context: list[SchemaError] | None = None) -> _Errors:
        yield SchemaError(key, value, instance, schema, path, spath + (key,), context or [])

    def _ref(self, ref: str, instance: Any, schema: Any, path: JsonPath, spath: SchemaPath) -> _Errors:
        yield from self._errors(instance, _pointer(self.root, ref), path, spath)

    def _if(self, test: Any, instance: Any, schema: Any, path: JsonPath, spath: SchemaPath) -> _Errors:
        if self._valid(instance, test):
            if "then" in schema:
                yield from self._errors(instance, schema["then"], path, spath + ("then",))
        elif "else" in schema:
            yield from self._errors(instance, schema["else"], path, spath + ("else",))

    def _not(self, inner: Any, instance: Any, schema: Any, path: JsonPath, spath: SchemaPath) -> _Errors:
        if self._valid(instance, inner):
            yield from self._fail("not", inner, instance, schema, path, spath)

    def _all_of(self, branches: Any, instance: Any, schema: Any, path: JsonPath, spath: SchemaPath) -> _Errors:
        for i, branch in enumerate(branches):
            yield from self._errors(instance, branch, path, spath + ("allOf", i))

    def _any_of(self, branches: Any, instance: Any, schema: Any, path: JsonPath, spath: SchemaPath) -> _Errors:
        context: list[SchemaError] = []
        for i, branch in enumerate(branches):
            errors = list(self._errors(instance, branch, path, spath + ("anyOf", i)))
            if not errors:
                return
            context += errors
        yield from self._fail("anyOf", branches, instance, schema, path, spath, context)

    def _properties(self, props: Any, instance: Any, schema: Any, path: JsonPath, spath: SchemaPath) -> _Errors:
        if isinstance(instance, dict):
            for name, sub in props.items():
                if name in instance:
                    yield from self._errors(instance[name], sub, path + (name,), spath + ("properties", name))

    def _pattern_properties(self, patterns: Any, instance: Any, schema: Any, path: JsonPath,
                            spath: SchemaPath) -> _Errors:
        if isinstance(instance, dict):
            for pattern, sub in patterns.items():
                for key, value in instance.items():
                    if re.search(pattern, key):
                        yield from self._errors(value, sub, path + (key,), spath + ("patternProperties", pattern))

    def _additional(self, extra: Any, instance: Any, schema: Any, path: JsonPath, spath: SchemaPath) -> _Errors:
        if not isinstance(instance, dict):
            return
        known, patterns = schema.get("properties", {}), list(schema.get("patternProperties", {}))
        extras = [k for k in instance if k not in known and not any(re.search(p, k) for p in patterns)]
        if isinstance(extra, dict):
            for key in extras:
                yield from self._errors(instance[key], extra, path + (key,), spath + ("additionalProperties",))
        elif not extra and extras:
            yield from self._fail("additionalProperties", extra, instance, schema, path, spath)

    def _required(self, names: Any, instance: Any, schema: Any, path: JsonPath, spath: SchemaPath) -> _Errors:
        # One error per missing key, as jsonschema (validate_schema folds them).
        if isinstance(instance, dict):
            for name in names:
                if name not in instance:
                    yield from self._fail("required", names, instance, schema, path, spath)

    def _items(self, items: Any, instance: Any, schema: Any, path: JsonPath, spath: SchemaPath) -> _Errors:
        if isinstance(instance, list):
            for i, value in enumerate(instance):
                yield from self._errors(value, items, path + (i,), spath + ("items",))


_Keyword = Callable[[_Draft2020Subset, Any, Any, Any, JsonPath, SchemaPath], _Errors]


def _simple(key: str, fails: Callable[[Any, Any], bool]) -> _Keyword:
    """A keyword that fails when ``fails(its value, the instance)``, without descending."""
    def keyword(_: _Draft2020Subset, value: Any, instance: Any, schema: Any, path: JsonPath,
                spath: SchemaPath) -> _Errors:
        if fails(value, instance):
            yield SchemaError(key, value, instance, schema, path, spath + (key,))
    return keyword


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _equal(one: Any, two: Any) -> bool:
    """JSON equality as jsonschema's: true is not 1, in lists and mappings too."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return one.keys() == two.keys() and all(_equal(one[k], two[k]) for k in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return bool(one == two)


def _types(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


_KEYWORDS: dict[str, _Keyword] = {
    "$ref": _Draft2020Subset._ref,
    "if": _Draft2020Subset._if,
    "not": _Draft2020Subset._not,
    "allOf": _Draft2020Subset._all_of,
    "anyOf": _Draft2020Subset._any_of,
    "properties": _Draft2020Subset._properties,
    "patternProperties": _Draft2020Subset._pattern_properties,
    "additionalProperties": _Draft2020Subset._additional,
    "items": _Draft2020Subset._items,
    "required": _Draft2020Subset._required,
    "type": _simple("type", lambda t, v: not any(_TYPES[n](v) for n in _types(t))),
    "enum": _simple("enum", lambda e, v: all(not _equal(x, v) for x in e)),
    "const": _simple("const", lambda c, v: not _equal(v, c)),
    "minimum": _simple("minimum", lambda m, v: _number(v) and v < m),
    "maximum": _simple("maximum", lambda m, v: _number(v) and v > m),
    "exclusiveMinimum": _simple("exclusiveMinimum", lambda m, v: _number(v) and v <= m),
    "exclusiveMaximum": _simple("exclusiveMaximum", lambda m, v: _number(v) and v >= m),
    "minLength": _simple("minLength", lambda n, v: isinstance(v, str) and len(v) < n),
    "maxLength": _simple("maxLength", lambda n, v: isinstance(v, str) and len(v) > n),
    "pattern": _simple("pattern", lambda p, v: isinstance(v, str) and not re.search(p, v)),
    "minItems": _simple("minItems", lambda n, v: isinstance(v, list) and len(v) < n),
    "minProperties": _simple("minProperties", lambda n, v: isinstance(v, dict) and len(v) < n),
}
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs")   # keyword -> {name: schema}
_SCHEMAS = ("additionalProperties", "items", "not", "if", "then", "else")
_SCHEMA_LISTS = ("allOf", "anyOf")


def _supported(root: Any, schema: Any, *, top: bool = False) -> bool:
    """Whether :class:`_Draft2020Subset` checks ``schema`` exactly as jsonschema would:
    known keywords only, known type names, ``$ref`` to a plain pointer into ``root``,
    no ``$id`` but the root's (it would move the base of references)."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict):
        return False
    for key, value in schema.items():
        if key not in _KEYWORDS and key not in _ANNOTATIONS:
            return False
        if key == "$id" and not top:
            return False
        if key == "$ref" and not _plain_pointer(root, value):
            return False
        if key == "type" and not all(n in _TYPES for n in _types(value)):
            return False
        if key in _SCHEMA_MAPS and not all(_supported(root, s) for s in value.values()):
            return False
        if key in _SCHEMAS and not _supported(root, value):
            return False
        if key in _SCHEMA_LISTS and not all(_supported(root, s) for s in value):
            return False
    return True


def _plain_pointer(root: Any, ref: Any) -> bool:
    if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")) or any(c in ref for c in "~%"):
        return False
    try:
        _pointer(root, ref)
    except (KeyError, IndexError, TypeError, ValueError):
        return False
    return True


def _pointer(root: Any, ref: str) -> Any:
    node = root
    for part in ref.removeprefix("#").removeprefix("/").split("/") if ref != "#" else ():
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


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
    r"^[^\u0000]*[^\s\u0000][^\u0000]*$": "{field}: expected a file name (not blank, no NUL character)",
}


def _explain(error: SchemaError, root: dict[str, Any]) -> list[_Problem]:
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
    if kind == "maxLength":
        return f"{field}: at most {expected} characters, got {len(value)}"
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
            if not math.isfinite(number) or abs(number) > 1e15:
                return None
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

