"""The shipped JSON Schemas, with short messages located at the offending key or value.

jsonschema's own messages quote whole instances; :func:`validate_schema` rewrites each
error into one line at the right place, with a did-you-mean hint for unknown keys and
enum misses.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from kobe.config.errors import Diagnostic
from kobe.config.yamlpos import JsonPath, LoadedYaml


@cache
def _schema(schema_name: str) -> dict[str, Any]:
    name = schema_name if schema_name.endswith(".json") else f"{schema_name}.schema.json"
    return json.loads(resources.files("kobe.config.schema").joinpath(name).read_text(encoding="utf-8"))


@cache
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
    r"^[^\u0000]*[^\s\u0000][^\u0000]*$": "{field}: expected a file name (not blank, no NUL character)",
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

