"""The syntax tree of the rule language: small frozen node classes.

Every node carries ``span``: the character offsets ``(start, end)`` of its text inside
the expression it came from, so any later pass can point an error at the exact column.
``to_text`` prints a node back in canonical form (single spaces, minimal parentheses);
the compiler uses it to name the columns it materialises, so ``kobe explain`` and the
compiled plan show the trader's own words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Span = tuple[int, int]

ARITH_OPS = ("+", "-", "*", "/", "**")
COMPARE_OPS = (">", ">=", "<", "<=", "==", "!=")
LOGIC_OPS = ("and", "or")

# Binding strength for printing with minimal parentheses (higher binds tighter).
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, **{op: 4 for op in COMPARE_OPS},
               "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7, "**": 8}
RIGHT_ASSOCIATIVE = ("**",)


@dataclass(frozen=True)
class Number:
    value: float
    span: Span = field(default=(0, 0), compare=False)

    def to_text(self) -> str:
        v = self.value
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span = field(default=(0, 0), compare=False)

    def to_text(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True)
class Name:
    """A bar column, a strategy param, a definition parameter or a zero-argument call."""

    id: str
    span: Span = field(default=(0, 0), compare=False)

    def to_text(self) -> str:
        return self.id


@dataclass(frozen=True)
class Keyword:
    name: str
    value: Node
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...] = ()
    kwargs: tuple[Keyword, ...] = ()
    span: Span = field(default=(0, 0), compare=False)
    name_span: Span = field(default=(0, 0), compare=False)

    def to_text(self) -> str:
        parts = [a.to_text() for a in self.args]
        parts += [f"{k.name}={k.value.to_text()}" for k in self.kwargs]
        return f"{self.name}({', '.join(parts)})"


@dataclass(frozen=True)
class Lag:
    """``operand[index]``: the operand's value ``index`` bars ago."""

    operand: Node
    index: Node
    span: Span = field(default=(0, 0), compare=False)

    def to_text(self) -> str:
        inner = self.operand.to_text()
        if isinstance(self.operand, (Unary, Binary)):
            inner = f"({inner})"
        return f"{inner}[{self.index.to_text()}]"


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "not"
    operand: Node
    span: Span = field(default=(0, 0), compare=False)

    def to_text(self) -> str:
        inner = self.operand.to_text()
        mine = _PRECEDENCE["neg" if self.op == "-" else "not"]
        if _precedence(self.operand) < mine:
            inner = f"({inner})"
        return f"-{inner}" if self.op == "-" else f"not {inner}"


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node
    span: Span = field(default=(0, 0), compare=False)
    op_span: Span = field(default=(0, 0), compare=False)

    def to_text(self) -> str:
        mine = _PRECEDENCE[self.op]
        left, right = self.left.to_text(), self.right.to_text()
        # An operand of equal strength needs parentheses on the side the operator does not
        # group towards: a - (b - c), (a ** b) ** c; comparisons do not chain at all.
        grouped_left = self.op not in RIGHT_ASSOCIATIVE and self.op not in COMPARE_OPS
        if _precedence(self.left) < mine or (_precedence(self.left) == mine and not grouped_left):
            left = f"({left})"
        if _precedence(self.right) < mine or (_precedence(self.right) == mine and self.op not in RIGHT_ASSOCIATIVE):
            right = f"({right})"
        return f"{left} {self.op} {right}"


Node = Number | Bool | Name | Call | Lag | Unary | Binary


def _precedence(node: Node) -> int:
    if isinstance(node, Number) and node.value < 0:
        # A folded negative constant prints as "-2": as loose as a unary minus, so that
        # (-2) ** x keeps its parentheses (-2 ** x reads as -(2 ** x)).
        return _PRECEDENCE["neg"]
    if isinstance(node, Binary):
        return _PRECEDENCE[node.op]
    if isinstance(node, Unary):
        return _PRECEDENCE["neg" if node.op == "-" else "not"]
    return 100


@dataclass(frozen=True)
class Definition:
    """``name(params) = body`` from a rules file; ``params`` is empty for ``name = body``."""

    name: str
    params: tuple[str, ...]
    body: Node
    source: object  # kobe.config.model.ExprSource of the definition's text
    name_span: Span = (0, 0)

    def signature(self) -> str:
        return f"{self.name}({', '.join(self.params)})" if self.params else self.name


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Call):
        return node.args + tuple(k.value for k in node.kwargs)
    if isinstance(node, Lag):
        return (node.operand, node.index)
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    return ()


def walk(node: Node):
    """Every node of the tree, parents before children."""
    yield node
    for child in children(node):
        yield from walk(child)
