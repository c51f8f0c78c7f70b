from __future__ import annotations

import pytest

from langchain_emafusion.evaluation.extractors import (
    extract_choice_letter,
    extract_final_number,
    extract_last_date,
    extract_last_time,
    normalize_number,
    numbers_in,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9 * $2 = $<<9*2=18>>18.\n#### 18", "18"),
        ("So the total is 1,250 dollars.", "1250"),
        ("The answer is $3.50 per cup, for 7 cups.", "3.5"),
        ("\\boxed{42} and then 7", "42"),
        ("He is -54 miles away.\n#### -54", "-54"),
        ("Final answer: 12.0", "12"),
        ("no digits here", None),
        ("", None),
        (None, None),
    ],
)
def test_extract_final_number(text: str | None, expected: str | None) -> None:
    assert extract_final_number(text) == expected


def test_normalize_number() -> None:
    assert normalize_number("$1,000.00") == "1000"
    assert normalize_number("0.50") == "0.5"
    assert normalize_number("abc") is None


def test_numbers_in_collects_every_written_number_normalized() -> None:
    assert numbers_in("First $1,200.0, then 1200 + 0.50 = 1200.5; so -3.") == {"1200", "0.5", "1200.5", "-3"}
    assert numbers_in(None) == set() and numbers_in("no digits") == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("B", "B"), ("(C) because ...", "C"), ("The answer is D.", "D"), ("Answer: A", "A"), ("maybe", None)],
)
def test_extract_choice_letter(text: str, expected: str | None) -> None:
    assert extract_choice_letter(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-10 + 10 days = 2025-11-20", "2025-11-20"),
        ("The contract ends on 2025-4-5.", "2025-04-05"),
        ("Due 2025-02-141", None),
        ("tomorrow", None),
        (None, None),
    ],
)
def test_extract_last_date(text: str | None, expected: str | None) -> None:
    assert extract_last_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14:35 + 2 hours 50 minutes = 17:25", "17:25"),
        ("It ends at 9:05.", "09:05"),
        ("at 25:10 or 12:61", None),
        ("the ratio 1:2:3", None),
        ("noon", None),
    ],
)
def test_extract_last_time(text: str | None, expected: str | None) -> None:
    assert extract_last_time(text) == expected
