from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from langchain_emafusion import Capabilities, ModelCard, ModelPool, PoolConfigError
from tests.unit_tests.fakes import ScriptedChatModel


def card(name: str, **fields: object) -> ModelCard:
    return ModelCard(name=name, model=ScriptedChatModel(), **fields)  # type: ignore[arg-type]


def test_card_defaults_and_cost() -> None:
    c = card("a", input_price=2.0, output_price=8.0)
    assert c.private is False
    assert c.capabilities == Capabilities()
    assert c.cost_usd(1_000_000, 500_000) == pytest.approx(2.0 + 4.0)


@pytest.mark.parametrize(
    ("fields", "field_name"),
    [
        ({"input_price": -1.0}, "input_price"),
        ({"output_price": -0.5}, "output_price"),
        ({"latency_hint_s": -1.0}, "latency_hint_s"),
        ({"capabilities": {"context_window": 0}}, "context_window"),
        ({"capabilities": {"teleport": True}}, "teleport"),
    ],
)
def test_card_rejects_bad_fields(fields: dict[str, object], field_name: str) -> None:
    with pytest.raises(ValueError, match=field_name):
        card("a", **fields)


def test_card_rejects_non_model() -> None:
    with pytest.raises(ValueError, match="model"):
        ModelCard(name="a", model="gpt-4")  # type: ignore[arg-type]


def test_factory_is_lazy_and_built_once() -> None:
    built: list[int] = []

    def factory() -> ScriptedChatModel:
        built.append(1)
        return ScriptedChatModel()

    c = ModelCard(name="lazy", model=factory)
    assert not c.is_loaded and built == []
    first = c.get_model()
    assert c.get_model() is first and built == [1] and c.is_loaded


def test_factory_returning_wrong_type_is_a_clear_error() -> None:
    c = ModelCard(name="bad", model=lambda: "not a model")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="bad"):
        c.get_model()


def test_pool_validates() -> None:
    with pytest.raises(PoolConfigError, match="at least one"):
        ModelPool([])
    with pytest.raises(PoolConfigError, match="'name' 'a' repeats"):
        ModelPool([card("a"), card("a")])
    with pytest.raises(PoolConfigError, match="expected a ModelCard"):
        ModelPool([card("a"), "b"])  # type: ignore[list-item]
    pool = ModelPool([card("a"), card("b")])
    assert pool.names == ["a", "b"] and len(pool) == 2 and "a" in pool
    with pytest.raises(PoolConfigError, match="unknown pool member 'zz'"):
        pool["zz"]


GOOD_YAML = """
models:
  - name: remote
    type: openai
    model: gpt-4o-mini
    base_url: http://127.0.0.1:9/v1
    api_key_env: EMAFUSION_TEST_KEY
    input_price: 0.15
    output_price: 0.6
  - name: local
    type: llamacpp
    embedded: smollm2-135m
  - name: file
    type: llamacpp
    path: /nowhere/model.gguf
    kwargs: {n_ctx: 2048}
  - name: scripted
    type: import
    class: langchain_core.language_models.fake_chat_models.FakeListChatModel
    kwargs: {responses: ["hello"]}
    private: true
    tags: [test]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pool.yaml"
    path.write_text(text)
    return path


def test_yaml_pool_loads_every_entry_type_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ModelPool.from_yaml(write(tmp_path, GOOD_YAML))
    assert pool.names == ["remote", "local", "file", "scripted"]
    assert not any(c.is_loaded for c in pool)
    remote = pool["remote"]
    assert remote.input_price == 0.15 and remote.capabilities.tools and not remote.private
    local = pool["local"]
    assert local.private and local.input_price == 0 and "embedded" in local.tags
    assert pool["file"].capabilities.context_window == 2048 and pool["file"].private
    scripted = pool["scripted"].get_model()
    assert isinstance(scripted, FakeListChatModel) and scripted.invoke("x").content == "hello"
    assert pool["scripted"].tags == ["test"] and pool["scripted"].private

    monkeypatch.delenv("EMAFUSION_TEST_KEY", raising=False)
    with pytest.raises(PoolConfigError, match="EMAFUSION_TEST_KEY"):
        remote.get_model()
    monkeypatch.setenv("EMAFUSION_TEST_KEY", "sk-test")
    chat = remote.get_model()
    assert chat.model_name == "gpt-4o-mini"  # type: ignore[attr-defined]
    assert str(chat.openai_api_base) == "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]
    with pytest.raises(PoolConfigError, match="no file at /nowhere/model.gguf"):
        pool["file"].get_model()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models: [", "not valid YAML"),
        ("- a\n- b\n", "'models' list"),
        ("models: []\n", "non-empty list"),
        ("models: [1]\n", "must be a mapping"),
        ("models:\n  - {name: a, type: carrier-pigeon}\n", "field 'type'"),
        ("models:\n  - {name: a, type: openai}\n", r"models\[0\] \(a\): field 'model'"),
        ("models:\n  - {name: a, type: openai, model: m, input_price: -2}\n", "field 'input_price'"),
        ("models:\n  - {name: a, type: openai, model: m, colour: red}\n", "field 'colour'"),
        ("models:\n  - {name: a, type: llamacpp}\n", "exactly one of field 'embedded'"),
        ("models:\n  - {name: a, type: llamacpp, embedded: gpt-5}\n", "field 'embedded' is 'gpt-5'"),
        (
            "models:\n  - {name: a, type: llamacpp, path: /x/model.bin}\n",
            "field 'path' must point to a .gguf",
        ),
        ("models:\n  - {name: a, type: import, class: nomodule.Thing}\n", "cannot import module 'nomodule'"),
        (
            "models:\n  - {name: a, type: import, class: json.JSONDecoder}\n",
            "not a langchain_core BaseChatModel",
        ),
        ("models:\n  - {name: a, type: import, class: Thing}\n", "dotted path"),
        (
            "models:\n  - {name: a, type: openai, model: m}\n  - {name: a, type: openai, model: n}\n",
            "'name' 'a' repeats",
        ),
        (
            "models:\n  - {name: a, type: openai, model: m, capabilities: {context_window: -1}}\n",
            "context_window",
        ),
        ("extra: 1\nmodels:\n  - {name: a, type: openai, model: m}\n", "unknown top-level field"),
    ],
)
def test_yaml_errors_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PoolConfigError, match=message):
        ModelPool.from_yaml(write(tmp_path, text))


def test_yaml_missing_file() -> None:
    with pytest.raises(PoolConfigError, match="cannot read pool file"):
        ModelPool.from_yaml("/nonexistent/pool.yaml")


def test_import_entry_bad_kwargs_fail_on_build(tmp_path: Path) -> None:
    pool = ModelPool.from_yaml(
        write(
            tmp_path,
            "models:\n  - {name: a, type: import, "
            "class: langchain_core.language_models.fake_chat_models.FakeListChatModel, kwargs: {wrong: 1}}\n",
        )
    )
    with pytest.raises(PoolConfigError, match="field 'kwargs'"):
        pool["a"].get_model()
