"""The fusion graph on fake members: shape, plans, dependency order, bad plans, budgets, streaming, parents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from syrupy.assertion import SnapshotAssertion

from langchain_emafusion import FusionChatModel, InvalidInputError, ModelCard, ModelPool, NoEligibleModelError
from langchain_emafusion.graph import RequestBudgetExhaustedError, create_fusion_graph
from langchain_emafusion.routing.base import Router, RoutingDecision, RoutingRequest
from tests.unit_tests.fakes import ScriptedChatModel
from tests.unit_tests.graph.helpers import THREE_PARTS, echo_llm, echo_member, prompts, structured_calls


def _run(graph: Any, text: str, **options: Any) -> dict[str, Any]:
    return graph.invoke({"messages": [HumanMessage(text)], "options": options})


def test_mermaid_drawing(snapshot: SnapshotAssertion) -> None:
    _, llm = echo_llm()
    assert create_fusion_graph(llm=llm).get_graph().draw_mermaid() == snapshot


def test_building_the_graph_loads_nothing() -> None:
    model, card = echo_member()
    card_lazy = ModelCard(name="lazy", model=lambda: model, capabilities={"structured_output": True})
    create_fusion_graph(pool=ModelPool([card_lazy]))
    assert not card_lazy.is_loaded


def test_single_task_prompt_makes_no_decomposer_call() -> None:
    model, llm = echo_llm()
    out = _run(create_fusion_graph(llm=llm), "What is the capital of France?")
    assert structured_calls(model) == 0 and len(model.received) == 1
    assert out["answer"] == "What is the capital of France?"
    fusion = out["fusion"]
    assert fusion["plan"]["source"] == "rule" and len(fusion["plan"]["subtasks"]) == 1
    assert fusion["router"] == "cheapest" and fusion["models"] == ["echo"]
    assert isinstance(out["messages"][-1], AIMessage) and out["messages"][-1].content == out["answer"]


def test_a_numbered_task_list_is_split_by_its_items_without_a_decomposer_call() -> None:
    model, llm = echo_llm()
    request = "Answer each of the following.\n1) Name a colour.\n2) Which is larger?\nA) 3\nB) 4"
    out = _run(create_fusion_graph(llm=llm), request)
    sent = prompts(model)
    assert structured_calls(model) == 0 and len(sent) == 3  # two subtasks and the merge
    # The two subtasks run concurrently (either order), each with its item verbatim, options included.
    assert sorted(sent[:2]) == ["Name a colour.", "Which is larger?\nA) 3\nB) 4"]
    plan = out["fusion"]["plan"]
    assert plan["source"] == "list" and "one subtask per item" in plan["why"]
    assert [s["task"] for s in plan["subtasks"]] == ["Name a colour.", "Which is larger?\nA) 3\nB) 4"]


def test_dependent_subtask_runs_after_its_inputs_with_their_answers() -> None:
    model, llm = echo_llm()
    out = _run(create_fusion_graph(llm=llm), THREE_PARTS)
    sent = prompts(model)
    # decomposer, then the two independent subtasks (either order), then the dependent one, then the merge
    assert structured_calls(model) == 1 and len(sent) == 5
    assert {sent[1].split("\n")[0], sent[2].split("\n")[0]} == {"Name a colour.", "Name a fruit."}
    assert sent[3].startswith("Combine them into a phrase.")
    assert "[colour] Name a colour.\nName a colour." in sent[3] and "[fruit] Name a fruit." in sent[3]
    assert sent[4].startswith("Write one reply to the request")
    plan = out["fusion"]["plan"]
    assert plan["source"] == "decomposer" and plan["error"] is None
    assert plan["waves"] == [["colour", "fruit"], ["phrase"]]
    assert [s["wave"] for s in plan["subtasks"]] == [0, 0, 1]
    assert all(s["models"] == ["echo"] for s in plan["subtasks"])
    stages = [call["stage"] for call in out["fusion"]["calls"]]
    assert stages == ["decompose", "subtask", "subtask", "subtask", "merge"]
    assert out["fusion"]["strategy"] == "decompose"


def _bad(*subtasks: dict[str, Any]) -> dict[str, Any]:
    return {"subtasks": list(subtasks)}


@pytest.mark.parametrize(
    ("plan", "error"),
    [
        (
            _bad(
                {"id": "a", "task": "x", "depends_on": ["b"]}, {"id": "b", "task": "y", "depends_on": ["a"]}
            ),
            "cycle",
        ),
        (_bad({"id": "a", "task": "x", "depends_on": ["nope"]}), "unknown id"),
        (_bad({"id": "a", "task": "x"}, {"id": "a", "task": "y"}), "repeats"),
        ({"subtasks": []}, "schema"),
    ],
)
def test_bad_decomposition_falls_back_to_one_subtask(plan: dict[str, Any], error: str) -> None:
    model, llm = echo_llm(plan)
    out = _run(create_fusion_graph(llm=llm), THREE_PARTS)
    fusion = out["fusion"]
    assert fusion["plan"]["source"] == "fallback"
    assert (
        fusion["plan"]["error"].startswith("InvalidDecompositionError") and error in fusion["plan"]["error"]
    )
    assert [s["task"] for s in fusion["plan"]["subtasks"]] == [THREE_PARTS]
    assert out["answer"] == THREE_PARTS  # the whole request answered as one subtask
    assert [c["stage"] for c in fusion["calls"]] == [
        "decompose",
        "subtask",
    ]  # the failed plan's call is billed


def test_decomposer_needing_structured_output_falls_back_when_no_member_has_it() -> None:
    model = ScriptedChatModel(echo=True)
    llm = FusionChatModel(pool=ModelPool([ModelCard(name="plain", model=model)]))
    out = _run(create_fusion_graph(llm=llm), THREE_PARTS)
    assert out["fusion"]["plan"]["source"] == "fallback"
    assert "NoEligibleModelError" in out["fusion"]["plan"]["error"]
    assert out["answer"] == THREE_PARTS


def test_cost_budget_is_split_over_the_whole_request_favouring_hard_subtasks() -> None:
    _, card = echo_member(input_price=10.0, output_price=10.0)
    llm = FusionChatModel(pool=ModelPool([card]), max_cost_usd=0.05)
    out = _run(create_fusion_graph(llm=llm), THREE_PARTS)
    fusion = out["fusion"]
    assert fusion["plan"]["source"] == "decomposer"
    spent_decomposing = fusion["calls"][0]["cost_usd"]
    shares = {s["id"]: s["budget_usd"] for s in fusion["plan"]["subtasks"]}
    remaining = 0.05 - spent_decomposing
    # weights easy 1, hard 4, medium 2, and the merge (medium) 2 → 9
    assert shares["colour"] == pytest.approx(remaining * 1 / 9)
    assert shares["fruit"] == pytest.approx(remaining * 4 / 9)
    # The dependent subtask shares what is left after the first wave with the merge (2 : 2).
    spent_before = sum(c["cost_usd"] for c in fusion["calls"] if c.get("subtask_id") != "phrase")
    spent_before -= sum(c["cost_usd"] for c in fusion["calls"] if c["stage"] == "merge")
    assert shares["phrase"] == pytest.approx((0.05 - spent_before) * 2 / 4)
    assert fusion["budget"]["max_cost_usd"] == 0.05
    assert fusion["budget"]["spent_usd"] == pytest.approx(sum(c["cost_usd"] for c in fusion["calls"]))
    assert fusion["budget"]["spent_usd"] <= 0.05


def test_a_share_too_small_for_any_member_fails_with_a_clear_error() -> None:
    model, card = echo_member(input_price=1000.0, output_price=1000.0)
    llm = FusionChatModel(pool=ModelPool([card]), max_tokens=5)
    with pytest.raises(NoEligibleModelError, match="max_cost_usd"):
        _run(create_fusion_graph(llm=llm), THREE_PARTS, max_cost_usd=0.001)
    assert (
        model.received == []
    )  # neither the decomposer nor the subtask could be afforded: nothing was called


def test_spent_request_budget_raises_the_typed_error() -> None:
    model, card = echo_member(input_price=1.0, output_price=1.0)
    model.input_tokens = 1_000_000  # the decomposer reports far more tokens than estimated: it costs $1
    llm = FusionChatModel(pool=ModelPool([card]))
    with pytest.raises(RequestBudgetExhaustedError, match="whole request is spent .* before subtask"):
        _run(create_fusion_graph(llm=llm), THREE_PARTS, max_cost_usd=0.5)
    assert structured_calls(model) == 1 and len(model.received) == 1


def test_bad_budget_option_is_refused() -> None:
    _, llm = echo_llm()
    with pytest.raises(InvalidInputError, match="max_cost_usd"):
        _run(create_fusion_graph(llm=llm), THREE_PARTS, max_cost_usd=-1)


def test_concatenate_merge_keeps_every_answer_without_a_call() -> None:
    model, llm = echo_llm()
    out = _run(create_fusion_graph(llm=llm, merge="concatenate"), THREE_PARTS)
    assert len(model.received) == 4  # decomposer + three subtasks
    assert out["answer"].startswith("1. Name a colour.\n\n2. Name a fruit.\n\n3. Combine them")


def test_graph_streams_the_merge() -> None:
    model, llm = echo_llm()
    model.chunk_chars = 7
    pieces = [
        item["emafusion_answer"]
        for mode, item in create_fusion_graph(llm=llm).stream(
            {"messages": [HumanMessage(THREE_PARTS)]}, stream_mode=["custom", "updates"]
        )
        if mode == "custom"
    ]
    assert len(pieces) > 3
    assert "".join(pieces) == prompts(model)[-1]  # the merge call's (echoed) answer, piece by piece


def test_graph_as_a_node_of_a_parent_graph_with_a_checkpointer() -> None:
    model, llm = echo_llm()
    fusion = create_fusion_graph(llm=llm)
    parent = StateGraph(MessagesState)
    parent.add_node("fusion", fusion)
    parent.add_edge(START, "fusion")
    app = parent.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t1"}}
    first = app.invoke({"messages": [HumanMessage(THREE_PARTS)]}, config)
    assert first["messages"][-1].response_metadata["fusion"]["strategy"] == "decompose"
    second = app.invoke({"messages": [HumanMessage("What is the capital of France?")]}, config)
    assert [m.type for m in second["messages"]] == ["human", "ai", "human", "ai"]
    last = second["messages"][-1].response_metadata["fusion"]
    # A new turn starts a new plan: the first turn's subtask results are not carried over.
    assert last["plan"]["source"] == "rule" and [s["id"] for s in last["plan"]["subtasks"]] == ["t1"]
    # The conversation so far reaches the subtask call.
    assert [m.type for m in model.received[-1]["messages"]] == ["human", "ai", "human"]
    assert app.get_state(config).values["messages"][-1].content == "What is the capital of France?"


def test_metadata_is_json_serializable() -> None:
    _, llm = echo_llm()
    out = _run(create_fusion_graph(llm=llm), THREE_PARTS)
    json.dumps(out["fusion"])


def test_llm_and_pool_together_are_refused() -> None:
    model, card = echo_member()
    with pytest.raises(InvalidInputError, match="not both"):
        create_fusion_graph(pool=ModelPool([card]), llm=FusionChatModel(pool=ModelPool([card])))


def test_latency_budget_is_shared_by_the_request_stages() -> None:
    # Decomposer, one wave and the merge share max_latency_s: with 2 s for the request, the decomposer may use
    # a member hinted at most ~0.67 s, so the 1 s member is left out and the request is answered whole.
    model, card = echo_member(latency_hint_s=1.0)
    llm = FusionChatModel(pool=ModelPool([card]), max_latency_s=2.0)
    out = _run(create_fusion_graph(llm=llm), THREE_PARTS)
    plan = out["fusion"]["plan"]
    assert plan["source"] == "fallback" and "max_latency_s" in plan["error"]
    assert structured_calls(model) == 0 and out["answer"] == THREE_PARTS
    assert out["fusion"]["budget"]["max_latency_s"] == 2.0


class _PredictingRouter(Router):
    """Predicts each member's quality from keywords of the prompt, like tier 1, and ranks by it."""

    name = "predicting"

    def __init__(self, quality: dict[str, dict[str, float]], knob: float = 0.2) -> None:
        self.quality = quality
        self.knob = knob

    def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
        found = [q for word, q in self.quality.items() if word in request.prompt.lower()]
        members = [card.name for card in pool]
        quality = {m: sum(q.get(m, 0.0) for q in found) / max(1, len(found)) for m in members}
        costs = {card.name: card.cost_usd(request.input_tokens, 20) for card in pool}
        ranked = sorted(members, key=lambda m: -quality[m])
        return RoutingDecision(
            models=ranked,
            router=self.name,
            reason="keywords",
            scores=quality,
            details={
                "quality_cost_tradeoff": self.knob,
                "expected_cost_usd": costs,
                "predicted_quality": quality,
                "predicted_output_tokens": dict.fromkeys(members, 20.0),
            },
        )


