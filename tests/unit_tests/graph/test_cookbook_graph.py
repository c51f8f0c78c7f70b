"""The fusion-graph cookbook entry runs offline and does what it says."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

COOKBOOK = Path(__file__).resolve().parents[3] / "cookbook"


@pytest.mark.local_model
def test_fusion_graph_in_workflow() -> None:
    result = runpy.run_path(str(COOKBOOK / "fusion_graph_in_workflow.py"))["main"]()
    state = result["state"]
    # Two turns on one thread: the checkpointer kept the whole conversation.
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]
    assert state["priority"] == "high"
    first, second = state["plans"]
    # The first message holds two questions: the rule sends it to the decomposer; the plan keeps >= 2 parts
    # unless the small model's plan was refused (then one subtask, with the reason in the metadata).
    fusion = state["messages"][1].response_metadata["fusion"]
    assert len(first["subtasks"]) >= 2 or fusion["plan"]["error"]
    assert first["models"] == ["local-smollm2"] and first["cost_usd"] == 0.0
    assert set(first["sources"]) <= {"refunds.md", "shipping.txt"} and first["sources"]
    # The merge was streamed through the parent workflow and is the stored answer.
    assert result["streamed"] and result["streamed"] == state["messages"][1].content
    assert len(second["subtasks"]) == 1 and second["sources"] == ["refunds.md"]
    assert str(state["messages"][-1].content).strip()
