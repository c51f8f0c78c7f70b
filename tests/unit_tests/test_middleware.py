"""`FusionMiddleware` in real `create_agent` agents, with fake tool-calling members and fake agent models.

The agent keeps its own model; the middleware must serve every model call through the fusion pool (tools,
system prompt, tool_choice, settings and structured output intact, tool-capable members only) and hand the call
to the agent's own model only when routing cannot serve it, saying so in the answer's metadata. It must also
compose with LangChain's ``ModelFallbackMiddleware`` and ``ModelCallLimitMiddleware``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import (
    ModelCallLimitMiddleware,
    ModelFallbackMiddleware,
    ModelRequest,
    ModelResponse,
    wrap_model_call,
)
from langchain.agents.structured_output import ProviderStrategy
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

import langchain_emafusion
from langchain_emafusion import (
    Capabilities,
    FusionChatModel,
    FusionMiddleware,
    ModelCard,
    ModelPool,
    Router,
    RoutingDecision,
    RoutingRequest,
)
from langchain_emafusion.errors import InvalidInputError, NoEligibleModelError, UnknownRouterError
from langchain_emafusion.middleware.fusion_middleware import FALLBACK_METADATA_KEY
from tests.unit_tests.fakes import ScriptedChatModel

TOOLS = Capabilities(tools=True)
SYSTEM_PROMPT = "You are a travel assistant. Use the tools."
QUESTION = "What is the weather in Paris and in Rome?"
CITIES = ("Paris", "Rome")


class ToolLoopModel(BaseChatModel):
    """A tool-calling chat model that works through ``cities``: one ``get_weather`` call per turn, then answers.

    The next city is the first one no ``ToolMessage`` answered yet, so the loop has as many model calls as cities
    plus one. Records every call (messages, call options, sync or async); ``fail_times`` makes calls raise,
    ``sync_fails`` makes only its sync API raise (a native async caller never notices).
    """

    cities: tuple[str, ...] = CITIES
    call_prefix: str = "call"
    fail_times: int = 0
    sync_fails: bool = False
    received: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "tool-loop-fake"

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[Any, BaseMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any], mode: str) -> ChatResult:
        self.received.append({"messages": list(messages), "kwargs": dict(kwargs), "mode": mode})
        if self.fail_times > 0:
            self.fail_times -= 1
            raise ConnectionError(f"{self.call_prefix} unavailable")
        names = [t["function"]["name"] for t in kwargs.get("tools") or []]
        assert "get_weather" in names, f"the agent's tools were not passed on: {names}"
        done = sum(isinstance(m, ToolMessage) for m in messages)
        usage = {"input_tokens": 20, "output_tokens": 8, "total_tokens": 28}
        if done < len(self.cities):
            call = {
                "name": "get_weather",
                "args": {"city": self.cities[done]},
                "id": f"{self.call_prefix}_{done}",
                "type": "tool_call",
            }
            message = AIMessage(content="", tool_calls=[call], usage_metadata=usage)
        else:
            results = [m.text for m in messages if isinstance(m, ToolMessage)]
            message = AIMessage(content="Done: " + " / ".join(results), usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.sync_fails:
            raise AssertionError("called through its sync API from an async agent")
        return self._reply(messages, kwargs, "sync")

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._reply(messages, kwargs, "async")


class NeverCalledModel(BaseChatModel):
    """The agent's own model where routing must serve every call: any call is recorded and fails the run."""

    calls: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "never-called"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, BaseMessage]:
        return self.bind(**kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append(list(messages))
        raise AssertionError("the agent's own model was called although routing could serve the call")


weather_calls: list[str] = []


@tool
def get_weather(city: str) -> str:
    """Return the current weather in a city."""
    weather_calls.append(city)
    return f"sunny in {city}"


@pytest.fixture(autouse=True)
def _reset_tool_log() -> None:
    weather_calls.clear()


class Forecast(BaseModel):
    city: str
    summary: str


def weather_pool(**member_kwargs: Any) -> tuple[ModelPool, ScriptedChatModel, ToolLoopModel]:
    """A free chat-only member listed first (the router's pick for plain chat) and a priced tool member."""
    chat_only = ScriptedChatModel(reply="I cannot use tools")
    member = ToolLoopModel(call_prefix="member", **member_kwargs)
    pool = ModelPool(
        [
            ModelCard(name="chat-only", model=chat_only, input_price=0.0, output_price=0.0),
            ModelCard(
                name="tool-member", model=member, input_price=1.0, output_price=2.0, capabilities=TOOLS
            ),
        ]
    )
    return pool, chat_only, member


def chat_only_pool() -> tuple[ModelPool, ScriptedChatModel]:
    chat_only = ScriptedChatModel(reply="I cannot use tools")
    return ModelPool([ModelCard(name="chat-only", model=chat_only)]), chat_only


def ask() -> dict[str, Any]:
    return {"messages": [HumanMessage(QUESTION)]}


def ai_messages(state: dict[str, Any]) -> list[AIMessage]:
    return [m for m in state["messages"] if isinstance(m, AIMessage)]


def check_tool_loop(state: dict[str, Any], prefix: str) -> None:
    """The full loop ran: a call per city (ids from ``prefix``), each tool result fed back, then the answer."""
    messages = state["messages"]
    assert [m.type for m in messages] == ["human", "ai", "tool", "ai", "tool", "ai"]
    calls = [(c["name"], c["args"], c["id"]) for m in ai_messages(state) for c in m.tool_calls]
    assert calls == [
        ("get_weather", {"city": "Paris"}, f"{prefix}_0"),
        ("get_weather", {"city": "Rome"}, f"{prefix}_1"),
    ]
    assert [m.tool_call_id for m in messages if isinstance(m, ToolMessage)] == [f"{prefix}_0", f"{prefix}_1"]
    assert messages[-1].text == "Done: sunny in Paris / sunny in Rome"
    assert weather_calls == ["Paris", "Rome"]


def check_routed(state: dict[str, Any], chat_only: ScriptedChatModel) -> None:
    """Every model step was served by the tool member, chosen among tool-capable members only."""
    for answer in ai_messages(state):
        fusion = answer.response_metadata["fusion"]
        assert fusion["models"] == ["tool-member"]
        assert fusion["candidates"] == ["tool-member"]  # the cheaper chat-only member was never eligible
        assert FALLBACK_METADATA_KEY not in answer.response_metadata
    assert chat_only.received == []


# --- routing serves the agent --------------------------------------------------------------------------------
def test_multi_step_tool_loop_is_routed_and_the_agents_own_model_is_never_called() -> None:
    pool, chat_only, member = weather_pool()
    own = NeverCalledModel()
    agent = create_agent(
        own, [get_weather], system_prompt=SYSTEM_PROMPT, middleware=[FusionMiddleware(pool=pool)]
    )

    state = agent.invoke(ask())

    check_tool_loop(state, "member")
    check_routed(state, chat_only)
    assert own.calls == []
    assert [r["mode"] for r in member.received] == ["sync"] * 3
    for call in member.received:
        # The agent's system prompt and tools reached the member, the tool results on later turns.
        first = call["messages"][0]
        assert isinstance(first, SystemMessage) and first.text == SYSTEM_PROMPT
        assert [t["function"]["name"] for t in call["kwargs"]["tools"]] == ["get_weather"]
    assert isinstance(member.received[2]["messages"][-1], ToolMessage)


async def test_async_tool_loop_calls_the_members_natively() -> None:
    # The member's sync API raises: an async agent must reach it through `ainvoke` end to end.
    pool, chat_only, member = weather_pool(sync_fails=True)
    own = NeverCalledModel()
    agent = create_agent(
        own, [get_weather], system_prompt=SYSTEM_PROMPT, middleware=[FusionMiddleware(pool=pool)]
    )

    state = await agent.ainvoke(ask())

    check_tool_loop(state, "member")
    check_routed(state, chat_only)
    assert own.calls == [] and [r["mode"] for r in member.received] == ["async"] * 3


def test_tool_choice_and_model_settings_reach_the_member() -> None:
    @wrap_model_call
    def force_weather(
        request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]
    ) -> ModelResponse[Any]:
        return handler(request.override(tool_choice="get_weather", model_settings={"temperature": 0.25}))

    pool, _, member = weather_pool(cities=("Paris",))
    agent = create_agent(
        NeverCalledModel(), [get_weather], middleware=[force_weather, FusionMiddleware(pool=pool)]
    )

    agent.invoke(ask())

    kwargs = member.received[0]["kwargs"]
    assert kwargs["tool_choice"] == "get_weather" and kwargs["temperature"] == 0.25