def _two_member_llm(quality: dict[str, dict[str, float]]) -> tuple[ScriptedChatModel, FusionChatModel]:
    mathy, mathy_card = echo_member(name="mathy")
    _, poet_card = echo_member(name="poet")
    return mathy, FusionChatModel(pool=ModelPool([mathy_card, poet_card]), router=_PredictingRouter(quality))


def test_parts_that_suit_different_members_are_split_by_the_expected_gain() -> None:
    mathy, llm = _two_member_llm(
        {"compute": {"mathy": 0.9, "poet": 0.2}, "poem": {"mathy": 0.2, "poet": 0.9}}
    )
    request = "Answer each of the following.\n1) Compute 12 times 7.\n2) Write a poem about rain."
    plan = _run(create_fusion_graph(llm=llm), request)["fusion"]["plan"]
    assert plan["source"] == "list" and "split: predicted quality 0.900 vs 0.550" in plan["why"]
    assert plan["gain"]["part_models"] == ["mathy", "poet"] and plan["gain"]["gain"] > 0
    assert [s["models"] for s in plan["subtasks"]] == [["mathy"], ["poet"]]


def test_parts_that_all_suit_the_direct_member_are_answered_whole_without_a_decomposer_call() -> None:
    mathy, llm = _two_member_llm(
        {"compute": {"mathy": 0.9, "poet": 0.2}, "name": {"mathy": 0.8, "poet": 0.3}}
    )
    out = _run(create_fusion_graph(llm=llm), "Compute 12 times 7, then name the capital of Japan.")
    plan = out["fusion"]["plan"]
    assert plan["source"] == "gain" and plan["why"].startswith("answered whole by the router's choice")
    assert plan["gain"]["direct_model"] == "mathy" and plan["gain"]["part_models"] == ["mathy", "mathy"]
    assert structured_calls(mathy) == 0 and len(mathy.received) == 1  # one call: the whole request
    assert (
        len(plan["subtasks"]) == 1 and out["answer"] == "Compute 12 times 7, then name the capital of Japan."
    )


