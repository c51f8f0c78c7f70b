"""Answer extractors: turn a model's answer text into a comparable key (final number, option letter, date, time).

This is the one place where answer keys are made, so that the converters (offline) and answer-level fusion (a live
vote) compare answers the same way.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = [
    "normalize_number",
    "numbers_in",
    "extract_final_number",
    "extract_choice_letter",
    "extract_last_date",
    "extract_last_time",
    "MAX_ANSWER_CHARS",
    "MAX_NUMBER_CHARS",
]

_NUMBER = r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+"
# Markers that introduce a final answer, most explicit first: GSM8K's "#### 18", LaTeX's \boxed{18},
# then prose ("the answer is 18", "Answer: $18"). What may stand between a marker and its number is one run of a
# character class, never two adjacent quantifiers that could split the same whitespace (those backtrack
# quadratically on a looping answer's long runs).
_FINAL_MARKERS = (
    re.compile(rf"####[\s$]*({_NUMBER})"),
    re.compile(rf"\\boxed\{{[\s\\$]*({_NUMBER})"),
    re.compile(rf"(?:final answer|the answer|answer)(?:\s*(?:is|=))?[\s:*\\$]*({_NUMBER})", re.IGNORECASE),
)
MAX_ANSWER_CHARS = 20_000
"""Extractors read the last this many characters of an answer (its conclusion; a longer one is a loop), so
that a 1 MB response costs what a 20 KB one does."""
MAX_NUMBER_CHARS = 100
"""A "number" longer than this (a looping digit run) is no answer key."""
_ANY_NUMBER = re.compile(_NUMBER)
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_CLOCK_TIME = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])")
_CHOICE_MARKERS = (
    re.compile(r"(?:answer|option|choice)(?:\s*(?:is|:))?[\s(*]*\b([A-J])\b", re.IGNORECASE),
    re.compile(r"^\s*\(?([A-J])\)?(?:[.):\s]|$)"),
)


def normalize_number(text: str) -> str | None:
    """Normalize a number to a canonical key: no thousands separators, no trailing zeros, integers without ".0".

    Args:
        text: A number as written, e.g. ``"1,234.50"``, ``"$18"``, ``"-3."``.

    Returns:
        The canonical key (``"1234.5"``, ``"18"``, ``"-3"``), or None when ``text`` is not a number (or is
        longer than :data:`MAX_NUMBER_CHARS`).
    """
    cleaned = text.strip().replace(",", "").replace("$", "").rstrip(".")
    if len(cleaned) > MAX_NUMBER_CHARS:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def numbers_in(text: str | None) -> set[str]:
    """Every number written in (the last :data:`MAX_ANSWER_CHARS` of) ``text``, normalized."""
    # Each distinct spelling is normalized once: a looping answer writes the same few numbers thousands of times.
    keys = (normalize_number(match) for match in set(_ANY_NUMBER.findall((text or "")[-MAX_ANSWER_CHARS:])))
    return {key for key in keys if key is not None}


def extract_final_number(text: str | None) -> str | None:
    r"""Extract the final numeric answer of a worked solution (GSM8K style) as a normalized key.

    An explicit final-answer marker wins (``#### N``, ``\boxed{N}``, "the answer is N"; the last such marker
    when there are several); otherwise the last number in the text.

    Args:
        text: The model's answer text.

    Returns:
        The normalized number (see :func:`normalize_number`), or None when the text has no number.
    """
    if not text:
        return None
    text = text[-MAX_ANSWER_CHARS:]
    for marker in _FINAL_MARKERS:
        matches = marker.findall(text)
        if matches:
            return normalize_number(matches[-1])
    numbers = _ANY_NUMBER.findall(text)
    return normalize_number(numbers[-1]) if numbers else None


def extract_choice_letter(text: str | None, *, letters: str = "ABCD") -> str | None:
    """Extract a multiple-choice option letter from an answer ("B", "(c) ...", "The answer is D.").

    Args:
        text: The model's answer text.
        letters: The valid option letters, upper case.

    Returns:
        The upper-case letter, or None when no valid option letter is found.
    """
    if not text:
        return None
    # The last "answer is X" is read from the conclusion; a bare leading letter from the start.
    for marker, part in ((_CHOICE_MARKERS[0], text[-MAX_ANSWER_CHARS:]), (_CHOICE_MARKERS[1], text[:100])):
        matches = [match.upper() for match in marker.findall(part) if match.upper() in letters]
        if matches:
            return matches[-1] if marker is _CHOICE_MARKERS[0] else matches[0]
    return None


def extract_last_date(text: str | None) -> str | None:
    """The last ISO date (``YYYY-MM-DD``) written in the text, zero-padded, or None.

    The last one, because a worked answer restates the given date first and ends with its result.
    """
    matches = _ISO_DATE.findall((text or "")[-MAX_ANSWER_CHARS:])
    if not matches:
        return None
    year, month, day = matches[-1]
    return f"{year}-{int(month):02d}-{int(day):02d}"


def extract_last_time(text: str | None) -> str | None:
    """The last 24-hour clock time (``HH:MM``) written in the text, zero-padded, or None."""
    matches = _CLOCK_TIME.findall((text or "")[-MAX_ANSWER_CHARS:])
    if not matches:
        return None
    hour, minute = matches[-1]
    return f"{int(hour):02d}:{minute}"
