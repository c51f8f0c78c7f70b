"""Tier 2: signals, the judge, every strategy, the learned policy in replay and the live path."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from langchain_emafusion.chat_models import FusionChatModel
from langchain_emafusion.evaluation.evaluate import evaluate_policy_dir
from langchain_emafusion.evaluation.table import OutcomeRow, OutcomeTable, write_outcomes
from langchain_emafusion.evaluation.training import train_policy
from langchain_emafusion.fusion.answers import answer_key, infer_answer_kind
from langchain_emafusion.fusion.base import Candidate, FusionContext, FusionOutcome, run_to_completion
from langchain_emafusion.fusion.judge import AnswerJudge, JudgeInput
from langchain_emafusion.fusion.model import ALL_TASKS, Tier2FileError, Tier2Model
from langchain_emafusion.fusion.signals import check_arithmetic, response_signals
from langchain_emafusion.fusion.strategies import UnknownStrategyError, available_strategies, get_strategy
from langchain_emafusion.pool.card import Capabilities, ModelCard
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.tier1.features import FeatureConfig
from langchain_emafusion.tier1.predictor import TrainingConfig
from tests.unit_tests.fakes import ScriptedChatModel

LEXICAL = FeatureConfig(use_embeddings=False, ngram_buckets=128)
FAST = TrainingConfig(n_members=1, max_epochs=40, hidden=32, model_dim=8)


# --- signals and answer keys ----------------------------------------------------------------------------
def test_arithmetic_check_counts_written_steps_and_wrong_ones() -> None:
    check = check_arithmetic("3 * 4 = 12 apples; 12 + 5 = 18. <<18/2=9>> and $1,200 / 4 = $300")
    assert (check.steps, check.wrong) == (4, 1)
    assert check_arithmetic("no arithmetic here") == check_arithmetic(None) == check_arithmetic("")
    assert check_arithmetic("2 x 3 x 4 = 24").wrong == 0
    signals = response_signals("I cannot answer that.", None, answers_expected=True)
    assert signals[1] == 1.0 and signals[5] == 1.0  # no answer key, refusal


def test_answer_kinds_and_keys_for_live_votes() -> None:
    mcq = "Which is a mammal?\nA. shark\nB. whale\nC. trout"
    assert infer_answer_kind(mcq) == "choice"
    assert answer_key("The answer is B.", "choice", mcq) == "B"
    assert infer_answer_kind("How many apples are left if I eat 3 of 10?") == "number"
    assert answer_key("10 - 3 = 7, so 7 apples.", "number") == "7"
    assert infer_answer_kind("Write a haiku about rain.") is None
    assert (
        infer_answer_kind("Granite orders 14 licences at $99 each. End with 'Answer: <number>'.") == "number"
    )
    assert infer_answer_kind("What is 17 + 25?") == infer_answer_kind("What is 17 - 5?") == "number"
    assert infer_answer_kind("Convert 3.5 km to metres. Reply with the number only.") == "number"
    # Dates and codes are not sums: no numeric vote on them.
    assert infer_answer_kind("An invoice is dated 2025-11-10. On what date is payment due?") is None
    assert infer_answer_kind("Build the reference GB-32734-de from these parts.") is None
    assert answer_key("anything", None) is None


# --- judge ------------------------------------------------------------------------------------------------
def _judge_data(judge: AnswerJudge, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x, y = [], []
    for i in range(n):
        wrong_step = bool(i % 2)
        text = "2 + 2 = 5 so 5" if wrong_step else "2 + 2 = 4 so 4"
        q = float(rng.uniform(0.3, 0.7))
        x.append(judge.features(JudgeInput("a", q, text, "5" if wrong_step else "4")))
        y.append(0.0 if wrong_step else 1.0)
    return np.array(x), np.array(y)


def test_judge_learns_a_signal_and_round_trips_as_json() -> None:
    judge = AnswerJudge(["a", "b"], ["math"], answers_expected=True)
    x, y = _judge_data(judge)
    judge.fit(x, y)
    good = judge.probability(JudgeInput("a", 0.5, "2 + 2 = 4 so 4", "4"), np.array([1.0]))
    bad = judge.probability(JudgeInput("a", 0.5, "2 + 2 = 5 so 5", "5"), np.array([1.0]))
    assert good > 0.8 > 0.2 > bad
    again = AnswerJudge.from_json(json.loads(json.dumps(judge.to_json())))
    assert again.probability(JudgeInput("a", 0.5, "2 + 2 = 5 so 5", "5")) == pytest.approx(
        judge.probability(JudgeInput("a", 0.5, "2 + 2 = 5 so 5", "5"))
    )
    broken = judge.to_json() | {"feature_names": ["other"]}
    with pytest.raises(ValueError, match="feature list"):
        AnswerJudge.from_json(broken)
    with pytest.raises(ValueError, match="shape"):
        AnswerJudge(["a"], weights=np.zeros(2))


def test_agreement_raises_the_judged_confidence() -> None:
    judge = AnswerJudge(["a", "b"], answers_expected=True)
    rows, targets = [], []
    for agree in (True, False) * 100:
        rows.append(judge.features(JudgeInput("a", 0.5, "x", "1", others=[("1" if agree else "2", 0.5)])))
        targets.append(1.0 if agree else 0.0)
    judge.fit(np.array(rows), np.array(targets))
    agreeing = judge.probability(JudgeInput("a", 0.5, "x", "1", others=[("1", 0.5)]))
    disagreeing = judge.probability(JudgeInput("a", 0.5, "x", "1", others=[("2", 0.5)]))
    assert agreeing > 0.9 and disagreeing < 0.1


def test_cross_mentions_let_the_judge_side_with_a_weaker_model_whose_number_the_stronger_wrote() -> None:
    """`strong` is right 70% of the time; when it is wrong it has written `weak`'s (right) number on its way."""
    rng = np.random.default_rng(0)
    judges = {
        flag: AnswerJudge(["strong", "weak"], answers_expected=True, cross_mentions=flag)
        for flag in (True, False)
    }
    pairs = []
    for i in range(400):
        truth, slip = 10 + i, 1000 + i
        # Both of strong's kinds of answer have two correct steps and the same length; only what it mentions differs.
        if rng.random() < 0.7:  # strong right, weak wrong with an unrelated number
            strong = (
                f"{truth - 4} + 4 = {truth}, then {truth} + 000 = {truth}. The answer is {truth}.",
                str(truth),
                1.0,
            )
            weak = (f"So {slip:,}.", str(slip), 0.0)
        else:  # strong went one step too far, past the weak model's right answer
            strong = (
                f"{truth - 4} + 4 = {truth}, then {truth} + 990 = {slip}. The answer is {slip}.",
                str(slip),
                0.0,
            )
            weak = (f"So {truth:,}.", str(truth), 1.0)
        pairs.append((strong, weak))

    def inputs(strong: tuple, weak: tuple) -> tuple[JudgeInput, JudgeInput]:
        return (
            JudgeInput(
                "strong", 0.7, strong[0], strong[1], others=[(weak[1], 0.3)], other_responses=[weak[0]]
            ),
            JudgeInput("weak", 0.3, weak[0], weak[1], others=[(strong[1], 0.7)], other_responses=[strong[0]]),
        )

    picks = {}
    for flag, judge in judges.items():
        rows, targets = [], []
        for strong, weak in pairs[:300]:
            for item, target in zip(inputs(strong, weak), (strong[2], weak[2]), strict=True):
                rows.append(judge.features(item))
                targets.append(target)
        judge.fit(np.array(rows), np.array(targets))
        right = 0
        for strong, weak in pairs[300:]:
            a, b = inputs(strong, weak)
            right += (strong if judge.probability(a) > judge.probability(b) else weak)[2]
        picks[flag] = right / 100
    assert picks[False] == pytest.approx(np.mean([s[2] for s, _ in pairs[300:]]))  # always the strong model
    assert picks[True] == 1.0
    # "1,200", "1200.0" and "$1200" are one number; letters are not numbers, so option answers get no terms.
    judge = judges[True]
    names = judge.feature_names()
    mentioned = names.index("mentioned_by_others")
    item = JudgeInput(
        "weak", 0.5, "x", "1200", others=[("1300", 0.5)], other_responses=["first $1,200.0, then 1300"]
    )
    assert list(judge.features(item)[mentioned : mentioned + 3]) == [1.0, 0.0, 1.0]
    letters = JudgeInput("weak", 0.5, "x", "B", others=[("C", 0.5)], other_responses=["B is wrong, C"])
    assert list(judge.features(letters)[mentioned : mentioned + 3]) == [0.0, 0.0, 0.0]
    # Judges saved before the cross-mention terms load without them.
    old = judges[False].to_json()
    del old["cross_mentions"]
    assert AnswerJudge.from_json(old).feature_names() == judges[False].feature_names()


