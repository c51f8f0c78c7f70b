"""The decomposition parser, its execution order and the cheap single-task rule, fuzzed with malformed plans."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_emafusion.graph import (
    DecompositionPlan,
    InvalidDecompositionError,
    looks_multi_task,
    parse_decomposition,
)
from langchain_emafusion.graph.decomposition import MAX_SUBTASKS
from langchain_emafusion.graph.rule import task_clauses


def _plan(*subtasks: dict[str, Any]) -> str:
    return json.dumps({"subtasks": list(subtasks)})


def test_waves_follow_dependencies_and_keep_plan_order() -> None:
    plan = parse_decomposition(
        _plan(
            {"id": "report", "task": "Write the report.", "depends_on": ["data", "trend"]},
            {"id": "data", "task": "Collect the data."},
            {"id": "trend", "task": "Find the trend.", "depends_on": ["data"]},
            {"id": "note", "task": "Write a note."},
        )
    )
    assert plan.waves() == [["data", "note"], ["trend"], ["report"]]


def test_markdown_fenced_json_is_accepted() -> None:
    text = "```json\n" + _plan({"id": "a", "task": "Do it."}) + "\n```"
    assert [s.id for s in parse_decomposition(text).subtasks] == ["a"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            _plan(
                {"id": "a", "task": "x", "depends_on": ["b"]}, {"id": "b", "task": "y", "depends_on": ["a"]}
            ),
            "cycle",
        ),
        (_plan({"id": "a", "task": "x", "depends_on": ["zz"]}), "unknown id"),
        (_plan({"id": "a", "task": "x", "depends_on": ["a"]}), "depends on itself"),
        (_plan({"id": "a", "task": "x"}, {"id": "a", "task": "y"}), "repeats subtask id"),
        (_plan({"id": "a", "task": "   "}), "empty task"),
        (_plan(), "subtasks"),
        (_plan(*({"id": f"t{i}", "task": "x"} for i in range(MAX_SUBTASKS + 1))), "subtasks"),
        ('{"subtasks": [{"id": "a", "task": "cut off by the token lim', "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"steps": []}', "subtasks"),
        ('{"subtasks": [{"id": "has space", "task": "x"}]}', "id"),
        ('{"subtasks": [{"id": "a", "task": "x", "difficulty": "extreme"}]}', "difficulty"),
    ],
)
def test_bad_plans_raise_a_typed_error_naming_the_problem(raw: str, message: str) -> None:
    with pytest.raises(InvalidDecompositionError, match=message):
        parse_decomposition(raw)


# --- fuzzing -------------------------------------------------------------------------------------------------
_ids = st.text(alphabet="abct12_-", min_size=1, max_size=3)
_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
_json_any = st.recursive(
    _json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_subtask_like = st.fixed_dictionaries(
    {"id": st.one_of(_ids, _json_any), "task": st.one_of(st.text(max_size=12), _json_any)},
    optional={
        "depends_on": st.one_of(st.lists(_ids, max_size=3), _json_any),
        "difficulty": st.sampled_from(["easy", "medium", "hard", "other", 3]),
    },
)
_plan_like = st.one_of(
    st.fixed_dictionaries({"subtasks": st.lists(_subtask_like, max_size=MAX_SUBTASKS + 2)}),
    st.dictionaries(st.text(max_size=10), _json_any, max_size=3),
    _json_any,
)


def _check_outcome(raw: Any) -> None:
    try:
        plan = parse_decomposition(raw)
    except InvalidDecompositionError:
        return
    assert isinstance(plan, DecompositionPlan)
    waves = plan.waves()
    position = {subtask_id: index for index, wave in enumerate(waves) for subtask_id in wave}
    assert sorted(position) == sorted(s.id for s in plan.subtasks)  # every subtask runs exactly once
    for subtask in plan.subtasks:
        assert all(position[d] < position[subtask.id] for d in subtask.depends_on)


@settings(max_examples=300, deadline=None)
@given(_plan_like)
def test_fuzzed_plan_objects_give_a_valid_plan_or_the_typed_error(raw: Any) -> None:
    _check_outcome(json.dumps(raw))
    if isinstance(raw, dict):
        _check_outcome(raw)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzzed_text_gives_a_valid_plan_or_the_typed_error(text: str) -> None:
    _check_outcome(text)


@settings(max_examples=200, deadline=None)
@given(_plan_like, st.integers(min_value=0, max_value=200))
def test_truncated_plans_give_a_valid_plan_or_the_typed_error(raw: Any, cut: int) -> None:
    text = json.dumps(raw)
    _check_outcome(text[: min(cut, len(text))])


@st.composite
def _dags(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=MAX_SUBTASKS))
    subtasks = []
    for index in range(count):
        depends = draw(st.lists(st.integers(min_value=0, max_value=index - 1), unique=True)) if index else []
        subtasks.append(
            {"id": f"t{index}", "task": f"task {index}", "depends_on": [f"t{d}" for d in depends]}
        )
    return draw(st.permutations(subtasks))


@settings(max_examples=200, deadline=None)
@given(_dags())
def test_every_acyclic_plan_is_accepted_and_ordered(subtasks: list[dict[str, Any]]) -> None:
    plan = parse_decomposition({"subtasks": subtasks})
    waves = plan.waves()
    position = {subtask_id: index for index, wave in enumerate(waves) for subtask_id in wave}
    for subtask in subtasks:
        assert all(position[d] < position[subtask["id"]] for d in subtask["depends_on"])
        # Waves are as early as possible: a subtask waits only for its deepest input.
        expected = 1 + max((position[d] for d in subtask["depends_on"]), default=-1)
        assert position[subtask["id"]] == expected


# --- the cheap rule ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "prompt",
    [
        "What is the capital of France?",
        "Hello!",
        "Tell me a joke about cats and dogs.",
        "Explain how photosynthesis works in green plants.",
        "Translate 'good morning' into Spanish, please.",
        # A task followed by how to answer it is still one task (this is `make demo`'s prompt).
        "What is the capital of France? Answer in one short sentence.",
        "List three prime numbers. Be concise.",
        "Explain recursion to a child. Respond in at most two sentences.",
        # One task with a qualifier (issue 17's everyday prompts): the example, the working, the shorter form.
        "Explain what a mutex is and give an example.",
        "What is 17 times 23? Show your working.",
        "Summarize this sentence and make it shorter: the meeting moved to Thursday because of the holiday.",
        "Describe a binary search and provide a short code example.",
        "Solve 3x + 5 = 20 and explain your reasoning.",
        "Rewrite this paragraph for a child. Keep it short.",
        "What is the square root of 144? Explain briefly.",
        "Compute 250 divided by 5 and show each step.",
        "How many minutes are in three hours? Show the multiplication.",
        # Question words that open a clause, not a question; answer options; constraints; code to complete.
        "When the seagull landed, he gobbled down half the fries that Dave ate. How many fries were left?",
        "There are 3 houses in a row. Where the golfer lives is not known. What is the number of his house?",
        "What is direct diplomacy?\nA. Diplomats negotiating on behalf of leaders\nB. State leaders writing letters",
        "What is the daily dose in grams? Choose one answer from the following options.",
        "Write a function that sorts a list of numbers. Do not use recursion.",
        'def count(s):\n    """Find how many vowels s has. Count upper case too.\n    >>> count("ab")\n    1\n    """',
    ],
)
def test_single_task_prompts_are_not_decomposed(prompt: str) -> None:
    assert not looks_multi_task(prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "Generate a customer report while updating records and proposing next steps.",
        "What is 12 times 7? Also translate 'thank you' into French.",
        "1. Name the capital of Italy\n2. Compute 3 + 4\n3. Write a haiku about rain",
        "Summarize the memo, then draft a reply and list three risks.",
        "Reply to the customer's complaint about the late delivery politely. Then list two refund options.",
        "What is 12 times 7? What is the capital of Japan?",
        "a) Name the capital of Italy\nb) Compute 3 + 4",
    ],
)
def test_multi_task_prompts_are_candidates(prompt: str) -> None:
    assert looks_multi_task(prompt)


def test_a_list_header_is_not_a_task_and_inline_markers_are_dropped() -> None:
    prompt = (
        "Do three things: 1) compute 12*7; 2) name the capital of Japan; "
        "3) write one sentence thanking a customer for their order."
    )
    assert task_clauses(prompt) == [
        "Compute 12*7",
        "Name the capital of Japan",
        "Write one sentence thanking a customer for their order",
    ]
    assert task_clauses("Please do the following: translate hello into French, then list three colours.") == [
        "Translate hello into French",
        "List three colours",
    ]


def test_a_numbered_task_list_under_its_header_gives_its_items_whole() -> None:
    from langchain_emafusion.graph.rule import listed_tasks

    composite = (
        "Answer each of the following.\n"
        "1) The ratio of the masses is:\nA) 1:2\nB) 2:1\n"
        "2) Jane has 3 apples and eats one. How many are left?\n"
        "3) Translate 'thank you' into Spanish."
    )
    # An MMLU-style item has no task verb, so the clause rule alone would not count it; the list states it.
    assert listed_tasks(composite) == [
        "The ratio of the masses is:\nA) 1:2\nB) 2:1",
        "Jane has 3 apples and eats one. How many are left?",
        "Translate 'thank you' into Spanish.",
    ]
    assert looks_multi_task(composite)
    assert listed_tasks("Please do the following:\n\n1. Compute 12*7\n2. Name the capital of Japan") == [
        "Compute 12*7",
        "Name the capital of Japan",
    ]
    # An item's own numbered lines, written the other way, stay in that item.
    assert listed_tasks("Answer these questions:\n1) Which option?\n1. red\n2. blue\n2) Why?") == [
        "Which option?\n1. red\n2. blue",
        "Why?",
    ]
    # Lists whose items describe one task, or lists without the header, are left to the clause rule.
    assert listed_tasks("Write a function that:\n1. reads a file\n2. counts its words") is None
    assert listed_tasks("Follow these steps:\n1. Open the file\n2. Count the words") is None
    assert listed_tasks("Sort these numbers:\n1. 5\n2. 3") is None
    # Numbering that skips, a single item, or text between the header and item 1: not a task list.
    assert listed_tasks("Answer these questions:\n1. Who?\n3. Why?") is None
    assert listed_tasks("Answer the following:\n1. Who wrote Hamlet?") is None
    assert listed_tasks("Answer the following.\nContext: a memo.\n1. Who?\n2. Why?") is None
