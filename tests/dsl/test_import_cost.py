"""`kobe validate` imports no data-frame library (issue 12: validate in 0.25 s).

Importing Polars alone costs ~150 ms per process, more than half the budget, and
validating (parsing, checking, signatures, types, lookbacks) needs none of it: only
compiling builds Polars expressions. These tests run fresh processes, because the
test process itself has long imported Polars.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parents[2]

# Heavy imports the validate path must not pull in (pyarrow and numpy come with Polars'
# and pandas' interop; jsonschema checks only schemas the built-in subset cannot).
HEAVY = frozenset({"polars", "pandas", "numpy", "pyarrow", "jsonschema"})


def _imported(args: list[str], cwd: Path) -> set[str]:
    """Top-level packages a fresh ``python -X importtime <args>`` imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    names = set()
    for line in done.stderr.splitlines():
        # import time: self [us] | cumulative | imported package
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_kobe_validate_imports_no_polars(project_dir: Path) -> None:
    imported = _imported(["-m", "kobe.cli", "validate"], project_dir)
    assert "kobe" in imported  # the probe sees the imports at all
    assert not imported & HEAVY, f"kobe validate imported {sorted(imported & HEAVY)}"


def test_compiling_does_import_polars(project_dir: Path) -> None:
    # The control: the same probe sees Polars once a strategy is compiled, so the test
    # above fails when something on the validate path compiles or imports it again.
    script = ("from pathlib import Path\nfrom kobe.project import load_project\n"
              "project = load_project(Path('strategies.yaml'))\n"
              "project.compiled(project.strategies[0].name)\n")
    assert "polars" in _imported(["-c", script], project_dir)


# --- The shipped schemas are checked without jsonschema, with the same result. -----------

PROBES: tuple[Any, ...] = (None, True, False, 0, -1, 1.5, 1e300, float("inf"), "", "x", "1e5", "BAD NAME",
                           [], [1], ["x", "x"], {}, {"bogus": 1})


def _enum_values(schema: Any) -> set[Any]:
    """Every enum and const value of ``schema``: probes that switch its if/then branches."""
    found: set[Any] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "enum":
                found |= {v for v in value if isinstance(v, (str, int, float))}
            elif key == "const" and isinstance(value, (str, int, float)):
                found.add(value)
            else:
                found |= _enum_values(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _enum_values(value)
    return found


def _filled(doc: Any, schema: Any, root: Any) -> Any:
    """``doc`` with every absent property the schema gives a default (or sub-properties)
    added, so that the mutants reach the sections the shipped file leaves out."""
    from kobe.config.validate import _pointer

    while isinstance(schema, dict) and "$ref" in schema:
        schema = _pointer(root, schema["$ref"])
    if not isinstance(schema, dict):
        return doc
    if isinstance(doc, dict):
        out = dict(doc)
        for key, sub in schema.get("properties", {}).items():
            resolved = sub
            while isinstance(resolved, dict) and "$ref" in resolved:
                resolved = _pointer(root, resolved["$ref"])
            if key in out:
                out[key] = _filled(out[key], resolved, root)
            elif isinstance(resolved, dict) and "default" in resolved:
                out[key] = resolved["default"]
            elif isinstance(resolved, dict) and "properties" in resolved:
                out[key] = _filled({}, resolved, root)
        return out
    if isinstance(doc, list) and isinstance(schema.get("items"), dict):
        return [_filled(item, schema["items"], root) for item in doc]
    return doc


def _mutants(doc: Any, extra: tuple[Any, ...]) -> Iterator[Any]:
    """``doc`` with one change: each value replaced by each probe, each key removed, an
    unknown key added to each mapping."""
    yield doc
    if isinstance(doc, dict):
        yield {**doc, "bogus_key": 1}
        for key, value in doc.items():
            yield {k: v for k, v in doc.items() if k != key}
            for probe in (*PROBES, *(extra if isinstance(value, str) else ())):
                yield {**doc, key: probe}
            for mutant in _mutants(value, extra):
                yield {**doc, key: mutant}
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield doc[:i] + doc[i + 1:]
            for mutant in _mutants(value, extra):
                yield [*doc[:i], mutant, *doc[i + 1:]]


@pytest.mark.parametrize("name", ["strategies", "risk"])
def test_the_shipped_schemas_are_checked_as_jsonschema_checks_them(name: str) -> None:
    # validate_schema's messages are built from these errors: same errors, same messages.
    from kobe.config.validate import _converted, _Draft2020Subset, _schema, _validator

    root = _schema(name)
    assert isinstance(_validator(name), _Draft2020Subset), "the shipped schema fell back to jsonschema"
    reference = jsonschema.Draft202012Validator(root)
    shipped = yaml.safe_load((REPO / f"{name}.yaml").read_text(encoding="utf-8"))
    probes = tuple(sorted(_enum_values(root), key=repr))
    broken = 0
    for doc in (shipped, _filled(shipped, root, root)):
        for mutant in _mutants(doc, probes):
            expected = [_converted(e) for e in reference.iter_errors(mutant)]
            assert list(_validator(name).iter_errors(mutant)) == expected, mutant
            broken += bool(expected)
    assert broken > 1000  # the mutants do break the schema, in many ways


def test_a_schema_with_another_keyword_is_checked_by_jsonschema() -> None:
    from kobe.config.validate import _Draft2020Subset

    assert _Draft2020Subset.supports({"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}},
                                      "$defs": {"a": {"type": "integer", "minimum": 0}}})
    for schema in ({"oneOf": [{"type": "string"}]}, {"properties": {"a": {"multipleOf": 2}}},
                   {"$ref": "https://example.com/other.json"}, {"$ref": "#/$defs/missing"},
                   {"items": {"type": "decimal"}}, {"properties": {"a": {"$id": "a.json"}}}):
        assert not _Draft2020Subset.supports(schema), schema