# --- strategies -------------------------------------------------------------------------------------------
class Recorder:
    """A fake ``call_many``: fixed answers per model; records the call steps."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.steps: list[list[str]] = []

    async def __call__(self, models: Sequence[str]) -> list[Candidate]:
        self.steps.append(list(models))
        return [Candidate(m, f"so {self.answers[m]}", self.answers[m], cost_usd=1.0) for m in models]


def _context(
    recorder: Recorder, *, knob: float = 0.0, judge: AnswerJudge | None = None, quality: dict | None = None
) -> FusionContext:
    quality = quality or {"cheap": 0.5, "mid": 0.6, "big": 0.9}
    return FusionContext(
        prompt="q",
        ranked=sorted(quality, key=lambda m: -quality[m]),
        quality=quality,
        expected_cost_usd={"cheap": 0.01, "mid": 0.1, "big": 1.0},
        knob=knob,
        judge=judge or _tier1_only_judge(),
        call_many=recorder,
        answers_expected=True,
    )


def _run(name: str, context: FusionContext, **settings: int) -> FusionOutcome:
    """Run a strategy over the fake (non-suspending) ``call_many``, as replay does."""
    return run_to_completion(get_strategy(name, **settings).run(context))


def _tier1_only_judge() -> AnswerJudge:
    """A judge that trusts tier 1's prediction exactly (weight 4 on logit/4) and nothing else."""
    judge = AnswerJudge(["cheap", "mid", "big"], answers_expected=True, selection_skill=0.9)
    judge.weights[0] = 4.0
    return judge


