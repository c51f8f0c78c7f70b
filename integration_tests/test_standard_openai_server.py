"""LangChain's standard integration tests for FusionChatModel over a real OpenAI-compatible server.

The pool's members are ``ChatOpenAI`` clients of llama-cpp-python's server (see ``conftest.py``) serving the
embedded models: real HTTP, real models, nothing mocked. No standard test is overridden except two marked
``xfail`` where Qwen2.5-Coder-0.5B, the pool's only tool-calling member, was observed to fail (reasons below).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from langchain_emafusion import FusionChatModel

from .conftest import OpenAIServer


class TestFusionOverOpenAIServer(ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _server(self, openai_server: OpenAIServer) -> None:
        self.server = openai_server

    @property
    def chat_model_class(self) -> type[FusionChatModel]:
        return FusionChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        # An answer budget, as any deployment sets: without it a 135M/0.5B model on a busy CPU can generate to
        # its context limit and run into the 300 s request timeout (observed on test_agent_loop).
        return {"pool": self.server.pool(), "model": "emafusion", "max_tokens": 256}

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @pytest.mark.xfail(
        reason="Qwen2.5-Coder-0.5B (the only tool-calling member) fills the arguments with the JSON schema "
        "({'input': {'type': 'integer', ...}}) instead of a value when called with the standard tool",
        strict=False,
    )
    def test_tool_calling(self, model: Any) -> None:
        super().test_tool_calling(model)

    @pytest.mark.xfail(
        reason="Qwen2.5-Coder-0.5B answers tool_choice=<one tool> with a call to another, unbound tool",
        strict=False,
    )
    def test_tool_choice(self, model: Any) -> None:
        super().test_tool_choice(model)
