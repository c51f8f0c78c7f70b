"""FusionChatModel as the LLM of a real LangGraph agent (`create_agent`), with fake tool-calling members.

The agent binds its tools through ``FusionChatModel.bind_tools``; these tests check that only tool-capable
members are routed to (first choice and fallbacks), that the tool calls they make reach the tools intact (name,
arguments, id; redacted values restored), and that the agent loop completes, sync, async and streaming.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    BaseCallbackHandler,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

from langchain_emafusion import Capabilities, FusionChatModel, ModelCard, ModelPool
from langchain_emafusion.errors import NoEligibleModelError
from tests.unit_tests.fakes import ScriptedChatModel

TOOLS = Capabilities(tools=True)
_PLACEHOLDER_OR_EMAIL = re.compile(r"\[EMAIL_\d+\]|[\w.+-]+@[\w-]+\.[\w.]+")


class ToolCallingMember(BaseChatModel):
    """A tool-calling chat model driven by the conversation, like a real one in an agent loop.

    With tools bound and no tool result yet, it calls ``tool_name`` with arguments taken from the user's last
    message (the city after "in", or the e-mail address it was shown); once it sees a ``ToolMessage`` it answers
    in text, quoting the tool's result. Every call is recorded.
    """

    tool_name: str
    call_id: str = "call_member_7"
    fail_times: int = 0
    received: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "tool-calling-fake"

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[Any, BaseMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        self.received.append({"messages": list(messages), "kwargs": dict(kwargs)})
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("member unavailable")
        usage = {"input_tokens": 20, "output_tokens": 8, "total_tokens": 28}
        if isinstance(messages[-1], ToolMessage):
            return AIMessage(content=f"Done: {messages[-1].text}", usage_metadata=usage)
        names = [t["function"]["name"] for t in kwargs.get("tools") or []]
        assert self.tool_name in names, f"the agent's tools were not passed on to the member: {names}"
        text = messages[-1].text
        found = _PLACEHOLDER_OR_EMAIL.search(text)
        args = {"to": found.group(0)} if found else {"city": text.rsplit(" in ", 1)[-1].rstrip("?. ")}
        call = {"name": self.tool_name, "args": args, "id": self.call_id, "type": "tool_call"}
        return AIMessage(content="", tool_calls=[call], usage_metadata=usage)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from _chunks(self._reply(messages, kwargs))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in _chunks(self._reply(messages, kwargs)):
            yield chunk


def _chunks(message: AIMessage) -> Iterator[ChatGenerationChunk]:
    """Stream a message the way OpenAI does: text word by word, a tool call's arguments in two pieces."""
    if message.tool_calls:
        call = message.tool_calls[0]
        arguments = json.dumps(call["args"])
        half = len(arguments) // 2
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                tool_call_chunks=[
                    tool_call_chunk(name=call["name"], args=arguments[:half], id=call["id"], index=0)
                ],
            )
        )
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="", tool_call_chunks=[tool_call_chunk(args=arguments[half:], index=0)]
            )
        )
    else:
        for i, word in enumerate(str(message.content).split(" ")):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word if i == 0 else " " + word))
    yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=message.usage_metadata))


weather_calls: list[str] = []
mail_calls: list[str] = []


@tool
def get_weather(city: str) -> str:
    """Return the current weather in a city."""
    weather_calls.append(city)
    return f"sunny, 21 C in {city}"


@tool
def send_mail(to: str) -> str:
    """Send the refund confirmation to an e-mail address."""
    mail_calls.append(to)
    return f"mail sent to {to}"


@pytest.fixture(autouse=True)
def _reset_tool_logs() -> None:
    weather_calls.clear()
    mail_calls.clear()


def weather_pool(**member_kwargs: Any) -> tuple[ModelPool, ScriptedChatModel, ToolCallingMember]:
    chat_only = ScriptedChatModel(reply="I cannot use tools")
    member = ToolCallingMember(tool_name="get_weather", **member_kwargs)
    pool = ModelPool(
        [
            # Free and first: the router would pick it for any request that needs no tools.
            ModelCard(name="chat-only", model=chat_only, input_price=0.0, output_price=0.0),
            ModelCard(
                name="tool-member", model=member, input_price=1.0, output_price=2.0, capabilities=TOOLS
            ),
        ]
    )
    return pool, chat_only, member


def fusion_messages(result: dict[str, Any]) -> list[BaseMessage]:
    return list(result["messages"])


