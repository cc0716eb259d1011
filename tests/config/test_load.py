"""Loading strategies.yaml and risk.yaml: every mistake located at file:line:col."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from kobe.config.errors import Diagnostic, KobeError
from kobe.config.load import expr_source, load_config, load_risk, load_strategies, load_yaml
from kobe.config.model import Location

REPO = Path(__file__).resolve().parents[2]

# A valid pair of files; each case breaks one of them with one edit.
RISK = """\
per_order_budget_usd: 75
daily_budget_usd: 1000
min_adv_usd: 100000
adv_window_days: 20
max_spread_pct: 0.5
max_order_pct_adv: 1.0
max_open_positions: 10
kill_switch_file: state/KILL_SWITCH
limit_price:
  reference: best_ask
  multiplier: 1.001
"""

# Line numbers matter: the error cases point into this text.
STRATEGIES = """\
strategies:
  - name: breakout
    universe: default
    params:
      channel_bars: 20
      hold_bars: 5
    entry: close > donchian_high(channel_bars)
    exits:
      stop: entry_price * 0.9
      time_stop_bars: hold_bars
    sizing:
      method: fixed_dollars
      amount_usd: 75
"""

SECOND_STRATEGY = """\
  - name: breakout
    universe: default
    entry: close > 1
    exits:
      time_stop_bars: 3
    sizing:
      method: all_cash
