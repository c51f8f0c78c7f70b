"""Cookbook: route an existing agent's model calls through the fusion pool with `FusionMiddleware`.

Run: .venv/bin/python cookbook/fusion_middleware.py

`build_support_agent(model, middleware)` stands for your existing agent code (LangChain v1's `create_agent` with
one tool and its own model). Adding `FusionMiddleware()` to its middleware changes nothing else: the agent keeps
its model, and every model call is routed through the fusion pool instead, here the embedded local pool
(SmolLM2-135M without tool calling, Qwen2.5-Coder-0.5B with it; no API key, nothing downloaded). Tool-bound
steps go only to the tool-capable member, and each answer says how it was routed in
`response_metadata["fusion"]`. When routing cannot serve a call (here: a pool without any tool-capable member),
the agent's own model answers it, and `response_metadata["fusion_fallback"]` says why.

The agent's own model is a scripted stand-in so that the example runs offline; it would be your
`ChatOpenAI(...)` (or any chat model with tool calling). The agent forces its first step to look the order up
(`tool_choice`, passed on to the routed model, which then decodes the call under the tool's JSON schema) and the
tool's result is its answer (`return_direct`): with a free choice, or shown a tool result, the 0.5B local model
writes malformed tool calls as text. `ModelCallLimitMiddleware` is there to show that LangChain's own middleware
composes with `FusionMiddleware` (it counts routed calls like any other).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import (
    AgentMiddleware,
    ModelCallLimitMiddleware,
    ModelRequest,
    ModelResponse,
    wrap_model_call,
)
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import tool

from langchain_emafusion import FusionMiddleware, ModelPool
from langchain_emafusion.pool.embedded import default_embedded_pool


class ScriptedToolModel(GenericFakeChatModel):
    """Offline stand-in for the agent's own API model: replays its tool call."""

    calls: int = 0

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, Any]:
        return self

    def invoke(self, *args: Any, **kwargs: Any) -> BaseMessage:
        self.calls += 1
        return super().invoke(*args, **kwargs)


@tool(return_direct=True)
def order_status(order_id: str) -> str:
    """Look up the shipping status of an order."""
    return {"A-1042": "shipped on 3 March, arriving Friday"}.get(order_id, "unknown order")


@wrap_model_call
def look_up_first(
    request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]
) -> ModelResponse[Any]:
    """Part of your agent: the first step must look the order up (``tool_choice`` reaches the routed model too)."""
    if not any(isinstance(m, ToolMessage) for m in request.messages):
        request = request.override(tool_choice="order_status")
    return handler(request)


def build_support_agent(model: Any, middleware: Sequence[AgentMiddleware[Any, Any, Any]]) -> Any:
    """Your existing agent: its own model, tools and middleware; only ``middleware`` is new."""
    return create_agent(
        model,
        [order_status],
        system_prompt="You are a support agent. Use the order_status tool to look up orders.",
        middleware=[ModelCallLimitMiddleware(run_limit=3, exit_behavior="end"), look_up_first, *middleware],
    )


def api_model() -> ScriptedToolModel:
    call = {"name": "order_status", "args": {"order_id": "A-1042"}, "id": "call_1", "type": "tool_call"}
    return ScriptedToolModel(messages=itertools.cycle([AIMessage("", tool_calls=[call])]))


def show(title: str, state: dict[str, Any]) -> None:
    print(title)
    for message in state["messages"]:
        fusion = message.response_metadata.get("fusion")
        fallback = message.response_metadata.get("fusion_fallback")
        route = f"  <- routed to {fusion['models']} (candidates {fusion['candidates']})" if fusion else ""
        if fallback:
            route = f"  <- agent's own model, because {fallback['error_type']}: {fallback['error'][:60]}..."
        calls = (
            f" tool_calls={[(c['name'], c['args']) for c in message.tool_calls]}"
            if getattr(message, "tool_calls", None)
            else ""
        )
        print(f"{message.type:>6}: {str(message.content)[:60]!r}{calls}{route}")


def main() -> dict[str, Any]:
    question = {"messages": [("user", "Where is my order A-1042?")]}

    # Routed: every model call of the agent goes through the embedded pool; the agent's own model is not used.
    own = api_model()
    routed = build_support_agent(own, [FusionMiddleware(temperature=0)]).invoke(question)
    show("routed through the embedded pool:", routed)
    print("  agent's own model calls:", own.calls)

    # Fallback: a pool without a tool-capable member cannot serve tool-bound calls; the agent's own model does.
    chat_only: ModelPool = default_embedded_pool(names=("smollm2-135m",))
    fallback_own = api_model()
    fallback = build_support_agent(fallback_own, [FusionMiddleware(pool=chat_only)]).invoke(question)
    show("pool without tool calling, so the agent's own model answers:", fallback)
    print("  agent's own model calls:", fallback_own.calls)
    return {
        "routed": routed,
        "own_calls": own.calls,
        "fallback": fallback,
        "fallback_own_calls": fallback_own.calls,
    }


if __name__ == "__main__":
    main()