def check_weather_run(messages: list[BaseMessage], chat_only: ScriptedChatModel) -> None:
    human, call, tool_result, final = messages
    assert isinstance(human, HumanMessage)
    assert (
        isinstance(call, AIMessage) and isinstance(tool_result, ToolMessage) and isinstance(final, AIMessage)
    )
    assert [(c["name"], c["args"], c["id"]) for c in call.tool_calls] == [
        ("get_weather", {"city": "Paris"}, "call_member_7")
    ]
    assert tool_result.tool_call_id == "call_member_7" and tool_result.text == "sunny, 21 C in Paris"
    assert final.text == "Done: sunny, 21 C in Paris"
    assert weather_calls == ["Paris"]
    for answer in (call, final):
        fusion = answer.response_metadata["fusion"]
        assert fusion["models"] == ["tool-member"]
        assert fusion["candidates"] == ["tool-member"]  # the cheaper chat-only member was never eligible
    assert chat_only.received == []


def test_agent_routes_to_the_tool_capable_member_and_runs_its_tool_call() -> None:
    pool, chat_only, member = weather_pool()
    agent = create_agent(FusionChatModel(pool=pool), [get_weather])

    messages = fusion_messages(agent.invoke({"messages": [("user", "What is the weather in Paris?")]}))

    check_weather_run(messages, chat_only)
    # The member received the agent's tool schema and, on the second turn, the tool's result.
    assert [t["function"]["name"] for t in member.received[0]["kwargs"]["tools"]] == ["get_weather"]
    assert isinstance(member.received[1]["messages"][-1], ToolMessage)


async def test_async_agent_keeps_tool_calls_intact() -> None:
    pool, chat_only, _ = weather_pool()
    agent = create_agent(FusionChatModel(pool=pool), [get_weather])

    result = await agent.ainvoke({"messages": [("user", "What is the weather in Paris?")]})

    check_weather_run(fusion_messages(result), chat_only)


def stream_agent(agent: Any, question: str) -> tuple[list[str], dict[str, Any]]:
    """Run an agent with LangGraph's token streaming; return the AI tokens streamed and the final state."""
    tokens: list[str] = []
    final_state: dict[str, Any] = {}
    for mode, payload in agent.stream({"messages": [("user", question)]}, stream_mode=["messages", "values"]):
        if mode == "messages":
            chunk, _metadata = payload
            if isinstance(chunk, AIMessageChunk):
                tokens.append(chunk.text)
        else:
            final_state = payload
    return tokens, final_state


def test_streaming_agent_reassembles_the_tool_call_from_chunks() -> None:
    pool, chat_only, _ = weather_pool()
    agent = create_agent(FusionChatModel(pool=pool, streaming=True), [get_weather])

    _tokens, final_state = stream_agent(agent, "What is the weather in Paris?")

    check_weather_run(fusion_messages(final_state), chat_only)


def test_langgraph_token_stream_shows_each_answer_token_once() -> None:
    # LangGraph's stream_mode="messages" streams every chat-model run inside a node unless it is tagged
    # "nostream"; the member's own run is a child of the fusion run, so without that tag each token shows twice.
    pool, _, _ = weather_pool()
    agent = create_agent(FusionChatModel(pool=pool, streaming=True), [get_weather])

    tokens, _state = stream_agent(agent, "What is the weather in Paris?")

    assert "".join(tokens) == "Done: sunny, 21 C in Paris"


def test_failing_tool_member_falls_back_to_another_tool_member_never_to_a_chat_only_one() -> None:
    chat_only = ScriptedChatModel(reply="I cannot use tools")
    flaky = ToolCallingMember(tool_name="get_weather", call_id="call_flaky", fail_times=1)
    backup = ToolCallingMember(tool_name="get_weather", call_id="call_backup")
    pool = ModelPool(
        [
            ModelCard(name="chat-only", model=chat_only),
            ModelCard(name="flaky", model=flaky, input_price=1.0, capabilities=TOOLS),
            ModelCard(name="backup", model=backup, input_price=5.0, capabilities=TOOLS),
        ]
    )
    agent = create_agent(FusionChatModel(pool=pool), [get_weather])

    messages = fusion_messages(agent.invoke({"messages": [("user", "What is the weather in Paris?")]}))

    call = messages[1]
    assert isinstance(call, AIMessage)
    assert call.tool_calls[0]["id"] == "call_backup" and call.tool_calls[0]["args"] == {"city": "Paris"}
    fusion = call.response_metadata["fusion"]
    assert fusion["candidates"] == ["flaky", "backup"] and fusion["models"] == ["backup"]
    assert "flaky" in fusion["failures"][0]
    assert weather_calls == ["Paris"] and chat_only.received == []


