from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.tracers.context import collect_runs
from pydantic import BaseModel

from langchain_emafusion import (
    AllMembersFailedError,
    Capabilities,
    FusionChatModel,
    InvalidInputError,
    ModelCard,
    ModelPool,
    NoEligibleModelError,
    PoolConfigError,
    UnknownRouterError,
)
from tests.unit_tests.fakes import ScriptedChatModel


class Weather(BaseModel):
    """Weather in a city."""

    city: str
    celsius: float


def make_pool(**overrides: Any) -> tuple[ModelPool, dict[str, ScriptedChatModel]]:
    members = {
        "cheap": ScriptedChatModel(reply="cheap answer", input_tokens=100, output_tokens=20, **overrides),
        "mid": ScriptedChatModel(
            reply="mid answer",
            input_tokens=100,
            output_tokens=30,
            tool_args={"city": "Paris", "celsius": 21.5},
        ),
        "tooly": ScriptedChatModel(reply="tool answer", tool_args={"city": "Oslo", "celsius": -3.0}),
    }
    cards = [
        ModelCard(name="cheap", model=members["cheap"], input_price=0.1, output_price=0.2),
        ModelCard(
            name="mid",
            model=members["mid"],
            input_price=1.0,
            output_price=2.0,
            capabilities=Capabilities(structured_output=True),
        ),
        ModelCard(
            name="tooly",
            model=members["tooly"],
            input_price=10.0,
            output_price=20.0,
            capabilities=Capabilities(tools=True, structured_output=True),
        ),
    ]
    return ModelPool(cards), members


def test_invoke_routes_to_cheapest_and_reports_fusion_metadata() -> None:
    pool, members = make_pool()
    msg = FusionChatModel(pool=pool).invoke([SystemMessage("be brief"), HumanMessage("hi")])
    assert isinstance(msg, AIMessage) and msg.content == "cheap answer"
    assert msg.usage_metadata == {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}
    fusion = msg.response_metadata["fusion"]
    # The default "auto" gives this unknown pool the price-tier prior (issue 18; "cheapest" before): "hi" is
    # easy, so the cheapest member answers.
    assert (
        fusion["models"] == ["cheap"] and fusion["strategy"] == "single" and fusion["router"] == "price-tier"
    )
    assert fusion["cost_usd"] == pytest.approx((100 * 0.1 + 20 * 0.2) / 1e6)
    assert fusion["latency_s"] >= 0
    (call,) = fusion["calls"]
    assert {k: call[k] for k in ("model", "input_tokens", "output_tokens")} == {
        "model": "cheap",
        "input_tokens": 100,
        "output_tokens": 20,
    }
    assert msg.response_metadata["model_name"] == "emafusion"
    assert [type(m) for m in members["cheap"].received[0]["messages"]] == [SystemMessage, HumanMessage]
    assert members["mid"].received == [] and members["tooly"].received == []


def test_failed_member_falls_back_to_next_and_is_recorded() -> None:
    pool, members = make_pool(fail_times=1)
    msg = FusionChatModel(pool=pool).invoke("hi")
    assert msg.content == "mid answer"
    fusion = msg.response_metadata["fusion"]
    assert fusion["models"] == ["mid"]
    assert [c["model"] for c in fusion["calls"]] == ["cheap", "mid"]
    assert "scripted failure" in fusion["calls"][0]["error"]
    assert fusion["failures"] == ["cheap (attempt 1): ConnectionError: scripted failure"]
    assert msg.usage_metadata == {"input_tokens": 100, "output_tokens": 30, "total_tokens": 130}


def test_retry_same_member_before_moving_on() -> None:
    pool, members = make_pool(fail_times=1)
    msg = FusionChatModel(pool=pool, max_retries=1).invoke("hi")
    assert msg.content == "cheap answer"
    assert len(members["cheap"].received) == 2 and members["mid"].received == []


