"""Text to syntax tree: the Lark grammar (``grammar.lark``) and one transformer.

``parse_expr`` reads one expression (a YAML field); ``parse_rules`` reads a rules file
of definitions. Syntax errors become :class:`~kobe.config.errors.Diagnostic` values at
the file line and column of the offending character.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from kobe.config.errors import Diagnostic, KobeError
from kobe.config.limits import MAX_EXPR_DEPTH, MAX_NUMBER
from kobe.config.model import ExprSource
from kobe.config.text import read_text
from kobe.dsl import ast

_OPTIONS: dict[str, object] = {"parser": "lalr", "lexer": "basic", "start": ["expr", "definition"],
                               "propagate_positions": True, "maybe_placeholders": True}
_STORED = "grammar.lark.pickle"
"""The LALR parser built from ``grammar.lark``, stored in the package: building it takes
40 to 100 ms, a noticeable part of every command (``kobe validate`` above all); loading it
takes 2 ms. Regenerate it after editing the grammar: ``python -m kobe.dsl.parse``."""


def _grammar_key(grammar: str) -> bytes:
    """What the stored parser was built from: the grammar, the options and Lark's version
    (its serialized form may change between versions)."""
    from lark import __version__ as lark_version

    text = "\n".join((grammar, repr(sorted(_OPTIONS.items())), lark_version))
    return hashlib.sha256(text.encode("utf-8")).hexdigest().encode("ascii")


def _build(grammar: str) -> Lark:
    return Lark(grammar, **_OPTIONS)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def _parser() -> Lark:
    """The stored parser when it was built from this very grammar with these options and
    this Lark, else one built now (a grammar edited without regenerating the stored file
    still parses right, only slower)."""
    package = resources.files("kobe.dsl")
    grammar = package.joinpath("grammar.lark").read_text(encoding="utf-8")
    try:
        stored = package.joinpath(_STORED).read_bytes()
    except OSError:
        return _build(grammar)
    key, _, data = stored.partition(b"\n")
    if key != _grammar_key(grammar):
        return _build(grammar)
    # A pickle, read only from Kobe's own package (as trusted as its code), never from a
    # shared or temporary folder (which is why Lark's own ``cache=True`` is not used).
    return Lark.load(io.BytesIO(data))


def write_stored_parser() -> Path:
    """Build the parser from ``grammar.lark`` and store it beside it (see ``_STORED``)."""
    package = Path(__file__).parent
    grammar = (package / "grammar.lark").read_text(encoding="utf-8")
    out = io.BytesIO()
    out.write(_grammar_key(grammar) + b"\n")
    _build(grammar).save(out)
    path = package / _STORED
    path.write_bytes(out.getvalue())
    return path


def _span(meta) -> ast.Span:
    return (meta.start_pos, meta.end_pos)


def _tok_span(tok: Token) -> ast.Span:
    return (tok.start_pos, tok.end_pos)


class _ToAst(Transformer_NonRecursive):
    """Parse tree to :mod:`kobe.dsl.ast` nodes; the only place that knows Lark's tree.

    Non-recursive: the parser itself takes any depth, and a deep tree is refused by
    :func:`_check_limits` with its location, not by Python's recursion limit."""

    @v_args(meta=True)
    def number(self, meta, items):
        return ast.Number(float(items[0]), _span(meta))

    @v_args(meta=True)
    def true(self, meta, items):
        return ast.Bool(True, _span(meta))

    @v_args(meta=True)
    def false(self, meta, items):
        return ast.Bool(False, _span(meta))

    @v_args(meta=True)
    def name(self, meta, items):
        return ast.Name(str(items[0]), _span(meta))

    @v_args(meta=True)
    def call(self, meta, items):
        name_tok, *rest = items
        args, kwargs = [], []
        for item in rest:
            if item is None:
                continue
            if isinstance(item, ast.Keyword):
                kwargs.append(item)
            else:
                args.append(item)
        return ast.Call(str(name_tok), tuple(args), tuple(kwargs), _span(meta), _tok_span(name_tok))

    @v_args(meta=True)
    def kwarg(self, meta, items):
        return ast.Keyword(str(items[0]), items[1], _span(meta))

    @v_args(meta=True)
    def lag(self, meta, items):
        return ast.Lag(items[0], items[1], _span(meta))

    @v_args(meta=True)
    def neg(self, meta, items):
        return ast.Unary("-", items[1], _span(meta))

    def pos(self, items):
        return items[1]

    @v_args(meta=True)
    def not_(self, meta, items):
        return ast.Unary("not", items[0], _span(meta))

    def _fold(self, items, op_of):
        left = items[0]
        i = 1
        while i < len(items):
            op_tok, right = items[i], items[i + 1]
            left = ast.Binary(op_of(op_tok), left, right, (left.span[0], right.span[1]), _tok_span(op_tok))
            i += 2
        return left

    def arith(self, items):
        return self._fold(items, str)

    def compare(self, items):
        return self._fold(items, str)

    def _logic(self, items, op):
        left = items[0]
        for right in items[1:]:
            left = ast.Binary(op, left, right, (left.span[0], right.span[1]))
        return left

    def and_(self, items):
        return self._logic(items, "and")

    def or_(self, items):
        return self._logic(items, "or")

    @v_args(meta=True)
    def definition(self, meta, items):
        name_tok, params, body = items[0], items[1:-1], items[-1]
        names = tuple(str(p) for p in params if p is not None)
        return (str(name_tok), names, body, _tok_span(name_tok))


