"""The checker, read like a specification: each case is an expression and what the
checker says about it (its resolved text, type and warm-up, or the located error)."""

from __future__ import annotations

import pytest

from kobe.config.model import ExprSource
from kobe.dsl.check import Checker, check_definitions
from kobe.dsl.parse import parse_expr, parse_rules
from kobe.dsl.types import Type

RULES = """\
donchian_high(n) = highest(high, n)[1]
prior_low_age(n) = lowest_age(low, n)[1] + 1
trend_ok = close > sma(close, 200)
double(x) = 2 * x
window_of(n) = sma(close, n * 2)
bad_body(n) = sma(close, n) + (close > open)
"""
PARAMS = {"channel_bars": 20, "half": 0.5, "neg": -3, "k": 2}


def _checker() -> Checker:
    table, problems = check_definitions(parse_rules(RULES, "rules/test.kobe"))
    assert problems == []
    return Checker(table)


# (expression, resolved canonical text, type, warm-up in bars)
VALID = [
    ("close", "close", Type.NUM, 0),
    ("close > open", "close > open", Type.BOOL, 0),
    ("sma(close, 20)", "sma(close, 20)", Type.NUM, 19),
    ("sma(close, n=20)", "sma(close, 20)", Type.NUM, 19),
    ("sma(n=20, x=close)", "sma(close, 20)", Type.NUM, 19),
    ("sma(close, channel_bars)", "sma(close, 20)", Type.NUM, 19),
    ("sma(close, channel_bars * k + 1)", "sma(close, 41)", Type.NUM, 40),
    ("close[1]", "close[1]", Type.NUM, 1),
    ("close[k]", "close[2]", Type.NUM, 2),
    ("close[0]", "close", Type.NUM, 0),
    ("close[1][2]", "close[3]", Type.NUM, 3),
    ("sma(close, 20)[5]", "sma(close, 20)[5]", Type.NUM, 24),
    ("ema(sma(close, 10), 5)", "ema(sma(close, 10), 5)", Type.NUM, 13),
    ("atr(14)", "atr(14)", Type.NUM, 14),
    ("rsi(close, 14) < 30", "rsi(close, 14) < 30", Type.BOOL, 14),
    ("ibs() < 0.2", "ibs() < 0.2", Type.BOOL, 0),
    ("ibs < 0.2", "ibs() < 0.2", Type.BOOL, 0),
    ("stdev(close, 20, ddof=1)", "stdev(close, 20, 1)", Type.NUM, 19),
    ("stdev(close, 20)", "stdev(close, 20, 0)", Type.NUM, 19),
    ("max(close, open, high)", "max(close, open, high)", Type.NUM, 0),
    ("crosses_above(sma(close, 5), sma(close, 20))", "crosses_above(sma(close, 5), sma(close, 20))", Type.BOOL, 20),
    ("bars_since(close > open) <= 3", "bars_since(close > open) <= 3", Type.BOOL, 0),
    ("close > donchian_high(channel_bars)", "close > highest(high, 20)[1]", Type.BOOL, 20),
    ("prior_low_age(20) >= 3", "lowest_age(low, 20)[1] + 1 >= 3", Type.BOOL, 20),
    ("trend_ok and ibs() < 0.5", "close > sma(close, 200) and ibs() < 0.5", Type.BOOL, 199),
    ("trend_ok() and true", "close > sma(close, 200) and true", Type.BOOL, 199),
    ("double(atr(14)) > close", "2 * atr(14) > close", Type.NUM if False else Type.BOOL, 14),
    ("window_of(10) > close", "sma(close, 20) > close", Type.BOOL, 19),
    ("-half * 4 + close", "-2 + close", Type.NUM, 0),
    ("rank(roc(close, 20))", "rank(roc(close, 20))", Type.NUM, 20),
    ("not (close > open)", "not close > open", Type.BOOL, 0),
    ("dollar_volume > 1e6", "dollar_volume > 1000000", Type.BOOL, 0),
]


