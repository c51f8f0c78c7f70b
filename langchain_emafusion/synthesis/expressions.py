"""A small, safe expression language for seed templates: references and derived slots computed from slot values.

Templates are configuration, not code: an expression may use literals, slot names, arithmetic, comparisons,
conditional expressions, subscripts, list/dict displays, the functions in :data:`FUNCTIONS` and the plain
methods of ``str``/``list``/``dict`` values. Anything else (attribute access to dunders, imports, lambdas,
comprehensions) is refused with a ``ValueError`` before evaluation. A template that needs more names a Python
callable by dotted path instead (a generator or a ``callable`` checker).
"""

from __future__ import annotations

import ast
import datetime as dt
import operator
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["FUNCTIONS", "evaluate_expression", "expression_names"]


def _date(value: str | dt.date) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _date_add(value: str, days: int = 0, *, weeks: int = 0) -> str:
    return (_date(value) + dt.timedelta(days=days, weeks=weeks)).isoformat()


def _add_months(value: str, months: int) -> str:
    start = _date(value)
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    # Clamp the day (31 Jan + 1 month = 28/29 Feb), as billing systems do.
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month - dt.timedelta(days=1)).day
    return dt.date(year, month, min(start.day, last_day)).isoformat()


def _days_between(start: str, end: str) -> int:
    return (_date(end) - _date(start)).days


def _weekday(value: str) -> str:
    return _date(value).strftime("%A")


def _format_date(value: str, pattern: str) -> str:
    return _date(value).strftime(pattern)


def _business_days_between(start: str, end: str) -> int:
    first, last = _date(start), _date(end)
    count, day = 0, first
    while day < last:
        day += dt.timedelta(days=1)
        count += day.weekday() < 5
    return count


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "int": int,
    "float": float,
    "str": str,
    "len": len,
    "sum": sum,
    "sorted": sorted,
    "list": list,
    "divmod": divmod,
    "date_add": _date_add,
    "add_months": _add_months,
    "days_between": _days_between,
    "business_days_between": _business_days_between,
    "weekday": _weekday,
    "format_date": _format_date,
}
"""Functions an expression may call: builtins for arithmetic and text, and ISO-date helpers."""

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
# Methods that read a container; mutating ones (append, pop, update...) would change a slot value in place.
_READ_ONLY_METHODS = {"index", "count", "get", "keys", "values", "items", "copy"}


def _parse(expression: str) -> ast.expr:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise ValueError(f"not a valid expression ({error.msg}): {expression!r}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ValueError(f"attribute {node.attr!r} is not allowed in {expression!r}")
        if isinstance(
            node,
            ast.Lambda
            | ast.ListComp
            | ast.DictComp
            | ast.SetComp
            | ast.GeneratorExp
            | ast.NamedExpr
            | ast.Await,
        ):
            raise ValueError(f"{type(node).__name__} is not allowed in {expression!r}")
    return tree.body


def expression_names(expression: str) -> set[str]:
    """Return the variable names an expression reads (function names excluded).

    Raises:
        ValueError: The expression does not parse or uses a refused construct.
    """
    body = _parse(expression)
    called = {
        node.func.id
        for node in ast.walk(body)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    return {node.id for node in ast.walk(body) if isinstance(node, ast.Name) and node.id not in called} - {
        "True",
        "False",
        "None",
    }


def evaluate_expression(expression: str, variables: Mapping[str, Any]) -> Any:
    """Evaluate a template expression over slot values.

    Args:
        expression: E.g. ``"round(qty * price * (1 - discount / 100), 2)"`` or ``"{'total': total}"``.
        variables: Slot (and derived) values by name.

    Returns:
        The value.

    Raises:
        ValueError: The expression is refused, names an unknown variable or function, or fails to evaluate.
    """
    body = _parse(expression)
    try:
        return _Evaluator(variables).visit(body)
    except ValueError:
        raise
    except Exception as error:  # arithmetic or type errors of the expression itself
        raise ValueError(f"{expression!r} failed: {type(error).__name__}: {error}") from None


class _Evaluator(ast.NodeVisitor):
    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.variables = variables

    def generic_visit(self, node: ast.AST) -> Any:
        raise ValueError(f"{type(node).__name__} is not allowed in template expressions")

    def visit_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in self.variables:
            return self.variables[node.id]
        if node.id in {"True", "False", "None"}:
            return {"True": True, "False": False, "None": None}[node.id]
        raise ValueError(f"unknown name {node.id!r} (slots and derived values: {', '.join(self.variables)})")

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ValueError(f"operator {type(node.op).__name__} is not allowed")
        return op(self.visit(node.left), self.visit(node.right))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        op = _UNARY.get(type(node.op))
        if op is None:
            raise ValueError(f"operator {type(node.op).__name__} is not allowed")
        return op(self.visit(node.operand))

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        values = [self.visit(value) for value in node.values]
        result = values[0]
        for value in values[1:]:
            result = (result and value) if isinstance(node.op, ast.And) else (result or value)
        return result

    def visit_Compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.visit(comparator)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        return self.visit(node.value)[self.visit(node.slice)]

    def visit_Slice(self, node: ast.Slice) -> Any:
        parts = (node.lower, node.upper, node.step)
        return slice(*(None if part is None else self.visit(part) for part in parts))

    def visit_List(self, node: ast.List) -> Any:
        return [self.visit(element) for element in node.elts]

    def visit_Tuple(self, node: ast.Tuple) -> Any:
        return tuple(self.visit(element) for element in node.elts)

    def visit_Dict(self, node: ast.Dict) -> Any:
        if any(key is None for key in node.keys):
            raise ValueError("dict unpacking is not allowed")
        return {self.visit(key): self.visit(value) for key, value in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]

    def visit_JoinedStr(self, node: ast.JoinedStr) -> Any:
        return "".join(str(self.visit(value)) for value in node.values)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        value = self.visit(node.value)
        spec = "" if node.format_spec is None else self.visit(node.format_spec)
        return format(value, spec)

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        owner = self.visit(node.value)
        allowed = isinstance(owner, str) or (
            isinstance(owner, list | dict | tuple) and node.attr in _READ_ONLY_METHODS
        )
        if not allowed or not hasattr(owner, node.attr):
            raise ValueError(f"attribute {node.attr!r} of a {type(owner).__name__} is not allowed")
        return getattr(owner, node.attr)

    def visit_Call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Name):
            function = FUNCTIONS.get(node.func.id)
            if function is None:
                raise ValueError(
                    f"unknown function {node.func.id!r}; allowed: {', '.join(sorted(FUNCTIONS))}"
                )
        elif isinstance(node.func, ast.Attribute):
            function = self.visit_Attribute(node.func)
            if not callable(function):
                raise ValueError(f"{node.func.attr!r} is not a method")
        else:
            raise ValueError("only named functions and str/list/dict methods may be called")
        args = [self.visit(arg) for arg in node.args]
        kwargs = {keyword.arg: self.visit(keyword.value) for keyword in node.keywords if keyword.arg}
        return function(*args, **kwargs)
