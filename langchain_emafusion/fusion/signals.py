"""Cheap signals read from a model's answer text: the tier-2 judge's features besides tier 1's prediction.

They cost no model call: the length of the answer, whether an answer key could be extracted, refusal phrases,
a cut-off ending, and an **arithmetic check** — every ``a op b = c`` step the answer writes down is recomputed,
so a worked solution with a wrong step is flagged (a strong sign of a wrong final answer on math word problems).
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["ArithmeticCheck", "check_arithmetic", "response_signals", "SIGNAL_NAMES"]

_NUM = r"\$?\s*-?\d[\d,]*(?:\.\d+)?%?"
_OP = r"\s*[-+*/x×÷]\s*"
# "12 * 3 = 36", "$5 + $7.50 = $12.50", GSM8K's "<<12*3=36>>"; chains such as "2 * 3 * 4 = 24" too.
_STEP_RE = re.compile(rf"(?<![\w.])((?:{_NUM}{_OP})+{_NUM})\s*=\s*({_NUM})(?![\d])")
_REFUSAL_RE = re.compile(
    r"\b(i can(?:no|')t|i am unable|i'm unable|as an ai|i do not have enough|cannot be determined)\b",
    re.IGNORECASE,
)
_OPERATORS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}

SIGNAL_NAMES: tuple[str, ...] = (
    "log_length",
    "no_answer_key",
    "arithmetic_steps",
    "arithmetic_wrong",
    "any_arithmetic_wrong",
    "refusal",
    "cut_off",
)
"""The order of :func:`response_signals`' values."""


@dataclass(frozen=True)
class ArithmeticCheck:
    """How many written arithmetic steps an answer has, and how many of them are wrong."""

    steps: int
    wrong: int


def _number(text: str) -> float:
    return float(text.replace("$", "").replace(",", "").replace("%", "").strip())


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    raise ValueError("not plain arithmetic")


def check_arithmetic(text: str | None) -> ArithmeticCheck:
    """Recompute every ``a op b (op c ...) = d`` step written in ``text``.

    A step counts as right when the written result is within 1% (or 0.01) of the recomputed value, so rounded
    money and percentages pass. Steps that do not parse as plain arithmetic are ignored.
    """
    if not text:
        return ArithmeticCheck(0, 0)
    steps = wrong = 0
    for expression, result in _STEP_RE.findall(text):
        cleaned = (
            re.sub(r"[$,%]", "", expression).strip().replace("×", "*").replace("x", "*").replace("÷", "/")
        )
        try:
            value = _evaluate(ast.parse(cleaned, mode="eval"))
            written = _number(result)
        except (ValueError, SyntaxError, ZeroDivisionError, OverflowError):
            continue
        steps += 1
        if not math.isclose(value, written, rel_tol=0.01, abs_tol=0.01):
            wrong += 1
    return ArithmeticCheck(steps, wrong)


def response_signals(response: str | None, answer: str | None, *, answers_expected: bool) -> np.ndarray:
    """The judge's text signals of one answer, in the order of :data:`SIGNAL_NAMES`.

    Args:
        response: The answer text (None when the table has no response texts).
        answer: Its extracted answer key, if any.
        answers_expected: Whether answer keys exist for this kind of prompt (then a missing key is a signal).
    """
    text = response or ""
    check = check_arithmetic(text)
    stripped = text.rstrip()
    return np.array(
        [
            math.log1p(len(text)) / 8.0,
            1.0 if answers_expected and answer is None else 0.0,
            math.log1p(check.steps),
            math.log1p(check.wrong),
            1.0 if check.wrong else 0.0,
            1.0 if _REFUSAL_RE.search(text) else 0.0,
            # Text that stops mid-sentence was probably cut by a token limit.
            1.0 if stripped and stripped[-1].isalnum() and len(stripped) > 200 else 0.0,
        ],
        dtype=np.float64,
    )
