"""Claims of the docs tied to the program, so they cannot drift apart again (issue 13):

- docs/rules.md's table of built-in functions is the registry (`kobe functions`): name,
  signature, result type and meaning; its bar, derived and entry-price columns are
  kobe/dsl/columns.py's;
- every key of the config schemas (kobe/config/schema/*.json) is in a key table of
  docs/config.md with the default the program gives it (the schema's, or the quality
  gate's DEFAULT_ACTIONS), every key of those tables is the schema's, and their shipped
  values are the shipped strategies.yaml's and risk.yaml's; the limits table is
  kobe/config/limits.py's; the strategies.yaml example validates;
- every endpoint of docs/exchange.md's "What it serves" table is routed by the exchange
  to the API the row names, and every route is in the table; its options table is
  `kobe exchange`'s options with their defaults;
- docs/trading.md's files table is the paths the program writes, the audit trail's row
  exactly the three audit logs; its `advanced:` example validates;
- every test and every kobe/ or tests/ file a page of README.md or docs/ cites exists.
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
    end = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(text, start + len(heading) + 1)
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
    kinds = ("bar column", "derived column", "entry price", "meta-model probability")
    assert rows["bar column"] == [c for c in REQUIRED_BAR_FIELDS if c in BAR_COLUMNS]
    assert rows["entry price"] == list(EXIT_COLUMNS)
    documented = [name for kind in kinds for name in rows.get(kind, [])]
    assert sorted(documented) == sorted({**BAR_COLUMNS, **EXIT_COLUMNS}), \
        f"docs/rules.md's column rows ({', '.join(kinds)}) are not kobe/dsl/columns.py's names"


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


# --- docs/config.md --------------------------------------------------------------

CONFIG = (DOCS / "config.md").read_text()
SCHEMAS = REPO / "kobe" / "config" / "schema"
FILES = {"strategies.yaml": "strategies.schema.json", "risk.yaml": "risk.schema.json"}


def schema_keys(schema: dict[str, Any]) -> tuple[dict[str, tuple[bool, Any]], set[str]]:
    """Every key path of ``schema`` (``a.b``; the items of an array ``a[].b``) with
    whether it has a default, and which; and the paths of sections, whose keys are
    paths of their own. A definition reached a second time (the strategy's ``backtest``,
    ``short_exits``) is the key alone: its keys are the first's. Walked breadth first, so
    the shortest path of a definition is the one expanded."""
    defs = schema.get("$defs", {})
    keys: dict[str, tuple[bool, Any]] = {}
    sections: set[str] = set()
    seen: set[str] = set()
    queue: list[tuple[str, dict[str, Any]]] = [("", schema)]
    while queue:
        prefix, node = queue.pop(0)
        for name, sub in node.get("properties", {}).items():
            path = f"{prefix}{name}"
            ref = sub.get("$ref", "")
            keys[path] = ("default" in sub, sub.get("default"))
            if ref.startswith("#/$defs/"):
                if ref in seen:
                    continue
                seen.add(ref)
                sub = {**defs[ref.removeprefix("#/$defs/")], **{k: v for k, v in sub.items() if k != "$ref"}}
            item_ref = sub.get("items", {}).get("$ref", "") if sub.get("type") == "array" else ""
            if "properties" in defs.get(item_ref.removeprefix("#/$defs/"), {}):
                seen.add(item_ref)
                queue.append((f"{path}[].", defs[item_ref.removeprefix("#/$defs/")]))
                sections.add(path)
            elif "properties" in sub:
                queue.append((f"{path}.", sub))
                sections.add(path)
    return keys, sections


def program_defaults() -> dict[str, Any]:
    """Defaults the program gives that the schema does not write down: the quality
    gate's action per rule."""
    from kobe.data.quality import DEFAULT_ACTIONS

    return {f"data.quality.actions.{rule}": action for rule, action in DEFAULT_ACTIONS.items()}


