"""Cheap signals read from a model's answer text: the tier-2 judge's features besides tier 1's prediction.

They cost no model call: the length of the answer, whether an answer key could be extracted, refusal phrases,
a cut-off ending, and an **arithmetic check** — every ``a op b = c`` step the answer writes down is recomputed,
so a worked solution with a wrong step is flagged (a strong sign of a wrong final answer on math word problems).

Every signal is linear in the text and reads a bounded part of it (:data:`MAX_SIGNAL_CHARS`): they run on live
member answers, and small models loop ("1.00 × 1000 × 1.00 × 1000 × …"), so one answer must never stall a
request. The arithmetic check is a one-pass scan over tokens (no nested regex quantifiers, no parser recursion),
and chains longer than :data:`MAX_CHAIN_OPERANDS` operands are not recomputed.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ArithmeticCheck",
    "check_arithmetic",
    "response_signals",
    "SIGNAL_NAMES",
    "MAX_SIGNAL_CHARS",
    "MAX_CHAIN_OPERANDS",
    "MAX_STEPS",
]

MAX_SIGNAL_CHARS = 6_000
"""The signals read the last this many characters of an answer (where its working ends and its answer is);
a longer answer is almost always a loop, and reading all of it would cost time, not information."""
MAX_CHAIN_OPERANDS = 32
"""Longest ``a op b op … = c`` chain that is recomputed; longer ones ("1+1+…+1 = 3001") are skipped whole."""
MAX_STEPS = 256
"""The check stops after this many steps: more are a loop ("1+1=2 1+1=2 …"), and counting on costs time."""

# One token at a time, each a single alternative without nested quantifiers: a number (digits, thousands
# commas, a decimal part, a percent sign), an operator, "=", "$", a run of letters, or any other character.
# Whitespace is skipped by finditer.
_TOKEN_RE = re.compile(r"(\d[\d,]*(?:\.\d+)?%?)|([-+*/×÷=$])|([^\W\d_]+)|\S")
_REFUSAL_RE = re.compile(
    r"\b(i can(?:no|')t|i am unable|i'm unable|as an ai|i do not have enough|cannot be determined)\b",
    re.IGNORECASE,
)
_MULTIPLY = frozenset("*x×")
_DIVIDE = frozenset("/÷")

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


def _number(token: str) -> float:
    return float(token.replace(",", "").replace("%", ""))


def _chain_value(operands: list[float], operators: list[str]) -> float:
    """``operands[0] op operators[0] operands[1] …`` with * and / before + and -, without recursion."""
    terms: list[float] = [operands[0]]
    for op, value in zip(operators, operands[1:], strict=True):
        if op in _MULTIPLY:
            terms[-1] *= value
        elif op in _DIVIDE:
            terms[-1] /= value  # ZeroDivisionError: the caller skips the step
        elif op == "+":
            terms.append(value)
        else:
            terms.append(-value)
    return math.fsum(terms)


class _StepScanner:
    """A one-pass state machine over the tokens: builds ``number (op number)+ = number`` steps."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.steps = 0
        self.wrong = 0
        self.reset()

    def reset(self) -> None:
        self.operands: list[float] = []
        self.operators: list[str] = []
        self.expect_number = True
        self.sign = 1.0
        self.after_equals = False
        # Inside a chain too long to recompute: its numbers and operators are passed over.
        self.skipping = False

    def other(self, token: str) -> None:
        """Any other token ends the step in progress."""
        # "(17 - 14.5) * 100 - 175 = 150": a parenthesized part is not a step, and neither is what follows
        # it up to the next word or punctuation ("100 - 175 = 150" would be a false "wrong" step).
        # A list marker ("2) 5 + 3 = 8") closes no expression and skips nothing.
        skip = token in ")]" and bool(self.operators) and not self.after_equals
        self.reset()
        self.skipping = skip

    def _starts_chain(self, start: int) -> bool:
        # As "(?<![\w.])": "v2 + 3" or "1.5.3 + 2" do not start a step at the digit.
        before = start - 1
        while before >= 0 and self.text[before] == "$":
            before -= 1
        return before < 0 or not (self.text[before].isalnum() or self.text[before] in "._")

    def _finish_step(self, result: float) -> None:
        if len(self.operands) >= 2:
            try:
                value = _chain_value(self.operands, self.operators)
            except (ZeroDivisionError, OverflowError):
                value = None
            if value is not None and math.isfinite(value) and math.isfinite(result):
                self.steps += 1
                if not math.isclose(value, result, rel_tol=0.01, abs_tol=0.01):
                    self.wrong += 1
        # "2 * 3 = 6 * 2 = 12": the result opens the next step.
        self.reset()
        self.operands = [result]
        self.expect_number = False

    def number(self, token: str, start: int) -> None:
        if self.skipping:
            return
        value = self.sign * _number(token)
        self.sign = 1.0
        if self.after_equals:
            self._finish_step(value)
        elif self.expect_number and self.operands:
            self.operands.append(value)
            self.expect_number = False
        elif self._starts_chain(start):
            self.reset()
            self.operands = [value]
            self.expect_number = False
        else:
            self.reset()

    def symbol(self, token: str) -> None:
        if token == "$" or self.skipping:
            return  # currency signs sit anywhere around a number
        if token == "-" and self.expect_number and self.sign > 0:
            self.sign = -1.0  # a negative operand or result: "3 * -2 = -6"
            return
        if self.expect_number or not self.operands:
            self.reset()
        elif token == "=":
            if self.operators:
                self.after_equals = True
                self.expect_number = True
            else:
                self.reset()
        elif len(self.operands) >= MAX_CHAIN_OPERANDS:
            self.reset()  # too long to be a written step: skipped to its end, and no work spent on it
            self.skipping = True
        else:
            self.operators.append(token)
            self.expect_number = True


