"""`SynthesisRunner` on fake members: rows, scores, cache, resume, retries, timeouts, judge, paraphrase, parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_emafusion.evaluation.table import read_outcomes
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.synthesis import (
    SynthesisError,
    SynthesisResumeError,
    SynthesisRunner,
    SynthPrompt,
    expand_templates,
    load_seed_templates,
)
from langchain_emafusion.synthesis.paraphrase import DEFAULT_PARAPHRASE_INSTRUCTION
from langchain_emafusion.synthesis.runner import split_parts

from .lookup_model import LookupChatModel

SEEDS = """
templates:
  - id: order-total
    task: arithmetic
    variants: 6
    prompt: "{qty} items at ${price} each. What is the total? End with 'Answer: <number>'."
    slots:
      qty: {range: [2, 40]}
      price: {values: [10, 20]}
    answer_type: number
    reference: "qty * price"
    scoring: {checker: numeric}
  - id: ticket
    task: classification
    variants: 4
    prompt: "Classify: {text[t]}. Reply billing or shipping."
    slots:
      text:
        values:
          - {t: charged twice, label: billing}
          - {t: parcel lost, label: shipping}
          - {t: wrong invoice, label: billing}
          - {t: late courier, label: shipping}
    answer_type: label
    reference: "text['label']"
    scoring: {checker: normalized, labels: [billing, shipping]}