@pytest.mark.parametrize(("text", "resolved", "typ", "warmup"), VALID, ids=[c[0] for c in VALID])
def test_valid_expressions(text: str, resolved: str, typ: Type, warmup: int) -> None:
    checker = _checker()
    source = ExprSource.inline(text)
    result = checker.check(source, parse_expr(source), None, PARAMS)
    assert checker.diagnostics == []
    assert result is not None
    assert (result.text, result.type, result.warmup) == (resolved, typ, warmup)


# (expression, 1-based column of the error, message fragment, hint fragment or None)
INVALID = [
    ("smaa(close, 20) > 1", 1, "unknown function 'smaa' (did you mean 'sma'?)", None),
    ("frobnicate(close) > 1", 1, "unknown function 'frobnicate'", "kobe functions"),
    ("clsoe > 1", 1, "unknown name 'clsoe' (did you mean 'close'?)", None),
    ("close > chanel_bars", 9, "unknown name 'chanel_bars' (did you mean 'channel_bars'?)", None),
    ("sma(close) > 1", 1, "sma() is missing argument 'n'", "sma(x, n)"),
    ("sma(close, 20, 3) > 1", 16, "sma() takes at most 2 arguments, got 3", None),
    ("sma(close, length=20) > 1", 12, "sma() has no parameter 'length'", None),
    ("sma(close, 20, n=20) > 1", 16, "argument 'n' of sma() given twice", None),
    ("sma(close, 2.5) > 1", 12, "window 'n' of sma() must be a positive integer, got 2.5", None),
    ("sma(close, 0) > 1", 12, "must be a positive integer, got 0", None),
    ("sma(close, neg) > 1", 12, "must be a positive integer, got -3", None),
    ("sma(close, half) > 1", 12, "must be a positive integer, got 0.5", None),
    ("sma(close, volume) > 1", 12, "'n' of sma() must be a constant number, not a series (volume)", None),
    ("sma(close > open, 3) > 1", 5, "argument 'x' of sma() must be a number, got a boolean", None),
    ("bars_since(close) > 1", 12, "argument 'cond' of bars_since() must be a boolean, got a number", None),
    ("close[-1] > open", 7, "negative lag [-1] would read a future bar (lookahead)", "one bar ago"),
    ("close[neg] > open", 7, "negative lag [-3]", None),
    ("close[1 - 2] > open", 7, "negative lag [-1]", None),
    ("close[1.5] > open", 7, "lag must be a whole number of bars, got 1.5", None),
    ("close[volume] > open", 7, "lag must be a constant number", None),
    ("close + (open > 1)", 10, "'+' needs numbers, got a boolean on the right", None),
    ("close > open > 1", 14, "unexpected '>'", "don't chain"),
    ("close and open", 1, "'and' needs booleans, got a number on the left", "'> 0'"),
    ("not close", 5, "'not' needs a boolean, got a number", None),
    ("-(close > open)", 3, "'-' needs a number, got a boolean", None),
    ("(close > open) == 1", 16, "'==' compares a boolean with a number", None),
    ("entry_price > close", 1, "'entry_price' exists only in stop, target and trailing_stop", None),
    ("donchian_high(20, 3) > close", 1, "donchian_high() takes 1 argument, got 2", "donchian_high(n)"),
    ("donchian_high(n=20) > close", 15, "donchian_high() takes positional arguments only", None),
    ("donchian_high(-2) > close", 34, "window 'n' of highest() must be a positive integer, got -2", "expanded from"),
    ("bad_body(5) > 1", 32, "'+' needs numbers, got a boolean on the right", "expanded from strategies.yaml:9:1"),
]


