"""Every function that reads model output or prompt text is linear on any text: no hang, no exception.

Small models loop ("1.00 × 1000 × 1.00 × 1000 × …"), and these functions run on live answers (the judge's
signals, vote keys, tool calls) and on every row of a training table. Hypothesis builds adversarial texts from
repeated fragments; explicit ~1 MB answers check the same at size. pytest-timeout bounds each test: a
regression to super-linear matching fails by timing out, not by a timed assertion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_emafusion.evaluation.extractors import (
    extract_choice_letter,
    extract_final_number,
    extract_last_date,
    extract_last_time,
    normalize_number,
    numbers_in,
)
from langchain_emafusion.fusion.answers import answer_key, infer_answer_kind
from langchain_emafusion.fusion.signals import SIGNAL_NAMES, check_arithmetic, response_signals
from langchain_emafusion.graph.rule import looks_multi_task, task_clauses
from langchain_emafusion.pool.llamacpp import _tool_call_blocks
from langchain_emafusion.synthesis.checkers import _bullets, _extract_json
from langchain_emafusion.synthesis.code_runner import extract_code
from langchain_emafusion.synthesis.runner import split_parts
from langchain_emafusion.tier1.features import end_segment, split_head_tail

# Fragments that made the old patterns backtrack, and ordinary ones to mix with them.
FRAGMENTS = [
    "1.00 × 1000 × ",
    "- 94.26 ",
    "1+",
    "= ",
    "7",
    "1,",
    " ",
    "\n",
    "answer ",
    "The answer is ",
    "\\boxed{ ",
    "#### ",
    "```",
    "```json ",
    "{",
    '{"a": ',
    "<tool_call>{",
    "</tool_call>",
    "(A) ",
    "\nB. ",
    "...",
    "Part 1) ",
    ", and then ",
    "$",
    "2025-11-",
    "12:3",
    "é漢🙂",
]
TEXT_FUNCTIONS: dict[str, Callable[[str], Any]] = {
    "check_arithmetic": check_arithmetic,
    "response_signals": lambda text: response_signals(text, None, answers_expected=True),
    "normalize_number": normalize_number,
    "numbers_in": numbers_in,
    "extract_final_number": extract_final_number,
    "extract_choice_letter": lambda text: extract_choice_letter(text, letters="ABCDEFGHIJ"),
    "extract_last_date": extract_last_date,
    "extract_last_time": extract_last_time,
    "infer_answer_kind": infer_answer_kind,
    "answer_key": lambda text: (answer_key(text, "number"), answer_key(text, "choice", "A. x\nB. y")),
    "tool_call_blocks": _tool_call_blocks,
    "extract_json": _extract_json,
    "bullets": _bullets,
    "extract_code": extract_code,
    "split_parts": lambda text: split_parts(text, 3),
    "task_clauses": task_clauses,
    "looks_multi_task": looks_multi_task,
    "end_segment": lambda text: end_segment(text, 64),
    "split_head_tail": lambda text: split_head_tail(text, 32, 64),
}

adversarial_texts = st.lists(
    st.tuples(st.sampled_from(FRAGMENTS), st.integers(min_value=1, max_value=3000)), min_size=1, max_size=4
).map(lambda parts: "".join(fragment * count for fragment, count in parts))


@pytest.mark.timeout(120)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=adversarial_texts)
def test_every_text_function_takes_any_repeated_fragments(text: str) -> None:
    for function in TEXT_FUNCTIONS.values():
        function(text)  # no exception, no hang


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fragment", FRAGMENTS)
def test_a_megabyte_of_one_fragment_is_read_in_bounded_time(fragment: str) -> None:
    text = fragment * (1_000_000 // len(fragment))
    for function in TEXT_FUNCTIONS.values():
        function(text)


@pytest.mark.timeout(60)
def test_a_looping_answer_still_yields_its_final_answer() -> None:
    looping = "1.00 × 1000 × " * 70_000
    assert extract_final_number(looping + "So the answer is 42.") == "42"
    assert extract_choice_letter(looping + " The answer is (C).", letters="ABCD") == "C"
    assert extract_final_number("answer" + " " * 200_000 + "7") == "7"
    assert extract_last_date("- 94.26 " * 100_000 + "due 2025-11-20") == "2025-11-20"
    assert normalize_number("9" * 100_000) is None and normalize_number("1,234.50") == "1234.5"
    signals = response_signals(looping + "1. Finally 6 * 7 = 41", "41", answers_expected=True)
    assert signals[SIGNAL_NAMES.index("any_arithmetic_wrong")] == 1.0


@pytest.mark.timeout(60)
def test_tool_calls_and_options_are_found_beside_unclosed_blocks_and_blank_runs() -> None:
    reply = (
        "<tool_call>{" * 50_000 + '<tool_call>{"name": "add", "arguments": {"a": "x < y"}}</tool_call> done'
    )
    payloads, rest = _tool_call_blocks(reply)
    assert payloads == ['{"name": "add", "arguments": {"a": "x < y"}}'] and rest.endswith(" done")
    assert _tool_call_blocks("no calls") == ([], "no calls")
    assert infer_answer_kind("\n" * 500_000 + "Pick one:\nA. red\nB. blue") == "choice"
    assert _extract_json('{"a": ' * 100_000) is None  # nesting too deep to parse is no JSON, not a crash
    assert _extract_json("{" * 100_000 + ' ```json {"ok": 1}``` ') == {"ok": 1}
