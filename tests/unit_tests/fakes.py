"""Fake pool members for unit tests: real LangChain chat models that answer from a script."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field


class ScriptedChatModel(BaseChatModel):
    """Answers every call with `reply`, reports token usage, records what it received, can fail on demand.

    With tools bound and a forced `tool_choice`, it calls the first bound tool with `tool_args`.
    """

    reply: str = "ok"
    echo: bool = False
    """Answer with the text of the last message instead of `reply` (placeholders and all)."""
    input_tokens: int = 10
    output_tokens: int = 5
    fail_times: int = 0
    delay_s: float = 0.0
    """Seconds each call takes: slept in the sync paths, awaited (so truly concurrent) in `ainvoke`."""
    chunk_chars: int = 0
    """Stream in pieces of this many characters (so placeholders split across chunks); 0: word by word."""
    tool_args: dict[str, Any] = Field(default_factory=dict)
    received: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _answer(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        self._receive(messages, kwargs)
        if self.delay_s:
            time.sleep(self.delay_s)
        return self._reply(messages, kwargs)

    def _receive(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> None:
        self.received.append({"messages": messages, "kwargs": kwargs})

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        if self.fail_times > 0:
            self.fail_times -= 1
            raise ConnectionError("scripted failure")
        usage = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
        }
        tools = kwargs.get("tools")
        if tools and kwargs.get("tool_choice") not in (None, "auto", "none"):
            name = tools[0]["function"]["name"]
            return AIMessage(
                content="",
                tool_calls=[{"name": name, "args": self.tool_args, "id": "call_1", "type": "tool_call"}],
                usage_metadata=usage,
            )
        if kwargs.get("response_format"):
            return AIMessage(content=json.dumps(self.tool_args), usage_metadata=usage)
        reply = str(messages[-1].text) if self.echo else self.reply
        return AIMessage(content=reply, usage_metadata=usage, response_metadata={"finish_reason": "stop"})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._answer(messages, kwargs))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._receive(messages, kwargs)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._answer(messages, kwargs)
        text = str(message.content)
        if self.chunk_chars:
            pieces = [text[i : i + self.chunk_chars] for i in range(0, len(text), self.chunk_chars)]
        else:
            pieces = [word if i == 0 else " " + word for i, word in enumerate(text.split(" "))]
        for piece in pieces:
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=message.usage_metadata))

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[Any, Any]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)