class _CheapMergeRouter(_PredictingRouter):
    """Ranks like ``_PredictingRouter``, but puts the free member first for the merge prompt (as a high knob
    would), whatever its predicted quality there."""

    name = "cheap-merge"

    def __init__(self, quality: dict[str, dict[str, float]], *, predicts: bool = True) -> None:
        super().__init__(quality)
        self.predicts = predicts

    def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
        decision = super().route(request, pool)
        models = decision.models
        if "Answers to its parts" in request.prompt:
            models = ["tiny", *[m for m in models if m != "tiny"]]
        if not self.predicts:  # a router that only ranks, like `cheapest`
            return decision.model_copy(update={"models": models, "scores": {}, "details": {}})
        return decision.model_copy(update={"models": models})


_SPLIT_QUALITY = {
    "compute": {"mathy": 0.9, "poet": 0.2, "tiny": 0.1},
    "poem": {"mathy": 0.2, "poet": 0.9, "tiny": 0.1},
}
_LIST_REQUEST = "Answer each of the following.\n1) Compute 12 times 7.\n2) Write a poem about rain."


def _three_member_llm(router: Router) -> tuple[dict[str, ScriptedChatModel], FusionChatModel]:
    members = {}
    cards = []
    for name, price in (("mathy", 1.0), ("poet", 1.0), ("tiny", 0.0)):
        model, card = echo_member(name=name, input_price=price, output_price=price)
        members[name] = model
        cards.append(card)
    return members, FusionChatModel(pool=ModelPool(cards), router=router)