"""


def edit(text: str, old: str | None, new: str) -> str:
    """``text`` with ``old`` (which must occur once) replaced; ``old=None`` replaces all."""
    if old is None:
        return new
    assert text.count(old) == 1, f"test bug: {old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def load_errors(strategies: str = STRATEGIES, risk: str = RISK) -> list[Diagnostic]:
    Path("strategies.yaml").write_text(strategies)
    Path("risk.yaml").write_text(risk)
    with pytest.raises(KobeError) as caught:
        load_config(Path("strategies.yaml"), Path("risk.yaml"))
    return list(caught.value.diagnostics)


def assert_reported(diagnostics: list[Diagnostic], expected: list[tuple[str, ...]]) -> None:
    """Exactly the ``expected`` (location, message fragment[, exact hint]) were reported."""
    shown = "\n".join(d.render() for d in diagnostics)
    assert len(diagnostics) == len(expected), shown
    for where, fragment, *hint in expected:
        found = [d for d in diagnostics if d.location() == where and fragment in d.message]
        assert found, f"expected {where}: ...{fragment}... in\n{shown}"
        if hint:
            assert found[0].hint == hint[0], shown


# (file edited, old text, new text, [(location, message fragment[, exact hint]), ...])
CASES = [
    pytest.param("risk", "max_open_positions: 10", "max_open_positions: 10: 11",
                 [("risk.yaml:7:23", "invalid YAML: mapping values are not allowed here")], id="bad-yaml-syntax"),
    pytest.param("risk", "min_adv_usd: 100000", "min_adv_usd:\n\t100000",
                 [("risk.yaml:4:1", "invalid YAML", "indent with spaces; YAML does not allow tabs there")],
                 id="tab-indentation"),
    pytest.param("risk", None, "", [("risk.yaml:1:1", "the file is empty")], id="empty-file"),
    pytest.param("risk", "adv_window_days: 20\n", "adv_window_days: 20\nmin_adv_usd: 5\n",
                 [("risk.yaml:5:1", "duplicate key 'min_adv_usd'", "first defined at line 3")], id="duplicate-key"),
    pytest.param("risk", "daily_budget_usd: 1000", "daly_budget_usd: 1000",
                 [("risk.yaml:2:1", "unknown key 'daly_budget_usd'", "did you mean 'daily_budget_usd'?"),
                  ("risk.yaml:1:1", "'daily_budget_usd' is required")], id="unknown-top-level-key"),
    pytest.param("strategies", "strategies:\n", "strategy: 1\nstrategies:\n",
                 [("strategies.yaml:1:1", "unknown key 'strategy'", "did you mean 'strategies'?")],
                 id="unknown-top-level-key-strategies"),
    pytest.param("strategies", "      stop: entry", "      stopp: entry",
                 [("strategies.yaml:9:7", "unknown key 'stopp'", "did you mean 'stop'?")], id="unknown-nested-key"),
    pytest.param("risk", "  multiplier: 1.001", "  multiplyer: 1.001",
                 [("risk.yaml:11:3", "unknown key 'multiplyer'", "did you mean 'multiplier'?")],
                 id="unknown-nested-key-risk"),
    pytest.param("strategies", "      hold_bars: 5", "      hold-bars: 5",
                 [("strategies.yaml:6:7", "'hold-bars' is not a valid name"),
                  ("strategies.yaml:10:23", "names param 'hold_bars', which is not defined",
                   "did you mean 'hold-bars'?")], id="bad-param-name"),
    pytest.param("risk", "adv_window_days: 20", "adv_window_days: five",
                 [("risk.yaml:4:18", "adv_window_days: expected an integer, got string 'five'")], id="wrong-type"),
    pytest.param("risk", "min_adv_usd: 100000", "min_adv_usd: 1e5",
                 [("risk.yaml:3:14", "expected a number, got string '1e5'",
                   "YAML reads 1e5 as text; write 100000 or 1.0e+5")], id="yaml11-exponent-is-text"),
    pytest.param("strategies", "    sizing:\n      method: fixed_dollars\n      amount_usd: 75\n", "    sizing:\n",
                 [("strategies.yaml:11:12", "sizing: expected a mapping, got an empty value")], id="empty-value"),
    pytest.param("strategies", "    universe: default\n", "    universe: default\n    side: shrt\n",
                 [("strategies.yaml:4:11", "side: expected one of long, short, both; got string 'shrt'",
                   "did you mean 'short'?")], id="enum-miss"),
    pytest.param("risk", "max_open_positions: 10", "max_open_positions: 0",
                 [("risk.yaml:7:21", "max_open_positions: must be at least 1, got 0")], id="minimum"),
    pytest.param("risk", "max_spread_pct: 0.5", "max_spread_pct: 0",
                 [("risk.yaml:5:17", "max_spread_pct: must be greater than 0, got 0")], id="exclusive-minimum"),
    pytest.param("risk", "max_order_pct_adv: 1.0", "max_order_pct_adv: 150",
                 [("risk.yaml:6:20", "max_order_pct_adv: must be at most 100, got 150")], id="maximum"),
    pytest.param("risk", "kill_switch_file: state/KILL_SWITCH\n", "",
                 [("risk.yaml:1:1", "'kill_switch_file' is required")], id="missing-required-risk"),
    pytest.param("strategies", "    entry: close > donchian_high(channel_bars)\n", "",
                 [("strategies.yaml:2:5", "'entry' is required")], id="missing-required-strategy"),
    pytest.param("strategies", "entry: close > donchian_high(channel_bars)", "entry: '  '",
                 [("strategies.yaml:7:12", "entry: expected a non-empty string")], id="blank-expression"),
    pytest.param("strategies", None, "strategies: []\n",
                 [("strategies.yaml:1:13", "strategies: expected at least 1 item, got 0")], id="no-strategies"),
    pytest.param("strategies", "      stop: entry_price * 0.9\n      time_stop_bars: hold_bars\n", "      {}\n",
                 [("strategies.yaml:9:7", "exits needs at least one of: stop, time_stop_bars")], id="no-exit"),
    pytest.param("risk", "per_order_budget_usd: 75", "per_order_budget_usd: 2000",
                 [("risk.yaml:1:23", "per_order_budget_usd 2000 exceeds daily_budget_usd 1000")],
                 id="per-order-over-daily"),
    pytest.param("strategies", "      amount_usd: 75\n", "      amount_usd: 75\n" + SECOND_STRATEGY,
                 [("strategies.yaml:14:11", "duplicate strategy name 'breakout'", "first used at line 2")],
                 id="duplicate-strategy-name"),
    pytest.param("strategies", "universe: default", "universe: defautl",
                 [("strategies.yaml:3:15", "universe file not found: universe/defautl.csv",
                   "did you mean 'default'?")], id="missing-universe-file"),
    pytest.param("strategies", "universe: default", "universe: data/mine.csv",
                 [("strategies.yaml:3:15", "universe file not found: data/mine.csv")], id="missing-universe-csv"),
    pytest.param("strategies", "universe: default", "universe: data/mine",
                 [("strategies.yaml:3:15", "'data/mine' is neither a universe name nor a path ending in .csv")],
                 id="bad-universe"),
    pytest.param("strategies", "      amount_usd: 75\n", "",
                 [("strategies.yaml:12:7", "'amount_usd' is required when method is 'fixed_dollars'")],
                 id="sizing-without-amount"),
    pytest.param("strategies", "method: fixed_dollars", "method: all_cash",
                 [("strategies.yaml:13:7", "'amount_usd' is not allowed when method is 'all_cash'")],
                 id="all-cash-with-amount"),
    pytest.param("strategies", "      amount_usd: 75", "      amount_usd: 100",
                 [("strategies.yaml:13:19", "amount_usd 100 exceeds per_order_budget_usd 75 in risk.yaml")],
                 id="amount-over-per-order-budget"),
    pytest.param("strategies", "time_stop_bars: hold_bars", "time_stop_bars: hold",
                 [("strategies.yaml:10:23", "time_stop_bars names param 'hold', which is not defined",
                   "did you mean 'hold_bars'?")], id="time-stop-missing-param"),
    pytest.param("strategies", "hold_bars: 5", "hold_bars: 2.5",
                 [("strategies.yaml:10:23", "time_stop_bars names param 'hold_bars' = 2.5")],
                 id="time-stop-param-not-whole"),
    pytest.param("strategies", "time_stop_bars: hold_bars", "time_stop_bars: 2.5",
                 [("strategies.yaml:10:23", "time_stop_bars: expected a whole number of bars (>= 1) or the name "
                                            "of a param, got number 2.5")], id="time-stop-not-whole"),
    pytest.param("risk", RISK, "per_order_budget_usd: 75\ndaily_budget_usd: lots\nmin_adv_usd: -1\n"
                               "max_spread_pct: 0.5\nmax_order_pct_adv: 1.0\nmax_open_positions: 10\n"
                               "limit_price: {reference: best_aks}\n",
                 [("risk.yaml:1:1", "'kill_switch_file' is required"),
                  ("risk.yaml:2:19", "daily_budget_usd: expected a number, got string 'lots'"),
                  ("risk.yaml:3:14", "min_adv_usd: must be at least 0, got -1"),
                  ("risk.yaml:7:26", "reference: expected one of best_ask, best_bid, mid, last",
                   "did you mean 'best_ask'?")], id="several-errors-in-one-file"),
]


@pytest.mark.parametrize(("file", "old", "new", "expected"), CASES)
def test_broken_config_is_reported_at_file_line_col(project: Path, file: str, old: str | None, new: str,
                                                    expected: list[tuple[str, ...]]) -> None:
    texts = {"strategies": STRATEGIES, "risk": RISK}
    texts[file] = edit(texts[file], old, new)
    assert_reported(load_errors(**texts), expected)


def test_errors_of_both_files_come_in_one_error(project: Path) -> None:
    diagnostics = load_errors(strategies=edit(STRATEGIES, "universe: default", "universe: nope"),
                              risk=edit(RISK, "adv_window_days: 20", "adv_window_days: 0"))
    assert [d.location() for d in diagnostics] == ["strategies.yaml:3:15", "risk.yaml:4:18"]


def test_message_is_rendered_with_source_and_caret(project: Path) -> None:
    [diagnostic] = load_errors(risk=edit(RISK, "daily_budget_usd: 1000", "daily_budget_usd: 1000\ndaily_budgets: 1"))
    assert diagnostic.render().splitlines() == [
        "risk.yaml:3:1: error: unknown key 'daily_budgets'",
        "    3 | daily_budgets: 1",
        "      | ^^^^^^^^^^^^^",
        "      = hint: did you mean 'daily_budget_usd'?",
    ]


def test_single_file_loaders_report_their_own_file(project: Path) -> None:
    Path("risk.yaml").write_text(edit(RISK, "max_open_positions: 10", "max_open_positions: many"))
    with pytest.raises(KobeError) as caught:
        load_risk(Path("risk.yaml"))
    assert [d.location() for d in caught.value.diagnostics] == ["risk.yaml:7:21"]
    # amount_usd vs per_order_budget_usd needs both files: load_strategies alone accepts it.
    Path("strategies.yaml").write_text(edit(STRATEGIES, "amount_usd: 75", "amount_usd: 1000"))
    assert load_strategies(Path("strategies.yaml"))[0].sizing.amount_usd == 1000


def test_absolute_paths_are_shown_as_given(project: Path) -> None:
    path = project / "risk.yaml"
    path.write_text(edit(RISK, "max_open_positions: 10", "max_open_positions: 0"))
    with pytest.raises(KobeError) as caught:
        load_risk(path)
    assert caught.value.diagnostics[0].location() == f"{path}:7:21"


def test_missing_file(project: Path) -> None:
    with pytest.raises(KobeError) as caught:
        load_risk(Path("nope.yaml"))
    assert caught.value.diagnostics[0].render() == "nope.yaml: error: file not found"


def test_shipped_files_load_cleanly(tmp_path: Path) -> None:
    for name in ("strategies.yaml", "risk.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "universe").mkdir()
    shipped_universe = REPO / "universe" / "default.csv"
    if shipped_universe.is_file():
        shutil.copy(shipped_universe, tmp_path / "universe" / "default.csv")
    else:
        (tmp_path / "universe" / "default.csv").write_text("symbol\nAAPL\nMSFT\n")

    config = load_config(tmp_path / "strategies.yaml", tmp_path / "risk.yaml")

    assert config.root == tmp_path
    assert config.strategies and len({s.name for s in config.strategies}) == len(config.strategies)
    lines = (tmp_path / "strategies.yaml").read_text().splitlines()
    for strategy in config.strategies:
        assert (tmp_path / strategy.universe).is_file()
        assert strategy.location is not None and f"name: {strategy.name}" in lines[strategy.location.line - 1]
        for name, where in strategy.param_locations.items():
            assert lines[where.line - 1].strip().startswith(f"{name}:")
        for expr in (strategy.entry, *strategy.filters):
            line, col, source = expr.locate(0)
            assert source == lines[line - 1] and source[col - 1] == expr.text[0]
    # The shipped turtle soup entry is a folded block of four lines.
    turtle = config.strategy("ict_turtle_soup")
    assert turtle.universe == "universe/default.csv"
    assert turtle.params["hold_bars"] == 5 and type(turtle.params["hold_bars"]) is int
    assert turtle.params["ibs_max"] == 0.2 and type(turtle.params["ibs_max"]) is float
    assert turtle.exits.time_stop_bars == 5
    assert turtle.sizing.method == "fixed_dollars" and turtle.sizing.amount_usd == 75
    line, col, source = turtle.entry.locate(turtle.entry.text.rindex("ibs_max"))
    assert source.strip() == "and ibs() < ibs_max" and source[col - 1:col + 6] == "ibs_max"
    assert lines[line - 1] == source
    assert config.risk.per_order_budget_usd == 75 and config.risk.adv_window_days == 20
    assert config.risk.limit_price.reference == "best_ask" and config.risk.limit_price.multiplier == 1.001


def test_defaults(project: Path) -> None:
    Path("strategies.yaml").write_text(STRATEGIES)
    risk = edit(RISK, "adv_window_days: 20\n", "")
    Path("risk.yaml").write_text(edit(risk, "limit_price:\n  reference: best_ask\n  multiplier: 1.001\n", ""))
    config = load_config(Path("strategies.yaml"), Path("risk.yaml"))
    strategy = config.strategies[0]
    assert (strategy.enabled, strategy.side, strategy.fill) == (True, "long", "next_open")
    assert strategy.filters == () and strategy.rank is None and strategy.exits.target is None
    assert config.risk.adv_window_days == 20
    assert (config.risk.limit_price.reference, config.risk.limit_price.multiplier) == ("best_ask", 1.001)
    assert config.risk.location == Location("risk.yaml", 1, 1, "per_order_budget_usd: 75")


# ----------------------------------------------------------------------- load_yaml


def test_load_yaml_records_key_and_value_locations(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("top:\n  - name: a\n    n: 1e5\n    b: yes\n")
    loaded = load_yaml(path, "x.yaml")
    assert loaded.data == {"top": [{"name": "a", "n": "1e5", "b": True}]}  # as yaml.safe_load
    assert loaded.keys[("top", 0, "n")] == Location("x.yaml", 3, 5, "    n: 1e5")
    assert loaded.values[("top", 0, "n")] == Location("x.yaml", 3, 8, "    n: 1e5")
    assert (loaded.values[("top", 0)].line, loaded.values[("top", 0)].col) == (2, 5)


def test_load_yaml_rejects_duplicate_keys_unless_told_not_to(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a: 1\nb: 2\na: 3\n")
    with pytest.raises(KobeError) as caught:
        load_yaml(path)
    assert caught.value.diagnostics[0].location() == f"{path}:3:1"
    loaded = load_yaml(path, strict=False)
    assert loaded.data == {"a": 1, "b": 2} and len(loaded.diagnostics) == 1


def test_load_yaml_merge_keys(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nmine:\n  <<: *b\n  y: 5\n")
    loaded = load_yaml(path)
    assert loaded.data["mine"] == {"x": 1, "y": 5}  # explicit keys win, as in YAML
    assert loaded.values[("mine", "x")].line == 1


# ----------------------------------------------------------------------- expr_source

EXPRESSIONS = """\
exprs:
  plain: close > sma(close, 20)
  single: 'close > sma(close, 20)'
  double: "close > sma(close, 20)"
  literal: |
    close > x
      and sma(close, 20) > y
  folded: >-
    close > x
    and sma(close, 20) > y
  folded_clip: >
    close > x

    and sma(close, 20) > y
  multi_plain: close > x
    and sma(close, 20) > y
  in_list: [x > 1, sma(close, 20) > y]
  tagged: &shared !!str sma(close, 20) > y
