"""The grammar, read like a specification: text in, canonical text or a located error out."""

from __future__ import annotations

import pytest

from kobe.config.errors import KobeError
from kobe.config.model import ExprSource
from kobe.dsl import ast
from kobe.dsl.parse import parse_expr, parse_rules, split_definitions

# (expression, canonical text): precedence and associativity made visible.
VALID = [
    ("close", "close"),
    ("  close  ", "close"),
    ("1.5", "1.5"),
    (".5", "0.5"),
    ("2e3", "2000"),
    ("true", "true"),
    ("false", "false"),
    ("close > open", "close > open"),
    ("close >= open", "close >= open"),
    ("close == open", "close == open"),
    ("close != open", "close != open"),
    ("1 + 2 * 3", "1 + 2 * 3"),
    ("(1 + 2) * 3", "(1 + 2) * 3"),
    ("a - b - c", "a - b - c"),
    ("a - (b - c)", "a - (b - c)"),
    ("a / b / c", "a / b / c"),
    ("-close", "-close"),
    ("+close", "close"),
    ("--close", "--close"),
    ("-close[1]", "-close[1]"),
    ("close[1]", "close[1]"),
    ("close[1][2]", "close[1][2]"),
    ("(close - open)[1]", "(close - open)[1]"),
    ("sma(close, 20)", "sma(close, 20)"),
    ("sma(close, n=20)", "sma(close, n=20)"),
    ("ibs()", "ibs()"),
    ("highest(high, 20)[1]", "highest(high, 20)[1]"),
    ("a and b or c", "a and b or c"),
    ("a and (b or c)", "a and (b or c)"),
    ("not a and b", "not a and b"),
    ("not (a and b)", "not (a and b)"),
    ("not close > open", "not close > open"),
    ("a > b and c < d", "a > b and c < d"),
    ("(a > b) == (c > d)", "(a > b) == (c > d)"),
    ("android > orange and notable > 1", "android > orange and notable > 1"),
    ("close >\n  open", "close > open"),
    ("close > open # a comment", "close > open"),
    ("max(a, b, c)", "max(a, b, c)"),
    # ** binds tighter than unary minus and groups to the right, as in Python.
    ("x ** 2", "x ** 2"),
    ("-x ** 2", "-x ** 2"),
    ("(-x) ** 2", "(-x) ** 2"),
    ("a ** b ** c", "a ** b ** c"),
    ("(a ** b) ** c", "(a ** b) ** c"),
    ("2 ** -1", "2 ** (-1)"),
    ("a * b ** 2", "a * b ** 2"),
    ("(a * b) ** 2", "(a * b) ** 2"),
    ("close[1] ** 2", "close[1] ** 2"),
    ("(close ** 2)[1]", "(close ** 2)[1]"),
]


@pytest.mark.parametrize(("text", "canonical"), VALID, ids=[t for t, _ in VALID])
def test_parses_to_canonical_text(text: str, canonical: str) -> None:
    assert parse_expr(text).to_text() == canonical


def test_canonical_text_parses_back_to_the_same_tree() -> None:
    for text, canonical in VALID:
        assert parse_expr(canonical) == parse_expr(text), text


def test_nodes_carry_spans() -> None:
    node = parse_expr("close > sma(close, 20)")
    assert isinstance(node, ast.Binary)
    assert node.right.span == (8, 22)
    assert isinstance(node.right, ast.Call)
    assert node.right.name_span == (8, 11)


def test_lag_index_is_an_expression_for_the_checker() -> None:
    node = parse_expr("close[-1]")
    assert isinstance(node, ast.Lag)
    assert node.index == ast.Unary("-", ast.Number(1.0))


