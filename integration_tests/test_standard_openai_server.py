"""LangChain's standard integration tests for FusionChatModel over a real OpenAI-compatible server.

The pool's members are ``ChatOpenAI`` clients of llama-cpp-python's server (see ``conftest.py``) serving the
embedded models: real HTTP, real models, nothing mocked. No standard test is overridden.
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
        return {"pool": self.server.pool(), "model": "emafusion"}

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True