def test_all_members_failing_is_one_typed_error() -> None:
    pool = ModelPool([ModelCard(name=n, model=ScriptedChatModel(fail_times=5)) for n in ("a", "b")])
    with pytest.raises(AllMembersFailedError) as info:
        FusionChatModel(pool=pool).invoke("hi")
    assert (
        len(info.value.failures) == 2
        and "a (attempt 1)" in str(info.value)
        and "b (attempt 1)" in str(info.value)
    )


def test_timeout_moves_on() -> None:
    pool = ModelPool(
        [
            ModelCard(name="slow", model=ScriptedChatModel(delay_s=1.0, reply="late")),
            ModelCard(name="fast", model=ScriptedChatModel(reply="on time"), input_price=1),
        ]
    )
    msg = FusionChatModel(pool=pool, timeout=0.2).invoke("hi")
    assert msg.content == "on time"
    assert "TimeoutError" in msg.response_metadata["fusion"]["failures"][0]


async def test_async_timeout_moves_on() -> None:
    pool = ModelPool(
        [
            ModelCard(name="slow", model=ScriptedChatModel(delay_s=1.0, reply="late")),
            ModelCard(name="fast", model=ScriptedChatModel(reply="on time"), input_price=1),
        ]
    )
    msg = await FusionChatModel(pool=pool, timeout=0.2).ainvoke("hi")
    assert msg.content == "on time"


def test_tools_go_only_to_tool_capable_members_and_come_back_intact() -> None:
    pool, members = make_pool()
    llm = FusionChatModel(pool=pool).bind_tools([Weather], tool_choice="any")
    msg = llm.invoke("weather in Oslo?")
    assert msg.tool_calls == [
        {"name": "Weather", "args": {"city": "Oslo", "celsius": -3.0}, "id": "call_1", "type": "tool_call"}
    ]
    assert msg.response_metadata["fusion"]["models"] == ["tooly"]
    sent = members["tooly"].received[0]["kwargs"]
    assert sent["tools"][0]["function"]["name"] == "Weather" and sent["tool_choice"] == "any"
    assert members["cheap"].received == []


def test_tool_choice_must_name_a_bound_tool() -> None:
    pool, _ = make_pool()
    with pytest.raises(InvalidInputError, match="not one of the bound tools"):
        FusionChatModel(pool=pool).bind_tools([Weather], tool_choice="Nope")


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_structured_output_goes_to_structured_members(method: str) -> None:
    pool, members = make_pool()
    result = FusionChatModel(pool=pool).with_structured_output(Weather, method=method).invoke("Paris?")  # type: ignore[arg-type]
    assert result == Weather(city="Paris", celsius=21.5)
    assert members["cheap"].received == [] and len(members["mid"].received) == 1


def test_structured_output_include_raw() -> None:
    pool, _ = make_pool()
    out = FusionChatModel(pool=pool).with_structured_output(Weather, include_raw=True).invoke("Paris?")
    assert out["parsed"] == Weather(city="Paris", celsius=21.5) and out["parsing_error"] is None
    assert out["raw"].response_metadata["fusion"]["models"] == ["mid"]


def test_stream_yields_member_tokens_then_metadata() -> None:
    pool, _ = make_pool()
    chunks = list(FusionChatModel(pool=pool).stream("hi"))
    assert len(chunks) >= 3 and all(isinstance(c, AIMessageChunk) for c in chunks)
    whole = chunks[0]
    for c in chunks[1:]:
        whole = whole + c
    assert whole.content == "cheap answer"
    assert whole.usage_metadata == {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}
    assert whole.response_metadata["fusion"]["models"] == ["cheap"]


async def test_async_invoke_stream_and_batch() -> None:
    pool, _ = make_pool()
    llm = FusionChatModel(pool=pool)
    msg = await llm.ainvoke("hi")
    assert msg.content == "cheap answer" and msg.response_metadata["fusion"]["models"] == ["cheap"]
    parts = [c async for c in llm.astream("hi")]
    assert "".join(str(c.content) for c in parts) == "cheap answer"
    assert parts[-1].response_metadata["fusion"]["models"] == ["cheap"]
    batch = await llm.abatch(["a", "b", "c"])
    assert [m.content for m in batch] == ["cheap answer"] * 3