def test_agent_without_any_tool_capable_member_fails_naming_the_reason() -> None:
    pool = ModelPool([ModelCard(name="chat-only", model=ScriptedChatModel())])
    agent = create_agent(FusionChatModel(pool=pool), [get_weather])

    with pytest.raises(NoEligibleModelError, match="tool"):
        agent.invoke({"messages": [("user", "What is the weather in Paris?")]})
    assert weather_calls == []


def test_public_tool_member_sees_a_placeholder_but_the_tool_gets_the_real_address() -> None:
    member = ToolCallingMember(tool_name="send_mail")
    pool = ModelPool([ModelCard(name="public-api", model=member, input_price=1.0, capabilities=TOOLS)])
    agent = create_agent(FusionChatModel(pool=pool), [send_mail])

    messages = fusion_messages(
        agent.invoke({"messages": [("user", "Confirm the refund to jane.doe@example.com")]})
    )

    # What the public member was shown, and the call it made, hold only the placeholder...
    assert "jane.doe@example.com" not in member.received[0]["messages"][-1].text
    assert "[EMAIL_1]" in member.received[0]["messages"][-1].text
    # ...but the tool call handed to the agent, and so the tool, carry the real address.
    call = messages[1]
    assert isinstance(call, AIMessage) and call.tool_calls[0]["args"] == {"to": "jane.doe@example.com"}
    assert mail_calls == ["jane.doe@example.com"]
    assert call.response_metadata["fusion"]["privacy"]["kinds"] == ["email"]


def test_callbacks_see_one_chat_model_start_per_fusion_call() -> None:
    # What LangChain's standard integration tests (test_structured_output*) check, and what an agent's callback
    # handlers count: one chat-model run per model call. Member calls are child runs that every inherited
    # handler sees too, so each fusion call shows up as two chat-model starts.
    class CountStarts(BaseCallbackHandler):
        def __init__(self) -> None:
            self.starts = 0

        def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
            self.starts += 1

    pool, _, _ = weather_pool()
    counter = CountStarts()

    FusionChatModel(pool=pool).invoke("hello", config={"callbacks": [counter]})

    assert counter.starts == 1


@pytest.mark.parametrize("mode", ["invoke", "stream", "ainvoke", "astream"])
async def test_structured_output_in_a_sequence_is_one_chat_model_run(mode: str) -> None:
    # Inside a runnable sequence langchain-core keeps the caller's callbacks in a context variable; member calls
    # must not merge them in (LangChain's standard test_structured_output* count the starts).
    class CountStarts(BaseCallbackHandler):
        def __init__(self) -> None:
            self.starts = 0

        def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
            self.starts += 1

    class Weather(BaseModel):
        city: str

    member = ScriptedChatModel(tool_args={"city": "Paris"})
    pool = ModelPool(
        [ModelCard(name="m", model=member, capabilities=Capabilities(tools=True, structured_output=True))]
    )
    counter = CountStarts()
    chain = FusionChatModel(pool=pool).with_structured_output(Weather, method="json_schema")
    config: Any = {"callbacks": [counter]}
    if mode == "invoke":
        result = chain.invoke("weather?", config=config)
    elif mode == "stream":
        result = list(chain.stream("weather?", config=config))[-1]
    elif mode == "ainvoke":
        result = await chain.ainvoke("weather?", config=config)
    else:
        result = [chunk async for chunk in chain.astream("weather?", config=config)][-1]
    assert result == Weather(city="Paris") and counter.starts == 1


def test_create_agent_returns_structured_output_through_the_fusion_model() -> None:
    """LangChain v1's `create_agent(..., response_format=Schema)` over FusionChatModel: a typed result back."""

    class Forecast(BaseModel):
        city: str
        summary: str

    member = ScriptedChatModel(tool_args={"city": "Paris", "summary": "sunny"})
    pool = ModelPool(
        [ModelCard(name="m", model=member, capabilities=Capabilities(tools=True, structured_output=True))]
    )
    agent = create_agent(FusionChatModel(pool=pool), [], response_format=Forecast)
    state = agent.invoke({"messages": [HumanMessage("Forecast for Paris?")]})
    assert state["structured_response"] == Forecast(city="Paris", summary="sunny")
    (answer,) = [m for m in state["messages"] if m.type == "ai"]
    assert answer.response_metadata["fusion"]["models"] == [
        "m"
    ]  # the fusion model answered, with its metadata
