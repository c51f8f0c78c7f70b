"""Each checker and answer extractor on right, wrong and malformed answers."""

from __future__ import annotations

import json
import time

import pytest

from langchain_emafusion.synthesis.checkers import (
    ResolvedCheck,
    check_response,
    extract_answer,
    reference_key,
)
from langchain_emafusion.synthesis.scoring import ScoringSpec


def resolve(
    spec: dict[str, object], reference: object, answer_type: str, **variables: object
) -> ResolvedCheck:
    return ScoringSpec.model_validate(spec).resolve(dict(variables), reference, answer_type=answer_type)  # type: ignore[arg-type]


def test_numeric_with_tolerance_and_final_answer_marker() -> None:
    check = resolve({"checker": "numeric", "tolerance": 0.01}, 1386, "number")
    assert check_response(check, "14 * 99 = 1386. Answer: 1,386") == (1.0, "1386")
    assert check_response(check, "Answer: 1386.004")[0] == 1.0
    assert check_response(check, "Answer: 1384")[0] == 0.0
    assert check_response(check, "no idea") == (0.0, None)
    assert reference_key(check) == "1386"


def test_exact_and_normalized_text() -> None:
    exact = resolve({"checker": "exact"}, "GB-1-de", "text")
    assert check_response(exact, "GB-1-de\n")[0] == 1.0
    assert check_response(exact, "gb-1-de")[0] == 0.0
    normalized = resolve({"checker": "normalized"}, "Project Falcon", "text")
    assert check_response(normalized, "**project  falcon.**")[0] == 1.0


def test_label_answer_is_the_last_label_named() -> None:
    check = resolve({"checker": "normalized", "labels": ["Monday", "Friday"]}, "Friday", "label")
    assert check_response(check, "Starting on Monday and adding 4 days gives Friday.") == (1.0, "Friday")
    assert check_response(check, "It arrives on a monday")[0] == 0.0
    assert extract_answer(check, "Sometime next week") is None


def test_regex_with_slot_substitution() -> None:
    check = resolve({"checker": "regex", "pattern": "(?<!\\d)${due}(?!\\d)"}, None, "text", due="2025-02-14")
    assert check.params["pattern"] == "(?<!\\d)2025-02-14(?!\\d)"
    assert check_response(check, "Payment is due on 2025-02-14.")[0] == 1.0
    assert check_response(check, "Due 2025-02-141")[0] == 0.0


def test_dates_and_times_get_comparable_answer_keys() -> None:
    pattern = {"checker": "regex", "pattern": "(?<!\\d)${due}(?!\\d)"}
    date = resolve(pattern, "2025-11-20", "date", due="2025-11-20")
    # Right: the key is the value the pattern found, even where the text writes the given date last.
    assert check_response(date, "The payment due date is 2025-11-20.") == (1.0, "2025-11-20")
    assert check_response(date, "2025-11-20, i.e. 10 days after 2025-11-10") == (1.0, "2025-11-20")
    # Wrong: the key is the last date written, so two models that agree on a wrong date agree on the key.
    assert check_response(date, "10 days after 2025-11-10 is 2025-11-21.") == (0.0, "2025-11-21")
    assert check_response(date, "I cannot tell") == (0.0, None)
    assert reference_key(date) == "2025-11-20"
    time_check = resolve(
        {"checker": "regex", "pattern": "(?<!\\d)${end}(?!\\d)"}, "17:30", "time", end="17:30"
    )
    assert check_response(time_check, "16:45 plus 45 minutes is 17:30") == (1.0, "17:30")
    assert check_response(time_check, "It ends at 9:05") == (0.0, "09:05")


def test_json_fields_all_or_nothing_and_partial_credit() -> None:
    reference = {"vendor": "Acme", "total": 120, "due_date": "2025-04-24"}
    answer = 'Here you go:\n```json\n{"vendor": "ACME", "total": "120.00", "due_date": "2025-04-24"}\n```'
    check = resolve({"checker": "json_fields", "tolerance": 0.01}, reference, "json")
    score, key = check_response(check, answer)
    assert score == 1.0 and key == reference_key(check)
    wrong_total = '{"vendor": "Acme", "total": 100, "due_date": "2025-04-24"}'
    assert check_response(check, wrong_total)[0] == 0.0
    partial = resolve({"checker": "json_fields", "partial_credit": True}, reference, "json")
    assert check_response(partial, wrong_total)[0] == pytest.approx(2 / 3)
    assert check_response(check, "vendor: Acme") == (0.0, None)
    assert json.loads(reference_key(check) or "") == {
        "vendor": "acme",
        "total": "120",
        "due_date": "2025 04 24",
    }


def test_bullets_structure_count_length_and_mentions() -> None:
    check = resolve(
        {"checker": "bullets", "count": "n", "max_words": 6, "must_mention": "[owner]"},
        None,
        "bullets",
        n=2,
        owner="Ito",
    )
    assert check.params["count"] == 2
    assert check_response(check, "Summary:\n- Ito owns the follow-up\n- Deadline is May 3")[0] == 1.0
    assert check_response(check, "- Ito owns it\n- Deadline May 3\n- Budget 4k")[0] == 0.0
    assert check_response(check, "- Someone owns the follow-up\n- Deadline is May 3")[0] == 0.0
    assert check_response(check, "- Ito owns the follow-up and reports back weekly\n- May 3")[0] == 0.0
    partial = resolve({"checker": "bullets", "count": 2, "partial_credit": True}, None, "bullets")
    assert check_response(partial, "- one")[0] == 0.0


def test_python_tests_pass_fail_and_time_limit() -> None:
    check = resolve(
        {"checker": "python_tests", "tests": "assert ${name}([1, 2, 3, 4]) == 6", "timeout_s": 1},
        None,
        "code",
        name="sum_even",
    )
    good = "```python\ndef sum_even(numbers):\n    return sum(n for n in numbers if n % 2 == 0)\n```"
    assert check_response(check, good) == (1.0, None)
    assert check_response(check, "def sum_even(numbers):\n    return 0")[0] == 0.0
    assert check_response(check, "```python\ndef sum_even(numbers):\n    return sum(numbers)")[0] == 0.0
    started = time.perf_counter()
    assert check_response(check, "def sum_even(numbers):\n    while True:\n        pass")[0] == 0.0
    assert time.perf_counter() - started < 5


def test_callable_checker_by_dotted_path() -> None:
    check = resolve(
        {
            "checker": "callable",
            "function": "langchain_emafusion.synthesis.seed_checks:exact_uppercase_words",
        },
        3,
        "text",
    )
    assert check_response(check, "FAST LIGHT QUIET") == (1.0, "FAST LIGHT QUIET")
    assert check_response(check, "Fast light quiet")[0] == 0.0
    # Its reference (a word count here) is the function's input, not an answer key to compare answers with.
    assert reference_key(check) is None


def test_judge_is_not_scored_locally() -> None:
    check = resolve({"checker": "judge", "criteria": "polite"}, None, "text")
    with pytest.raises(ValueError, match="judge"):
        check_response(check, "anything")
