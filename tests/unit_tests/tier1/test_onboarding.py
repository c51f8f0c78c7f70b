"""`emafusion onboard` / `onboard_pool`: probe unknown members, fit them into a predictor, route with the profile.

Fake members only: the onboarded member answers the probes from a script, the local member is never called.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import Field
from typer.testing import CliRunner

from langchain_emafusion import FusionChatModel, ModelCard, ModelPool
from langchain_emafusion.cli.app import app
from langchain_emafusion.errors import EmaFusionError, PoolConfigError
from langchain_emafusion.evaluation.converters import estimate_tokens
from langchain_emafusion.routing.default_predictor import default_predictor_path
from langchain_emafusion.tier1.onboarding import (
    PROBES_FILE,
    PROFILE_FILE,
    OnboardingError,
    onboard_pool,
    plan_onboarding,
)
from langchain_emafusion.tier1.predictor import Tier1Predictor
from tests.unit_tests.fakes import ScriptedChatModel
from tests.unit_tests.test_price_prior import README_YAML, readme_pool

pytest.importorskip("torch")


class AnswerKeyChatModel(ScriptedChatModel):
    """Answers a prompt found in `answers` with its entry, any other prompt with `reply`; counts its calls."""

    answers: dict[str, str] = Field(default_factory=dict)

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        text = str(messages[-1].text)
        message = super()._reply(messages, kwargs)
        return message.model_copy(update={"content": self.answers.get(text, self.reply)})


def arithmetic_expert(prompts: list[Any]) -> AnswerKeyChatModel:
    """A member that gets every numeric probe right and every other one wrong."""
    answers = {
        p.prompt: f"Answer: {p.checks[0].reference}"
        for p in prompts
        if not p.is_multi_part and p.checks[0].checker == "numeric"
    }
    return AnswerKeyChatModel(reply="I am not sure.", answers=answers)


def test_the_plan_names_the_unknown_member_the_probes_and_the_cost_bound() -> None:
    pool = ModelPool.from_config(README_YAML)
    plan = plan_onboarding(pool, probes=50, max_tokens=100)
    assert plan.members == ["gpt-4o-mini"] and plan.known == {"local": "qwen2.5-coder-0.5b"}
    assert plan.base == default_predictor_path()
    assert len(plan.prompts) == 50 and not any(p.paraphrase for p in plan.prompts)
    # Round-robin over the starter templates: every template is probed.
    assert len({p.template for p in plan.prompts}) >= 20
    tokens_in = sum(estimate_tokens(p.prompt) for p in plan.prompts)
    assert plan.max_cost_usd["gpt-4o-mini"] == pytest.approx((tokens_in * 0.15 + 50 * 100 * 0.6) / 1e6)
    assert plan.total_max_cost_usd == plan.max_cost_usd["gpt-4o-mini"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"members": ["nobody"]}, "member 'nobody' is not in the pool"),
        ({"members": ["local"]}, "known to the base predictor already (as 'qwen2.5-coder-0.5b')"),
        ({"probes": 5}, "at least 10 probes"),
    ],
)
def test_bad_plans_are_typed_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(OnboardingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan_onboarding(ModelPool.from_config(README_YAML), **options)


def test_a_pool_the_base_knows_entirely_has_nothing_to_onboard(tmp_path: Path) -> None:
    local = {"name": "local", "type": "llamacpp", "embedded": "qwen2.5-coder-0.5b"}
    with pytest.raises(OnboardingError, match="nothing to onboard"):
        plan_onboarding(ModelPool.from_config({"models": [local]}))
    with pytest.raises(OnboardingError, match="holds no tier-1 predictor"):
        plan_onboarding(ModelPool.from_config(README_YAML), base=tmp_path)


def test_onboarding_routes_the_readme_pool_by_what_the_probes_showed(tmp_path: Path) -> None:
    pool = readme_pool()
    plan = plan_onboarding(pool, probes=50)
    expert = arithmetic_expert(plan.prompts)
    cards = [ModelCard(name="gpt-4o-mini", model=expert, input_price=0.15, output_price=0.6), pool["local"]]
    pool = ModelPool(cards)
    summary = onboard_pool(pool, plan, tmp_path / "profile", progress=False)

    numeric = sum(1 for p in plan.prompts if not p.is_multi_part and p.checks[0].checker == "numeric")
    figures = summary["members"]["gpt-4o-mini"]
    assert figures["probes"] == 50 and figures["mean_score"] == pytest.approx(numeric / 50)
    assert len(expert.received) == 50 and pool["local"].model.received == []
    saved = json.loads((tmp_path / "profile" / PROFILE_FILE).read_text())
    assert saved["members"]["gpt-4o-mini"]["mean_score"] == figures["mean_score"]
    predictor = Tier1Predictor.load(tmp_path / "profile")
    assert predictor.models[-1] == "gpt-4o-mini" and "qwen2.5-coder-0.5b" in predictor.models

    # A rerun resumes: every probe is answered already, so the member is not called again.
    onboard_pool(pool, plan, tmp_path / "profile", progress=False)
    assert len(expert.received) == 50

    # The profile routes by what the probes showed, at the default knob: arithmetic (every numeric probe right) to
    # gpt-4o-mini, label work (every other probe wrong) to the free local member. The probes' own cross-validation
    # sees a skill the base's members lack, so the pull toward them is weak.
    hard_sum = (
        "A warehouse holds 1840 crates. It ships 37 crates a day for 23 days and receives 410 crates twice. "
        "How many crates are left? End with 'Answer: <number>'."
    )
    label = "Classify this support ticket as billing, technical or shipping: 'My parcel never arrived.'"
    routed = readme_pool()  # members answering "from gpt-4o-mini" / "from local"
    llm = FusionChatModel(pool=routed, router=str(tmp_path / "profile"))
    hard, easy = llm.invoke(hard_sum), llm.invoke(label)
    assert hard.content == "from gpt-4o-mini" and easy.content == "from local"
    quality = {}
    for name, message in (("hard", hard), ("easy", easy)):
        fusion = message.response_metadata["fusion"]
        assert fusion["router"] == "tier1" and "not in the predictor" not in fusion["reason"]
        quality[name] = fusion["router_details"]["predicted_quality"]
    assert quality["hard"]["gpt-4o-mini"] > quality["hard"]["local"]
    assert (
        quality["hard"]["gpt-4o-mini"] - quality["hard"]["local"]
        > quality["easy"]["gpt-4o-mini"] - quality["easy"]["local"]
    )
    base = FusionChatModel(
        pool=readme_pool(), router=str(default_predictor_path()), quality_cost_tradeoff=0.0
    )
    before = base.invoke(hard_sum).response_metadata["fusion"]
    assert "gpt-4o-mini" not in before["router_details"].get("predicted_quality", {}), before["reason"]


def test_a_failed_probe_leaves_no_profile_and_says_rerun(tmp_path: Path) -> None:
    pool = readme_pool()
    plan = plan_onboarding(pool, probes=10)
    broken = ScriptedChatModel(reply="x", fail_times=1000)
    pool = ModelPool(
        [ModelCard(name="gpt-4o-mini", model=broken, input_price=0.15, output_price=0.6), pool["local"]]
    )
    with pytest.raises(EmaFusionError, match="rerun the same command"):
        onboard_pool(pool, plan, tmp_path / "profile", retries=0, progress=False)
    assert not (tmp_path / "profile" / "tier1.json").exists()


def write_pool(folder: Path, extra: str = "") -> Path:
    path = folder / "pool.yaml"
    path.write_text(
        "models:\n"
        "  - name: gpt-4o-mini\n"
        "    type: import\n"
        "    class: langchain_core.language_models.fake_chat_models.FakeListChatModel\n"
        "    kwargs: {responses: ['Answer: 7']}\n"
        "    input_price: 0.15\n"
        "    output_price: 0.6\n"
        "  - name: local\n"
        "    type: llamacpp\n"
        "    embedded: qwen2.5-coder-0.5b\n" + extra,
        encoding="utf-8",
    )
    return path


def test_the_cli_prints_the_cost_first_resumes_and_says_how_to_use_the_profile(tmp_path: Path) -> None:
    pool = write_pool(tmp_path)
    dry = CliRunner().invoke(app, ["onboard", "--pool", str(pool), "--dry-run", "--probes", "20"])
    assert dry.exit_code == 0, dry.output
    assert (
        "onboarding gpt-4o-mini from 20 probes" in dry.output and "most the probes can cost: $" in dry.output
    )
    assert not (tmp_path / "pool-profile").exists()

    capped = CliRunner().invoke(
        app, ["onboard", "--pool", str(pool), "--probes", "20", "--max-cost-usd", "0"]
    )
    assert capped.exit_code == 2 and "above --max-cost-usd" in capped.output
    assert not (tmp_path / "pool-profile").exists()

    done = CliRunner().invoke(app, ["onboard", "--pool", str(pool), "--probes", "20", "--no-progress"])
    assert done.exit_code == 0, done.output
    assert "router: pool-profile" in done.output
    rows = (tmp_path / "pool-profile" / PROBES_FILE).read_text().splitlines()
    assert len(rows) == 20 and {json.loads(r)["model"] for r in rows} == {"gpt-4o-mini"}

    # Pointed at by the pool file, the profile is the pool's router.
    pool = write_pool(tmp_path, "router: pool-profile\n")
    assert ModelPool.from_yaml(pool).router == str(tmp_path / "pool-profile")
    llm = FusionChatModel(pool=str(pool))
    assert Path(str(llm.router)) == tmp_path / "pool-profile"
    assert FusionChatModel(pool=str(pool), router="cheapest").router == "cheapest"


def test_emafusion_chat_leaves_the_router_to_the_pool_file_unless_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import langchain_emafusion.chat_models as chat_models

    built: list[dict[str, Any]] = []

    def recording(**kwargs: Any) -> Any:
        built.append(kwargs)
        raise EmaFusionError("stop here")

    monkeypatch.setattr(chat_models, "FusionChatModel", recording)
    pool = write_pool(tmp_path, "router: pool-profile\n")
    CliRunner().invoke(app, ["chat", "--pool", str(pool), "hi"])
    CliRunner().invoke(app, ["chat", "--pool", str(pool), "--router", "cheapest", "hi"])
    assert "router" not in built[0] and built[1]["router"] == "cheapest"


def test_a_pool_file_router_that_is_not_a_name_or_folder_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(PoolConfigError, match="field 'router'"):
        ModelPool.from_yaml(write_pool(tmp_path, "router: [a, b]\n"))
    assert ModelPool.from_yaml(write_pool(tmp_path, "router: cheapest\n")).router == "cheapest"


def test_the_pull_strength_follows_the_probes_a_skill_is_learned_noise_is_not() -> None:
    plan = plan_onboarding(ModelPool.from_config(README_YAML), probes=50)
    prompts = [p.prompt for p in plan.prompts]
    skill = [1.0 if not p.is_multi_part and p.checks[0].checker == "numeric" else 0.0 for p in plan.prompts]
    coin = [
        float(x) for x in __import__("numpy").random.default_rng(3).permutation(skill)
    ]  # same mean, no pattern
    spread = {}
    for name, scores in (("skill", skill), ("coin", coin)):
        predictor = Tier1Predictor.load(default_predictor_path())
        predictor.onboard("newcomer", prompts, scores)
        spread[name] = float(predictor.predict(prompts).quality[:, -1].std())
    assert spread["coin"] < spread["skill"] / 2, spread
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        Tier1Predictor.load(default_predictor_path()).onboard("x", prompts, skill, l2=-1.0)
