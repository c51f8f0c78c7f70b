"""LangChain's standard unit tests for FusionChatModel, with no standard test overridden."""

from __future__ import annotations

from typing import Any

from langchain_tests.unit_tests import ChatModelUnitTests

from langchain_emafusion import Capabilities, FusionChatModel, ModelCard, ModelPool
from tests.unit_tests.fakes import ScriptedChatModel


class TestFusionChatModelStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[FusionChatModel]:
        return FusionChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        pool = ModelPool(
            [
                ModelCard(
                    name="scripted",
                    model=ScriptedChatModel(),
                    capabilities=Capabilities(tools=True, structured_output=True),
                )
            ]
        )
        return {"pool": pool, "model": "emafusion"}

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True
