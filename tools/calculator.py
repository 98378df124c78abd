"""The ``calculator`` tool: arithmetic parsed with ``ast`` and evaluated node by node, never ``eval``."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from heron.errors import ModelRetry
from heron.tools.declaration import tool

MAX_EXPRESSION_CHARS = 500
MAX_INT_BITS = 4096  # larger integers are almost surely a runaway power, and slow to print

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "round": round, "min": min, "max": max,
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "log10": math.log10, "log2": math.log2,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos,
    "atan": math.atan, "floor": math.floor, "ceil": math.ceil, "factorial": math.factorial,
}  # fmt: skip
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}


@tool(concurrent=True)
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly and return its value.

    Supports + - * / // % **, parentheses, the constants pi, e, tau and the functions abs, round,
    min, max, sqrt, exp, log, log10, log2, sin, cos, tan, asin, acos, atan, floor, ceil, factorial.

    Args:
        expression: the arithmetic expression; no variables, no other Python
    """
    return format_number(evaluate(expression))


def evaluate(expression: str) -> int | float:
    """The value of ``expression``; anything but arithmetic raises ModelRetry saying what is refused."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ModelRetry(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters; split it up")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ModelRetry(f"`{expression}` is not an arithmetic expression ({exc}); fix the syntax") from exc
    try:
        return _Evaluator().visit(tree.body)
    except (ZeroDivisionError, OverflowError, ValueError, TypeError) as exc:
        raise ModelRetry(f"cannot evaluate `{expression}`: {exc}") from exc
    except RecursionError as exc:
        raise ModelRetry(f"`{expression}` is nested too deeply; simplify it") from exc


def format_number(value: int | float) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return format(value, ".12g")
    return str(value)


class _Evaluator(ast.NodeVisitor):
    """Evaluates the few node types arithmetic needs; every other node is refused by name."""

    def generic_visit(self, node: ast.AST) -> Any:
        raise ModelRetry(
            f"the calculator does not allow {type(node).__name__} nodes (only numbers, + - * / // % **, "
            "parentheses and the listed functions); rewrite the expression as plain arithmetic"
        )

    def visit_Constant(self, node: ast.Constant) -> int | float:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ModelRetry(f"{node.value!r} is not a number; the calculator only does arithmetic")
        return _checked(node.value)

    def visit_Name(self, node: ast.Name) -> float:
        if node.id not in _CONSTANTS:
            raise ModelRetry(f"unknown name `{node.id}`; known constants: {', '.join(_CONSTANTS)}")
        return _CONSTANTS[node.id]

    def visit_UnaryOp(self, node: ast.UnaryOp) -> int | float:
        op = _UNARY.get(type(node.op))
        if op is None:
            return self.generic_visit(node.op)
        return _checked(op(self.visit(node.operand)))

    def visit_BinOp(self, node: ast.BinOp) -> int | float:
        op = _BINARY.get(type(node.op))
        if op is None:
            return self.generic_visit(node.op)
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _checked(op(left, right))

    def visit_Call(self, node: ast.Call) -> int | float:
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            shown = ast.unparse(node.func)
            raise ModelRetry(f"unknown function `{shown}`; known functions: {', '.join(_FUNCTIONS)}")
        if node.keywords:
            raise ModelRetry("calculator functions take positional arguments only")
        args = [self.visit(arg) for arg in node.args]
        if node.func.id == "factorial" and args and isinstance(args[0], int) and args[0] > 500:
            raise ModelRetry("factorial is limited to n <= 500")
        return _checked(_FUNCTIONS[node.func.id](*args))


def _check_power(base: int | float, exponent: int | float) -> None:
    if not (isinstance(base, int) and isinstance(exponent, int)):
        return
    if exponent > 0 and abs(base) > 1 and abs(base).bit_length() * exponent > MAX_INT_BITS:
        raise ModelRetry(f"{base} ** {exponent} is too large to compute (over {MAX_INT_BITS} bits)")


def _checked(value: Any) -> int | float:
    if isinstance(value, complex):
        raise ModelRetry("the result is a complex number; the calculator works with real numbers only")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ModelRetry(f"the result is too large (over {MAX_INT_BITS} bits)")
    return value