"""


def prompts_from(tmp_path: Path, text: str = SEEDS, **kwargs: int) -> list[SynthPrompt]:
    path = tmp_path / "seeds.yaml"
    path.write_text(text, encoding="utf-8")
    return expand_templates(load_seed_templates([path]), **kwargs)


def correct_answers(prompts: list[SynthPrompt]) -> dict[str, str]:
    return {
        p.prompt: f"Answer: {p.reference}" if p.task == "arithmetic" else str(p.reference).upper()
        for p in prompts
    }


def pool_of(**models: LookupChatModel) -> ModelPool:
    return ModelPool(
        [
            ModelCard(name=name, model=model, input_price=1.0, output_price=2.0)
            for name, model in models.items()
        ]
    )


def test_rows_are_complete_scored_and_readable(tmp_path: Path) -> None:
    prompts = prompts_from(tmp_path)
    right = LookupChatModel(answers=correct_answers(prompts))
    wrong = LookupChatModel(default="Answer: 7, shipping")
    out = tmp_path / "out.jsonl"
    summary = SynthesisRunner(
        pool=pool_of(right=right, wrong=wrong), prompts=prompts, out=out, progress=False
    ).run()
    table = read_outcomes(out)
    assert table.n_prompts == 10 and table.models == ["right", "wrong"]
    assert summary["rows_written"] == 20 and summary["failed_calls"] == 0
    assert table.scores[:, 0].tolist() == [1.0] * 10
    shipping = [p.reference == "shipping" for p in prompts]
    assert table.scores[:, 1].tolist() == [float(is_shipping) for is_shipping in shipping]
    row = table.row(0, 0)
    assert (
        row.reference == prompts[0].reference
        and row.answer == prompts[0].reference
        and row.task == "arithmetic"
    )
    assert row.input_tokens and row.output_tokens and row.latency_s is not None
    assert row.cost_usd == pytest.approx((row.input_tokens * 1.0 + row.output_tokens * 2.0) / 1e6)
    records = [json.loads(line) for line in (tmp_path / "out.jsonl.prompts.jsonl").read_text().splitlines()]
    assert [r["prompt_id"] for r in records] == [p.prompt_id for p in prompts]
    assert summary["per_model"]["right"]["answers"] == 10


def test_rerun_resumes_without_calls_and_cache_serves_a_fresh_table(tmp_path: Path) -> None:
    prompts = prompts_from(tmp_path)
    model = LookupChatModel(answers=correct_answers(prompts))
    out = tmp_path / "out.jsonl"
    SynthesisRunner(pool=pool_of(m=model), prompts=prompts[:4], out=out, progress=False).run()
    assert len(model.calls) == 4
    # A larger n extends the same table: the first prompts are not called again.
    summary = SynthesisRunner(pool=pool_of(m=model), prompts=prompts, out=out, progress=False).run()
    assert summary["rows_existing"] == 4 and summary["rows_written"] == 6 and len(model.calls) == 10
    again = SynthesisRunner(pool=pool_of(m=model), prompts=prompts, out=out, progress=False).run()
    assert again["rows_written"] == 0 and len(model.calls) == 10
    # Another output with the same cache file: every answer comes from the cache.
    fresh = SynthesisRunner(
        pool=pool_of(m=model),
        prompts=prompts,
        out=tmp_path / "b.jsonl",
        cache=tmp_path / "out.jsonl.cache.jsonl",
        progress=False,
    ).run()
    assert fresh["rows_written"] == 10 and fresh["cache_hits"] == 10 and len(model.calls) == 10
    assert read_outcomes(tmp_path / "b.jsonl").content_hash() != ""
    assert [r.score for r in read_outcomes(tmp_path / "b.jsonl").rows] == [1.0] * 10


def test_partial_last_line_from_a_kill_is_redone(tmp_path: Path) -> None:
    prompts = prompts_from(tmp_path)
    model = LookupChatModel(answers=correct_answers(prompts))
    out = tmp_path / "out.jsonl"
    SynthesisRunner(pool=pool_of(m=model), prompts=prompts, out=out, progress=False).run()
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:7]) + lines[7][:25])
    summary = SynthesisRunner(pool=pool_of(m=model), prompts=prompts, out=out, progress=False).run()
    assert summary["rows_existing"] == 7 and summary["rows_written"] == 3
    assert sorted(out.read_text().splitlines()) == sorted(line.rstrip("\n") for line in lines)


def test_rerun_with_other_arguments_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    model = LookupChatModel()
    SynthesisRunner(
        pool=pool_of(m=model), prompts=prompts_from(tmp_path, seed=1), out=out, progress=False
    ).run()
    with pytest.raises(SynthesisResumeError, match="another text"):
        SynthesisRunner(
            pool=pool_of(m=model), prompts=prompts_from(tmp_path, seed=2), out=out, progress=False
        ).run()
    with pytest.raises(SynthesisResumeError, match="not in the pool"):
        SynthesisRunner(
            pool=pool_of(x=model), prompts=prompts_from(tmp_path, seed=1), out=out, progress=False
        ).run()


def test_retry_recovers_and_exhausted_retries_leave_the_pair_for_the_next_run(tmp_path: Path) -> None:
    prompts = prompts_from(tmp_path)[:3]
    flaky = LookupChatModel(fail_times=1)
    out = tmp_path / "out.jsonl"
    SynthesisRunner(
        pool=pool_of(m=flaky), prompts=prompts, out=out, retries=1, backoff_s=0, progress=False
    ).run()
    assert len(read_outcomes(out).rows) == 3 and len(flaky.calls) == 4

    broken = LookupChatModel(fail_times=100)
    out2 = tmp_path / "out2.jsonl"
    with pytest.raises(SynthesisError, match="3 call\\(s\\) failed after 2 retries"):
        SynthesisRunner(
            pool=pool_of(m=broken), prompts=prompts, out=out2, retries=2, backoff_s=0, progress=False
        ).run()
    assert len(broken.calls) == 9 and not out2.exists()
    errors = [json.loads(line) for line in (tmp_path / "out2.jsonl.errors.jsonl").read_text().splitlines()]
    assert {e["prompt_id"] for e in errors} == {p.prompt_id for p in prompts}
    broken.fail_times = 0
    summary = SynthesisRunner(pool=pool_of(m=broken), prompts=prompts, out=out2, progress=False).run()
    assert summary["rows_written"] == 3


def test_timeout_counts_as_failure_or_zero_score(tmp_path: Path) -> None:
    prompts = prompts_from(tmp_path)[:2]
    slow = LookupChatModel(delay_s=0.5)
    out = tmp_path / "out.jsonl"
    runner = SynthesisRunner(
        pool=pool_of(slow=slow),
        prompts=prompts,
        out=out,
        timeout_s=0.05,
        retries=0,
        fail_as_zero=True,
        progress=False,
    )
    summary = runner.run()
    assert summary["failed_calls"] == 2
    rows = read_outcomes(out).rows
    assert [row.score for row in rows] == [0.0, 0.0] and all(row.response is None for row in rows)


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    prompts = prompts_from(tmp_path)
    model = LookupChatModel(delay_s=0.1)
    out = tmp_path / "out.jsonl"
    summary = SynthesisRunner(
        pool=pool_of(m=model), prompts=prompts, out=out, concurrency=5, progress=False
    ).run()
    # 10 calls of 0.1 s, 5 at a time: about 0.2 s, clearly less than one at a time (1 s).
    assert 0.19 < summary["wall_s"] < 0.9


JUDGED = """
templates:
  - id: polite
    task: writing
    variants: 2
    prompt: "Decline the meeting with {name} politely."
    slots:
      name: {values: [Ana, Bo]}
    answer_type: text
    scoring: {checker: judge, criteria: "declines and names $name"}
