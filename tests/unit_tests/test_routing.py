from __future__ import annotations

import pytest

from langchain_emafusion import (
    Capabilities,
    FusionChatModel,
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


def test_hard_caps_filter_members() -> None:
    router = CheapestCapableRouter()
    private_pool = ModelPool(
        [
            ModelCard(name="public", model=ScriptedChatModel(), latency_hint_s=0.1),
            ModelCard(
                name="private", model=ScriptedChatModel(), private=True, latency_hint_s=2, input_price=1
            ),
        ]
    )
    assert router.route(
        RoutingRequest(prompt="x", input_tokens=1, private_only=True), private_pool
    ).models == ["private"]
    assert router.route(RoutingRequest(prompt="x", input_tokens=1, max_latency_s=1), private_pool).models == [
        "public"
    ]
    with pytest.raises(NoEligibleModelError, match="public: not private; private: latency hint 2"):
        router.route(
            RoutingRequest(prompt="x", input_tokens=1, private_only=True, max_latency_s=1), private_pool
        )
    # 1,000 input + 256 output tokens: big costs $0.00884, small $0.0002024.
    capped = router.route(RoutingRequest(prompt="x", input_tokens=1000, max_cost_usd=0.001), pool())
    assert capped.models == ["free-fast", "free-slow", "small"]
    with pytest.raises(ValueError):
        RoutingRequest(prompt="x", input_tokens=1, max_cost_usd=-1)


def test_auto_router_uses_the_shipped_predictor_only_for_members_it_knows() -> None:
    from langchain_emafusion.routing.auto import AutoRouter

    router = get_router("auto")
    assert isinstance(router, AutoRouter)
    assert {"smollm2-135m", "qwen2.5-coder-0.5b"} <= router.known_members()
    request = RoutingRequest(prompt="Write a Python function that reverses a list.", input_tokens=12)
    unknown = router.route(request, pool())
    # Members it does not know get the price-tier prior (issue 18; this pool was routed by "cheapest" before).
    assert unknown.router == "price-tier"
    assert unknown.reason.startswith(
        "auto: big, small, free-slow, free-fast not known to the shipped predictor"
    )
    assert "price-tier prior" in unknown.reason
    embedded_names = ModelPool(
        [
            ModelCard(name="smollm2-135m", model=ScriptedChatModel(reply="a")),
            ModelCard(name="qwen2.5-coder-0.5b", model=ScriptedChatModel(reply="b")),
        ]
    )
    learned = router.route(request, embedded_names)
    assert learned.router == "emafusion-default" and learned.reason.startswith(
        "auto: the shipped predictor knows"
    )
    assert set(learned.scores) == {"smollm2-135m", "qwen2.5-coder-0.5b"}
    # A member is also known by what it runs (`ModelCard.runs`, which `embedded:` in a YAML pool fills in).
    renamed = ModelPool(
        [
            ModelCard(name="tiny", model=ScriptedChatModel(reply="a"), runs="smollm2-135m"),
            ModelCard(name="local", model=ScriptedChatModel(reply="b"), runs="qwen2.5-coder-0.5b"),
        ]
    )
    by_runs = router.route(request, renamed)
    assert by_runs.router == "emafusion-default" and set(by_runs.scores) == {"tiny", "local"}
    assert by_runs.reason.startswith(
        "auto: the shipped predictor knows tiny (runs smollm2-135m), local (runs"
    )
    assert by_runs.details["predicted_quality"] == {
        "tiny": learned.details["predicted_quality"]["smollm2-135m"],
        "local": learned.details["predicted_quality"]["qwen2.5-coder-0.5b"],
    }
    assert FusionChatModel().router == "auto"
