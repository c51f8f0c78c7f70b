"""Cookbook: FusionChatModel as a drop-in LLM for an agent you already have.

Run: .venv/bin/python cookbook/drop_in_agent.py

`build_support_agent(llm)` stands for your existing agent code (here LangChain v1's `create_agent` with one
tool). It was written for a single chat model; passing a `FusionChatModel` instead changes nothing in it. The
agent binds its tools through `FusionChatModel.bind_tools`, so every agent step goes only to tool-capable
members, and the tool calls come back unchanged (name, arguments, id). Requests without tools, from the same
`FusionChatModel`, go to the cheapest member that can answer: here the embedded SmolLM2, which runs locally.

The "API model" is a scripted stand-in so that the example runs offline; use `ChatOpenAI(...)` (or any chat
model with tool calling) in its place.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import tool

from langchain_emafusion import Capabilities, ChatGGUF, FusionChatModel, ModelCard, ModelPool


class ScriptedToolModel(GenericFakeChatModel):
    """Offline stand-in for an API model with tool calling: replays a script (a tool call, then an answer)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, Any]:
        return self


@tool
def order_status(order_id: str) -> str:
    """Look up the shipping status of an order."""
    return {"A-1042": "shipped on 3 March, arriving Friday"}.get(order_id, "unknown order")


def build_support_agent(llm: Any) -> Any:
    """Your existing agent: written for one chat model, untouched when that model becomes a fusion of many."""
    return create_agent(llm, [order_status], system_prompt="You are a support agent. Use the tools.")


def api_model() -> ScriptedToolModel:
    script = [
        AIMessage(
            "",
            tool_calls=[
                {"name": "order_status", "args": {"order_id": "A-1042"}, "id": "call_1", "type": "tool_call"}
            ],
        ),
        AIMessage("Your order A-1042 shipped on 3 March and arrives on Friday."),
    ]
    return ScriptedToolModel(messages=itertools.cycle(script))


def main() -> dict[str, Any]:
    question = {"messages": [("user", "Where is my order A-1042?")]}

    # Before: the agent on one model.
    before = build_support_agent(api_model()).invoke(question)

    # After: the same agent on a fusion of a (pricier) tool-capable API model and a free local model.
    pool = ModelPool(
        [
            ModelCard(
                name="api-model",
                model=api_model(),
                input_price=0.15,
                output_price=0.60,
                capabilities=Capabilities(tools=True, structured_output=True),
            ),
            ModelCard(
                name="local-smollm2",
                model=lambda: ChatGGUF.from_embedded("smollm2-135m", max_tokens=24),
                private=True,  # no tool calling: never routed an agent step
            ),
        ]
    )
    llm = FusionChatModel(pool=pool)
    after = build_support_agent(llm).invoke(question)
    for message in after["messages"]:
        fusion = message.response_metadata.get("fusion")
        route = f"  <- {fusion['models']} ({fusion['reason']})" if fusion else ""
        calls = (
            f" tool_calls={[(c['name'], c['args']) for c in message.tool_calls]}"
            if getattr(message, "tool_calls", None)
            else ""
        )
        print(f"{message.type:>5}: {str(message.content)[:70]!r}{calls}{route}")

    # The same FusionChatModel, asked without tools, picks the cheapest member that can answer.
    chat = llm.invoke("Say hello to a customer in five words.")
    print(
        "plain chat ->",
        repr(str(chat.content).strip()[:60]),
        "via",
        chat.response_metadata["fusion"]["models"],
    )
    return {"before": before, "after": after, "chat": chat}


if __name__ == "__main__":
    main()