def test_batch() -> None:
    pool, members = make_pool()
    out = FusionChatModel(pool=pool).batch(["a", "b"])
    assert [m.content for m in out] == ["cheap answer", "cheap answer"]
    assert len(members["cheap"].received) == 2


def test_member_calls_are_child_runs() -> None:
    pool, _ = make_pool()
    with collect_runs() as collector:
        FusionChatModel(pool=pool).invoke("hi")
    (root,) = [run for run in collector.traced_runs if run.parent_run_id is None]
    assert root.name == "FusionChatModel"
    (child,) = root.child_runs
    assert child.name == "member:cheap" and child.run_type == "llm"
    assert child.extra["metadata"]["emafusion_router"] == "price-tier"  # "auto" on an unknown pool (issue 18)


def test_ls_params_and_passthrough_options() -> None:
    pool, members = make_pool()
    llm = FusionChatModel(pool=pool, temperature=0.3, max_tokens=50, stop=["END"])
    params = llm._get_ls_params()
    assert params["ls_provider"] == "emafusion" and params["ls_model_type"] == "chat"
    assert params["ls_temperature"] == 0.3 and params["ls_max_tokens"] == 50 and params["ls_stop"] == ["END"]
    llm.invoke("hi")
    kwargs = members["cheap"].received[0]["kwargs"]
    assert kwargs["temperature"] == 0.3 and kwargs["max_tokens"] == 50


def test_bad_input_and_config_errors() -> None:
    pool, _ = make_pool()
    llm = FusionChatModel(pool=pool)
    with pytest.raises(InvalidInputError, match="at least one message"):
        llm.invoke([])
    with pytest.raises(InvalidInputError, match="no text"):
        llm.invoke("   ")
    with pytest.raises(UnknownRouterError, match="unknown router 'smartest'"):
        FusionChatModel(pool=pool, router="smartest")
    tiny = ModelPool(
        [ModelCard(name="t", model=ScriptedChatModel(), capabilities=Capabilities(context_window=16))]
    )
    with pytest.raises(NoEligibleModelError, match="context window 16"):
        FusionChatModel(pool=tiny).invoke("hello there " * 50)


def test_pool_from_yaml_path(tmp_path: Any) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(
        "models:\n  - {name: fake, type: import, "
        "class: langchain_core.language_models.fake_chat_models.FakeListChatModel, kwargs: {responses: [pong]}}\n"
    )
    msg = FusionChatModel(pool=str(path)).invoke("ping")
    assert msg.content == "pong"
    fusion = msg.response_metadata["fusion"]
    # FakeListChatModel reports no usage, so tokens are estimated and marked as such.
    assert fusion["calls"][0]["tokens_estimated"] is True and msg.usage_metadata["output_tokens"] >= 1


def test_init_loads_nothing() -> None:
    built: list[str] = []

    def factory() -> ScriptedChatModel:
        built.append("x")
        return ScriptedChatModel()

    llm = FusionChatModel(pool=ModelPool([ModelCard(name="lazy", model=factory)]))
    assert built == []
    llm.invoke("hi")
    llm.invoke("again")
    assert built == ["x"]


def test_per_call_model_pins_a_member() -> None:
    pool, members = make_pool()
    llm = FusionChatModel(pool=pool)
    msg = llm.invoke("hi", model="mid")
    assert msg.content == "mid answer" and msg.response_metadata["fusion"]["router"] == "pinned"
    assert "model" not in members["mid"].received[0]["kwargs"]
    with pytest.raises(
        InvalidInputError, match="model='gpt-9' is not a member of this pool; pass one of: cheap"
    ):
        llm.invoke("hi", model="gpt-9")
    with pytest.raises(NoEligibleModelError, match="'cheap' was requested"):
        llm.bind_tools([Weather]).invoke("hi", model="cheap")


def test_bad_pool_file_raises_the_typed_error(tmp_path: Any) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text("models:\n  - {name: a, type: openai, model: m, output_price: -1}\n")
    with pytest.raises(PoolConfigError, match="field 'output_price'"):
        FusionChatModel(pool=path)
