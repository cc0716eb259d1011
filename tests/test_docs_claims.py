"""Claims of the docs tied to the program, so they cannot drift apart again (issue 13):

- docs/rules.md's table of built-in functions is the registry (`kobe functions`), name,
  signature and result type, and its bar and derived columns are kobe/dsl/columns.py's;
- every key of the config schemas (kobe/config/schema/*.json) is in a key table of
  docs/config.md, its default there the schema's default, and every key named in those
  tables is a key of the schema; the shipped values there are the shipped risk.yaml's;
- every endpoint of docs/exchange.md's "What it serves" table is routed by the exchange
  to the API the row names, and every route of the exchange is in the table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def tables(text: str) -> list[list[list[str]]]:
    """The markdown tables of ``text``: rows of cells, the header row first (the
    ``| --- |`` line dropped). A ``\\|`` inside a cell is kept as ``|``."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (a markdown heading line) up to the next heading of
    the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(heading + "\n")
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, start + len(heading) + 1)
    return text[start:end.start() if end else len(text)]


def code(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


# --- docs/rules.md ---------------------------------------------------------------

RULES = (DOCS / "rules.md").read_text()


def test_the_function_table_of_rules_md_is_the_registry() -> None:
    from kobe.dsl.functions import REGISTRY

    [table] = [t for t in tables(section(RULES, "## Built-in functions")) if t[0][0] == "function"]
    documented = {code(row[0])[0] + " -> " + row[1] for row in table[1:]}
    program = {spec.signature() for spec in REGISTRY.values()}
    assert sorted(documented - program) == [], "in docs/rules.md, not in kobe/dsl/functions.py REGISTRY"
    assert sorted(program - documented) == [], "in kobe/dsl/functions.py REGISTRY, not in docs/rules.md"
    meanings = {code(row[0])[0].split("(")[0]: row[2] for row in table[1:]}
    assert meanings == {name: spec.doc for name, spec in REGISTRY.items()}


def test_the_columns_of_rules_md_are_the_checker_s() -> None:
    from kobe.dsl.columns import BAR_COLUMNS, EXIT_COLUMNS, REQUIRED_BAR_FIELDS

    [syntax] = [t for t in tables(RULES) if t[0][0] == "form"]
    rows = {row[0]: code(row[1])[0].split() for row in syntax[1:]}
    raw = [c for c in REQUIRED_BAR_FIELDS if c in BAR_COLUMNS]
    assert rows["bar column"] == raw
    assert rows["derived column"] == [c for c in BAR_COLUMNS if c not in raw]
    assert rows["entry price"] == list(EXIT_COLUMNS)


# --- docs/exchange.md ------------------------------------------------------------

EXCHANGE = (DOCS / "exchange.md").read_text()
API_OF_ROW = {"Alpaca trading": "alpaca", "Alpaca data": "alpaca", "Polygon": "polygon", "admin": "admin"}
SAMPLE = {"symbol or asset id": "AAPL", "id": "00000000-0000-4000-8000-000000000000", "T": "AAPL",
          "from": "2017-06-01", "to": "2017-06-05"}


def documented_endpoints() -> list[tuple[str, str, str]]:
    """(method, path, API) of every row of "What it serves"; ``GET``, ``DELETE /p`` is
    both methods on /p, and a placeholder ``{x}`` becomes a sample value."""
    [table] = [t for t in tables(section(EXCHANGE, "## What it serves")) if t[0][:2] == ["API", "method and path"]]
    out: list[tuple[str, str, str]] = []
    api = ""
    for row in table[1:]:
        api = API_OF_ROW[row[0]] if row[0] else api
        methods: list[str] = []
        for item in code(row[1]):
            method, _, path = item.partition(" ")
            methods.append(method)
            if path:
                path = re.sub(r"\{([^}]+)\}", lambda m: SAMPLE[m.group(1)], path.split("?")[0])
                out += [(m, path, api) for m in methods]
                methods = []
        assert not methods, f"a method without a path in {row[1]!r}"
    return out


def test_every_endpoint_of_exchange_md_is_routed() -> None:
    from kobe.broker.exchange.routing import find
    from kobe.broker.exchange.server import ROUTES

    endpoints = documented_endpoints()
    assert len(endpoints) > 20
    for method, path, api in endpoints:
        route, _ = find(ROUTES, method, path)
        assert route is not None, f"docs/exchange.md serves {method} {path}; the exchange has no route for it"
        assert route.api == api, f"{method} {path}: docs/exchange.md says {api}, the route is {route.api}"


def test_every_route_of_the_exchange_is_in_exchange_md() -> None:
    from kobe.broker.exchange.server import ROUTES

    documented = documented_endpoints()
    for route in ROUTES:
        assert any(method == route.method and route.regex.match(path) for method, path, _ in documented), \
            f"{route.method} {route.pattern} is routed by the exchange but not in docs/exchange.md 'What it serves'"