def test_registry_lists_every_strategy_and_rejects_unknown_names() -> None:
    assert available_strategies() == [
        "agree",
        "cascade",
        "escalate",
        "select",
        "single",
        "synthesize",
        "vote",
    ]
    with pytest.raises(UnknownStrategyError, match="registered"):
        get_strategy("nope")
    with pytest.raises(ValueError):
        get_strategy("vote", k=1)


def test_cascade_escalates_when_worth_it_and_stops_when_the_knob_says_so() -> None:
    recorder = Recorder({"cheap": "1", "mid": "2", "big": "3"})
    outcome = _run("cascade", _context(recorder, knob=0.0))
    assert recorder.steps[0] == ["cheap"] and len(recorder.steps) >= 2 and outcome.strategy == "cascade"
    assert outcome.chosen == "big"  # the best-predicted answer wins the disagreement
    thrifty = Recorder({"cheap": "1", "mid": "2", "big": "3"})
    outcome = _run("cascade", _context(thrifty, knob=100.0))
    assert thrifty.steps == [["cheap"]] and outcome.chosen == "cheap"


def test_escalate_starts_from_tier_1s_choice_and_adds_a_call_only_when_the_judge_doubts_it() -> None:
    sure = Recorder({"cheap": "1", "mid": "2", "big": "3"})
    outcome = _run("escalate", _context(sure, knob=0.05, quality={"cheap": 0.5, "mid": 0.6, "big": 0.99}))
    assert sure.steps == [["big"]] and outcome.chosen == "big" and outcome.strategy == "escalate"
    doubtful = Recorder({"cheap": "1", "mid": "2", "big": "3"})
    quality = {"cheap": 0.5, "mid": 0.45, "big": 0.55}
    outcome = _run("escalate", _context(doubtful, knob=0.05, quality=quality))
    # Tier 1's pick first; a doubtful answer is worth a cheap second opinion, which the cascade would call first.
    assert doubtful.steps[0] == ["big"] and len(doubtful.steps) >= 2 and "cheap" in doubtful.steps[1]
    cascade = Recorder({"cheap": "1", "mid": "2", "big": "3"})
    _run("cascade", _context(cascade, knob=0.05, quality=quality))
    assert cascade.steps[0] == ["cheap"]


