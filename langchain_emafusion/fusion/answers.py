"""Answer keys for live fusion: which kind of answer a prompt asks for, and the key of an answer text.

The extractors themselves live in :mod:`langchain_emafusion.evaluation.extractors`, shared with the converters
of recorded outcome tables, so a live vote compares answers exactly as the offline evaluation does.
"""

from __future__ import annotations

import re
from typing import Literal

from langchain_emafusion.evaluation.extractors import extract_choice_letter, extract_final_number

__all__ = ["AnswerKind", "infer_answer_kind", "answer_key"]

AnswerKind = Literal["choice", "number"]

# Line-anchored (^ in MULTILINE mode), with only spaces before the letter: "(?:^|\n)\s*" rescanned every run
# of blank lines from each of its positions (quadratic on a prompt or answer of many newlines).
_OPTION_LINE = re.compile(r"^[ \t]*\(?([A-J])[).:][ \t]+\S", re.MULTILINE)
_NUMERIC_QUESTION = re.compile(
    r"\b(how (many|much|long|far|old)|what is the (total|sum|difference|product|number|amount|cost|price)"
    r"|calculate|compute|how many)\b",
    re.IGNORECASE,
)
# An explicit request for a number ("End with 'Answer: <number>'", "give the number only", "as a number"),
# the starter seeds' and many prompt templates' way of asking, or a bare sum such as "What is 17 + 25?" (a minus
# only with spaces around it: "2025-11-10" is a date, not a subtraction).
_NUMBER_REQUESTED = re.compile(
    r"<number>|\b(the|a|as a|in) number only\b|\banswer with (a|the) number\b|\d\s*[+*/×÷]\s*\d|\d\s+-\s+\d",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d")


def infer_answer_kind(prompt: str) -> AnswerKind | None:
    """The kind of answer a prompt asks for.

    ``"choice"`` for a multiple-choice question (two or more option lines A., B., ...), ``"number"`` for a
    quantitative question with numbers in it or a prompt that asks for a number outright, else None (free text:
    no comparable key, so no vote).
    """
    letters = {match.upper() for match in _OPTION_LINE.findall(prompt)}
    if len(letters) >= 2:
        return "choice"
    if _NUMBER_REQUESTED.search(prompt):
        return "number"
    if _NUMERIC_QUESTION.search(prompt) and len(_NUMBER.findall(prompt)) >= 1:
        return "number"
    return None


def answer_key(text: str | None, kind: AnswerKind | None, prompt: str = "") -> str | None:
    """The comparable key of an answer text for this kind of question (None when there is none)."""
    if kind == "number":
        return extract_final_number(text)
    if kind == "choice":
        letters = "".join(sorted({m.upper() for m in _OPTION_LINE.findall(prompt)})) or "ABCD"
        return extract_choice_letter(text, letters=letters)
    return None