def test_a_merge_member_predicted_weaker_than_the_parts_members_gives_the_sectioned_answer() -> None:
    members, llm = _three_member_llm(_CheapMergeRouter(_SPLIT_QUALITY))
    out = _run(create_fusion_graph(llm=llm), _LIST_REQUEST)
    merge = out["fusion"]["merge"]
    assert merge["mode"] == "sectioned" and merge["check"] is None
    assert (
        "the merge would go to tiny, predicted weaker than" in merge["why"]
        and "no merge call" in merge["why"]
    )
    assert (
        out["answer"]
        == "**1. Compute 12 times 7.**\nCompute 12 times 7.\n\n**2. Write a poem about rain.**\nWrite a poem about rain."
    )
    assert members["tiny"].received == []  # no merge call
    assert [call["stage"] for call in out["fusion"]["calls"]] == ["subtask", "subtask"]
    streamed = [
        item["emafusion_answer"]
        for mode, item in create_fusion_graph(llm=llm).stream(
            {"messages": [HumanMessage(_LIST_REQUEST)]}, stream_mode=["custom", "updates"]
        )
        if mode == "custom"
    ]
    assert "".join(streamed) == out["answer"]


def test_a_merge_member_as_strong_as_the_parts_members_merges_with_a_call() -> None:
    members, llm = _three_member_llm(_PredictingRouter(_SPLIT_QUALITY))
    out = _run(create_fusion_graph(llm=llm), _LIST_REQUEST)
    merge = out["fusion"]["merge"]
    assert merge["mode"] == "llm" and merge["why"].startswith("merged by mathy (predicted 0.550")
    assert merge["check"] == "every part's answer is in the merged reply"
    assert [call["stage"] for call in out["fusion"]["calls"]] == ["subtask", "subtask", "merge"]
    assert prompts(members["mathy"])[-1].startswith("Write one reply to the request")


