"""A fake pool member for synthesis tests: answers each prompt from a lookup table (a scripted "skill")."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field


class LookupChatModel(BaseChatModel):
    """Answers a prompt with ``answers[prompt]`` (or ``default``); counts calls; can be slow or fail."""

    answers: dict[str, str] = Field(default_factory=dict)
    default: str = "I do not know."
    delay_s: float = 0.0
    fail_times: int = 0
    calls: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "lookup"

    def _reply(self, messages: list[BaseMessage]) -> ChatResult:
        text = str(messages[-1].text)
        self.calls.append(text)
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("scripted failure")
        reply = self.answers.get(text, self.default)
        usage = {"input_tokens": len(text) // 4, "output_tokens": len(reply) // 4 + 1, "total_tokens": 0}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(content=reply, usage_metadata=usage))]
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay_s:
            time.sleep(self.delay_s)
        return self._reply(messages)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self._reply(messages)