def test_agree_asks_cheaper_members_first_and_escalates_only_when_they_disagree() -> None:
    agreeing = Recorder({"cheap": "7", "mid": "7", "big": "8"})
    outcome = _run("agree", _context(agreeing, knob=0.0))
    # Tier 1's pick is "big"; the panel is the two cheaper members, asked at once; they agree, so no third call.
    assert agreeing.steps == [["mid", "cheap"]] and outcome.strategy == "agree"
    assert outcome.answer == "7" and outcome.called == ["mid", "cheap"]
    split = Recorder({"cheap": "6", "mid": "7", "big": "8"})
    outcome = _run("agree", _context(split, knob=0.0))
    assert split.steps == [["mid", "cheap"], ["big"]] and outcome.chosen == "big"
    # On disagreement the knob still prices the escalation: at a high knob the panel's vote stands.
    thrifty = Recorder({"cheap": "6", "mid": "7", "big": "8"})
    outcome = _run("agree", _context(thrifty, knob=100.0))
    assert thrifty.steps == [["mid", "cheap"]] and outcome.called == ["mid", "cheap"]


def test_agree_fills_its_panel_from_the_ranking_when_too_few_members_are_cheaper() -> None:
    # Tier 1's pick is the cheapest member: nothing is cheaper, so the panel is the two best-ranked members.
    quality = {"cheap": 0.9, "mid": 0.6, "big": 0.5}
    recorder = Recorder({"cheap": "1", "mid": "1", "big": "2"})
    outcome = _run("agree", _context(recorder, quality=quality))
    assert recorder.steps == [["cheap", "mid"]] and outcome.answer == "1"
    # Two members: the panel keeps one member to escalate to, so it is the cheaper one alone (the cascade).
    pair = Recorder({"cheap": "1", "big": "2"})
    outcome = _run("agree", _context(pair, quality={"cheap": 0.5, "big": 0.9}))
    assert pair.steps == [["cheap"], ["big"]] and outcome.chosen == "big"


def test_vote_weights_agreeing_answers_and_select_ignores_keys() -> None:
    recorder = Recorder({"cheap": "7", "mid": "7", "big": "8"})
    quality = {"cheap": 0.6, "mid": 0.6, "big": 0.7}
    outcome = _run("vote", _context(recorder, quality=quality))
    assert recorder.steps == [["big", "cheap", "mid"]]
    assert (
        outcome.answer == "7"
        and outcome.chosen in {"cheap", "mid"}
        and outcome.votes["7"] > outcome.votes["8"]
    )
    selected = _run(
        "select", _context(Recorder({"cheap": "7", "mid": "7", "big": "8"}), quality=quality), k=3
    )
    assert selected.chosen == "big" and selected.answer is None


def test_synthesis_needs_a_live_aggregator() -> None:
    with pytest.raises(Exception, match="live pool"):
        _run("synthesize", _context(Recorder({"cheap": "1", "mid": "2", "big": "3"})))
    context = _context(Recorder({"cheap": "1", "mid": "2", "big": "3"}))

    async def aggregate(name: str, cands: Sequence[Candidate]) -> Candidate:
        return Candidate(name, "merged " + ",".join(c.answer or "" for c in cands))

    context.aggregate = aggregate
    outcome = _run("synthesize", context)
    assert outcome.synthesized is not None and outcome.synthesized.response == "merged 3,2"
    assert outcome.called == ["big", "mid", "big"]


# --- tier-2 model -----------------------------------------------------------------------------------------
def test_tier2_model_strategy_table_and_files(tmp_path: Path) -> None:
    model = Tier2Model(
        _tier1_only_judge(),
        [0.0, 0.5, 1.0],
        {ALL_TASKS: ["vote", "cascade", "single"], "math": ["single"] * 3},
    )
    assert model.strategy_for(None, 0.0) == "vote" and model.strategy_for(None, 0.7) == "cascade"
    assert model.strategy_for("math", 0.0) == "single" and model.strategy_for("poem", 5.0) == "single"
    model.save(tmp_path)
    assert Tier2Model.load(tmp_path).strategies == model.strategies
    (tmp_path / "tier2.json").write_text("{}")
    with pytest.raises(Tier2FileError, match="not a valid"):
        Tier2Model.load(tmp_path)
    with pytest.raises(Tier2FileError, match="missing"):
        Tier2Model.load(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="entry"):
        Tier2Model(_tier1_only_judge(), [0.0], {"math": ["single"]})


