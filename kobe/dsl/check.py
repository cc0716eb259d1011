"""Static checks of rule expressions, before anything runs.

One pass over an expression resolves every name (bar column, strategy param, definition
from ``rules/*.kobe``, built-in function), inlines definitions, folds constants, checks
arity, keywords and types (number versus boolean), requires windows to be positive
integer constants and lags to be non-negative integer constants (a negative lag would
read the future), and derives the warm-up: the bars an expression needs before its first
valid value. Every problem becomes a located :class:`Diagnostic`; all of them are
collected and reported together.

The result is a *resolved* tree: only bar columns, numbers, booleans, built-in calls with
all arguments positional and constant windows, lags, and operators. The compiler turns
it into Polars; its canonical text names the columns ``kobe explain`` shows.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kobe.config.errors import Diagnostic
from kobe.config.limits import MAX_BARS, MAX_EXPR_DEPTH, MAX_EXPR_NODES, MAX_NUMBER
from kobe.config.model import ExprSource
from kobe.dsl import ast
from kobe.dsl.columns import BAR_COLUMNS, EXIT_COLUMNS
from kobe.dsl.functions import REGISTRY, FunctionSpec, Param, ParamKind
from kobe.dsl.types import Type


@dataclass(frozen=True)
class CheckedExpr:
    """A resolved expression with its type and warm-up in bars."""

    node: ast.Node
    type: Type
    warmup: int
    source: ExprSource

    @property
    def text(self) -> str:
        return self.node.to_text()

    @property
    def cross_sectional(self) -> bool:
        """Whether the value reads other symbols (see :func:`cross_sectional`)."""
        return cross_sectional(self.node)


@dataclass
class _Scope:
    source: ExprSource
    params: Mapping[str, float]            # strategy params (only in strategy expressions)
    bindings: Mapping[str, ast.Node]       # definition parameters -> resolved arguments
    columns: Mapping[str, object]
    stack: tuple[str, ...] = ()            # definitions being expanded, for recursion
    call_site: str | None = None           # where the outermost definition was called


@dataclass
class Checker:
    """Checks expressions against a set of definitions; collects diagnostics."""

    definitions: Mapping[str, ast.Definition]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    _depth: int = 0
    _nodes: int = 0
    _too_deep: bool = False

    # -- public -----------------------------------------------------------------------

    def check(self, source: ExprSource, node: ast.Node, expected: Type | None,
              params: Mapping[str, float] | None = None, *, allow_entry_price: bool = False,
              what: str = "expression") -> CheckedExpr | None:
        """Resolve and type ``node``; ``None`` when it has errors (they are recorded)."""
        columns = {**BAR_COLUMNS, **(EXIT_COLUMNS if allow_entry_price else {})}
        scope = _Scope(source, params or {}, {}, columns)
        before = len(self.diagnostics)
        self._depth, self._nodes, self._too_deep = 0, 0, False
        resolved, typ = self._resolve(node, scope)
        if resolved is None or typ is None or len(self.diagnostics) > before:
            return None
        if expected is not None and typ is not expected:
            self._error(scope, node.span, f"{what} must be a {expected} expression, got a {typ}",
                        hint="compare it (e.g. '> 0')" if expected is Type.BOOL else None)
            return None
        return CheckedExpr(resolved, typ, warmup(resolved), source)

    # -- resolution ---------------------------------------------------------------------

    def _error(self, scope: _Scope, span: ast.Span, message: str, hint: str | None = None) -> None:
        if scope.call_site and not hint:
            hint = f"in a definition expanded from {scope.call_site}"
        width = max(1, span[1] - span[0])
        first_line_end = scope.source.text.find("\n", span[0])
        if first_line_end != -1:
            width = max(1, min(width, first_line_end - span[0]))
        diag = scope.source.diagnostic(span[0], message, width=width, hint=hint)
        if diag not in self.diagnostics:
            self.diagnostics.append(diag)

    def _resolve(self, node: ast.Node, scope: _Scope) -> tuple[ast.Node | None, Type | None]:
        # Definitions expand into the expression: its depth and size are only known while
        # resolving.
        self._nodes += 1
        if self._depth >= MAX_EXPR_DEPTH or self._nodes > MAX_EXPR_NODES:
            if not self._too_deep:
                self._too_deep = True
                too = f"nests deeper than {MAX_EXPR_DEPTH} levels" if self._depth >= MAX_EXPR_DEPTH \
                    else f"grows to more than {MAX_EXPR_NODES:,} terms"
                self._error(scope, node.span, f"expression {too} once definitions are expanded")
            return None, None
        self._depth += 1
        try:
            return self._resolve_node(node, scope)
        finally:
            self._depth -= 1

    def _resolve_node(self, node: ast.Node, scope: _Scope) -> tuple[ast.Node | None, Type | None]:
        if isinstance(node, ast.Number):
            return node, Type.NUM
        if isinstance(node, ast.Bool):
            return node, Type.BOOL
        if isinstance(node, ast.Name):
            return self._resolve_name(node, scope)
        if isinstance(node, ast.Call):
            return self._resolve_call(node, scope)
        if isinstance(node, ast.Lag):
            return self._resolve_lag(node, scope)
        if isinstance(node, ast.Unary):
            operand, typ = self._resolve(node.operand, scope)
            want = Type.NUM if node.op == "-" else Type.BOOL
            if operand is None or typ is None:
                return None, None
            if typ is not want:
                self._error(scope, node.operand.span, f"'{node.op}' needs a {want}, got a {typ}")
                return None, None
            if node.op == "-" and isinstance(operand, ast.Number):
                return ast.Number(-operand.value, node.span), Type.NUM
            return ast.Unary(node.op, operand, node.span), want
        if isinstance(node, ast.Binary):
            return self._resolve_binary(node, scope)
        raise TypeError(f"unknown node {node!r}")

    def _visible_names(self, scope: _Scope) -> list[str]:
        names = list(scope.columns) + list(scope.params) + list(scope.bindings)
        names += [d.name for d in self.definitions.values() if not d.params]
        names += [f.name for f in REGISTRY.values() if not _required(f)]
        return names

    def _resolve_name(self, node: ast.Name, scope: _Scope) -> tuple[ast.Node | None, Type | None]:
        name = node.id
        if name in scope.bindings:
            bound = scope.bindings[name]
            return bound, _type_of(bound)
        if name in scope.columns:
            return ast.Name(name, node.span), Type.NUM
        if name in scope.params:
            return ast.Number(float(scope.params[name]), node.span), Type.NUM
        if name in self.definitions or name in REGISTRY:
            return self._resolve_call(ast.Call(name, (), (), node.span, node.span), scope)
        if name == "entry_price":
            self._error(scope, node.span, "'entry_price' exists only in stop, target and trailing_stop",
                        hint="entry and filters run before there is a position")
            return None, None
        self._error(scope, node.span, f"unknown name {name!r}{_did_you_mean(name, self._visible_names(scope))}")
        return None, None

    def _resolve_call(self, node: ast.Call, scope: _Scope) -> tuple[ast.Node | None, Type | None]:
        if node.name in self.definitions:
            return self._expand(node, self.definitions[node.name], scope)
        spec = REGISTRY.get(node.name)
        if spec is None:
            known = list(REGISTRY) + list(self.definitions)
            self._error(scope, node.name_span, f"unknown function {node.name!r}{_did_you_mean(node.name, known)}",
                        hint="`kobe functions` lists the built-ins" if not _did_you_mean(node.name, known) else None)
            for arg in node.args:  # still report problems inside the arguments
                self._resolve(arg, scope)
            return None, None
        bound = self._bind_arguments(node, spec, scope)
        if bound is None:
            return None, None
        args: list[ast.Node] = []
        ok = True
        for param, (arg_node, written) in zip(_expanded_params(spec, len(bound)), bound):
            if param.kind is ParamKind.SERIES:
                resolved, typ = self._resolve(arg_node, scope) if written else (arg_node, _type_of(arg_node))
                if resolved is None or typ is None:
                    ok = False
                    continue
                if typ is not param.type:
                    self._error(scope, arg_node.span,
                                f"argument {param.name!r} of {spec.name}() must be a {param.type}, got a {typ}")
                    ok = False
                    continue
                args.append(resolved)
            else:
                value = self._constant(arg_node, scope, f"{param.name!r} of {spec.name}()") if written \
                    else float(arg_node.value)  # type: ignore[union-attr]
                if value is None:
                    ok = False
                    continue
                if param.kind is ParamKind.WINDOW and (value != int(value) or value < param.least):
                    least = "a positive integer" if param.least == 1 else f"a whole number of at least {param.least}"
                    self._error(scope, arg_node.span,
                                f"window {param.name!r} of {spec.name}() must be {least}, got {_fmt(value)}")
                    ok = False
                    continue
                if param.kind is ParamKind.WINDOW and value > MAX_BARS:
                    self._error(scope, arg_node.span,
                                f"window {param.name!r} of {spec.name}() is {_fmt(value)} bars, at most {MAX_BARS:,}")
                    ok = False
                    continue
                args.append(ast.Number(value, arg_node.span))
        if not ok:
            return None, None
        return ast.Call(spec.name, tuple(args), (), node.span, node.name_span), spec.result

    def _bind_arguments(self, node: ast.Call, spec: FunctionSpec,
                        scope: _Scope) -> list[tuple[ast.Node, bool]] | None:
        """Match positional and keyword arguments to parameters: (node, written) pairs."""
        params = spec.params
        signature = f"{spec.name}({', '.join(p.name for p in params)}{', ...' if spec.variadic else ''})"
        if len(node.args) > len(params) and not spec.variadic:
            extra = node.args[len(params)]
            self._error(scope, extra.span, f"{spec.name}() takes at most {len(params)} argument"
                        f"{'s' if len(params) != 1 else ''}, got {len(node.args)}", hint=f"signature: {signature}")
            return None
        slots: dict[str, tuple[ast.Node, bool]] = {}
        for param, arg in zip(params, node.args):
            slots[param.name] = (arg, True)
        names = [p.name for p in params]
        for kw in node.kwargs:
            if kw.name not in names or spec.variadic:
                self._error(scope, kw.span, f"{spec.name}() has no parameter {kw.name!r}"
                            f"{_did_you_mean(kw.name, names)}", hint=f"signature: {signature}")
                return None
            if kw.name in slots:
                self._error(scope, kw.span, f"argument {kw.name!r} of {spec.name}() given twice")
                return None
            slots[kw.name] = (kw.value, True)
        missing = [p.name for p in params if p.name not in slots and p.required]
        if missing:
            self._error(scope, node.span, f"{spec.name}() is missing argument{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(repr(m) for m in missing)}", hint=f"signature: {signature}")
            return None
        bound = [slots[p.name] if p.name in slots else _default(p, node.span) for p in params]
        bound += [(a, True) for a in node.args[len(params):]]
        return bound

    def _expand(self, node: ast.Call, definition: ast.Definition,
                scope: _Scope) -> tuple[ast.Node | None, Type | None]:
        if definition.name in scope.stack:
            cycle = " -> ".join(scope.stack[scope.stack.index(definition.name):] + (definition.name,))
            self._error(scope, node.name_span, f"recursive definition: {cycle}")
            return None, None
        if node.kwargs:
            self._error(scope, node.kwargs[0].span, f"{definition.name}() takes positional arguments only",
                        hint=f"signature: {definition.signature()}")
            return None, None
        if len(node.args) != len(definition.params):
            n = len(definition.params)
            self._error(scope, node.span, f"{definition.name}() takes {n} argument{'s' if n != 1 else ''}, "
                        f"got {len(node.args)}", hint=f"signature: {definition.signature()}")
            return None, None
        bindings: dict[str, ast.Node] = {}
        for name, arg in zip(definition.params, node.args):
            resolved, _ = self._resolve(arg, scope)
            if resolved is None:
                return None, None
            bindings[name] = resolved
        line, col, _ = scope.source.locate(node.span[0])
        inner = _Scope(definition.source, {}, bindings, scope.columns, scope.stack + (definition.name,),
                       scope.call_site or f"{scope.source.file}:{line}:{col}")
        return self._resolve(definition.body, inner)

    def _resolve_lag(self, node: ast.Lag, scope: _Scope) -> tuple[ast.Node | None, Type | None]:
        operand, typ = self._resolve(node.operand, scope)
        k = self._constant(node.index, scope, "lag")
        if operand is None or typ is None or k is None:
            return None, None
        if k < 0:
            self._error(scope, node.index.span, f"negative lag [{_fmt(k)}] would read a future bar (lookahead)",
                        hint="x[1] is one bar ago; the future is never visible")
            return None, None
        if k != int(k):
            self._error(scope, node.index.span, f"lag must be a whole number of bars, got {_fmt(k)}")
            return None, None
        if k > MAX_BARS:
            self._error(scope, node.index.span, f"lag of {_fmt(k)} bars, at most {MAX_BARS:,}")
            return None, None
        if k == 0:
            return operand, typ
        if isinstance(operand, ast.Lag):  # x[1][2] is x[3]
            inner_k = operand.index.value  # type: ignore[union-attr]
            if inner_k + k > MAX_BARS:
                self._error(scope, node.index.span, f"lags add up to {_fmt(inner_k + k)} bars, more than {MAX_BARS:,}")
                return None, None
            return ast.Lag(operand.operand, ast.Number(inner_k + k), node.span), typ
        if isinstance(operand, (ast.Number, ast.Bool)):
            return operand, typ
        return ast.Lag(operand, ast.Number(float(k), node.index.span), node.span), typ

    def _constant(self, node: ast.Node, scope: _Scope, what: str) -> float | None:
        """Fold a constant expression (numbers, params, + - * /); report anything else."""
        resolved, _ = self._resolve(node, scope)
        if resolved is None:
            return None
        value = _fold(resolved)
        if value is None:
            self._error(scope, node.span, f"{what} must be a constant number, not a series ({node.to_text()})",
                        hint="use a number or a strategy param")
        return value if value is None or _finite(value, scope, node, self) else None

    def _resolve_binary(self, node: ast.Binary, scope: _Scope) -> tuple[ast.Node | None, Type | None]:
        left, lt = self._resolve(node.left, scope)
        right, rt = self._resolve(node.right, scope)
        if left is None or right is None or lt is None or rt is None:
            return None, None
        op = node.op
        if op in ast.LOGIC_OPS:
            for side, t, sub in (("left", lt, node.left), ("right", rt, node.right)):
                if t is not Type.BOOL:
                    self._error(scope, sub.span, f"'{op}' needs booleans, got a {t} on the {side}",
                                hint="compare it (e.g. '> 0')")
                    return None, None
            result = Type.BOOL
        elif op in ("==", "!="):
            if lt is not rt:
                self._error(scope, node.op_span, f"'{op}' compares a {lt} with a {rt}")
                return None, None
            result = Type.BOOL
        else:
            for side, t, sub in (("left", lt, node.left), ("right", rt, node.right)):
                if t is not Type.NUM:
                    self._error(scope, sub.span, f"'{op}' needs numbers, got a {t} on the {side}")
                    return None, None
            result = Type.BOOL if op in ast.COMPARE_OPS else Type.NUM
        out = ast.Binary(op, left, right, node.span, node.op_span)
        folded = _fold(out) if result is Type.NUM else None
        if folded is not None:
            if not _finite(folded, scope, node, self):
                return None, None
            return ast.Number(folded, node.span), result
        return out, result


def check_definitions(definitions: Iterable[ast.Definition]) -> tuple[dict[str, ast.Definition], list[Diagnostic]]:
    """Index definitions by name and check what can be checked without a call site.

    Reports duplicate names, names that shadow a built-in or a bar column, parameters
    named twice, unknown names in a body, and recursion (a definition that reaches
    itself through others), at the call that closes the cycle.
    """
    table: dict[str, ast.Definition] = {}
    problems: list[Diagnostic] = []

    def at(d: ast.Definition, span: ast.Span, message: str, hint: str | None = None) -> None:
        problems.append(d.source.diagnostic(span[0], message, width=max(1, span[1] - span[0]), hint=hint))

    for d in definitions:
        if d.name in table:
            first = table[d.name].source
            line, _, _ = first.locate(0)
            at(d, d.name_span, f"{d.name!r} is already defined", hint=f"first defined at {first.file}:{line}")
            continue
        if d.name in REGISTRY or d.name in BAR_COLUMNS or d.name in EXIT_COLUMNS:
            at(d, d.name_span, f"definition {d.name!r} hides the built-in of that name", hint="choose another name")
            continue
        if len(set(d.params)) != len(d.params):
            at(d, d.name_span, f"{d.name}() names a parameter twice")
            continue
        table[d.name] = d

    # Recursion: depth-first search over "body calls definition" edges.
    def edges(d: ast.Definition) -> list[tuple[str, ast.Span]]:
        out = []
        for n in ast.walk(d.body):
            if isinstance(n, ast.Call) and n.name in table:
                out.append((n.name, n.name_span))
            elif isinstance(n, ast.Name) and n.id in table and n.id not in d.params:
                out.append((n.id, n.span))
        return out

    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target, span in edges(table[name]):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [name, target] if target in path else [name, target]
                at(table[name], span, f"recursive definition: {' -> '.join(dict.fromkeys(cycle[:-1]))} -> {target}")
            elif target not in state:
                visit(target, path + [name])
        state[name] = 2

    for name in table:
        if name not in state:
            visit(name, [])

    # Unknown names in bodies, reported even when no strategy uses the definition.
    known = set(table) | set(REGISTRY) | set(BAR_COLUMNS) | set(EXIT_COLUMNS)
    for d in table.values():
        for n in ast.walk(d.body):
            if isinstance(n, ast.Call) and n.name not in known:
                at(d, n.name_span, f"unknown function {n.name!r}{_did_you_mean(n.name, list(REGISTRY) + list(table))}")
            elif isinstance(n, ast.Name) and n.id not in known and n.id not in d.params:
                visible = list(d.params) + list(BAR_COLUMNS) + list(table)
                at(d, n.span, f"unknown name {n.id!r}{_did_you_mean(n.id, visible)}",
                   hint="a definition sees its own parameters, bar columns and other definitions")
    return table, problems


def warmup(node: ast.Node) -> int:
    """Bars of history a resolved expression needs before its first valid value.

    A function adds its own lookback to the largest warm-up of its series arguments; a
    lag adds its bars; operators take the largest of their operands.
    """
    if isinstance(node, ast.Lag):
        return warmup(node.operand) + int(node.index.value)  # type: ignore[union-attr]
    if isinstance(node, ast.Call):
        spec = REGISTRY[node.name]
        series = [a for p, a in zip(_expanded_params(spec, len(node.args)), node.args) if p.kind is ParamKind.SERIES]
        constants = {p.name: a.value for p, a in zip(spec.params, node.args)  # type: ignore[union-attr]
                     if p.kind is not ParamKind.SERIES}
        return spec.lookback(constants) + max((warmup(a) for a in series), default=0)
    return max((warmup(c) for c in ast.children(node)), default=0)


def cross_sectional(node: ast.Node) -> bool:
    """Whether a resolved expression reads other symbols' bars: it calls a built-in with
    the "date" partition (cs_rank...) somewhere. Its value for one symbol then depends
    on which symbols are evaluated with it (the universe), and it must be computed with
    every symbol of a date at once."""
    return any(isinstance(n, ast.Call) and n.name in REGISTRY and REGISTRY[n.name].partition == "date"
               for n in ast.walk(node))


def _expanded_params(spec: FunctionSpec, count: int):
    params = list(spec.params)
    while spec.variadic and len(params) < count:
        params.append(spec.params[-1])
    return params


def _default(param: Param, span: ast.Span) -> tuple[ast.Node, bool]:
    """An omitted argument as a (node, written) pair, already resolved: a number, or the
    bar column a string default names (never a definition parameter of that name)."""
    if isinstance(param.default, str):
        return ast.Name(param.default, span), False
    return ast.Number(float(param.default), span), False  # type: ignore[arg-type]


def _required(spec: FunctionSpec) -> bool:
    return any(p.required for p in spec.params)


def _type_of(node: ast.Node) -> Type:
    if isinstance(node, ast.Bool):
        return Type.BOOL
    if isinstance(node, ast.Call):
        return REGISTRY[node.name].result
    if isinstance(node, ast.Lag):
        return _type_of(node.operand)
    if isinstance(node, ast.Unary):
        return Type.NUM if node.op == "-" else Type.BOOL
    if isinstance(node, ast.Binary):
        return Type.NUM if node.op in ast.ARITH_OPS else Type.BOOL
    return Type.NUM


def _fold(node: ast.Node) -> float | None:
    """The value of a constant numeric expression, or None when it depends on bars."""
    if isinstance(node, ast.Number):
        return node.value
    if isinstance(node, ast.Unary) and node.op == "-":
        inner = _fold(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Binary) and node.op in ast.ARITH_OPS:
        a, b = _fold(node.left), _fold(node.right)
        if a is None or b is None:
            return None
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        if node.op == "**":
            return _power(a, b)
        return None if b == 0 else a / b
    return None


def _power(a: float, b: float) -> float | None:
    """a ** b as a constant; None where the power is undefined (it then stays an
    expression, null on every bar, as x / 0 does); infinity where it overflows, which
    the range check then reports."""
    try:
        value = a ** b
    except ZeroDivisionError:   # 0 ** -1
        return None
    except OverflowError:
        return math.inf
    if isinstance(value, complex) or math.isnan(value):   # (-8) ** (1 / 3)
        return None
    return value


def _finite(value: float, scope: _Scope, node: ast.Node, checker: Checker) -> bool:
    """A folded constant must be a number a float holds: 1e300 * 1e300 is not."""
    if math.isfinite(value) and abs(value) <= MAX_NUMBER:
        return True
    checker._error(scope, node.span, f"this constant is out of range (at most {MAX_NUMBER:.0e} in size)")
    return False


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(dict.fromkeys(candidates)), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""
