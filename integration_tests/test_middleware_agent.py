"""`FusionMiddleware` over the local OpenAI-compatible server: a real multi-step tool loop of an existing agent.

The agent keeps its own model, a fake that fails the test if it is ever called: every model step must be routed
through the pool (SmolLM2 without tools, Qwen with tools) and served by Qwen, the only tool-capable member.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import ModelCallLimitMiddleware
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import tool

from langchain_emafusion import FusionMiddleware

from .conftest import QWEN, OpenAIServer


class MustNotBeCalled(BaseChatModel):
    """The agent's own model: routing must serve every step, so any call fails the test."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "must-not-be-called"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, BaseMessage]:
        return self.bind(**kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls += 1
        raise AssertionError("the agent's own model was called although the pool could serve the step")


weather_log: list[str] = []


@tool
def get_weather(city: str) -> str:
    """Return the current weather in a city."""
    weather_log.append(city)
    return f"It is sunny and 21 degrees Celsius in {city}."


def test_existing_agent_runs_its_tool_loop_through_the_pool(openai_server: OpenAIServer) -> None:
    weather_log.clear()
    own = MustNotBeCalled()
    agent = create_agent(
        own,
        [get_weather],
        system_prompt="You answer weather questions with the get_weather tool.",
        middleware=[
            # Qwen2.5-Coder-0.5B may call the tool again after seeing its result (see
            # test_openai_server_pool.py); the limit bounds the loop to three routed model calls.
            ModelCallLimitMiddleware(run_limit=3, exit_behavior="end"),
            FusionMiddleware(pool=openai_server.pool(), max_tokens=64, temperature=0),
        ],
    )

    result = agent.invoke(
        {"messages": [("user", "What is the weather in Paris? Use the get_weather tool.")]},
        {"recursion_limit": 30},
    )

    messages = result["messages"]
    transcript = [(m.type, m.text[:80], getattr(m, "tool_calls", None)) for m in messages]
    assert own.calls == 0, transcript
    first_call = messages[1]
    assert isinstance(first_call, AIMessage) and first_call.tool_calls, transcript
    assert first_call.tool_calls[0]["name"] == "get_weather"
    assert "paris" in first_call.tool_calls[0]["args"]["city"].lower()
    assert isinstance(messages[2], ToolMessage) and messages[2].tool_call_id == first_call.tool_calls[0]["id"]
    assert weather_log and "paris" in weather_log[0].lower()
    # More than one step: the model was called again with the tool's result in its context, and routed again.
    routed = [m for m in messages if isinstance(m, AIMessage) and "fusion" in m.response_metadata]
    assert len(routed) >= 2, transcript
    for message in routed:
        fusion = message.response_metadata["fusion"]
        assert fusion["candidates"] == [QWEN] and fusion["models"] == [QWEN], transcript
        assert "fusion_fallback" not in message.response_metadata
    # Every AI message is a routed answer, or the call limit's closing message.
    others = [m for m in messages if isinstance(m, AIMessage) and m not in routed]
    assert all("limit" in m.text.lower() for m in others), transcript