def test_fusion_options_apply_to_the_routed_calls() -> None:
    # A cost cap that leaves out the (priced) tool member: routing cannot serve, the agent's model answers.
    pool, _, member = weather_pool()
    own = ToolLoopModel(call_prefix="own")
    agent = create_agent(own, [get_weather], middleware=[FusionMiddleware(pool=pool, max_cost_usd=1e-12)])

    state = agent.invoke(ask())

    check_tool_loop(state, "own")
    assert member.received == []
    for answer in ai_messages(state):
        fallback = answer.response_metadata[FALLBACK_METADATA_KEY]
        assert fallback["error_type"] == "NoEligibleModelError" and "cost" in fallback["error"]


def test_a_ready_fusion_model_can_be_passed() -> None:
    pool, chat_only, _ = weather_pool()
    fusion = FusionChatModel(pool=pool, router="cheapest")
    middleware = FusionMiddleware(model=fusion)
    agent = create_agent(NeverCalledModel(), [get_weather], middleware=[middleware])

    state = agent.invoke(ask())

    assert middleware.model is fusion
    check_tool_loop(state, "member")
    check_routed(state, chat_only)
    assert {a.response_metadata["fusion"]["router"] for a in ai_messages(state)} == {"cheapest"}


# --- fallback to the agent's own model -----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_no_tool_capable_member_falls_back_to_the_agents_own_model(mode: str) -> None:
    pool, chat_only = chat_only_pool()
    own = ToolLoopModel(call_prefix="own", sync_fails=mode == "async")
    agent = create_agent(
        own, [get_weather], system_prompt=SYSTEM_PROMPT, middleware=[FusionMiddleware(pool=pool)]
    )

    state = agent.invoke(ask()) if mode == "sync" else await agent.ainvoke(ask())

    check_tool_loop(state, "own")
    assert chat_only.received == [] and [r["mode"] for r in own.received] == [mode] * 3
    # The agent's own model got the request unchanged: its system prompt first.
    assert own.received[0]["messages"][0].text == SYSTEM_PROMPT
    for answer in ai_messages(state):
        assert "fusion" not in answer.response_metadata
        fallback = answer.response_metadata[FALLBACK_METADATA_KEY]
        assert fallback["error_type"] == "NoEligibleModelError"
        assert "tool" in fallback["error"]
        assert fallback["model"] == "ToolLoopModel"


