"""The fusion graph on the real embedded local pool: a three-part prompt is split and answered."""

from __future__ import annotations

import pytest

from langchain_emafusion import FusionChatModel
from langchain_emafusion.pool.embedded import default_embedded_pool

THREE_PARTS = (
    "What is the capital of France? Also, translate 'thank you' into Spanish. Finally, what is 7 times 8?"
)


@pytest.mark.local_model
def test_three_part_prompt_is_split_into_subtasks_and_answered() -> None:
    # One llama.cpp thread per member: steadier than two on a shared 2-core machine. `cheapest` predicts no
    # quality, so there is no expected gain to weigh and the rule's plan is kept.
    llm = FusionChatModel(pool=default_embedded_pool(n_threads=1), router="cheapest", max_tokens=24)
    message = llm.invoke(THREE_PARTS)
    fusion = message.response_metadata["fusion"]
    plan = fusion["plan"]
    assert plan["source"] == "decomposer", plan["error"]
    assert "predicts no quality" in plan["why"]
    assert len(plan["subtasks"]) >= 2
    assert fusion["strategy"] == "decompose"
    assert all(subtask["models"] for subtask in plan["subtasks"])  # every subtask was answered by a member
    stages = [call["stage"] for call in fusion["calls"] if "error" not in call]
    assert stages.count("subtask") == len(plan["subtasks"]) and stages[0] == "decompose"
    assert str(message.content).strip()
    assert "paris" in str(message.content).lower()  # the easiest part survives decomposition and merge


@pytest.mark.local_model
def test_the_default_router_answers_whole_when_every_part_goes_to_the_same_member() -> None:
    # The shipped predictor sends each part and the whole prompt to the same member: splitting gains nothing
    # and would cost a decomposer call and a merge, so the request is answered whole, without either.
    llm = FusionChatModel(pool=default_embedded_pool(n_threads=1), max_tokens=24)
    message = llm.invoke(THREE_PARTS)
    plan = message.response_metadata["fusion"]["plan"]
    assert plan["source"] == "gain" and plan["why"].startswith("answered whole")
    gain = plan["gain"]
    assert set(gain["part_models"]) == {gain["direct_model"]} and gain["gain"] <= 0
    assert len(plan["subtasks"]) == 1 and [
        c["stage"] for c in message.response_metadata["fusion"]["calls"]
    ] == ["subtask"]
