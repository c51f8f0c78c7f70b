"""Fake pools for the fusion-graph tests: scripted members that record what they were sent."""

from __future__ import annotations

from typing import Any

from langchain_emafusion import FusionChatModel, ModelCard, ModelPool
from tests.unit_tests.fakes import ScriptedChatModel

THREE_PARTS = "Name a colour, then name a fruit and combine them into a phrase."

PLAN: dict[str, Any] = {
    "subtasks": [
        {"id": "colour", "task": "Name a colour.", "depends_on": [], "difficulty": "easy"},
        {"id": "fruit", "task": "Name a fruit.", "depends_on": [], "difficulty": "hard"},
        {"id": "phrase", "task": "Combine them into a phrase.", "depends_on": ["colour", "fruit"]},
    ]
}


def echo_member(plan: dict[str, Any] | None = None, **card: Any) -> tuple[ScriptedChatModel, ModelCard]:
    """A member that answers the last message's text back, and ``plan`` when asked for structured output."""
    model = ScriptedChatModel(echo=True, tool_args=plan if plan is not None else PLAN)
    card.setdefault("name", "echo")
    card.setdefault("capabilities", {"structured_output": True})
    return model, ModelCard(model=model, **card)


def echo_llm(plan: dict[str, Any] | None = None, **kwargs: Any) -> tuple[ScriptedChatModel, FusionChatModel]:
    """A fusion model over one echo member."""
    model, card = echo_member(plan)
    return model, FusionChatModel(pool=ModelPool([card]), **kwargs)


def prompts(model: ScriptedChatModel) -> list[str]:
    """The last message's text of every call ``model`` received, in order."""
    return [str(entry["messages"][-1].text) for entry in model.received]


def structured_calls(model: ScriptedChatModel) -> int:
    """How many calls asked ``model`` for structured output (decomposer calls)."""
    return sum(1 for entry in model.received if entry["kwargs"].get("response_format"))