def test_fallback_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    pool, _ = chat_only_pool()
    agent = create_agent(
        ToolLoopModel(call_prefix="own", cities=()), [get_weather], middleware=[FusionMiddleware(pool=pool)]
    )

    with caplog.at_level("WARNING", logger="langchain_emafusion.middleware.fusion_middleware"):
        agent.invoke(ask())

    (record,) = caplog.records
    assert "NoEligibleModelError" in record.getMessage() and "ToolLoopModel" in record.getMessage()


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_all_members_failing_falls_back_with_the_failures_listed(mode: str) -> None:
    pool, _, member = weather_pool(fail_times=100)
    own = ToolLoopModel(call_prefix="own")
    agent = create_agent(own, [get_weather], middleware=[FusionMiddleware(pool=pool)])

    state = agent.invoke(ask()) if mode == "sync" else await agent.ainvoke(ask())

    check_tool_loop(state, "own")
    assert len(member.received) == 3  # tried once per model call, then the agent's own model answered
    for answer in ai_messages(state):
        fallback = answer.response_metadata[FALLBACK_METADATA_KEY]
        assert fallback["error_type"] == "AllMembersFailedError"
        assert len(fallback["failures"]) == 1 and "tool-member" in fallback["failures"][0]
        assert "member unavailable" in fallback["failures"][0]


class BrokenRouter(Router):
    name = "broken"

    def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
        raise RuntimeError("router bug")


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_unrelated_errors_propagate_and_never_reach_the_agents_model(mode: str) -> None:
    pool, _, _ = weather_pool()
    own = NeverCalledModel()
    agent = create_agent(own, [get_weather], middleware=[FusionMiddleware(pool=pool, router=BrokenRouter())])

    with pytest.raises(RuntimeError, match="router bug"):
        if mode == "sync":
            agent.invoke(ask())
        else:
            await agent.ainvoke(ask())
    assert own.calls == [] and weather_calls == []