# (expression, column of the error (1-based), message fragment, hint fragment)
INVALID = [
    ("", 1, "empty expression", None),
    ("close >", 8, "unexpected end of expression", "expected"),
    ("sma(close,", 11, "unexpected end of expression", None),
    ("a < b < c", 7, "unexpected '<'", "comparisons don't chain"),
    ("close = open", 7, "unexpected '='", "=="),
    ("close && open", 7, "unexpected character '&'", "'and'"),
    ("close | open", 7, "unexpected character '|'", "'and'"),
    ("close > 'x'", 9, "unexpected character", "no strings"),
    ("(close > open", 14, "unexpected end of expression", "')'"),
    ("close > open)", 13, "unexpected ')'", None),
    ("sma(close 20)", 11, "unexpected '20'", None),
    ("close[]", 7, "unexpected ']'", None),
    ("1 2", 3, "unexpected '2'", None),
    ("and close", 1, "unexpected 'and'", None),
    ("close **", 9, "unexpected end of expression", None),
    ("close * * 2", 9, "unexpected '*'", None),
]


@pytest.mark.parametrize(("text", "col", "message", "hint"), INVALID, ids=[t or "<empty>" for t, *_ in INVALID])
def test_syntax_errors_point_at_the_column(text: str, col: int, message: str, hint: str | None) -> None:
    source = ExprSource.inline(text, "strategies.yaml", line=7, col=12)
    with pytest.raises(KobeError) as info:
        parse_expr(source)
    (diag,) = info.value.diagnostics
    assert diag.file == "strategies.yaml"
    assert diag.line == 7
    assert diag.col == 11 + col
    assert message in diag.message
    if hint is not None:
        assert diag.hint is not None and hint in diag.hint


def test_error_renders_source_line_and_caret() -> None:
    source = ExprSource.inline("close && open", "strategies.yaml", line=3, col=12)
    with pytest.raises(KobeError) as info:
        parse_expr(source)
    rendered = info.value.render().splitlines()
    assert rendered[0] == "strategies.yaml:3:18: error: unexpected character '&'"
    assert rendered[1].endswith("close && open")
    caret_line = rendered[2]
    assert caret_line.index("^") == rendered[1].index("&&")


RULES = """\
# comment
donchian_high(n) = highest(high, n)[1]

trend_ok = close > sma(close, 200)
band(x, n, k) = sma(x, n)
    + k * stdev(x, n)   # continues the line above
"""


def test_rules_file_definitions_and_continuations() -> None:
    defs = parse_rules(RULES, "rules/x.kobe")
    assert [(d.name, d.params) for d in defs] == [
        ("donchian_high", ("n",)), ("trend_ok", ()), ("band", ("x", "n", "k"))]
    assert defs[2].body.to_text() == "sma(x, n) + k * stdev(x, n)"
    # Positions map back to the file: 'stdev' is on line 6, column 11.
    stdev = defs[2].body.right.right  # type: ignore[union-attr]
    assert defs[2].source.locate(stdev.span[0])[:2] == (6, 11)


def test_rules_file_reports_every_syntax_error() -> None:
    text = "a(n) = highest(high, n\nb = close >\nc = close\n"
    with pytest.raises(KobeError) as info:
        parse_rules(text, "rules/bad.kobe")
    assert [(d.line, d.message) for d in info.value.diagnostics] == [
        (1, "unexpected end of expression"), (2, "unexpected end of expression")]


def test_split_definitions_keeps_file_lines() -> None:
    chunks = split_definitions("# c\n\nx = 1\n  + 2\ny = 3\n", "f.kobe")
    assert [c.text for c in chunks] == ["x = 1\n  + 2", "y = 3"]
    assert [c.lines[0][0] for c in chunks] == [3, 5]


def test_the_stored_parser_is_the_grammars() -> None:
    """kobe/dsl/grammar.lark.pickle must be regenerated (`python -m kobe.dsl.parse`) when
    the grammar, its options or Lark change; it then parses as a parser built now."""
    import io
    from importlib import resources

    from lark import Lark

    from kobe.dsl import parse

    package = resources.files("kobe.dsl")
    grammar = package.joinpath("grammar.lark").read_text(encoding="utf-8")
    key, _, data = package.joinpath("grammar.lark.pickle").read_bytes().partition(b"\n")
    assert key == parse._grammar_key(grammar), "stale grammar.lark.pickle: run `python -m kobe.dsl.parse`"
    stored, built = Lark.load(io.BytesIO(data)), parse._build(grammar)
    for text in ("close > highest(high, 20)[1] and not (ibs() > 0.8)", "-(a + b) * c / 2 >= x[3]"):
        assert stored.parse(text, start="expr") == built.parse(text, start="expr")
