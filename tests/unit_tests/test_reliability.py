"""Failures, caps and timeouts: fallbacks stay within the caps, timeouts move on, `with_fallbacks` composes."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from langchain_emafusion import (
    AllMembersFailedError,
    FusionChatModel,
    InvalidInputError,
    ModelCard,
    ModelPool,
    NoEligibleModelError,
    Router,
    RoutingDecision,
    RoutingRequest,
)
from langchain_emafusion.routing.cheapest import CheapestCapableRouter
from tests.unit_tests.fakes import ScriptedChatModel

ALWAYS = 10**9


def priced_pool(
    *, cheap_fails: bool = True, mid_fails: bool = False
) -> tuple[ModelPool, dict[str, ScriptedChatModel]]:
    members = {
        "cheap": ScriptedChatModel(reply="cheap", fail_times=ALWAYS if cheap_fails else 0),
        "mid": ScriptedChatModel(reply="mid", fail_times=ALWAYS if mid_fails else 0),
        "dear": ScriptedChatModel(reply="dear"),
    }
    cards = [
        ModelCard(
            name="cheap", model=members["cheap"], input_price=0.1, output_price=0.1, latency_hint_s=0.5
        ),
        ModelCard(name="mid", model=members["mid"], input_price=1.0, output_price=1.0, latency_hint_s=1.0),
        ModelCard(
            name="dear", model=members["dear"], input_price=100.0, output_price=100.0, latency_hint_s=0.2
        ),
    ]
    return ModelPool(cards), members


def test_without_caps_the_dear_member_is_the_last_fallback() -> None:
    # The control for the tests below: with no cap, "dear" does get used once the others fail.
    pool, members = priced_pool(mid_fails=True)
    assert FusionChatModel(pool=pool).invoke("hi").content == "dear"


def test_a_capped_out_member_is_never_used_as_a_fallback() -> None:
    pool, members = priced_pool()
    llm = FusionChatModel(pool=pool, max_cost_usd=0.001)  # "dear" expects ~$0.026 for 256 output tokens
    message = llm.invoke("hi")
    assert message.content == "mid" and message.response_metadata["fusion"]["candidates"] == ["cheap", "mid"]
    members["mid"].fail_times = ALWAYS
    with pytest.raises(AllMembersFailedError) as info:
        llm.invoke("hi")
    assert [failure.split(" ")[0] for failure in info.value.failures] == ["cheap", "mid"]
    assert members["dear"].received == []


async def test_a_per_call_latency_cap_also_bounds_the_fallbacks() -> None:
    pool, members = priced_pool(mid_fails=True)
    with pytest.raises(AllMembersFailedError):
        await FusionChatModel(pool=pool).ainvoke("hi", max_latency_s=1.0, max_cost_usd=0.001)
    assert members["dear"].received == []  # within the latency cap, but not the cost cap
    answer = await FusionChatModel(pool=pool).ainvoke("hi", max_latency_s=0.6)
    assert answer.content == "dear"  # "mid" (1.0 s) is capped out, "dear" (0.2 s) is not


def test_caps_are_enforced_even_when_a_router_ignores_them() -> None:
    class IgnoresCaps(Router):
        name = "ignores-caps"

        def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
            return RoutingDecision(
                models=["cheap", "dear", "mid"], router=self.name, reason="cost? what cost"
            )

    pool, members = priced_pool()
    message = FusionChatModel(pool=pool, router=IgnoresCaps(), max_cost_usd=0.001).invoke("hi")
    assert message.content == "mid" and members["dear"].received == []
    assert "dropped as ineligible: dear" in message.response_metadata["fusion"]["reason"]


def test_budgets_and_tradeoff_reach_the_routing_request() -> None:
    seen: list[RoutingRequest] = []

    class Spy(CheapestCapableRouter):
        def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
            seen.append(request)
            return super().route(request, pool)

    pool, _ = priced_pool(cheap_fails=False)
    llm = FusionChatModel(
        pool=pool, router=Spy(), quality_cost_tradeoff=0.5, max_cost_usd=1.0, max_latency_s=2.0
    )
    llm.invoke("hi")
    llm.invoke("hi", quality_cost_tradeoff=0.0, max_cost_usd=None)
    assert [(r.quality_cost_tradeoff, r.max_cost_usd, r.max_latency_s, r.private_only) for r in seen] == [
        (0.5, 1.0, 2.0, False),
        (0.0, None, 2.0, False),
    ]


def test_an_impossible_budget_is_a_typed_error_naming_why() -> None:
    pool, members = priced_pool()
    with pytest.raises(NoEligibleModelError, match=r"max_cost_usd 1e-09.*to fix: raise max_cost_usd"):
        FusionChatModel(pool=pool, max_cost_usd=1e-9).invoke("hi")
    with pytest.raises(
        NoEligibleModelError, match=r"latency hint 0.2s > max_latency_s 0.1.*raise max_latency_s"
    ):
        FusionChatModel(pool=pool).invoke("hi", max_latency_s=0.1)
    assert all(member.received == [] for member in members.values())


@pytest.mark.parametrize("field", ["max_cost_usd", "max_latency_s", "quality_cost_tradeoff"])
def test_a_negative_budget_is_rejected(field: str) -> None:
    pool, members = priced_pool()
    with pytest.raises(ValidationError, match=f"{field}\n  Input should be greater than or equal to 0"):
        FusionChatModel(pool=pool, **{field: -1.0})
    llm = FusionChatModel(pool=pool)
    for bad in (-0.5, math.nan, "cheap"):
        with pytest.raises(InvalidInputError, match=f"{field} must be a number >= 0"):
            llm.invoke("hi", **{field: bad})
    assert all(member.received == [] for member in members.values())


def test_with_fallbacks_composes_when_every_member_fails() -> None:
    pool = ModelPool([ModelCard(name=n, model=ScriptedChatModel(fail_times=ALWAYS)) for n in ("a", "b")])
    backup = ScriptedChatModel(reply="from the backup")
    llm = FusionChatModel(pool=pool).with_fallbacks([backup])
    assert llm.invoke("hi").content == "from the backup"
    assert "".join(str(c.content) for c in llm.stream("hi")) == "from the backup"
    assert len(backup.received) == 2


async def test_with_fallbacks_composes_async() -> None:
    pool = ModelPool([ModelCard(name="a", model=ScriptedChatModel(fail_times=ALWAYS))])
    llm = FusionChatModel(pool=pool).with_fallbacks([ScriptedChatModel(reply="from the backup")])
    assert (await llm.ainvoke("hi")).content == "from the backup"


def slow_then_fast_pool(delay_s: float) -> tuple[ModelPool, ScriptedChatModel]:
    fast = ScriptedChatModel(reply="on time")
    pool = ModelPool(
        [
            ModelCard(name="slow", model=ScriptedChatModel(delay_s=delay_s, reply="late")),
            ModelCard(name="fast", model=fast, input_price=1),
        ]
    )
    return pool, fast


def joined(chunks: list[Any]) -> tuple[str, dict[str, Any]]:
    return "".join(str(c.content) for c in chunks), chunks[-1].response_metadata["fusion"]


def test_stream_timeout_to_first_chunk_moves_on() -> None:
    pool, _ = slow_then_fast_pool(delay_s=1.0)
    text, fusion = joined(list(FusionChatModel(pool=pool, timeout=0.2).stream("hi")))
    assert text == "on time"
    assert fusion["failures"] == [
        "slow (attempt 1): TimeoutError: member stream sent no chunk within timeout=0.2s"
    ]


async def test_astream_timeout_to_first_chunk_moves_on() -> None:
    pool, _ = slow_then_fast_pool(delay_s=1.0)
    text, fusion = joined([c async for c in FusionChatModel(pool=pool, timeout=0.2).astream("hi")])
    assert text == "on time" and "no chunk within timeout=0.2s" in fusion["failures"][0]


def test_stream_within_the_timeout_is_not_interrupted() -> None:
    pool, fast = slow_then_fast_pool(delay_s=0.05)
    text, fusion = joined(list(FusionChatModel(pool=pool, timeout=2.0).stream("hi")))
    assert text == "late" and "failures" not in fusion and fast.received == []


def test_a_failing_stream_in_the_worker_thread_falls_back() -> None:
    pool = ModelPool(
        [
            ModelCard(name="broken", model=ScriptedChatModel(fail_times=ALWAYS)),
            ModelCard(name="fine", model=ScriptedChatModel(reply="fine"), input_price=1),
        ]
    )
    text, fusion = joined(list(FusionChatModel(pool=pool, timeout=5.0).stream("hi")))
    assert text == "fine" and fusion["failures"] == ["broken (attempt 1): ConnectionError: scripted failure"]
