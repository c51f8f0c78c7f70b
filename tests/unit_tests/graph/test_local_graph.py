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
    # One llama.cpp thread per member: steadier than two on a shared 2-core machine.
    llm = FusionChatModel(pool=default_embedded_pool(n_threads=1), max_tokens=24)
    message = llm.invoke(THREE_PARTS)
    fusion = message.response_metadata["fusion"]
    plan = fusion["plan"]
    assert plan["source"] == "decomposer", plan["error"]
    assert len(plan["subtasks"]) >= 2
    assert fusion["strategy"] == "decompose"
    assert all(subtask["models"] for subtask in plan["subtasks"])  # every subtask was answered by a member
    stages = [call["stage"] for call in fusion["calls"] if "error" not in call]
    assert stages.count("subtask") == len(plan["subtasks"]) and stages[0] == "decompose"
    assert str(message.content).strip()
    assert "paris" in str(message.content).lower()  # the easiest part survives decomposition and merge