def documented_keys() -> dict[str, dict[str, dict[str, str]]]:
    """For each config file, the key tables of its sections in docs/config.md: key path
    -> the row's cells by column name."""
    out: dict[str, dict[str, dict[str, str]]] = {name: {} for name in FILES}
    for chunk in re.split(r"(?m)^(?=## )", CONFIG):
        heading = chunk.splitlines()[0] if chunk.startswith("## ") else ""
        files = [name for name in FILES if name in heading]
        for table in tables(chunk):
            header = table[0]
            if header[0] != "key" or "default" not in header:
                continue
            assert len(files) == 1, f"a key table under {heading!r}, which names no config file"
            for row in table[1:]:
                for path in code(row[0]):
                    assert path not in out[files[0]], f"{path} is in two rows of docs/config.md"
                    out[files[0]][path] = dict(zip(header, row, strict=True))
    return out


def value(cell: str) -> tuple[bool, Any]:
    """Whether a default or shipped-value cell gives a value (it starts with one in
    backticks), and the value, read as YAML."""
    match = re.match(r"`([^`]+)`", cell)
    return (True, yaml.safe_load(match.group(1))) if match else (False, None)


@pytest.mark.parametrize("file", FILES)
def test_every_schema_key_is_in_config_md_with_its_default(file: str) -> None:
    keys, sections = schema_keys(json.loads((SCHEMAS / FILES[file]).read_text()))
    documented = documented_keys()[file]
    extra = program_defaults() if file == "strategies.yaml" else {}
    assert sorted(set(keys) - sections - set(documented)) == [], f"keys of {FILES[file]} missing from docs/config.md"
    assert sorted(set(documented) - set(keys)) == [], f"keys in docs/config.md that {FILES[file]} does not know"
    for path, (has_default, default) in keys.items():
        if path not in documented:
            continue  # a section left out of the tables
        if path in sections:
            assert not value(documented[path]["default"])[0], f"{path} is a section: its keys have the defaults"
            continue
        if path in extra:
            has_default, default = True, extra[path]
        gives, shown = value(documented[path]["default"])
        assert gives == has_default, f"{path}: docs/config.md's default {documented[path]['default']!r}, " \
                                     + (f"the program's {default!r}" if has_default else "the program has none")
        assert shown == default, f"{path}: docs/config.md's default is {shown!r}, the program's {default!r}"


def lookup(data: Any, path: str) -> tuple[bool, Any]:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return False, None
        data = data[part]
    return True, data


@pytest.mark.parametrize("file", FILES)
def test_the_shipped_values_in_config_md_are_the_shipped_files(file: str) -> None:
    shipped = yaml.safe_load((REPO / file).read_text())
    rows = [(path, cells) for path, cells in documented_keys()[file].items() if "shipped value" in cells]
    assert rows
    for path, cells in rows:
        present, actual = lookup(shipped, path)
        if isinstance(actual, dict):
            continue  # a section: its keys have their own rows
        gives, shown = value(cells["shipped value"])
        assert (gives, shown) == (present, actual), \
            f"{path}: docs/config.md ships {cells['shipped value']!r}, {file} has " + \
            (repr(actual) if present else "no such key")


def same(shown: str, default: Any) -> bool:
    try:
        return float(shown) == float(default)
    except (TypeError, ValueError):
        return shown == str(default)