def test_fallback_can_be_turned_off() -> None:
    pool, _ = chat_only_pool()
    own = ToolLoopModel(call_prefix="own")
    agent = create_agent(own, [get_weather], middleware=[FusionMiddleware(pool=pool, fallback_on=())])

    with pytest.raises(NoEligibleModelError, match="tool"):
        agent.invoke(ask())
    assert own.received == []


def test_when_the_agents_model_fails_too_its_error_names_the_routing_error() -> None:
    pool, _ = chat_only_pool()
    own = ToolLoopModel(call_prefix="own", fail_times=1)
    agent = create_agent(own, [get_weather], middleware=[FusionMiddleware(pool=pool)])

    with pytest.raises(ConnectionError, match="own unavailable") as caught:
        agent.invoke(ask())
    notes = getattr(caught.value, "__notes__", [])
    assert any("NoEligibleModelError" in note and "ToolLoopModel" in note for note in notes)


# --- structured output ---------------------------------------------------------------------------------------
def structured_pool() -> tuple[ModelPool, ScriptedChatModel, ScriptedChatModel]:
    plain = ScriptedChatModel(reply="no structure")
    member = ScriptedChatModel(tool_args={"city": "Paris", "summary": "sunny"})
    pool = ModelPool(
        [
            ModelCard(name="plain", model=plain),  # free and first, but neither tools nor structured output
            ModelCard(
                name="structured",
                model=member,
                input_price=1.0,
                capabilities=Capabilities(tools=True, structured_output=True),
            ),
        ]
    )
    return pool, plain, member


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_structured_output_is_routed_with_the_tool_strategy(mode: str) -> None:
    pool, plain, member = structured_pool()
    own = NeverCalledModel()
    agent = create_agent(own, [], response_format=Forecast, middleware=[FusionMiddleware(pool=pool)])

    state = agent.invoke(ask()) if mode == "sync" else await agent.ainvoke(ask())

    assert state["structured_response"] == Forecast(city="Paris", summary="sunny")
    (answer,) = ai_messages(state)
    assert answer.response_metadata["fusion"]["models"] == ["structured"]
    assert answer.response_metadata["fusion"]["candidates"] == ["structured"]
    # The fusion model cannot promise a provider-native format: the agent gave it a forced Forecast tool call.
    (call,) = member.received
    assert call["kwargs"]["tool_choice"] == "any"
    assert [t["function"]["name"] for t in call["kwargs"]["tools"]] == ["Forecast"]
    assert own.calls == [] and plain.received == []


def test_provider_strategy_goes_to_structured_output_members_only() -> None:
    plain = ScriptedChatModel(reply="no structure")
    member = ScriptedChatModel(tool_args={"city": "Rome", "summary": "rain"})
    pool = ModelPool(
        [
            ModelCard(name="plain", model=plain),
            ModelCard(
                name="json", model=member, input_price=1.0, capabilities=Capabilities(structured_output=True)
            ),
        ]
    )
    agent = create_agent(
        NeverCalledModel(),
        [],
        response_format=ProviderStrategy(Forecast),
        middleware=[FusionMiddleware(pool=pool)],
    )

    state = agent.invoke(ask())

    assert state["structured_response"] == Forecast(city="Rome", summary="rain")
    (answer,) = ai_messages(state)
    assert answer.response_metadata["fusion"]["candidates"] == ["json"]
    assert member.received[0]["kwargs"]["response_format"]["type"] == "json_schema"
    assert plain.received == []


def test_structured_output_falls_back_to_the_agents_own_model_and_its_strategy() -> None:
    pool, chat_only = chat_only_pool()
    own = ScriptedChatModel(tool_args={"city": "Oslo", "summary": "snow"})
    agent = create_agent(own, [], response_format=Forecast, middleware=[FusionMiddleware(pool=pool)])

    state = agent.invoke(ask())

    assert state["structured_response"] == Forecast(city="Oslo", summary="snow")
    (answer,) = ai_messages(state)
    assert answer.response_metadata[FALLBACK_METADATA_KEY]["error_type"] == "NoEligibleModelError"
    assert len(own.received) == 1 and chat_only.received == []
    # The structured-output tool message the agent adds is left as it is.
    assert state["messages"][-1].type == "tool"