"""


def test_judge_scores_with_a_pool_member_and_caches_its_verdicts(tmp_path: Path) -> None:
    prompts = prompts_from(tmp_path, JUDGED)
    writer = LookupChatModel(default="Sorry, I cannot make it.")
    judge = LookupChatModel(default="NO")
    judge.answers = {}
    out = tmp_path / "out.jsonl"
    SynthesisRunner(
        pool=pool_of(writer=writer, judge=judge),
        prompts=prompts,
        out=out,
        helper_model="judge",
        progress=False,
    ).run()
    judge_requests = [call for call in judge.calls if call.startswith("You grade answers")]
    assert len(judge_requests) == 4 and "declines and names Ana" in judge_requests[0] + judge_requests[1]
    assert all(row.score == 0.0 for row in read_outcomes(out).rows)
    with pytest.raises(SynthesisError, match="not in the pool"):
        SynthesisRunner(pool=pool_of(writer=writer), prompts=prompts, out=out, helper_model="judge")


def test_judge_yes_scores_one(tmp_path: Path) -> None:
    prompts = prompts_from(tmp_path, JUDGED)
    model = LookupChatModel(default="YES, correct.")
    out = tmp_path / "out.jsonl"
    SynthesisRunner(pool=pool_of(m=model), prompts=prompts, out=out, progress=False).run()
    assert [row.score for row in read_outcomes(out).rows] == [1.0, 1.0]


def test_paraphrase_is_kept_only_when_it_keeps_every_value(tmp_path: Path) -> None:
    text = SEEDS.replace("variants: 6", "variants: 6\n    paraphrase: {fraction: 1.0, model: para}")
    prompts = [p for p in prompts_from(tmp_path, text) if p.paraphrase]
    assert len(prompts) == 6
    good, lost, leaked = prompts[0], prompts[1], prompts[2]
    rewrites = [
        (
            good,
            f"Rewritten request: For {good.slots['qty']} units priced ${good.slots['price']}, what's the total? "
            "End with 'Answer: <number>'.",
        ),
        (lost, "How much is the total? End with 'Answer: <number>'."),
        (leaked, leaked.original_prompt + f" Answer: {leaked.reference}"),
        (prompts[4], prompts[4].original_prompt),
    ]
    paraphraser = LookupChatModel(
        answers={
            DEFAULT_PARAPHRASE_INSTRUCTION.replace("{prompt}", p.original_prompt): r for p, r in rewrites
        },
        default="",
    )
    out = tmp_path / "out.jsonl"
    summary = SynthesisRunner(pool=pool_of(para=paraphraser), prompts=prompts, out=out, progress=False).run()
    records = {
        json.loads(line)["prompt_id"]: json.loads(line)
        for line in (tmp_path / "out.jsonl.prompts.jsonl").open()
    }
    assert records[good.prompt_id]["paraphrase_status"] == "accepted"
    assert records[good.prompt_id]["prompt"].startswith("For ")
    assert records[lost.prompt_id]["paraphrase_status"].startswith("rejected: lost")
    assert records[leaked.prompt_id]["paraphrase_status"] == f"rejected: adds {leaked.reference!r}"
    assert records[prompts[3].prompt_id]["paraphrase_status"] == "rejected: empty"
    assert records[prompts[4].prompt_id]["paraphrase_status"] == "rejected: unchanged"
    assert summary["paraphrases"] == {"accepted": 1, "rejected": 5}
    table = read_outcomes(out)
    assert table.prompts[0] == records[good.prompt_id]["prompt"]
    # The paraphrase is cached: a rerun sees the same texts and resumes.
    assert (
        SynthesisRunner(pool=pool_of(para=paraphraser), prompts=prompts, out=out, progress=False).run()[
            "rows_written"
        ]
        == 0
    )


MULTI = """
templates:
  - id: desk
    task: multi_part
    variants: 2
    slots:
      qty: {values: [3, 4]}
    parts:
      - task: arithmetic
        prompt: "What is {qty} times 5?"
        answer_type: number
        reference: "qty * 5"
        scoring: {checker: numeric}
      - task: classification
        prompt: "Is a lost parcel billing or shipping?"
        answer_type: label
        reference: "'shipping'"
        scoring: {checker: normalized, labels: [billing, shipping]}
"""


def test_multi_part_answers_are_split_and_scored_per_part(tmp_path: Path) -> None:
    prompts = prompts_from(tmp_path, MULTI)
    answers = {
        prompts[0].prompt: f"1. {prompts[0].slots['qty'] * 5}\n2. Shipping",
        prompts[1].prompt: "**1.** It is 99.\n**2.** shipping, not billing... so shipping",
    }
    model = LookupChatModel(answers=answers)
    out = tmp_path / "out.jsonl"
    SynthesisRunner(pool=pool_of(m=model), prompts=prompts, out=out, progress=False).run()
    rows = read_outcomes(out).rows
    assert [row.score for row in rows] == [1.0, 0.5]
    assert json.loads(rows[0].answer or "") == json.loads(rows[0].reference or "")
    assert split_parts("1) a\n2) b\n3) c", 2) == ["a", "b\n3) c"]
    assert split_parts("2. b\n1. a", 2) is None