def test_without_quality_predictions_a_cheaper_merge_member_is_the_weaker_one() -> None:
    members, llm = _three_member_llm(_CheapMergeRouter(_SPLIT_QUALITY, predicts=False))
    out = _run(create_fusion_graph(llm=llm), _LIST_REQUEST)
    merge = out["fusion"]["merge"]
    assert merge["mode"] == "sectioned" and "cheaper than mathy and no quality predicted" in merge["why"]
    assert members["tiny"].received == []


def test_the_merge_modes_are_checked() -> None:
    _, llm = echo_llm()
    with pytest.raises(InvalidInputError, match="merge must be one of auto, llm, sectioned, concatenate"):
        create_fusion_graph(llm=llm, merge="best")  # type: ignore[arg-type]
    out = _run(create_fusion_graph(llm=llm, merge="sectioned"), THREE_PARTS)
    assert out["fusion"]["merge"]["mode"] == "sectioned" and out["answer"].startswith("**1. Name a colour.**")


def test_parts_that_all_go_to_the_direct_member_are_answered_whole_even_on_a_tie() -> None:
    from langchain_emafusion.graph.gain import expected_split_gain

    def decision(quality: float, score: float) -> RoutingDecision:
        return RoutingDecision(
            models=["qwen"],
            router="t",
            reason="r",
            scores={"qwen": score},
            details={
                "quality_cost_tradeoff": 0.2,
                "expected_cost_usd": {"qwen": 0.0},
                "predicted_quality": {"qwen": quality},
            },
        )

    # Scores a hair above the predicted quality used to tip a free member's tie towards splitting.
    verdict = expected_split_gain(decision(0.07, 0.07), [decision(0.07, 0.0700001)] * 2, merge_cost_usd=0.0)
    assert not verdict.split and "every part goes to qwen, as the whole request does" in verdict.why