# --- training and replay ------------------------------------------------------------------------------------
def vote_table(n: int, offset: int = 0) -> OutcomeTable:
    """Three models that each fail a different third of arithmetic prompts: the majority is always right.

    ``big`` costs 10x the others and is right 2/3 of the time too, so only a vote of the cheap two plus one
    more beats every single model.
    """
    rows = []
    for i in range(offset, offset + n):
        a, b = 3 + i, 7 + 2 * i
        truth = str(a + b)
        for j, (model, price) in enumerate((("m1", 1.0), ("m2", 1.0), ("big", 10.0))):
            right = i % 3 != j
            answer = truth if right else str(a + b + 1 + j)
            rows.append(
                OutcomeRow(
                    prompt_id=f"p{i}",
                    prompt=f"How many apples: {a} plus {b}?",
                    model=model,
                    score=1.0 if right else 0.0,
                    task="math",
                    cost_usd=price * 1e-6,
                    response=f"{a} + {b} = {answer}. The answer is {answer}",
                    answer=answer,
                    reference=truth,
                )
            )
    return OutcomeTable(rows)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("policy")
    train = write_outcomes(vote_table(120), folder / "train-src.jsonl")
    train_policy(train, folder / "policy", seed=0, features=LEXICAL, training=FAST)
    return folder / "policy"


def test_train_saves_tier2_and_eval_reports_the_system_and_tier1(trained: Path, tmp_path: Path) -> None:
    manifest = json.loads((trained / "manifest.json").read_text())
    assert manifest["policy"] == "tier1+tier2" and (trained / "tier2.json").is_file()
    model = Tier2Model.load(trained)
    assert model.answers_expected and set(model.strategies[ALL_TASKS]) & {"vote", "cascade", "select"}
    test = write_outcomes(vote_table(60, offset=1000), tmp_path / "test.jsonl")
    report = evaluate_policy_dir(test, trained)
    system, tier1 = report["policies"]["emafusion"], report["policies"]["tier1"]
    # Each model alone is right on 2/3 of prompts; the learned vote of all three is right on all of them.
    # Tier 1 alone, now that the members' recorded costs price them, routes some prompts by their numbers'
    # pattern too, but one call per prompt stays well short of the vote.
    assert max(point["accuracy"] for point in system["frontier"]) == 1.0
    assert max(point["accuracy"] for point in tier1["frontier"]) < 0.9
    # ... and it gets there cheaper than always calling all three (12 µ$): the cascade stops on agreement.
    assert min(p["cost_usd"] for p in system["frontier"] if p["accuracy"] == 1.0) < 12e-6


def test_too_few_training_prompts_keep_the_strategy_table_single() -> None:
    from langchain_emafusion.fusion.training import Tier2TrainingConfig, fit_tier2
    from langchain_emafusion.tier1.features import PromptFeaturizer

    table = vote_table(60)
    featurizer = PromptFeaturizer(LEXICAL)
    model = fit_tier2(table, featurizer=featurizer, training=FAST)
    assert set(model.strategies[ALL_TASKS]) == {"single"}
    assert model.info["multi_call_strategies"].startswith("skipped: 60 training prompts, fewer than")
    assert set(model.info["training_utility"]) == {"single"}
    # The same 60 prompts with the floor lowered: the vote that every single model loses to is chosen.
    lowered = fit_tier2(
        table, featurizer=featurizer, training=FAST, config=Tier2TrainingConfig(min_strategy_prompts=50)
    )
    assert lowered.info["multi_call_strategies"] == "replayed"
    assert set(lowered.strategies[ALL_TASKS]) - {"single"}


# --- live -------------------------------------------------------------------------------------------------
def forced(trained: Path, strategy: str, tmp_path: Path) -> Path:
    """A copy of the trained policy whose strategy table says ``strategy`` everywhere."""
    folder = tmp_path / f"forced-{strategy}"
    shutil.copytree(trained, folder)
    model = Tier2Model.load(folder)
    model.strategies = {ALL_TASKS: [strategy] * len(model.knobs)}
    model.save(folder)
    return folder


def _pool(answers: dict[str, str]) -> ModelPool:
    return ModelPool(
        [
            ModelCard(
                name=m,
                model=ScriptedChatModel(reply=f"The answer is {a}"),
                input_price=p,
                output_price=p,
                capabilities=Capabilities(tools=True),
            )
            for (m, a), p in zip(answers.items(), (1.0, 1.0, 10.0), strict=True)
        ]
    )


