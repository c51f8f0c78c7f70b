"""Bad input gets a typed error that says what to fix, never a crash, a silent drop or a silent truncation."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import HumanMessage, SystemMessage

from langchain_emafusion import (
    Capabilities,
    FusionChatModel,
    InvalidInputError,
    ModelCard,
    ModelPool,
    NoEligibleModelError,
    PoolConfigError,
)
from langchain_emafusion.evaluation.errors import OutcomeTableError
from langchain_emafusion.evaluation.table import OutcomeTable, read_outcomes
from tests.unit_tests.fakes import ScriptedChatModel

FAKE_CLASS = "langchain_core.language_models.fake_chat_models.FakeListChatModel"


@pytest.fixture
def member() -> ScriptedChatModel:
    return ScriptedChatModel()


@pytest.fixture
def llm(member: ScriptedChatModel) -> FusionChatModel:
    return FusionChatModel(pool=ModelPool([ModelCard(name="only", model=member)]))


def test_an_empty_message_list(llm: FusionChatModel, member: ScriptedChatModel) -> None:
    with pytest.raises(
        InvalidInputError, match="needs at least one message; pass a string or a non-empty list"
    ):
        llm.invoke([])
    assert member.received == []


def test_messages_with_only_whitespace(llm: FusionChatModel, member: ScriptedChatModel) -> None:
    with pytest.raises(InvalidInputError, match="no text to answer; every message is empty or whitespace"):
        llm.invoke([SystemMessage(" "), HumanMessage("\n\t")])
    assert member.received == []


async def test_an_image_without_text_is_refused_not_dropped(
    llm: FusionChatModel, member: ScriptedChatModel
) -> None:
    image = HumanMessage([{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}])
    with pytest.raises(InvalidInputError, match="only content blocks of type image_url; .* add a text part"):
        llm.invoke([image])
    with pytest.raises(InvalidInputError, match="image_url"):
        [chunk async for chunk in llm.astream([image])]
    assert member.received == []


def test_a_prompt_beyond_every_context_window_is_refused_not_truncated(member: ScriptedChatModel) -> None:
    small = Capabilities(context_window=512)
    llm = FusionChatModel(pool=ModelPool([ModelCard(name="small", model=member, capabilities=small)]))
    with pytest.raises(
        NoEligibleModelError,
        match=r"context window 512 < \d+ tokens needed.*shorten the prompt.*never truncated",
    ):
        llm.invoke("word " * 2000)
    assert member.received == []


def test_a_long_prompt_goes_to_the_long_context_member(member: ScriptedChatModel) -> None:
    big = ScriptedChatModel(reply="read it all")
    pool = ModelPool(
        [
            ModelCard(name="small", model=member, capabilities=Capabilities(context_window=512)),
            ModelCard(
                name="big", model=big, input_price=5, capabilities=Capabilities(context_window=100_000)
            ),
        ]
    )
    prompt = "word " * 2000
    message = FusionChatModel(pool=pool).invoke(prompt)
    assert message.content == "read it all" and member.received == []
    assert big.received[0]["messages"][0].content == prompt  # whole, not truncated


def test_a_malformed_yaml_pool(tmp_path: Path) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text("models:\n  - {name: a, type: openai\n")
    with pytest.raises(PoolConfigError, match=r"pool\.yaml is not valid YAML"):
        FusionChatModel(pool=path)
    path.write_bytes(b"models: [\xff\xfe]\n")
    with pytest.raises(PoolConfigError, match="not UTF-8 text"):
        ModelPool.from_yaml(path)


def test_an_unknown_model_name_pinned_per_call(llm: FusionChatModel, member: ScriptedChatModel) -> None:
    with pytest.raises(
        InvalidInputError, match="model='gpt-9' is not a member of this pool; pass one of: only"
    ):
        llm.invoke("hi", model="gpt-9")
    assert member.received == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{name: a, type: llamacpp, embedded: no-such-model}",
            "field 'embedded' is 'no-such-model'; known embedded",
        ),
        ("{name: a, type: import, class: no_such_package.Chat}", "cannot import module 'no_such_package'"),
        (
            "{name: a, type: import, class: langchain_core.NoSuchChat}",
            "is not a langchain_core BaseChatModel",
        ),
        ("{name: a, type: gemini, model: x}", "field 'type' must be one of"),
    ],
)
def test_an_unknown_model_name_in_yaml(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(f"models:\n  - {entry}\n")
    with pytest.raises(PoolConfigError, match=message):
        FusionChatModel(pool=path)


# ------------------------------------------------------------------------------------------------ fuzzing

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_like = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)


def maybe(*examples: Any) -> st.SearchStrategy[Any]:
    """Plausible values for a field, or anything at all."""
    return st.sampled_from(examples) | json_like


card_fields = {
    "input_price": maybe(0.0, 1.5, -1.0, math.nan, math.inf),
    "output_price": maybe(0.0, 2.0),
    "latency_hint_s": maybe(0.5, -0.1),
    "private": maybe(True, False),
    "capabilities": st.fixed_dictionaries(
        {}, optional={"tools": maybe(True), "context_window": maybe(4096, 0, -1), "extra": json_like}
    )
    | json_like,
    "tags": maybe(["local"], "local"),
}


def typed_entry(entry_type: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An entry of one `type`, each field present or not, plausible or not: deep enough to reach the factories.

    The card fields come as a group that is often empty, so that a fair share of entries gets past the schema.
    """
    core = st.fixed_dictionaries(
        {"name": maybe("a", "b", " a", ""), "type": st.just(entry_type)}, optional=fields
    )
    extras = st.just({}) | st.fixed_dictionaries({}, optional=card_fields)
    return st.builds(lambda entry, more: {**entry, **more}, core, extras)