# --- composition with LangChain's own middleware -------------------------------------------------------------
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_call_limit_counts_routed_calls_and_the_fallback_models_stay_unused(mode: str) -> None:
    pool, chat_only, member = weather_pool(cities=("Paris", "Rome", "Oslo", "Lima"))
    own, backup = NeverCalledModel(), NeverCalledModel()
    agent = create_agent(
        own,
        [get_weather],
        middleware=[
            ModelCallLimitMiddleware(run_limit=2, exit_behavior="end"),
            ModelFallbackMiddleware(backup),
            FusionMiddleware(pool=pool),
        ],
    )

    state = agent.invoke(ask()) if mode == "sync" else await agent.ainvoke(ask())

    # Two routed model calls (two tool calls run), then the limit ended the run before a third.
    assert len(member.received) == 2 and weather_calls == ["Paris", "Rome"]
    *routed, last = ai_messages(state)
    assert len(routed) == 2 and all(
        a.response_metadata["fusion"]["models"] == ["tool-member"] for a in routed
    )
    assert "limit" in last.text.lower() and "fusion" not in last.response_metadata
    assert own.calls == [] and backup.calls == [] and chat_only.received == []


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_fallback_chain_routing_then_own_model_then_model_fallback_under_a_call_limit(
    mode: str,
) -> None:
    pool, chat_only = chat_only_pool()  # no tool-capable member: routing cannot serve any step
    own = ToolLoopModel(call_prefix="own", fail_times=100)  # and the agent's own model is down
    backup = ToolLoopModel(call_prefix="backup", cities=("Paris", "Rome", "Oslo"))
    agent = create_agent(
        own,
        [get_weather],
        middleware=[
            ModelCallLimitMiddleware(run_limit=2, exit_behavior="end"),
            ModelFallbackMiddleware(backup),
            FusionMiddleware(pool=pool),
        ],
    )

    state = agent.invoke(ask()) if mode == "sync" else await agent.ainvoke(ask())

    # Each model call: routing could not serve it, the agent's model failed, ModelFallbackMiddleware's answered.
    assert len(own.received) == 2 and len(backup.received) == 2 and chat_only.received == []
    assert weather_calls == ["Paris", "Rome"]
    *answered, last = ai_messages(state)
    for answer in answered:
        fallback = answer.response_metadata[FALLBACK_METADATA_KEY]
        assert fallback["error_type"] == "NoEligibleModelError" and fallback["model"] == "ToolLoopModel"
        assert answer.tool_calls[0]["id"].startswith("backup_")
    assert len(answered) == 2 and "limit" in last.text.lower()


# --- construction --------------------------------------------------------------------------------------------
def test_constructor_checks_its_options() -> None:
    pool, _, _ = weather_pool()
    with pytest.raises(InvalidInputError, match="not both"):
        FusionMiddleware(model=FusionChatModel(pool=pool), max_cost_usd=0.1)
    with pytest.raises(InvalidInputError, match="FusionChatModel"):
        FusionMiddleware(model=ScriptedChatModel())  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="exception types"):
        FusionMiddleware(pool=pool, fallback_on=[str])  # type: ignore[list-item]
    with pytest.raises(UnknownRouterError):
        FusionMiddleware(pool=pool, router="no-such-router")
    with pytest.raises(TypeError):
        FusionMiddleware(pool)  # type: ignore[misc]
    middleware = FusionMiddleware(
        pool=pool, router="cheapest", privacy="private_only", max_cost_usd=0.5, timeout=7
    )
    model = middleware.model
    assert model.pool is pool and model.router == "cheapest" and model.privacy.mode == "private_only"
    assert model.max_cost_usd == 0.5 and model.timeout == 7


def test_package_exports_it_lazily_and_init_loads_nothing_heavy() -> None:
    assert langchain_emafusion.FusionMiddleware is FusionMiddleware
    code = (
        "import sys; import langchain_emafusion; print('langchain' in sys.modules); "
        "from langchain_emafusion import FusionMiddleware; FusionMiddleware(); "
        "print(','.join(m for m in ('torch', 'llama_cpp', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    after_import, after_init = out.split("\n")[:2]
    assert after_import == "False" and after_init == ""