def test_live_vote_calls_the_members_and_reports_how_it_chose(trained: Path, tmp_path: Path) -> None:
    llm = FusionChatModel(
        pool=_pool({"m1": "12", "m2": "12", "big": "13"}),
        router=forced(trained, "vote", tmp_path),
        quality_cost_tradeoff=0.0,
    )
    message = llm.invoke("How many apples: 5 plus 7?")
    fusion = message.response_metadata["fusion"]
    assert fusion["strategy"] == "vote" and sorted(fusion["models"]) == ["big", "m1", "m2"]
    assert message.content == "The answer is 12" and fusion["chosen"] in {"m1", "m2"}
    assert (
        fusion["answers"] == {"m1": "12", "m2": "12", "big": "13"}
        and fusion["votes"]["12"] > fusion["votes"]["13"]
    )
    assert set(fusion["judge_confidences"]) == {"m1", "m2", "big"} and "weighted vote" in fusion["how"]
    assert len(fusion["calls"]) == 3 and message.usage_metadata["input_tokens"] == 30


async def test_live_vote_async_and_streamed(trained: Path, tmp_path: Path) -> None:
    llm = FusionChatModel(
        pool=_pool({"m1": "12", "m2": "9", "big": "12"}),
        router=forced(trained, "vote", tmp_path),
        quality_cost_tradeoff=0.0,
    )
    message = await llm.ainvoke("How many apples: 5 plus 7?")
    assert message.content == "The answer is 12" and message.response_metadata["fusion"]["strategy"] == "vote"
    chunks = [chunk async for chunk in llm.astream("How many apples: 5 plus 7?")]
    assert "".join(str(c.content) for c in chunks) == "The answer is 12" and len(chunks) > 2
    assert chunks[-1].response_metadata["fusion"]["strategy"] == "vote"
    streamed = list(llm.stream("How many apples: 5 plus 7?"))
    assert "".join(str(c.content) for c in streamed) == "The answer is 12"


def test_live_fusion_skips_a_failing_member_and_tools_stay_single(trained: Path, tmp_path: Path) -> None:
    pool = _pool({"m1": "12", "m2": "12", "big": "13"})
    pool["big"].get_model().fail_times = 5  # type: ignore[attr-defined]
    router = forced(trained, "vote", tmp_path)
    llm = FusionChatModel(pool=pool, router=router, quality_cost_tradeoff=0.0, max_retries=0)
    message = llm.invoke("How many apples: 5 plus 7?")
    fusion = message.response_metadata["fusion"]
    assert message.content == "The answer is 12" and "big" not in fusion["models"] and fusion["failures"]
    tool = {
        "type": "function",
        "function": {"name": "add", "description": "add", "parameters": {"type": "object", "properties": {}}},
    }
    tooled = FusionChatModel(pool=_pool({"m1": "1", "m2": "2", "big": "3"}), router=router).bind_tools([tool])
    assert tooled.invoke("How many apples: 5 plus 7?").response_metadata["fusion"]["strategy"] == "single"


def test_live_cascade_stops_when_the_cheap_answers_agree(trained: Path, tmp_path: Path) -> None:
    llm = FusionChatModel(
        pool=_pool({"m1": "12", "m2": "12", "big": "13"}),
        router=forced(trained, "cascade", tmp_path),
        quality_cost_tradeoff=1.0,
    )
    message = llm.invoke("How many apples: 5 plus 7?")
    fusion = message.response_metadata["fusion"]
    assert message.content == "The answer is 12"
    assert (
        fusion["strategy"] == "cascade"
        and fusion["models"][0] in {"m1", "m2"}
        and "big" not in fusion["models"]
    )