entries = (
    typed_entry(
        "llamacpp",
        embedded=maybe("smollm2-135m", "no-such-model"),
        path=maybe("model.gguf", "~/m.gguf", "model.bin", "x\x00.gguf"),
        kwargs=st.fixed_dictionaries({}, optional={"n_ctx": maybe(2048, 0, -5, "abc", 1.5, True)})
        | json_like,
    )
    | typed_entry(
        "import",
        **{
            "class": maybe(FAKE_CLASS, "..x.Y", ".Y", "a..b", "os.path", "json.JSONDecoder", "a\x00b.c", "X"),
            "kwargs": st.fixed_dictionaries({}, optional={"responses": json_like}) | json_like,
        },
    )
    | typed_entry(
        "openai",
        model=maybe("gpt-4o-mini", ""),
        base_url=maybe("http://localhost:1/v1"),
        api_key_env=maybe("", " ", "SOME_KEY"),
        kwargs=json_like,
    )
    | st.dictionaries(st.text(max_size=12), json_like, max_size=5)
    | json_like
)

pool_configs = st.fixed_dictionaries({"models": st.lists(entries, max_size=4) | json_like}) | json_like


@FUZZ
@given(pool_configs)
def test_fuzz_pool_config_gives_a_pool_or_a_pool_config_error(config: Any) -> None:
    try:
        pool = ModelPool.from_config(config)
    except PoolConfigError:
        return
    assert isinstance(pool, ModelPool) and len(pool) >= 1


@FUZZ
@given(st.text(max_size=300) | st.binary(max_size=300) | pool_configs.map(json.dumps))
def test_fuzz_pool_yaml_file_gives_a_pool_or_a_pool_config_error(content: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pool.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        try:
            pool = ModelPool.from_yaml(path)
        except PoolConfigError:
            return
    assert isinstance(pool, ModelPool)


row_values = st.fixed_dictionaries(
    {
        "prompt_id": st.sampled_from(["p1", "p2", ""]) | json_like,
        "model": st.sampled_from(["a", "b"]) | json_like,
    },
    optional={
        "prompt": st.sampled_from(["q", "r"]) | json_like,
        "score": st.sampled_from([0.0, 1.0, 0.5, 2.0, -1.0]) | json_like,
        "cost_usd": json_like,
        "latency_s": json_like,
        "input_tokens": json_like,
        "task": json_like,
        "reference": json_like,
        "extra": json_like,
    },
)
table_lines = st.lists(
    row_values.map(json.dumps) | json_like.map(json.dumps) | st.text(max_size=40) | st.just(""), max_size=6
).map("\n".join)


@FUZZ
@given(table_lines.map(str.encode) | st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_fuzz_outcome_table_gives_a_table_or_an_outcome_table_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "outcomes.jsonl"
        path.write_bytes(content)
        try:
            table = read_outcomes(path)
        except OutcomeTableError:
            return
    assert isinstance(table, OutcomeTable) and table.n_prompts >= 1


def test_an_outcome_table_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "outcomes.jsonl"
    row = json.dumps({"prompt_id": "p", "prompt": "q", "model": "a", "score": 1.0})
    path.write_bytes(f"{row}\n\n".encode() + b'{"prompt_id": "\xff"}\n')
    with pytest.raises(OutcomeTableError, match=r"outcomes\.jsonl, line 3: not UTF-8 text"):
        read_outcomes(path)
