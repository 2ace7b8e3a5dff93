import json
import math

import pytest

from nexus.core.errors import ToolError
from nexus.tools.calculator import (
    MAX_EXPRESSION_CHARS,
    calculator_tool,
    evaluate_expression,
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2", 3),
        ("2 * (3 + 4)", 14),
        ("7 - 10", -3),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("2 ** 3 ** 2", 512),
        ("-3 ** 2", -9),
        ("+5", 5),
        ("--5", 5),
        ("1_000 * 3", 3000),
        ("1.5e3 + 0.5", 1500.5),
        ("sqrt(16)", 4.0),
        ("abs(-3.5)", 3.5),
        ("round(2.567, 2)", 2.57),
        ("round(2.5)", 2),
        ("round(1234, -2)", 1200),
        ("min(3, 1, 2)", 1),
        ("max(3, 1, 2)", 3),
        ("max(4)", 4),
        ("floor(2.7)", 2),
        ("ceil(2.1)", 3),
        ("log(e)", 1.0),
        ("log(8, 2)", 3.0),
        ("sin(0)", 0.0),
        ("cos(0)", 1.0),
        ("tan(0)", 0.0),
        ("pi", math.pi),
        ("2 * pi", 2 * math.pi),
        ("  (1 + 2) * 3  ", 9),
        ("2 ** 1000", 2**1000),
    ],
)
def test_evaluates_arithmetic(expression: str, expected: float) -> None:
    result = evaluate_expression(expression)
    assert result == pytest.approx(expected)
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("x + 1", "unknown name 'x'"),
        ("__import__('os').system('id')", "only the listed functions can be called"),
        ("__import__('os')", "calling '__import__' is not allowed"),
        ("open('/etc/passwd')", "calling 'open' is not allowed"),
        ("eval('1')", "calling 'eval' is not allowed"),
        ("math.sqrt(4)", "only the listed functions can be called"),
        ("(1).__class__", "Attribute is not allowed"),
        ("().__class__.__bases__[0]", "Subscript is not allowed"),
        ("().__class__", "Attribute is not allowed"),
        ("[1, 2][0]", "Subscript is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("[x for x in range(10)]", "ListComp is not allowed"),
        ("{1: 2}", "Dict is not allowed"),
        ("1 < 2", "Compare is not allowed"),
        ("1 if 1 else 2", "IfExp is not allowed"),
        ("'a' * 3", "'a' is not a number"),
        ("True + 1", "True is not a number"),
        ("1j * 2", "1j is not a number"),
        ("~5", "operator Invert is not allowed"),
        ("1 << 100", "operator LShift is not allowed"),
        ("5 & 3", "operator BitAnd is not allowed"),
        ("sqrt(x=4)", "plain positional arguments only"),
        ("max(*[1, 2])", "plain positional arguments only"),
        ("sqrt(1, 2)", "sqrt() takes 1 argument(s), got 2"),
        ("min()", "min() takes 1 to 100 argument(s), got 0"),
        ("(x := 5)", "NamedExpr is not allowed"),
        ("9 ** 9 ** 9", "9 ** 387420489 is too large to compute"),
        ("10 ** 100000", "is too large to compute"),
        ("2 ** 1100", "result is too large"),
        ("10 ** 308 * 10", "result is too large"),
        ("1e999", "result is too large"),
        ("2.0 ** 100000", "result is too large"),
        ("1e308 * 10", "result is too large"),
        ("(-8) ** 0.5", "(-8) ** 0.5 is not a real number"),
        ("round(1.5, 10 ** 9)", "round(x, n) needs a whole number n"),
        ("round(1.5, 0.5)", "round(x, n) needs a whole number n"),
        ("1 / 0", "division by zero"),
        ("1 // 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("sqrt(-1)", "math domain error"),
        ("log(0)", "math domain error"),
        ("1 +", "could not parse expression"),
        ("import os", "could not parse expression"),
        ("", "expression is empty"),
        ("   ", "expression is empty"),
        ("1+" * 300 + "1", "expression is too long (601 characters, at most 500)"),
    ],
)
def test_refuses_unsafe_or_invalid_input(expression: str, message: str) -> None:
    with pytest.raises(ToolError) as caught:
        evaluate_expression(expression)
    assert message in caught.value.message


def test_length_limit_is_inclusive() -> None:
    expression = "1" + " " * (MAX_EXPRESSION_CHARS - 1)
    assert evaluate_expression(expression) == 1


def test_deep_unary_nesting_is_handled() -> None:
    assert evaluate_expression("-" * 400 + "1") == 1


def test_refusals_name_what_is_allowed() -> None:
    with pytest.raises(ToolError) as caught:
        evaluate_expression("foo(1)")
    assert "sqrt" in caught.value.message and "pi" in caught.value.message


async def test_tool_spec_returns_expression_and_result() -> None:
    spec = calculator_tool()
    assert spec.name == "calculator"
    assert spec.parameters["required"] == ["expression"]
    result = await spec.handler({"expression": "6 * 7"})
    assert result == {"expression": "6 * 7", "result": 42}
    assert json.dumps(result) == '{"expression": "6 * 7", "result": 42}'