def test_live_synthesis_has_an_aggregator_write_the_answer(trained: Path, tmp_path: Path) -> None:
    pool = _pool({"m1": "12", "m2": "11", "big": "13"})
    llm = FusionChatModel(
        pool=pool, router=forced(trained, "synthesize", tmp_path), quality_cost_tradeoff=0.0
    )
    fusion = llm.invoke("How many apples: 5 plus 7?").response_metadata["fusion"]
    assert fusion["strategy"] == "synthesize" and "wrote the answer" in fusion["how"]
    aggregator = pool[fusion["chosen"]].get_model()
    last_prompt = str(aggregator.received[-1]["messages"][-1].content)  # type: ignore[attr-defined]
    assert "Candidate 1:" in last_prompt and "Candidate 2:" in last_prompt
    # A request with sensitive data is never synthesized (the aggregator would read every candidate).
    private = llm.invoke("How many apples: 5 plus 7? Mail me at jane.doe@example.com").response_metadata[
        "fusion"
    ]
    assert private["strategy"] == "select" and "synthesis skipped" in private["how"]


# --- live, on the real embedded models -------------------------------------------------------------------
EMBEDDED = {"m1": "smollm2-135m", "m2": "qwen2.5-coder-0.5b"}


@pytest.fixture(scope="module")
def trained_for_embedded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A policy over the two default embedded members (tier 1 + tier 2 on the vote table, renamed)."""
    folder = tmp_path_factory.mktemp("embedded-policy")
    rows = [
        r.model_copy(update={"model": EMBEDDED[r.model]}) for r in vote_table(120).rows if r.model in EMBEDDED
    ]
    train = write_outcomes(OutcomeTable(rows), folder / "train-src.jsonl")
    train_policy(train, folder / "policy", seed=0, features=LEXICAL, training=FAST)
    return folder / "policy"


@pytest.mark.local_model
def test_live_vote_on_the_embedded_pool_calls_both_real_models(
    trained_for_embedded: Path, tmp_path: Path
) -> None:
    llm = FusionChatModel(
        router=forced(trained_for_embedded, "vote", tmp_path), quality_cost_tradeoff=0.0, max_tokens=40
    )
    message = llm.invoke("What is 17 + 25? End with 'Answer: <number>'.")
    fusion = message.response_metadata["fusion"]
    assert fusion["strategy"] == "vote" and sorted(fusion["models"]) == sorted(EMBEDDED.values())
    assert fusion["answer_kind"] == "number" and set(fusion["answers"]) == set(EMBEDDED.values())
    # Each real model answered (two llama.cpp calls, one after the other) and the judge rated both.
    assert len(fusion["calls"]) == 2 and all(call["output_tokens"] > 0 for call in fusion["calls"])
    assert fusion["chosen"] in EMBEDDED.values() and set(fusion["judge_confidences"]) == set(
        EMBEDDED.values()
    )
    assert message.usage_metadata is not None
    assert message.usage_metadata["output_tokens"] == sum(call["output_tokens"] for call in fusion["calls"])
    # Greedy decoding: streaming the same request streams the same final answer.
    streamed = list(llm.stream("What is 17 + 25? End with 'Answer: <number>'."))
    assert "".join(str(chunk.content) for chunk in streamed) == message.content


def test_a_task_row_keeps_the_table_wide_choice_unless_another_strategy_beats_it_beyond_noise() -> None:
    from langchain_emafusion.fusion.training import strategy_table

    rng = np.random.default_rng(0)
    n = 400
    single = rng.normal(0.5, 0.1, size=(n, 2))
    noise = rng.normal(0, 0.5, size=(n, 2))
    noise -= noise.mean(axis=0)
    utility = {
        "single": single,
        "vote": single + 0.08,  # clearly better everywhere: the table-wide choice at both knobs
        "select": single + 0.03 + noise,
        "cascade": single.copy(),
    }
    task = np.arange(100)
    utility["cascade"][task] += 0.3  # on this task's prompts the cascade is far better than the vote
    noisy = np.arange(100, 160)
    # On these prompts `select` is ahead of the vote by less than its noise, and of `single` by more.
    utility["select"][noisy] += 0.11 - (utility["select"][noisy] - single[noisy]).mean(axis=0)
    groups = {ALL_TASKS: np.arange(n), "task": task, "noisy": noisy}
    table = strategy_table(utility, groups, 2)
    assert table[ALL_TASKS] == ["vote", "vote"]
    assert table["task"] == ["cascade", "cascade"]
    assert table["noisy"] == ["vote", "vote"]
    # Chosen afresh against `single` alone, as a task row was before, the noisy row would follow `select`.
    alone = strategy_table(utility, {ALL_TASKS: noisy}, 2)
    assert alone[ALL_TASKS] == ["select", "select"]
