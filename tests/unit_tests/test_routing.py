from __future__ import annotations

import pytest

from langchain_emafusion import (
    Capabilities,
    ModelCard,
    ModelPool,
    NoEligibleModelError,
    Router,
    RoutingDecision,
    RoutingRequest,
    UnknownRouterError,
    get_router,
    register_router,
)
from langchain_emafusion.routing import CheapestCapableRouter, available_routers
from tests.unit_tests.fakes import ScriptedChatModel


def pool() -> ModelPool:
    return ModelPool(
        [
            ModelCard(
                name="big",
                model=ScriptedChatModel(),
                input_price=5,
                output_price=15,
                capabilities=Capabilities(tools=True, structured_output=True, context_window=128_000),
            ),
            ModelCard(
                name="small",
                model=ScriptedChatModel(),
                input_price=0.1,
                output_price=0.4,
                capabilities=Capabilities(tools=False, structured_output=True, context_window=4096),
            ),
            ModelCard(
                name="free-slow", model=ScriptedChatModel(), latency_hint_s=5, capabilities=Capabilities()
            ),
            ModelCard(
                name="free-fast", model=ScriptedChatModel(), latency_hint_s=0.2, capabilities=Capabilities()
            ),
        ]
    )


def test_cheapest_orders_by_cost_then_latency() -> None:
    decision = CheapestCapableRouter().route(RoutingRequest(prompt="hi", input_tokens=10), pool())
    assert decision.models == ["free-fast", "free-slow", "small", "big"]
    assert decision.router == "cheapest" and decision.strategy == "single"
    assert "free-fast" in decision.reason


def test_capabilities_filter() -> None:
    router = CheapestCapableRouter()
    tools = router.route(RoutingRequest(prompt="x", input_tokens=10, needs_tools=True), pool())
    assert tools.models == ["big"]
    structured = router.route(
        RoutingRequest(prompt="x", input_tokens=10, needs_structured_output=True), pool()
    )
    assert structured.models == ["small", "big"]


def test_context_window_filter_and_no_eligible_error() -> None:
    router = CheapestCapableRouter()
    long = router.route(RoutingRequest(prompt="x", input_tokens=10_000, max_output_tokens=100), pool())
    assert long.models == ["big"]
    with pytest.raises(NoEligibleModelError, match="big: context window 128000 < 200100"):
        router.route(RoutingRequest(prompt="x", input_tokens=200_000, max_output_tokens=100), pool())


def test_registry() -> None:
    assert "cheapest" in available_routers()
    assert isinstance(get_router("cheapest"), CheapestCapableRouter)
    with pytest.raises(UnknownRouterError, match="unknown router 'nope'; registered routers: .*cheapest"):
        get_router("nope")

    @register_router("test-last")
    class LastRouter(Router):
        def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
            return RoutingDecision(models=[pool.names[-1]], router=self.name, reason="last")

    assert get_router("test-last").route(RoutingRequest(prompt="x", input_tokens=1), pool()).models == [
        "free-fast"
    ]
    with pytest.raises(ValueError, match="already registered"):

        @register_router("test-last")
        class Other(LastRouter):
            pass