@pytest.mark.parametrize(("text", "col", "message", "hint"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_expressions(text: str, col: int, message: str, hint: str | None) -> None:
    from kobe.config.errors import KobeError

    checker = _checker()
    source = ExprSource.inline(text, "strategies.yaml", line=9, col=1)
    try:
        node = parse_expr(source)
    except KobeError as err:
        diagnostics = list(err.diagnostics)
    else:
        assert checker.check(source, node, None, PARAMS) is None
        diagnostics = checker.diagnostics
    assert len(diagnostics) == 1, [d.render() for d in diagnostics]
    (diag,) = diagnostics
    assert message in diag.message
    if "expanded from" in (hint or ""):
        assert diag.file == "rules/test.kobe"
    else:
        assert (diag.file, diag.line) == ("strategies.yaml", 9)
    assert diag.col == col, diag.render()
    if hint is not None:
        assert diag.hint is not None and hint in diag.hint


@pytest.mark.parametrize(("text", "expected", "message"), [
    ("close", Type.BOOL, "entry must be a boolean expression, got a number"),
    ("close > open", Type.NUM, "entry must be a number expression, got a boolean"),
])
def test_expected_type(text: str, expected: Type, message: str) -> None:
    checker = _checker()
    source = ExprSource.inline(text)
    assert checker.check(source, parse_expr(source), expected, PARAMS, what="entry") is None
    assert [d.message for d in checker.diagnostics] == [message]


def test_entry_price_is_visible_in_exit_levels() -> None:
    checker = _checker()
    source = ExprSource.inline("entry_price - k * atr(14)")
    result = checker.check(source, parse_expr(source), Type.NUM, PARAMS, allow_entry_price=True)
    assert result is not None and result.text == "entry_price - 2 * atr(14)"


def test_every_error_of_an_expression_is_reported() -> None:
    checker = _checker()
    source = ExprSource.inline("smaa(close, 3) > 1 and clsoe > 2 and close[-1] > 0")
    assert checker.check(source, parse_expr(source), None, PARAMS) is None
    assert [d.col for d in checker.diagnostics] == [1, 24, 44]


# Definitions checked on their own, even when no strategy calls them.
DEFINITION_ERRORS = [
    ("a(n) = b(n)\nb(n) = a(n)\n", [(2, 8, "recursive definition: a -> b -> a")]),
    ("a(n) = a(n) + 1\n", [(1, 8, "recursive definition: a -> a")]),
    ("sma(x, n) = x\n", [(1, 1, "definition 'sma' hides the built-in of that name")]),
    ("close = 1\n", [(1, 1, "definition 'close' hides the built-in of that name")]),
    ("a = 1\na = 2\n", [(2, 1, "'a' is already defined")]),
    ("a(n, n) = n\n", [(1, 1, "a() names a parameter twice")]),
    ("a(n) = hihgest(high, n)\n", [(1, 8, "unknown function 'hihgest' (did you mean 'highest'?)")]),
    ("a(n) = close > m\n", [(1, 16, "unknown name 'm'")]),
]


@pytest.mark.parametrize(("text", "expected"), DEFINITION_ERRORS, ids=[t.splitlines()[0] for t, _ in DEFINITION_ERRORS])
def test_definition_errors(text: str, expected: list[tuple[int, int, str]]) -> None:
    _, problems = check_definitions(parse_rules(text, "rules/bad.kobe"))
    got = sorted((d.line, d.col, d.message) for d in problems)
    assert [(line, col) for line, col, _ in got] == [(line, col) for line, col, _ in expected]
    for (_, _, message), (_, _, want) in zip(got, expected):
        assert want in message


def test_recursion_through_expansion_does_not_loop() -> None:
    table, problems = check_definitions(parse_rules("a(n) = b(n)\nb(n) = a(n)\n", "rules/r.kobe"))
    checker = Checker(table)
    source = ExprSource.inline("a(3) > 1")
    assert checker.check(source, parse_expr(source), None, {}) is None
    assert any("recursive definition" in d.message for d in checker.diagnostics)
