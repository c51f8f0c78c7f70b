"""Python checkers used by the starter seed set (``checker: callable``); examples of the callable interface."""

from __future__ import annotations

import re

from langchain_emafusion.synthesis.checkers import ResolvedCheck

__all__ = ["exact_uppercase_words"]


def exact_uppercase_words(
    *, response: str, reference: object, check: ResolvedCheck
) -> tuple[float, str | None]:
    """Score 1 when the response is exactly ``reference`` words, each all capital letters, and nothing else.

    Args:
        response: The model's answer.
        reference: The required number of words.
        check: The filled-in check (unused: everything needed is in the reference).

    Returns:
        The score and the answer key (the words joined by spaces).
    """
    words = response.strip().split()
    answer = " ".join(words) if words else None
    ok = len(words) == int(str(reference)) and all(re.fullmatch(r"[A-Z]+", word) for word in words)
    return float(ok), answer
