"""Real embedded models end to end (SmolLM2-135M is fast; Qwen2.5-Coder-0.5B only where tools are needed)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessageChunk
from pydantic import BaseModel, Field

from langchain_emafusion import ChatGGUF, FusionChatModel

pytestmark = pytest.mark.local_model


class Capital(BaseModel):
    """A country's capital city."""

    country: str
    capital: str


class GetWeather(BaseModel):
    """Get the current weather for a city."""

    city: str = Field(description="City name")


@pytest.fixture(scope="module")
def smollm() -> ChatGGUF:
    return ChatGGUF.from_embedded("smollm2-135m", max_tokens=48)


def test_fusion_on_embedded_pool_answers_with_metadata() -> None:
    llm = FusionChatModel(max_tokens=32)
    msg = llm.invoke("What is the capital of France? Answer in one short sentence.")
    assert "paris" in str(msg.content).lower()
    fusion = msg.response_metadata["fusion"]
    # The default "auto" router ranks the embedded members with the shipped learned predictor.
    assert fusion["router"] == "emafusion-default" and fusion["cost_usd"] == 0.0
    assert len(fusion["models"]) == 1 and fusion["models"][0] in {"smollm2-135m", "qwen2.5-coder-0.5b"}
    (call,) = fusion["calls"]
    assert call["input_tokens"] > 10 and 0 < call["output_tokens"] <= 32 and call["tokens_estimated"] is False
    assert 0.0 < call["confidence"] <= 1.0
    assert (
        msg.usage_metadata is not None
        and msg.usage_metadata["total_tokens"] == call["input_tokens"] + call["output_tokens"]
    )


def test_llama_is_loaded_once_and_shared(smollm: ChatGGUF) -> None:
    other = ChatGGUF.from_embedded("smollm2-135m", max_tokens=8)
    assert other.llama is smollm.llama


def test_stream_and_usage(smollm: ChatGGUF) -> None:
    chunks = list(smollm.stream("Count from one to five."))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    whole = chunks[0]
    for c in chunks[1:]:
        whole = whole + c
    assert len(str(whole.content)) > 3
    assert whole.usage_metadata is not None and whole.usage_metadata["output_tokens"] >= len(chunks) - 1
    assert 0 < whole.response_metadata["confidence"] <= 1


async def test_async_invoke(smollm: ChatGGUF) -> None:
    msg = await smollm.ainvoke("Say hello.")
    assert str(msg.content).strip()


def test_structured_output_is_schema_valid(smollm: ChatGGUF) -> None:
    result = smollm.with_structured_output(Capital, method="json_schema").invoke(
        "The capital of Italy is Rome."
    )
    assert isinstance(result, Capital) and result.capital


def test_forced_tool_call_on_qwen() -> None:
    qwen = ChatGGUF.from_embedded("qwen2.5-coder-0.5b", max_tokens=64)
    msg = qwen.bind_tools([GetWeather], tool_choice="any").invoke("What's the weather like in Berlin?")
    (call,) = msg.tool_calls
    assert call["name"] == "GetWeather" and "berlin" in call["args"]["city"].lower()
    assert msg.response_metadata["finish_reason"] == "tool_calls"
