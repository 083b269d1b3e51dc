"""A small, sandboxed renderer for the Jinja subset used by home-assistant-intents responses.

The intents package ships its spoken responses as Jinja templates (Home Assistant renders them
with its own Jinja environment). Jinja is not a dependency of this server, and the templates use
a small, stable subset: `{{ }}`, `if/elif/else`, `for` (with `loop`), `set` (inline and block),
`macro`, a dozen filters and the `defined`/`none`/`number` tests. Expressions are close enough
to Python that they are parsed with `ast` (after mapping `~` and fixing filter precedence) and
evaluated by a tree walker that only reads public attributes and calls a fixed set of functions,
so a template can never reach the interpreter.
"""

from __future__ import annotations

import ast
import logging
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .template_filters import FILTERS, TESTS, UNDEFINED, TemplateError, get_attr

_LOGGER = logging.getLogger(__name__)

_TOKEN_RE = re.compile(r"({{-?|{%-?|{#-?)(.*?)(-?}}|-?%}|-?#})", re.DOTALL)


@dataclass
class _Node:
    kind: str
    arg: Any = None
    body: list[_Node] = field(default_factory=list)
    branches: list[tuple[Any, list[_Node]]] = field(default_factory=list)
    else_body: list[_Node] = field(default_factory=list)


def _to_python(expr: str) -> str:
    """Map Jinja-only syntax outside string literals: `~` -> `<<`, `none/true/false` kept."""
    out: list[str] = []
    quote: str | None = None
    escaped = False
    for ch in expr:
        if quote:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "~":
            out.append(" << ")
        elif ch in "\r\n":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out).strip()


def _fix_filters(node: ast.AST) -> ast.AST:
    """Give `|` (filter) the tightest binding, as in Jinja, instead of Python's loosest."""
    for name, value in ast.iter_fields(node):
        if isinstance(value, ast.AST):
            setattr(node, name, _fix_filters(value))
        elif isinstance(value, list):
            setattr(node, name, [_fix_filters(v) if isinstance(v, ast.AST) else v for v in value])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = node.left, node.right
        if isinstance(right, ast.BinOp) and not isinstance(right.op, ast.BitOr):
            inner = _fix_filters(ast.BinOp(left, ast.BitOr(), right.left))
            return ast.BinOp(inner, right.op, right.right)  # type: ignore[arg-type]
        if isinstance(left, ast.BinOp) and not isinstance(left.op, ast.BitOr):
            inner = _fix_filters(ast.BinOp(left.right, ast.BitOr(), right))
            return ast.BinOp(left.left, left.op, inner)  # type: ignore[arg-type]
    return node


def _parse_expr(expr: str) -> ast.expr:
    text = _to_python(expr.rstrip(":").strip())
    if re.search(r"\bif\b", text) and not re.search(r"\belse\b", text):
        text += " else none"
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise TemplateError(f"bad expression {expr!r}: {err}") from err
    return _fix_filters(tree.body)  # type: ignore[return-value]