"""


@pytest.mark.parametrize(("path", "line", "col"), [
    pytest.param(("exprs", "plain"), 2, 18, id="plain"),
    pytest.param(("exprs", "single"), 3, 20, id="single-quoted"),
    pytest.param(("exprs", "double"), 4, 20, id="double-quoted"),
    pytest.param(("exprs", "literal"), 7, 11, id="literal-block"),
    pytest.param(("exprs", "folded"), 10, 9, id="folded-strip-block"),
    pytest.param(("exprs", "folded_clip"), 14, 9, id="folded-clip-block"),
    pytest.param(("exprs", "multi_plain"), 16, 9, id="multi-line-plain"),
    pytest.param(("exprs", "in_list", 1), 17, 20, id="flow-list-item"),
    pytest.param(("exprs", "tagged"), 18, 25, id="anchor-and-tag"),
])
def test_expr_source_maps_offsets_to_the_file(tmp_path: Path, path: tuple, line: int, col: int) -> None:
    (tmp_path / "e.yaml").write_text(EXPRESSIONS)
    loaded = load_yaml(tmp_path / "e.yaml", "e.yaml")
    source = expr_source(loaded, path)
    value = loaded.data
    for part in path:
        value = value[part]
    assert source.text.split() == value.split()  # same expression, maybe other whitespace
    assert source.file == "e.yaml"
    assert source.locate(source.text.index("sma")) == (line, col, loaded.lines[line - 1])
    for offset, char in enumerate(source.text):
        if char != "\n":
            found_line, found_col, text = source.locate(offset)
            assert text[found_col - 1] == char, (offset, char, found_line, found_col)


def test_expr_source_diagnostic_points_into_block(tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text(EXPRESSIONS)
    source = expr_source(load_yaml(tmp_path / "e.yaml", "e.yaml"), ("exprs", "folded"))
    diagnostic = source.diagnostic(source.text.index("sma"), "unknown function 'sma'", width=3)
    assert diagnostic.render().splitlines()[:3] == [
        "e.yaml:10:9: error: unknown function 'sma'",
        "   10 |     and sma(close, 20) > y",
        "      |         ^^^",
    ]


# ----------------------------------------------------------------------- the schemas


@pytest.mark.parametrize("name", ["strategies.schema.json", "risk.schema.json"])
def test_schemas_are_valid_and_documented(name: str) -> None:
    schema = json.loads(resources.files("kobe.config.schema").joinpath(name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict) and not where.endswith(("if", "then")):  # conditions, not fields
            if node.get("type") == "object":
                assert "additionalProperties" in node, where
            for key, sub in node.get("properties", {}).items():
                target = sub if "description" in sub else schema["$defs"][sub["$ref"].split("/")[-1]]
                assert target.get("description") and target.get("title"), f"{where}.{key}"
            for key, sub in node.items():
                walk(sub, f"{where}.{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{where}[{i}]")

    walk(schema, name)
