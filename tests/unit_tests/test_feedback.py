"""Learning from production: the feedback log written by real calls, scores, LangSmith import, retraining."""

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
from langchain_emafusion.feedback.training import (
    FEEDBACK_PROMPT_PREFIX,
    ScoredAnswer,
    feedback_training_table,
    retrain_with_feedback,
)
from tests.unit_tests.test_ledger import PROMPT, cost, pool

torch = pytest.importorskip("torch")

from langchain_emafusion.evaluation.table import write_outcomes  # noqa: E402
from langchain_emafusion.evaluation.training import TRAIN_TABLE_FILE, load_training_table, train_policy  # noqa: E402
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


TRANSLATE = [
    "translate '{w}' into French",
    "say '{w}' in French",
    "French for '{w}'?",
    "'{w}' in French, please",
]


def translations(n: int, offset: int = 0) -> list[str]:
    """A kind of prompt the base table never had: in production `cheap` turns out right on it."""
    return [TRANSLATE[i % 4].format(w=f"word{offset + i}") for i in range(n)]


@pytest.fixture(scope="module")
def base() -> Tier1Predictor:
    """Trained where `cheap` is right on nothing (maths and poems only)."""
    return Tier1Predictor.fit(table(), training=FAST, features=LEXICAL)


def test_a_feedback_table_reveals_the_answering_members_score_and_imputes_the_others(
    base: Tier1Predictor,
) -> None:
    texts = translations(2)
    answers = [
        ScoredAnswer(f"{FEEDBACK_PROMPT_PREFIX}a", texts[0], "cheap", 1.0, 3e-5, 40, 10),
        ScoredAnswer(f"{FEEDBACK_PROMPT_PREFIX}b", texts[1], "poet", 0.0),
    ]
    extended = feedback_training_table(table(), base, answers)
    assert extended.n_prompts == table().n_prompts + 2 and extended.models == table().models
    predicted = base.predict(texts).quality
    column = {name: j for j, name in enumerate(extended.models)}
    first, second = extended.prompt_ids.index("feedback:a"), extended.prompt_ids.index("feedback:b")
    assert extended.scores[first, column["cheap"]] == 1.0 and extended.scores[second, column["poet"]] == 0.0
    assert extended.row(first, column["cheap"]).output_tokens == 10
    for name in ("mathy", "poet"):
        assert extended.scores[first, column[name]] == pytest.approx(predicted[0, base.models.index(name)])
        # billed at the member's mean recorded cost, without token counts
        imputed = extended.row(first, column[name])
        assert imputed.cost_usd == pytest.approx(np.mean(table().costs[:, column[name]]))
        assert imputed.output_tokens is None
    # A later round rebuilds its rows from the whole log: the earlier round's are replaced, not kept twice.
    again = feedback_training_table(extended, base, answers[:1])
    assert again.n_prompts == table().n_prompts + 1
    with pytest.raises(FeedbackLogError, match="not trained on: ghost"):
        feedback_training_table(table(), base, [ScoredAnswer("feedback:c", "x", "ghost", 1.0)])
    with pytest.raises(FeedbackLogError, match="share a prompt id"):
        feedback_training_table(table(), base, [answers[0], answers[0]])


def test_emafusion_train_retrains_a_policy_from_its_feedback_log(tmp_path: Path) -> None:
    train_file = write_outcomes(table(), tmp_path / "train.jsonl")
    train_policy(train_file, tmp_path / "base", features=LEXICAL, training=FAST)
    log = tmp_path / "feedback.jsonl"
    knob = 0.5
    llm = FusionChatModel(
        pool=ModelPool(cards()), router=str(tmp_path / "base"), feedback_log=log, quality_cost_tradeoff=knob
    )
    probe = "translate 'harbour' into French"
    assert llm.invoke(probe).content != "meh"  # as trained, cheap is predicted wrong on everything
    for text in translations(40, offset=100):
        answer = llm.invoke(text, model="cheap")  # production traffic that reached cheap: right
        llm.record_feedback(answer.response_metadata["fusion"]["request_id"], 1.0)
    for text in prompts("math", 20, offset=500):
        answer = llm.invoke(text, model="cheap")  # and wrong on maths, as the base knew
        llm.record_feedback(answer.response_metadata["fusion"]["request_id"], 0.0)

    runner = CliRunner()
    refused = runner.invoke(app, ["train", "--outcomes", str(log), "--out", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "--base" in refused.output
    result = runner.invoke(
        app,
        ["train", "--outcomes", str(log), "--base", str(tmp_path / "base"), "--out", str(tmp_path / "new")],
    )
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "read 60 scored answers (cheap 60) of 61 decisions" in output
    assert f"retrained on {table().n_prompts} prompts of the base's table + 60 scored answers" in output
    report = json.loads((tmp_path / "new" / "feedback.json").read_text())
    assert report["account"]["decisions_without_feedback"] == 1 and report["table"]["feedback_prompts"] == 60
    manifest = json.loads((tmp_path / "new" / "manifest.json").read_text())
    assert manifest["feedback"]["table"] == report["table"] and manifest["tier2"] is not None
    assert load_training_table(tmp_path / "new").n_prompts == table().n_prompts + 60
    retrained = FusionChatModel(
        pool=ModelPool(cards()), router=str(tmp_path / "new"), quality_cost_tradeoff=knob
    )
    # cheap is now predicted right on translations and costs a twentieth of the others: the same knob picks it.
    answer = retrained.invoke(probe)
    assert answer.content == "meh"
    assert answer.response_metadata["fusion"]["router_details"]["predicted_quality"]["cheap"] > 0.5
    assert retrained.invoke("compute 1234 plus 77").content == "42"
    assert load_training_table(tmp_path / "base").n_prompts == table().n_prompts  # the base is untouched
    with pytest.raises(FeedbackLogError, match="not empty"):
        retrain_with_feedback(log, tmp_path / "base", tmp_path / "new")
    bare = tmp_path / "bare"
    Tier1Predictor.fit(table(), training=FAST, features=LEXICAL).save(bare)
    with pytest.raises(FeedbackLogError, match=TRAIN_TABLE_FILE):
        retrain_with_feedback(log, bare, tmp_path / "y")
    again = runner.invoke(
        app, ["train", "--outcomes", str(log), "--base", "b", "--feedback-key", "k", "--out", "y"]
    )
    assert again.exit_code == 2 and "no scored answer" in " ".join(again.output.split())
    table_file = tmp_path / "table.jsonl"
    table_file.write_text(json.dumps({"prompt_id": "p", "prompt": "x", "model": "m", "score": 1}) + "\n")
    wrong = runner.invoke(app, ["train", "--outcomes", str(table_file), "--base", "b", "--out", "z"])
    assert wrong.exit_code == 2 and "apply to a feedback log" in " ".join(wrong.output.split())