def _parse(source: str) -> list[_Node]:
    """Tokenize (with `-` whitespace control) and build the statement tree."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    strip_next = False
    for match in _TOKEN_RE.finditer(source):
        text = source[pos : match.start()]
        if strip_next:
            text = text.lstrip()
        if match.group(1).endswith("-"):
            text = text.rstrip()
        if text:
            tokens.append(("text", text))
        opener = match.group(1)[:2]
        strip_next = match.group(3).startswith("-")
        if opener == "{{":
            tokens.append(("expr", match.group(2)))
        elif opener == "{%":
            tokens.append(("stmt", match.group(2).strip()))
        pos = match.end()
    tail = source[pos:]
    tokens.append(("text", tail.lstrip() if strip_next else tail))

    root: list[_Node] = []
    stack: list[tuple[_Node | None, list[_Node]]] = [(None, root)]
    for kind, value in tokens:
        parent, body = stack[-1]
        if kind == "text":
            body.append(_Node("text", value))
            continue
        if kind == "expr":
            body.append(_Node("out", _parse_expr(value)))
            continue
        word, _, rest = value.partition(" ")
        word = word.rstrip(":")
        if word == "if":
            node = _Node("if")
            node.branches.append((_parse_expr(rest), node.body))
            body.append(node)
            stack.append((node, node.body))
        elif word == "elif" and parent is not None and parent.kind == "if":
            new_body: list[_Node] = []
            parent.branches.append((_parse_expr(rest), new_body))
            stack[-1] = (parent, new_body)
        elif word == "else" and parent is not None:
            stack[-1] = (parent, parent.else_body)
        elif word in ("endif", "endfor", "endset", "endmacro"):
            stack.pop()
        elif word == "for":
            target, _, iterable = rest.partition(" in ")
            names = [n.strip() for n in target.split(",")]
            node = _Node("for", (names, _parse_expr(iterable)))
            body.append(node)
            stack.append((node, node.body))
        elif word == "set":
            name, eq, expr = rest.partition("=")
            if eq:
                names = [n.strip() for n in name.split(",")]
                body.append(_Node("set", (names, _parse_expr(expr))))
            else:
                node = _Node("setblock", name.strip())
                body.append(node)
                stack.append((node, node.body))
        elif word == "macro":
            node = _Node("macro", ast.parse(rest.strip(), mode="eval").body)
            body.append(node)
            stack.append((node, node.body))
        else:
            raise TemplateError(f"unsupported statement {value!r}")
    if len(stack) != 1:
        raise TemplateError("unclosed block")
    return root


class _Loop:
    """The `loop` variable inside `for`."""

    def __init__(self, index0: int, length: int) -> None:
        self.index0 = index0
        self.index = index0 + 1
        self.length = length
        self.first = index0 == 0
        self.last = index0 == length - 1
        self.revindex = length - index0


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.LShift: lambda a, b: f"{a}{b}",
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_CONSTANTS = {
    "none": None,
    "None": None,
    "true": True,
    "True": True,
    "false": False,
    "False": False,
}


class _Evaluator:
    """Walks parsed expressions against a scope chain."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope

    def eval(self, node: ast.AST) -> Any:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise TemplateError(f"unsupported expression {type(node).__name__}")
        return method(node)

    def _Constant(self, node: ast.Constant) -> Any:
        return node.value

    def _Name(self, node: ast.Name) -> Any:
        if node.id in self.scope:
            return self.scope[node.id]
        return _CONSTANTS.get(node.id, UNDEFINED)

    def _Attribute(self, node: ast.Attribute) -> Any:
        return get_attr(self.eval(node.value), node.attr)

    def _Subscript(self, node: ast.Subscript) -> Any:
        value = self.eval(node.value)
        index = self.eval(node.slice)
        try:
            return value[index]
        except (KeyError, IndexError, TypeError):
            return UNDEFINED

    def _Slice(self, node: ast.Slice) -> slice:
        parts = [
            self.eval(p) if p is not None else None for p in (node.lower, node.upper, node.step)
        ]
        return slice(*parts)

    def _List(self, node: ast.List) -> list:
        return [self.eval(e) for e in node.elts]

    def _Tuple(self, node: ast.Tuple) -> tuple:
        return tuple(self.eval(e) for e in node.elts)

    def _Dict(self, node: ast.Dict) -> dict:
        return {
            self.eval(k): self.eval(v)
            for k, v in zip(node.keys, node.values, strict=True)
            if k is not None
        }

    def _BoolOp(self, node: ast.BoolOp) -> Any:
        result: Any = None
        for value in node.values:
            result = self.eval(value)
            if isinstance(node.op, ast.And) and not result:
                return result
            if isinstance(node.op, ast.Or) and result:
                return result
        return result

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(node.op, ast.USub):
            return -value
        return +value

    def _IfExp(self, node: ast.IfExp) -> Any:
        return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)

    def _BinOp(self, node: ast.BinOp) -> Any:
        if isinstance(node.op, ast.BitOr):
            return self._filter(self.eval(node.left), node.right)
        func = _BINOPS.get(type(node.op))
        if func is None:
            raise TemplateError("unsupported operator")
        return func(self.eval(node.left), self.eval(node.right))

    def _filter(self, value: Any, node: ast.AST) -> Any:
        if isinstance(node, ast.Name):
            name, args, kwargs = node.id, [], {}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            args = [self.eval(a) for a in node.args]
            kwargs = {k.arg: self.eval(k.value) for k in node.keywords if k.arg}
        else:
            raise TemplateError("bad filter")
        func = FILTERS.get(name)
        if func is None:
            raise TemplateError(f"unknown filter {name!r}")
        return func(value, *args, **kwargs)

    def _Compare(self, node: ast.Compare) -> bool:
        left = self.eval(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.Is | ast.IsNot):
                result = self._test(left, comparator)
                if isinstance(op, ast.IsNot):
                    result = not result
                if not result:
                    return False
                continue
            right = self.eval(comparator)
            try:
                if not _CMPOPS[type(op)](left, right):
                    return False
            except TypeError:
                return False
            left = right
        return True

    def _test(self, value: Any, node: ast.AST) -> bool:
        if isinstance(node, ast.Constant) and node.value is None:
            return value is None
        if isinstance(node, ast.Name) and node.id in TESTS:
            return TESTS[node.id](value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = [self.eval(a) for a in node.args]
            return TESTS[node.func.id](value, *args)
        raise TemplateError("unknown test")

    def _Call(self, node: ast.Call) -> Any:
        func = self.eval(node.func)
        if not callable(func) or isinstance(func, type):
            raise TemplateError("call of a non-function")
        args = [self.eval(a) for a in node.args]
        kwargs = {k.arg: self.eval(k.value) for k in node.keywords if k.arg}
        return func(*args, **kwargs)


def _render_nodes(nodes: list[_Node], scope: dict[str, Any], out: list[str]) -> None:
    evaluator = _Evaluator(scope)
    for node in nodes:
        if node.kind == "text":
            out.append(node.arg)
        elif node.kind == "out":
            value = evaluator.eval(node.arg)
            out.append(str(value))
        elif node.kind == "if":
            for cond, body in node.branches:
                if evaluator.eval(cond):
                    _render_nodes(body, scope, out)
                    break
            else:
                _render_nodes(node.else_body, scope, out)
        elif node.kind == "for":
            names, iterable = node.arg
            items = list(evaluator.eval(iterable))
            if not items:
                _render_nodes(node.else_body, scope, out)
            for index, item in enumerate(items):
                inner = dict(scope, loop=_Loop(index, len(items)))
                values = [item] if len(names) == 1 else list(item)
                inner.update(zip(names, values, strict=True))
                _render_nodes(node.body, inner, out)
        elif node.kind == "set":
            names, expr = node.arg
            value = evaluator.eval(expr)
            values = [value] if len(names) == 1 else list(value)
            scope.update(zip(names, values, strict=True))
        elif node.kind == "setblock":
            block: list[str] = []
            _render_nodes(node.body, dict(scope), block)
            scope[node.arg] = "".join(block)
        elif node.kind == "macro":
            scope[node.arg.func.id] = _make_macro(node, scope)


def _make_macro(node: _Node, scope: dict[str, Any]) -> Callable[..., str]:
    signature: ast.Call = node.arg
    params = [a.id for a in signature.args if isinstance(a, ast.Name)]
    defaults = {k.arg: _Evaluator(scope).eval(k.value) for k in signature.keywords if k.arg}
    params += [k for k in defaults if k not in params]

    def macro(*args: Any, **kwargs: Any) -> str:
        inner = dict(scope)
        inner.update(defaults)
        inner.update(zip(params, args, strict=False))
        inner.update(kwargs)
        out: list[str] = []
        _render_nodes(node.body, inner, out)
        return "".join(out)

    return macro


class ResponseTemplate:
    """A parsed response template; `render()` returns speech with whitespace normalised."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._nodes = _parse(source)

    def render(self, variables: Mapping[str, Any]) -> str:
        """Render as HA's default agent does: then collapse whitespace to single spaces."""
        out: list[str] = []
        try:
            _render_nodes(self._nodes, dict(variables), out)
        except (
            TemplateError,
            TypeError,
            ValueError,
            KeyError,
            AttributeError,
            ZeroDivisionError,
        ) as err:
            raise TemplateError(f"cannot render response: {err}") from err
        return " ".join("".join(out).split())
