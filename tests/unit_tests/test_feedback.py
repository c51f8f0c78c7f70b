"""Learning from production: the feedback log written by real calls, scores, LangSmith import, the correction."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from langchain_core.messages import AIMessageChunk
from typer.testing import CliRunner

from langchain_emafusion import FusionChatModel, ModelPool
from langchain_emafusion.cli.app import app
from langchain_emafusion.errors import InvalidInputError
from langchain_emafusion.feedback import (
    DecisionRecord,
    FeedbackLog,
    FeedbackLogError,
    FeedbackRecord,
    import_langsmith_feedback,
    is_feedback_log,
    read_feedback_examples,
    read_feedback_log,
)
from langchain_emafusion.feedback.training import correct_router
from tests.unit_tests.test_ledger import PROMPT, cost, pool

torch = pytest.importorskip("torch")

from langchain_emafusion.tier1.adjustment import fit_adjustment  # noqa: E402
from langchain_emafusion.tier1.predictor import Tier1Predictor  # noqa: E402
from tests.unit_tests.tier1.test_tier1 import FAST, LEXICAL, cards, prompts, table  # noqa: E402


def test_invoke_ainvoke_and_stream_each_log_one_decision_with_the_text_redacted(tmp_path: Path) -> None:
    members, _ = pool()
    log = tmp_path / "feedback.jsonl"
    llm = FusionChatModel(pool=members, router="cheapest", feedback_log=log)
    text = "Write to maria.g@example.org: " + PROMPT
    first = llm.invoke(text)
    second = asyncio.run(llm.ainvoke(PROMPT))
    chunks: list[AIMessageChunk] = list(llm.stream(PROMPT))
    streamed = chunks[0]
    for chunk in chunks[1:]:
        streamed = streamed + chunk
    records = read_feedback_log(log)
    assert [type(r) for r in records] == [DecisionRecord] * 3
    ids = [m.response_metadata["fusion"]["request_id"] for m in (first, second, streamed)]
    assert [r.run_id for r in records] == ids and len(set(ids)) == 3
    record = records[0]
    assert (record.router, record.strategy, record.stage) == ("cheapest", "single", "direct")
    assert record.models == ("cheap",) and record.answered_by == "cheap"
    assert record.cost_usd == pytest.approx(cost("cheap")) and (
        record.input_tokens,
        record.output_tokens,
    ) == (100, 50)
    # The privacy scan's placeholders, never the value, whatever the member saw.
    assert "maria.g@example.org" not in log.read_text() and "[EMAIL_1]" in record.prompt
    assert records[1].prompt == PROMPT and is_feedback_log(log)


def test_a_failed_request_logs_no_decision(tmp_path: Path) -> None:
    members, _ = pool(cheap={"fail_times": 10}, mid={"fail_times": 10}, premium={"fail_times": 10})
    log = tmp_path / "feedback.jsonl"
    llm = FusionChatModel(pool=members, router="cheapest", feedback_log=log)
    with pytest.raises(Exception, match="failed"):
        llm.invoke(PROMPT)
    assert not log.exists()


def test_record_feedback_joins_the_latest_score_with_its_decision(tmp_path: Path) -> None:
    members, _ = pool()
    log = tmp_path / "feedback.jsonl"
    llm = FusionChatModel(pool=members, router="cheapest", feedback_log=log)
    run_id = uuid.uuid4()
    answer = llm.invoke(PROMPT, config={"run_id": run_id})
    assert answer.response_metadata["fusion"]["request_id"] == str(run_id)
    other = llm.invoke("Name a prime number.")
    llm.record_feedback(run_id, 0.0)
    llm.record_feedback(str(run_id), True, key="correct", comment="second look")  # the latest wins
    llm.record_feedback("no-such-run", 1.0)
    examples = read_feedback_examples(log)
    assert (examples.prompts, examples.models, examples.scores) == ([PROMPT], ["cheap"], [1.0])
    account = examples.account()
    assert account["decisions"] == 2 and account["feedback_lines"] == 3
    assert account["decisions_without_feedback"] == 1 and examples.unmatched_feedback == ["no-such-run"]
    assert other.response_metadata["fusion"]["request_id"] not in examples.run_ids
    # Only one key's scores: the first score had no key.
    assert read_feedback_examples(log, key="correct").scores == [1.0]
    assert read_feedback_examples(log, key="helpful").account()["feedback_of_other_keys"] == 3


def test_bad_feedback_gets_typed_errors(tmp_path: Path) -> None:
    members, _ = pool()
    with pytest.raises(InvalidInputError, match="feedback_log="):
        FusionChatModel(pool=members, router="cheapest").record_feedback("run", 1.0)
    log = FeedbackLog(tmp_path / "f.jsonl")
    for bad in (1.5, -0.1, float("nan"), "good"):
        with pytest.raises(FeedbackLogError, match="not usable"):
            log.record_feedback("run", bad)  # type: ignore[arg-type]
    assert not log.path.exists()
    (tmp_path / "broken.jsonl").write_text('{"kind": "decision", "run_id": "r"}\n')
    with pytest.raises(FeedbackLogError, match="line 1.*not a valid decision record"):
        read_feedback_log(tmp_path / "broken.jsonl")
    (tmp_path / "odd.jsonl").write_text('{"kind": "call"}\n')
    with pytest.raises(FeedbackLogError, match="unknown record kind"):
        read_feedback_log(tmp_path / "odd.jsonl")
    with pytest.raises(FeedbackLogError, match="no feedback log file"):
        read_feedback_examples(tmp_path / "missing.jsonl")


def test_langsmith_feedback_is_imported_for_logged_runs_only(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    for run in ("a", "b"):
        log.append(
            DecisionRecord(run_id=run, prompt=f"prompt {run}", router="r", strategy="single", answered_by="m")
        )
    feedback = [
        SimpleNamespace(run_id=uuid.UUID(int=1), score=1.0, key="correct", comment=None),  # not logged
        SimpleNamespace(run_id="a", score=True, key="correct", comment="ok"),
        {"run_id": "b", "score": None, "key": "correct"},  # a comment without a score
        {"run_id": "b", "score": 0.25, "key": "helpful"},
    ]
    assert import_langsmith_feedback(log.path, feedback, key="correct") == {
        "imported": 1,
        "not_a_logged_run": 1,
        "no_score": 1,
        "other_key": 1,
    }
    (record,) = [r for r in read_feedback_log(log.path) if isinstance(r, FeedbackRecord)]
    assert (record.run_id, record.score, record.source, record.comment) == ("a", 1.0, "langsmith", "ok")
    with pytest.raises(FeedbackLogError, match="not usable"):
        import_langsmith_feedback(log.path, [{"run_id": "b", "score": 3.0}])


def test_feedback_on_a_graph_request_scores_its_subtasks_not_its_merge(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    for run, stage in (("d", "decompose"), ("s1", "subtask"), ("s2", "subtask"), ("m", "merge")):
        log.append(
            DecisionRecord(
                run_id=run,
                parent_id="graph",
                stage=stage,
                prompt=run,
                router="r",
                strategy="single",
                answered_by="x",
            )
        )
    log.record_feedback("graph", 0.5)
    examples = read_feedback_examples(log.path)
    assert examples.run_ids == ["s1", "s2"] and examples.scores == [0.5, 0.5] and examples.no_member == 2


@pytest.fixture(scope="module")
def base() -> Tier1Predictor:
    """Trained where `cheap` is right on nothing; in production it turns out right on poems."""
    return Tier1Predictor.fit(table(), training=FAST, features=LEXICAL)


def production(n: int) -> tuple[list[str], list[str], list[float]]:
    poems, maths = prompts("poem", n, offset=500), prompts("math", n, offset=500)
    return poems + maths, ["cheap"] * (2 * n), [1.0] * n + [0.0] * n


def test_the_correction_learns_what_feedback_shows_and_leaves_other_members_alone(
    base: Tier1Predictor,
) -> None:
    held_out = prompts("poem", 10, offset=900) + prompts("math", 10, offset=900)
    before = base.predict(held_out).quality
    adjustment, validation = fit_adjustment(base, *production(40))
    assert adjustment is not None and adjustment.models == ["cheap"] and adjustment.examples == {"cheap": 80}
    losses = validation["out_of_fold_log_loss"]
    assert losses[validation["chosen"]] < losses["none"]
    base.adjustment = adjustment
    try:
        after = base.predict(held_out).quality
        assert np.array_equal(
            base.predict_features(base.featurizer.transform(held_out), corrected=False).quality, before
        )
    finally:
        base.adjustment = None
    cheap, others = base.models.index("cheap"), [base.models.index(m) for m in ("mathy", "poet")]
    assert after[:10, cheap].mean() > 0.5 > before[:10, cheap].mean()  # poems: cheap is good now
    assert after[10:, cheap].mean() < 0.3  # maths: still not
    np.testing.assert_array_equal(after[:, others], before[:, others])


def test_feedback_that_agrees_with_the_router_barely_moves_it(base: Tier1Predictor) -> None:
    # The predictor already knows mathy is right on maths: feedback saying so may sharpen it, not distort it.
    maths = prompts("math", 30, offset=700)
    quality = base.predict(maths).quality
    adjustment, validation = fit_adjustment(base, maths, ["mathy"] * 30, [1.0] * 30)
    if adjustment is not None:
        base.adjustment = adjustment
        try:
            moved = np.abs(base.predict(maths).quality - quality)
        finally:
            base.adjustment = None
        assert moved.mean() < 0.01
    # One scored answer cannot be cross-validated: no correction.
    single, account = fit_adjustment(base, maths[:1], ["cheap"], [1.0])
    assert single is None and account["chosen"] == "none"
    with pytest.raises(ValueError, match="does not have: ghost"):
        fit_adjustment(base, maths[:2], ["ghost", "mathy"], [1.0, 0.0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fit_adjustment(base, maths[:1], ["mathy"], [2.0])


def test_emafusion_train_corrects_a_router_from_its_feedback_log(
    base: Tier1Predictor, tmp_path: Path
) -> None:
    base.save(tmp_path / "base")
    log = tmp_path / "feedback.jsonl"
    knob = 0.5
    llm = FusionChatModel(
        pool=ModelPool(cards()), router=str(tmp_path / "base"), feedback_log=log, quality_cost_tradeoff=knob
    )
    poem = "write a poem about the harbour 4242"
    assert llm.invoke(poem).content == "roses"  # poet, as trained: cheap is predicted wrong on poems
    texts, _, scores = production(30)
    for text, score in zip(texts, scores, strict=True):
        answer = llm.invoke(text, model="cheap")  # production traffic that reached cheap
        llm.record_feedback(answer.response_metadata["fusion"]["request_id"], score)

    runner = CliRunner()
    refused = runner.invoke(app, ["train", "--outcomes", str(log), "--out", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "--base" in refused.output
    result = runner.invoke(
        app,
        ["train", "--outcomes", str(log), "--base", str(tmp_path / "base"), "--out", str(tmp_path / "new")],
    )
    assert result.exit_code == 0, result.output
    assert "read 60 scored answers (cheap 60) of 61 decisions" in " ".join(result.output.split())
    report = json.loads((tmp_path / "new" / "feedback.json").read_text())
    assert (
        report["correction"]["models"] == ["cheap"] and report["account"]["decisions_without_feedback"] == 1
    )
    corrected = FusionChatModel(
        pool=ModelPool(cards()), router=str(tmp_path / "new"), quality_cost_tradeoff=knob
    )
    # cheap is now predicted right on most poems and costs a twentieth of poet: the same knob picks it.
    answer = corrected.invoke(poem)
    assert answer.content == "meh"
    assert answer.response_metadata["fusion"]["router_details"]["predicted_quality"]["cheap"] > 0.5
    assert corrected.invoke("compute 1234 plus 77").content == "42"
    assert Tier1Predictor.load(tmp_path / "base").adjustment is None  # the base is untouched
    with pytest.raises(FeedbackLogError, match="not empty"):
        correct_router(log, tmp_path / "base", tmp_path / "new")
    again = runner.invoke(
        app, ["train", "--outcomes", str(log), "--base", "b", "--feedback-key", "k", "--out", "y"]
    )
    assert again.exit_code == 2 and "no scored answer" in " ".join(again.output.split())
    table_file = tmp_path / "table.jsonl"
    table_file.write_text(json.dumps({"prompt_id": "p", "prompt": "x", "model": "m", "score": 1}) + "\n")
    wrong = runner.invoke(app, ["train", "--outcomes", str(table_file), "--base", "b", "--out", "z"])
    assert wrong.exit_code == 2 and "apply to a feedback log" in " ".join(wrong.output.split())