_TERMINAL_TEXT = {
    "NAME": "a name", "NUMBER": "a number", "COMP_OP": "a comparison", "PLUS": "'+'", "MINUS": "'-'",
    "STAR": "'*'", "SLASH": "'/'", "POW": "'**'", "_AND": "'and'", "_OR": "'or'", "_NOT": "'not'", "_TRUE": "'true'",
    "_FALSE": "'false'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','",
    "EQUAL": "'='", "$END": "end of expression",
}


def _describe_expected(expected: set[str]) -> str:
    words = sorted({_TERMINAL_TEXT.get(t, t) for t in expected})
    return ", ".join(words)


def _syntax_diagnostic(err: UnexpectedInput, source: ExprSource) -> Diagnostic:
    text = source.text
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream]
        hint = None
        if ch == "=":
            hint = "compare with '==' (a single '=' only names a keyword argument)"
        elif ch in "&|!":
            hint = "write 'and', 'or', 'not'"
        elif ch == "'" or ch == '"':
            hint = "the rule language has no strings"
        return source.diagnostic(err.pos_in_stream, f"unexpected character {ch!r}", hint=hint)
    if isinstance(err, UnexpectedToken) and err.token.type != "$END":
        tok = err.token
        expected = set(err.expected) | set(getattr(err, "accepts", None) or ())
        hint = f"expected {_describe_expected(expected)}" if expected else None
        if tok.type == "COMP_OP":
            hint = "comparisons don't chain: write 'a < b and b < c'"
        elif tok.type == "EQUAL":
            hint = "compare with '=='"
        return source.diagnostic(tok.start_pos, f"unexpected {str(tok)!r}", width=max(1, len(str(tok))), hint=hint)
    expected = set(getattr(err, "expected", ()) or ())
    hint = f"expected {_describe_expected(expected)}" if expected else None
    end = len(text.rstrip())
    return source.diagnostic(end, "unexpected end of expression", hint=hint)


def _parse(source: ExprSource, start: str):
    if not source.text.strip():
        raise KobeError(source.diagnostic(0, "empty expression"))
    try:
        tree = _parser().parse(source.text, start=start)
        result = _ToAst().transform(tree)
    except UnexpectedInput as err:
        raise KobeError(_syntax_diagnostic(err, source)) from None
    except VisitError as err:  # a bug in the transformer, not the user's fault
        raise err.orig_exc from None
    _check_limits(result[2] if isinstance(result, tuple) else result, source)
    return result


def _check_limits(root: ast.Node, source: ExprSource) -> None:
    """Refuse a tree nested deeper than MAX_EXPR_DEPTH and numbers that are not finite
    (``1e999`` reads as infinity), at the node where it happens. Iterative: the tree may
    be deeper than Python's recursion limit."""
    stack: list[tuple[ast.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPR_DEPTH:
            raise KobeError(source.diagnostic(node.span[0], f"expression nests deeper than {MAX_EXPR_DEPTH} levels",
                                              hint="a chain 'a and b and ...' counts a level per operator; "
                                                   "split it into definitions in rules/*.kobe"))
        if isinstance(node, ast.Number) and not (math.isfinite(node.value) and abs(node.value) <= MAX_NUMBER):
            raise KobeError(source.diagnostic(node.span[0], f"number out of range: at most {MAX_NUMBER:.0e} in size",
                                              width=max(1, node.span[1] - node.span[0])))
        stack.extend((child, depth + 1) for child in ast.children(node))


def parse_expr(source: ExprSource | str) -> ast.Node:
    """Parse one expression; raises :class:`KobeError` with the location of a syntax error."""
    if isinstance(source, str):
        source = ExprSource.inline(source)
    return _parse(source, "expr")


_DEF_START = re.compile(r"^[^\s#]")


def split_definitions(text: str, file: str) -> list[ExprSource]:
    """Cut a rules file into one :class:`ExprSource` per definition.

    A definition starts at column 1; indented lines continue it; ``#`` lines are comments.
    """
    chunks: list[list[tuple[int, str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if _DEF_START.match(line) or not chunks:
            chunks.append([])
        chunks[-1].append((number, line))
    return [ExprSource("\n".join(line for _, line in chunk), file, tuple((n, 1, line) for n, line in chunk))
            for chunk in chunks]


def parse_definition(source: ExprSource) -> ast.Definition:
    name, params, body, name_span = _parse(source, "definition")
    return ast.Definition(name, params, body, source, name_span)


def parse_rules(text: str, file: str) -> list[ast.Definition]:
    """Parse a rules file; every syntax error of the file is reported together."""
    definitions, problems = [], []
    for chunk in split_definitions(text, file):
        try:
            definitions.append(parse_definition(chunk))
        except KobeError as err:
            problems.extend(err.diagnostics)
    if problems:
        raise KobeError(problems)
    return definitions


def parse_rules_dir(folder: Path, display_root: Path | None = None) -> list[ast.Definition]:
    """Every definition of ``folder/*.kobe``, in file-name order; all errors together."""
    definitions, problems = [], []
    for path in sorted(folder.glob("*.kobe")):
        shown = str(path.relative_to(display_root)) if display_root else str(path)
        try:
            definitions.extend(parse_rules(read_text(path, shown), shown))
        except KobeError as err:
            problems.extend(err.diagnostics)
    if problems:
        raise KobeError(problems)
    return definitions


if __name__ == "__main__":
    print(f"wrote {write_stored_parser()}")