def check_arithmetic(text: str | None) -> ArithmeticCheck:
    """Recompute every ``a op b (op c ...) = d`` step written in (the last part of) ``text``.

    A step counts as right when the written result is within 1% (or 0.01) of the recomputed value, so rounded
    money and percentages pass. Products and quotients are taken before sums; chains of more than
    :data:`MAX_CHAIN_OPERANDS` operands and steps that divide by zero are ignored, and counting stops at
    :data:`MAX_STEPS` steps. Linear in the text.
    """
    if not text or "=" not in text:  # every step has one
        return ArithmeticCheck(0, 0)
    if len(text) > MAX_SIGNAL_CHARS:
        text = text[-MAX_SIGNAL_CHARS:]
    scanner = _StepScanner(text)
    for match in _TOKEN_RE.finditer(text):
        if scanner.steps >= MAX_STEPS:
            break
        number, symbol, word = match.group(1, 2, 3)
        if number is not None:
            scanner.number(number, match.start())
        elif symbol is not None:
            scanner.symbol(symbol)
        elif word == "x":
            scanner.symbol("x")
        else:
            scanner.other(match.group())
    return ArithmeticCheck(scanner.steps, scanner.wrong)


def response_signals(response: str | None, answer: str | None, *, answers_expected: bool) -> np.ndarray:
    """The judge's text signals of one answer, in the order of :data:`SIGNAL_NAMES`.

    Linear in the answer and bounded: the length is the whole text's, the rest read its ends. Answers up to
    :data:`MAX_SIGNAL_CHARS` long are memoized (a few thousand): replay and a cascade judge the same answer
    again beside other answers.

    Args:
        response: The answer text (None when the table has no response texts).
        answer: Its extracted answer key, if any.
        answers_expected: Whether answer keys exist for this kind of prompt (then a missing key is a signal).
    """
    text = response or ""
    missing_key = answers_expected and answer is None
    if len(text) <= MAX_SIGNAL_CHARS:
        return np.array(_short_text_signals(text, missing_key), dtype=np.float64)
    return np.array(_text_signals(text, missing_key), dtype=np.float64)


@functools.lru_cache(maxsize=4096)
def _short_text_signals(text: str, missing_key: bool) -> tuple[float, ...]:
    return _text_signals(text, missing_key)


def _text_signals(text: str, missing_key: bool) -> tuple[float, ...]:
    tail = text[-MAX_SIGNAL_CHARS:]
    # A refusal opens an answer, a cut-off ends it: read both ends of a long one.
    ends = tail if len(text) <= MAX_SIGNAL_CHARS else text[:MAX_SIGNAL_CHARS] + "\n" + tail
    check = check_arithmetic(tail)
    stripped = tail.rstrip()
    return (
        math.log1p(len(text)) / 8.0,
        1.0 if missing_key else 0.0,
        math.log1p(check.steps),
        math.log1p(check.wrong),
        1.0 if check.wrong else 0.0,
        1.0 if _REFUSAL_RE.search(ends) else 0.0,
        # Text that stops mid-sentence was probably cut by a token limit.
        1.0 if stripped and stripped[-1].isalnum() and len(stripped) > 200 else 0.0,
    )
