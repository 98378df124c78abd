"""The calculator evaluates arithmetic node by node and refuses everything else."""

from __future__ import annotations

import pytest

from heron.errors import ModelRetry
from heron.tools import ToolContext, calculator


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("(17 * 3) / 4", "12.75"),
        ("2 ** 10 - 1", "1023"),
        ("7 // 2 + 7 % 2", "4"),
        ("-(3 - 5) * +2", "4"),
        ("sqrt(2) ** 2", "2"),
        ("round(pi, 3)", "3.142"),
        ("max(1, 8, 3) + min(4, 2)", "10"),
        ("factorial(20)", "2432902008176640000"),
        ("0.1 + 0.2", "0.3"),
        ("1e300 * 10", "1e+301"),
    ],
)
def test_arithmetic_is_evaluated(expression: str, expected: str, ctx: ToolContext) -> None:
    assert calculator.invoke({"expression": expression}, ctx).text == expected


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("__import__('os').system('touch /tmp/pwned')", "unknown function `__import__('os').system`"),
        ("().__class__.__bases__[0].__subclasses__()", "unknown function `().__class__"),
        ("(1).real", "does not allow Attribute nodes"),
        ("[1, 2][0]", "does not allow Subscript nodes"),
        ("open('/etc/passwd').read()", "unknown function `open('/etc/passwd').read`"),
        ("open('/etc/passwd')", "unknown function `open`"),
        ("x + 1", "unknown name `x`"),
        ("(lambda: 1)()", "unknown function `lambda: 1`"),
        ("[i for i in range(10)]", "does not allow ListComp nodes"),
        ("'a' * 3", "is not a number"),
        ("9 ** 9 ** 9", "too large to compute"),
        ("factorial(100000)", "factorial is limited"),
        ("1 / 0", "division by zero"),
        ("sqrt(-1)", "math domain error"),
        ("2 +", "not an arithmetic expression"),
        ("1 << 100", "does not allow LShift nodes"),
        ("True + 1", "True is not a number"),
        ("1" + " + 1" * 600, "longer than 500 characters"),
    ],
)
def test_anything_but_arithmetic_is_refused(expression: str, problem: str, ctx: ToolContext) -> None:
    with pytest.raises(ModelRetry) as info:
        calculator.invoke({"expression": expression}, ctx)
    assert problem in str(info.value)
