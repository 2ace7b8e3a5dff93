"""The ``calculator`` built-in: safe arithmetic without ``eval``.

The expression is parsed with ``ast.parse(mode="eval")`` and walked over an allow-list of nodes:
numbers, ``+ - * / // % **``, unary ``+``/``-``, parentheses, and a few math functions and
constants. Anything else (names, attributes, subscripts, lambdas, comprehensions, comparisons,
other calls) is refused. Resource use is bounded: expression length, exponent size (checked
before computing) and the magnitude of every intermediate result.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from nexus.core.errors import ToolError
from nexus.tools.registry import ToolSpec

Number = int | float

MAX_EXPRESSION_CHARS = 500
MAX_MAGNITUDE = 10**308
"""Largest absolute value any intermediate result may have (about the largest float)."""
MAX_POWER_BITS = 1100
"""Largest estimated size, in bits, of an integer power; checked before it is computed."""
MAX_ROUND_DIGITS = 100

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def _round(value: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(value)
    if not isinstance(ndigits, int) or abs(ndigits) > MAX_ROUND_DIGITS:
        raise ToolError(
            f"round(x, n) needs a whole number n between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}"
        )
    return round(value, ndigits)


# name -> (function, minimum arguments, maximum arguments)
_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "sqrt": (math.sqrt, 1, 1),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (lambda *values: min(values), 1, 100),
    "max": (lambda *values: max(values), 1, 100),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "log": (math.log, 1, 2),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
}

_ALLOWED_HINT = (
    "use numbers, + - * / // % **, parentheses, the constants pi and e, and the functions "
    + ", ".join(sorted(_FUNCTIONS))
)


def evaluate_expression(expression: str) -> Number:
    """The value of an arithmetic ``expression``; ``ToolError`` saying why if it is refused."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(
            f"expression is too long ({len(expression)} characters, "
            f"at most {MAX_EXPRESSION_CHARS}); split it into smaller steps"
        )
    if not expression.strip():
        raise ToolError("expression is empty; give an arithmetic expression such as '2 * (3 + 4)'")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError) as exc:
        detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise ToolError(f"could not parse expression: {detail}; {_ALLOWED_HINT}") from exc
    try:
        return _evaluate(tree.body)
    except RecursionError as exc:
        raise ToolError("expression is nested too deeply") from exc


def _evaluate(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ToolError(f"{value!r} is not a number; {_ALLOWED_HINT}")
        return _checked(value)
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            return _checked(_power(left, right))
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ToolError(f"operator {type(node.op).__name__} is not allowed; {_ALLOWED_HINT}")
        return _checked(_apply(op, left, right))
    if isinstance(node, ast.UnaryOp):
        unary = _UNARY.get(type(node.op))
        if unary is None:
            raise ToolError(f"operator {type(node.op).__name__} is not allowed; {_ALLOWED_HINT}")
        return _checked(unary(_evaluate(node.operand)))
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise ToolError(f"unknown name {node.id!r}; {_ALLOWED_HINT}")
    if isinstance(node, ast.Call):
        return _checked(_call(node))
    raise ToolError(f"{type(node).__name__} is not allowed in an expression; {_ALLOWED_HINT}")


def _call(node: ast.Call) -> Number:
    if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
        if isinstance(node.func, ast.Name):
            raise ToolError(f"calling {node.func.id!r} is not allowed; {_ALLOWED_HINT}")
        raise ToolError(f"only the listed functions can be called; {_ALLOWED_HINT}")
    name = node.func.id
    function, least, most = _FUNCTIONS[name]
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise ToolError(f"{name}() takes plain positional arguments only")
    if not least <= len(node.args) <= most:
        expected = str(least) if least == most else f"{least} to {most}"
        raise ToolError(f"{name}() takes {expected} argument(s), got {len(node.args)}")
    arguments = [_evaluate(arg) for arg in node.args]
    return _apply(function, *arguments, name=name)


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        # bit_length - 1 <= log2|base|: a cheap lower bound, checked before the work is done.
        if exponent * (abs(base).bit_length() - 1) > MAX_POWER_BITS:
            raise ToolError(
                f"{base} ** {exponent} is too large to compute (results are limited to about 1e308)"
            )
    result = _apply(operator.pow, base, exponent, name="**")
    if isinstance(result, complex):
        raise ToolError(f"({base}) ** {exponent} is not a real number")
    return result


def _apply(function: Callable[..., Any], *arguments: Number, name: str = "") -> Number:
    label = f"{name}: " if name else ""
    try:
        return function(*arguments)
    except ZeroDivisionError as exc:
        raise ToolError(f"{label}division by zero") from exc
    except OverflowError as exc:
        raise ToolError(f"{label}result is too large (limit about 1e308)") from exc
    except ValueError as exc:
        raise ToolError(f"{label}{exc} (e.g. sqrt or log of a negative number)") from exc
    except TypeError as exc:
        raise ToolError(f"{label}{exc}") from exc


def _checked(value: Number) -> Number:
    if isinstance(value, float) and math.isnan(value):
        raise ToolError("result is not a number (NaN)")
    if abs(value) > MAX_MAGNITUDE:
        raise ToolError("result is too large (limit about 1e308)")
    return value


CALCULATOR_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "expression": {
            "type": "string",
            "description": "Arithmetic expression, e.g. 'sqrt(2) * (3 + 4) ** 2'.",
        }
    },
    "required": ["expression"],
    "additionalProperties": False,
}


def calculator_tool() -> ToolSpec:
    """The ``calculator`` tool spec."""

    async def handle(arguments: dict[str, Any]) -> dict[str, Any]:
        expression = arguments["expression"]
        return {"expression": expression, "result": evaluate_expression(expression)}

    return ToolSpec(
        name="calculator",
        description=f"Evaluate an arithmetic expression. To write one, {_ALLOWED_HINT}.",
        parameters=CALCULATOR_PARAMETERS,
        handler=handle,
    )