def test_the_options_table_of_exchange_md_is_kobe_exchange_s() -> None:
    import dataclasses

    import click

    from kobe.broker.exchange import ExchangeConfig
    from kobe.cli import main

    command = main.get_command(click.Context(main), "exchange")
    assert command is not None
    params = {o: p for p in command.params if isinstance(p, click.Option) for o in p.opts}
    config = {f.name: f.default for f in dataclasses.fields(ExchangeConfig)}

    def default_of(option: str) -> Any:
        """The option's default, or when the command leaves it to the exchange (None),
        ExchangeConfig's."""
        given = params[option].default
        unset = given is None or type(given).__name__ == "Sentinel"  # click 8.3 leaves a flag's default UNSET
        return config.get(option.removeprefix("--").replace("-", "_")) if unset else given

    [table] = [t for t in tables(section(EXCHANGE, "### Options")) if t[0][:2] == ["option", "default"]]
    documented: set[str] = set()
    for row in table[1:]:
        options = [c.split()[0] for c in code(row[0])]
        documented.update(options)
        defaults = code(row[1])
        for option in options:
            assert option in params, f"docs/exchange.md names {option}, which kobe exchange does not take"
        if len(defaults) == len(options):
            for option, shown in zip(options, defaults, strict=True):
                if not shown.startswith("--"):
                    assert same(shown, default_of(option)), \
                        f"{option}: docs/exchange.md's default {shown}, kobe exchange's {default_of(option)!r}"
        elif defaults == [] or row[1] in ("off", "none"):
            for option in options:
                assert default_of(option) in (None, False, 0, frozenset()), \
                    f"{option}: docs/exchange.md says {row[1]!r}, kobe exchange's default is {default_of(option)!r}"
    assert sorted(set(params) - documented - {"--help"}) == [], "options of kobe exchange not in its table"


# --- docs/trading.md -------------------------------------------------------------

TRADING = (DOCS / "trading.md").read_text()


def test_the_files_table_of_trading_md_names_the_program_s_files() -> None:
    """Each path of the table is a path the program writes (its constant), and the
    audit trail's row is exactly the audit logs."""
    from kobe.audit.log import CHAIN, EVENTS, TRADES
    from kobe.cli.exchange import DEFAULT_STATE
    from kobe.config.pin import LOCK_FILE as PIN
    from kobe.config.pin import MODELS_DIR
    from kobe.logs import DEFAULT_FILE as LOG
    from kobe.monitor.session import DRIFT_DIR, SHADOW_DIR
    from kobe.oms.views import POSITIONS_FILE
    from kobe.runner.run import EQUITY_FILE, HEARTBEAT_FILE, LOCK_FILE
    from kobe.scan import PICKS_FILE
    from kobe.trade.cycle import ORDERS_FILE

    orders = ORDERS_FILE.as_posix()
    known = {p.as_posix() for p in (DEFAULT_STATE, PIN, LOG, POSITIONS_FILE, EQUITY_FILE, HEARTBEAT_FILE, LOCK_FILE,
                                    PICKS_FILE, ORDERS_FILE)}
    kill_switch = yaml.safe_load((REPO / "risk.yaml").read_text())["kill_switch_file"]
    known |= {f"{orders}.corrupt-<time>", f"{orders}.rebuild", kill_switch, *(f"logs/{n}" for n in (EVENTS, TRADES, CHAIN)),
              *(f"{folder.as_posix()}/<session>.json" for folder in (SHADOW_DIR, DRIFT_DIR)), f"{MODELS_DIR.as_posix()}/*.joblib"}
    [table] = [t for t in tables(section(TRADING, "## Files")) if t[0] == ["path", "what"]]
    paths = {path: row[1] for row in table[1:] for path in code(row[0])}
    assert sorted(set(paths) - known) == [], "paths in docs/trading.md's files table that the program does not write"
    assert sorted(known - set(paths)) == [], "files of the program missing from docs/trading.md's files table"
    trail = {path for path, what in paths.items() if what == "the audit trail"}
    assert trail == {f"logs/{name}" for name in (EVENTS, TRADES, CHAIN)}


# --- every page ------------------------------------------------------------------

PAGES = {p.relative_to(REPO).as_posix(): p.read_text() for p in [REPO / "README.md", *sorted(DOCS.glob("*.md"))]}


