"""FusionChatModel hands multi-task prompts to the graph: sync, async, streams, context, privacy, recursion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from pydantic import BaseModel

from langchain_emafusion import FusionChatModel, ModelCard, ModelPool, NoEligibleModelError
from langchain_emafusion.context import EnterpriseContext, build_index
from langchain_emafusion.graph import create_fusion_graph
from tests.unit_tests.context.helpers import HashingEmbeddings, write_docs
from tests.unit_tests.fakes import ScriptedChatModel
from tests.unit_tests.graph.helpers import PLAN, THREE_PARTS, echo_llm, echo_member, prompts, structured_calls

SINGLE = "What is the capital of France?"


def test_multi_task_prompt_goes_through_the_graph_single_task_takes_the_direct_path() -> None:
    model, llm = echo_llm()
    message = llm.invoke(THREE_PARTS)
    fusion = message.response_metadata["fusion"]
    assert fusion["strategy"] == "decompose" and len(fusion["plan"]["subtasks"]) == 3
    assert message.usage_metadata is not None
    assert message.usage_metadata["total_tokens"] == sum(
        c["input_tokens"] + c["output_tokens"] for c in fusion["calls"]
    )
    assert len(model.received) == 5
    direct = llm.invoke(SINGLE).response_metadata["fusion"]
    assert "plan" not in direct and direct["strategy"] == "single"
    assert len(model.received) == 6  # one call, no decomposer


def test_subtask_calls_are_never_decomposed_again() -> None:
    # Every subtask text itself looks multi-task; the plan is still executed one level deep.
    plan = {
        "subtasks": [
            {"id": "a", "task": "Name a colour and then name a fruit.", "depends_on": []},
            {"id": "b", "task": "Write a haiku and then translate it.", "depends_on": []},
        ]
    }
    model, llm = echo_llm(plan)
    llm.invoke(THREE_PARTS)
    assert structured_calls(model) == 1 and len(model.received) == 4


def test_tools_structured_output_and_pinned_members_keep_the_direct_path() -> None:
    model, card = echo_member(capabilities={"structured_output": True, "tools": True})
    model.tool_args = {"answer": "x"}
    llm = FusionChatModel(pool=ModelPool([card]))

    class Answer(BaseModel):
        answer: str

    assert llm.with_structured_output(Answer).invoke(THREE_PARTS) == Answer(answer="x")
    llm.invoke(THREE_PARTS, model="echo")
    assert structured_calls(model) == 0 and len(model.received) == 2
    llm_off = FusionChatModel(pool=ModelPool([card]), decompose=False)
    assert "plan" not in llm_off.invoke(THREE_PARTS).response_metadata["fusion"]


async def test_async_invoke_and_stream_through_the_graph() -> None:
    model, llm = echo_llm()
    model.chunk_chars = 9
    message = await llm.ainvoke(THREE_PARTS)
    assert message.response_metadata["fusion"]["strategy"] == "decompose"
    chunks = [chunk async for chunk in llm.astream(THREE_PARTS)]
    assert len(chunks) > 3
    assert "".join(str(c.content) for c in chunks) == message.content
    assert chunks[-1].response_metadata["fusion"]["plan"]["waves"] == [["colour", "fruit"], ["phrase"]]


def test_sync_stream_yields_the_merge_piece_by_piece_then_the_metadata() -> None:
    model, llm = echo_llm()
    model.chunk_chars = 5
    chunks = list(llm.stream(THREE_PARTS))
    text = "".join(str(c.content) for c in chunks)
    assert text.startswith("Write one reply to the request") and len(chunks) > 10
    last = chunks[-1]
    assert last.content == "" and last.response_metadata["fusion"]["strategy"] == "decompose"
    assert last.usage_metadata is not None and last.usage_metadata["total_tokens"] > 0


def test_fusion_model_inside_a_parent_graph_node_with_a_checkpointer() -> None:
    model, llm = echo_llm()

    def answer(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])]}

    parent = StateGraph(MessagesState)
    parent.add_node("answer", answer)
    parent.add_edge(START, "answer")
    app = parent.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "x"}}
    out = app.invoke({"messages": [HumanMessage(THREE_PARTS)]}, config)
    assert out["messages"][-1].response_metadata["fusion"]["strategy"] == "decompose"
    # The inner graph kept its steps out of the parent's checkpoints: the parent's state is its own.
    assert set(app.get_state(config).values) == {"messages"}
    # Tokens are streamed once (the fusion model's), not once more per inner call.
    streamed = [
        m for m, meta in app.stream({"messages": [HumanMessage(THREE_PARTS)]}, config, stream_mode="messages")
    ]
    assert "".join(str(m.content) for m in streamed) == out["messages"][-1].content


# --- enterprise context --------------------------------------------------------------------------------------
@pytest.fixture
def context(tmp_path: Path) -> EnterpriseContext:
    build_index(write_docs(tmp_path / "docs"), tmp_path / "index", embeddings=HashingEmbeddings())
    return EnterpriseContext(tmp_path / "index", k=1, embeddings=HashingEmbeddings())


def test_subtasks_and_merge_get_retrieved_context_and_sources_are_reported(
    context: EnterpriseContext,
) -> None:
    plan = {
        "subtasks": [
            {"id": "refund", "task": "State how many days customers have for a refund.", "depends_on": []},
            {"id": "ship", "task": "Say which warehouse orders ship from.", "depends_on": []},
        ]
    }
    model, llm = echo_llm(plan)
    out = create_fusion_graph(llm=llm, context=context, context_k=1).invoke(
        {"messages": [HumanMessage("State the refund window, then say which warehouse ships orders.")]}
    )
    sent = prompts(model)
    refund_prompt = next(p for p in sent if p.startswith("State how many days"))
    assert "[refunds.txt]\nRefund policy. Customers may return any product within 30 days" in refund_prompt
    ship_prompt = next(p for p in sent if p.startswith("Say which warehouse"))
    assert "[policies/shipping.md]" in ship_prompt and "Lyon warehouse" in ship_prompt
    fusion = out["fusion"]
    by_id = {s["id"]: s for s in fusion["plan"]["subtasks"]}
    assert [s["source"] for s in by_id["refund"]["sources"]] == ["refunds.txt"]
    assert [s["source"] for s in by_id["ship"]["sources"]] == ["policies/shipping.md"]
    assert len(fusion["merge"]["sources"]) == 1 and "Context from the organisation" in sent[-1]
    assert set(fusion["context"]["sources"]) >= {"refunds.txt", "policies/shipping.md"}
    assert fusion["context"]["index"] == str(context.path)


def test_fusion_model_with_context_retrieves_for_single_task_prompts_too(
    context: EnterpriseContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The model's context is a folder; give it the test embedder through the shared loader.
    monkeypatch.setattr(EnterpriseContext, "embeddings", property(lambda self: HashingEmbeddings()))
    model, llm = echo_llm(context=str(context.path))
    message = llm.invoke("How many months is every device covered by the warranty?")
    fusion = message.response_metadata["fusion"]
    assert structured_calls(model) == 0  # single task: no decomposer call
    [subtask] = fusion["plan"]["subtasks"]
    assert subtask["sources"][0]["source"] == "warranty.pdf"  # best match first; k=3 by default
    assert fusion["context"]["sources"] == sorted(s["source"] for s in subtask["sources"])
    assert fusion["router"] == "cheapest" and fusion["models"] == ["echo"]
    assert "covered for 24 months" in prompts(model)[-1]


# --- privacy ---------------------------------------------------------------------------------------------------
EMAIL = "jane.doe@example.com"
SENSITIVE = f"Write a short note to {EMAIL} about the refund, then list two next steps for {EMAIL}."


def _all_text(model: ScriptedChatModel) -> str:
    return "\n".join(str(m.text) for entry in model.received for m in entry["messages"])


def test_public_members_see_redacted_text_in_every_call_of_the_graph() -> None:
    plan = {
        "subtasks": [
            {"id": "note", "task": f"Write a short note to {EMAIL} about the refund.", "depends_on": []},
            {"id": "steps", "task": f"List two next steps for {EMAIL}.", "depends_on": ["note"]},
        ]
    }
    model, card = echo_member(plan, name="public-api")  # private=False by default
    llm = FusionChatModel(pool=ModelPool([card]))
    message = llm.invoke(SENSITIVE)
    sent = _all_text(model)
    assert EMAIL not in sent and "[EMAIL_1]" in sent
    assert structured_calls(model) == 1 and len(model.received) == 4  # decomposer, 2 subtasks, merge
    assert EMAIL in str(message.content)  # restored for the caller
    fusion = message.response_metadata["fusion"]
    assert fusion["privacy"]["sensitive"] and fusion["privacy"]["kinds"] == ["email"]
    assert fusion["privacy"]["redacted_for"] == ["public-api"]
    assert EMAIL not in str(fusion)  # metadata never holds the value (plan tasks are shown redacted)


def test_private_only_keeps_every_graph_call_on_private_members() -> None:
    public_model, public_card = echo_member(name="public-api", input_price=0.0)
    private_model, private_card = echo_member(
        name="private-local", private=True, input_price=1.0, output_price=1.0
    )
    llm = FusionChatModel(pool=ModelPool([public_card, private_card]), privacy="private_only")
    message = llm.invoke(SENSITIVE)
    assert public_model.received == []
    assert EMAIL in _all_text(private_model)
    assert set(message.response_metadata["fusion"]["models"]) == {"private-local"}


def test_private_only_without_a_private_member_fails_rather_than_leaking() -> None:
    public_model, public_card = echo_member(name="public-api")
    llm = FusionChatModel(pool=ModelPool([public_card]), privacy="private_only")
    with pytest.raises(NoEligibleModelError, match="private"):
        llm.invoke(SENSITIVE)
    assert public_model.received == []


def test_graph_result_message_is_an_ai_message_with_the_answer() -> None:
    _, llm = echo_llm()
    out = create_fusion_graph(llm=llm).invoke({"messages": [HumanMessage(THREE_PARTS)]})
    assert isinstance(out["messages"][-1], AIMessage)
    assert [s["id"] for s in out["fusion"]["plan"]["subtasks"]] == [s["id"] for s in PLAN["subtasks"]]


def test_a_context_folder_without_an_index_fails_with_the_typed_error(tmp_path: Path) -> None:
    from langchain_emafusion.context import ContextIndexError

    model, llm = echo_llm(context=str(tmp_path))
    with pytest.raises(ContextIndexError, match="emafusion index"):
        llm.invoke(SINGLE)
    assert model.received == []


# --- when not to split --------------------------------------------------------------------------------------------
TWO_TASKS = "Summarize the memo about the office move, then draft a reply to the landlord."


def test_a_decomposer_that_sees_one_task_sends_the_request_whole() -> None:
    one = {"subtasks": [{"id": "t1", "task": "Handle the memo", "depends_on": [], "difficulty": "easy"}]}
    model, llm = echo_llm(one)
    message = llm.invoke(TWO_TASKS)
    plan = message.response_metadata["fusion"]["plan"]
    assert plan["source"] == "decomposer" and plan["why"] == "the decomposer found one task"
    assert [s["task"] for s in plan["subtasks"]] == [TWO_TASKS]
    assert prompts(model)[-1] == TWO_TASKS  # the request's own wording, not the decomposer's paraphrase


def test_more_parts_than_a_plan_holds_are_answered_whole_not_cut() -> None:
    prompt = "\n".join(f"{i}. Name a colour starting with the letter {chr(64 + i)}" for i in range(1, 11))
    model, llm = echo_llm()
    message = llm.invoke(prompt)
    plan = message.response_metadata["fusion"]["plan"]
    assert structured_calls(model) == 0 and len(model.received) == 1
    assert plan["why"].startswith("more than 8 parts") and plan["subtasks"][0]["task"] == prompt


def test_the_decoding_schema_allows_one_task_or_every_part_never_fewer_parts() -> None:
    from langchain_emafusion.graph.decomposition import decoding_schema

    plans = decoding_schema(3, 3, allow_single=True)["properties"]["subtasks"]["anyOf"]
    assert [len(p["prefixItems"]) for p in plans] == [1, 3]
    assert [len(p["prefixItems"]) for p in decoding_schema(3, 3)["properties"]["subtasks"]["anyOf"]] == [3]


class LossyMerger(ScriptedChatModel):
    """Answers parts with distinct facts, and merges them by keeping the first part only (a weak merger)."""

    def _reply(self, messages: Any, kwargs: dict[str, Any]) -> AIMessage:
        text = str(messages[-1].text)
        if kwargs.get("response_format") or "Answers to its parts" not in text:
            reply = super()._reply(messages, kwargs)
            if not kwargs.get("response_format"):
                fact = {"Name a colour.": "Vermilion", "Name a fruit.": "Persimmon"}.get(
                    text, "Vermilion persimmon"
                )
                reply = AIMessage(content=fact, usage_metadata=reply.usage_metadata)
            return reply
        return AIMessage(
            content="Vermilion.", usage_metadata={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}
        )


def test_a_merge_that_loses_a_part_is_replaced_by_the_sectioned_answer() -> None:
    model = LossyMerger(tool_args=PLAN)
    card = ModelCard(name="lossy", model=model, capabilities={"structured_output": True})
    llm = FusionChatModel(pool=ModelPool([card]))
    message = llm.invoke(THREE_PARTS)
    text = str(message.content)
    assert "Vermilion" in text and "Persimmon" in text  # no part lost
    assert text.startswith("**1. Name a colour.**")
    assert message.response_metadata["fusion"]["merge"]["check"].startswith("the merge lost part(s) [2]")
    streamed = "".join(str(chunk.content) for chunk in llm.stream(THREE_PARTS))
    assert streamed == text  # the stream carries the checked answer, not the lossy one


def test_a_merge_that_keeps_every_part_is_kept() -> None:
    from langchain_emafusion.graph.builder import part_survives

    assert part_survives("The total is 84.", "First, 12 * 7 = 84; the capital is Tokyo.")
    assert not part_survives("The total is 84.", "The capital is Tokyo.")  # a lost number is a lost part
    assert part_survives("Tokyo is the capital of Japan", "Japan's capital: Tokyo.")
    model, llm = echo_llm()
    message = llm.invoke(THREE_PARTS)  # the echo merger repeats every part's answer
    assert (
        message.response_metadata["fusion"]["merge"]["check"] == "every part's answer is in the merged reply"
    )