@pytest.mark.parametrize("page", PAGES)
def test_the_tests_and_source_files_a_page_cites_exist(page: str) -> None:
    """A test named as the proof of a claim (`test_...`, a function or a module) and a
    file of the repository named by its path (`kobe/...`, `tests/...`) exist."""
    text = PAGES[page]
    functions = set(re.findall(r"(?m)^\s*def (test_\w+)", "\n".join(
        p.read_text() for p in (REPO / "tests").rglob("*.py"))))
    modules = {p.stem for p in (REPO / "tests").rglob("test_*.py")}
    missing = sorted({name for name in re.findall(r"\b(test_\w+)\b", text)} - functions - modules)
    assert missing == [], f"{page} cites tests that do not exist"
    paths = sorted({p for p in re.findall(r"(?<![\w./-])((?:kobe|tests)/[\w/.-]*\w)", text) if not (REPO / p).exists()})
    assert paths == [], f"{page} names files that do not exist"


def test_the_limits_table_of_config_md_is_kobe_config_limits() -> None:
    from kobe.config import limits

    def number(cell: str) -> float:
        text = re.search(r"\d[\d,.]*(?:e\d+)?", cell)
        assert text, cell
        return float(text.group().replace(",", ""))

    strategies = json.loads((SCHEMAS / "strategies.schema.json").read_text())
    maxima = {node["maximum"] for node in walk(strategies) if isinstance(node, dict) and node.get("type") == "integer"
              and "maximum" in node}
    expected = {
        "windows, lags, holding periods, lookbacks": limits.MAX_BARS,
        "any number in a config file": limits.MAX_NUMBER,
        "YAML nesting": limits.MAX_NESTING,
        "values after YAML aliases are expanded": limits.MAX_VALUES,
        "one rule expression, definitions expanded": limits.MAX_EXPR_DEPTH,
        "one rule expression's terms, definitions expanded": limits.MAX_EXPR_NODES,
        "a config, rules or universe file": limits.MAX_TEXT_BYTES / 2**20,  # MiB
        "a universe name or path": strategies["$defs"]["strategy"]["properties"]["universe"]["maxLength"],
    }
    [table] = [t for t in tables(section(CONFIG, "## Limits")) if t[0][0] == "limit"]
    shown = {row[0]: number(row[1]) for row in table[1:]}
    assert shown == expected
    assert maxima == {limits.MAX_BARS}, "the schemas' integer maxima are the bar limit"


def walk(node: Any) -> list[Any]:
    out = [node]
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        out += walk(child)
    return out


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)


def validate(tmp_path: Path, strategies: str | None = None, risk: str | None = None) -> tuple[int, str]:
    """`kobe validate` of the shipped project in ``tmp_path``, with ``strategies``
    replacing strategies.yaml and ``risk`` appended to risk.yaml."""
    import shutil

    from click.testing import CliRunner

    from kobe.cli import main

    for folder in ("rules", "universe"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    (tmp_path / "strategies.yaml").write_text(strategies or (REPO / "strategies.yaml").read_text())
    (tmp_path / "risk.yaml").write_text((REPO / "risk.yaml").read_text() + "\n" + (risk or ""))
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "strategies.yaml")])
    return result.exit_code, result.output


def test_the_strategies_example_of_config_md_validates(tmp_path: Path) -> None:
    [example] = [b for b in yaml_blocks(section(CONFIG, "## strategies.yaml")) if b.startswith("strategies:")]
    code_, output = validate(tmp_path, strategies=example)
    assert code_ == 0, output


def test_the_advanced_example_of_trading_md_validates(tmp_path: Path) -> None:
    [example] = [b for b in yaml_blocks(section(TRADING, "## Advanced limits")) if b.startswith("advanced:")]
    code_, output = validate(tmp_path, risk=example)
    assert code_ == 0, output


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", PAGES)
def test_the_links_of_a_page_lead_somewhere(page: str) -> None:
    """Every link to a file of the repository names one that exists, and its #anchor a
    heading of that file."""
    text = re.sub(r"```.*?```", "", PAGES[page], flags=re.DOTALL)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        name, _, anchor = target.partition("#")
        path = (REPO / page).parent / name if name else REPO / page
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md":
            headings = re.findall(r"(?m)^#+ (.+)$", re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL))
            if anchor not in {slug(h) for h in headings}:
                broken.append(target)
    assert broken == [], f"{page} links to what does not exist"
