"""Retrain a router on its production feedback: ``emafusion train --outcomes FEEDBACK --base POLICY --out NEW``.

Feedback is partial: each scored request reveals the score of the one member that answered it, never the others',
so it is not an outcome table (which needs every member's score of a prompt). It becomes one by the *direct
method* of off-policy learning: each scored request joins the base policy's training table as a new prompt, with
its answering member's revealed score (and the request's recorded cost and tokens), and the base router's own
predicted quality standing in for every other member's score (billed at that member's mean recorded cost). The
router is then retrained on that table by the same training as ``emafusion train`` (tier 1, its router family
chosen out of fold); the base's tier 2 is kept as trained, since the log holds no members' answers to judge.

Where the trained router was wrong about a member on the kind of prompt users send, the revealed scores move it;
where feedback says nothing, the imputed scores keep what it knew. Replayed on recorded outcomes
(``benchmarks/feedback.py``) this recovers part of what a full outcome table of the same traffic would give; a
per-member correction of the base's quality logits, fitted to the same feedback, made routing worse there, and was
not kept.

The base must be a folder written by ``emafusion train`` (it keeps its training table, ``train_outcomes.jsonl``).
Each run rebuilds the table from the base's own rows and the whole log (prompts an earlier round added, ids
starting ``feedback:``, are replaced), so a log that keeps growing is read again whole.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from langchain_emafusion.feedback.log import FeedbackLogError, read_feedback_examples

if TYPE_CHECKING:
    from langchain_emafusion.evaluation.table import OutcomeTable
    from langchain_emafusion.routing.encoder import PromptEncoder
    from langchain_emafusion.tier1.predictor import Tier1Predictor

__all__ = ["FEEDBACK_PROMPT_PREFIX", "ScoredAnswer", "feedback_training_table", "retrain_with_feedback"]

FEEDBACK_PROMPT_PREFIX = "feedback:"
"""The prompt id prefix of the rows a feedback round adds to a training table (``feedback:<run id>``)."""
_FEEDBACK_REPORT = "feedback.json"


@dataclass(frozen=True)
class ScoredAnswer:
    """One scored production answer: the prompt, the member that answered, its score and what it cost."""

    prompt_id: str
    prompt: str
    model: str
    score: float
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


def feedback_training_table(
    base: OutcomeTable, predictor: Tier1Predictor, answers: Sequence[ScoredAnswer]
) -> OutcomeTable:
    """``base`` plus one prompt per scored answer, its other members' scores imputed by ``predictor``.

    Rows of ``base`` whose prompt id starts with :data:`FEEDBACK_PROMPT_PREFIX` (an earlier round's) are left
    out: ``answers`` is the whole log. An imputed row is the predictor's quality (clipped to [0, 1]) at the
    member's mean recorded cost, without token counts.

    Raises:
        FeedbackLogError: An answer names a member the base has not, a score is outside [0, 1], or two answers
            share a prompt id.
    """
    from langchain_emafusion.evaluation.table import OutcomeRow, OutcomeTable

    models = list(base.models)
    unknown = sorted({answer.model for answer in answers} - set(models))
    if unknown:
        raise FeedbackLogError(
            f"feedback names members the router was not trained on: {', '.join(unknown)} "
            f"(it has: {', '.join(models)}); train it on an outcome table with them first"
        )
    if len({answer.prompt_id for answer in answers}) != len(answers):
        raise FeedbackLogError("two scored answers share a prompt id")
    if any(not 0.0 <= answer.score <= 1.0 for answer in answers):
        raise FeedbackLogError("feedback scores must lie in [0, 1]")
    rows = [row for row in base.rows if not row.prompt_id.startswith(FEEDBACK_PROMPT_PREFIX)]
    recorded: dict[str, list[float]] = {model: [] for model in models}
    for row in rows:
        if row.cost_usd is not None:
            recorded[row.model].append(row.cost_usd)
    for answer in answers:
        if answer.cost_usd is not None:
            recorded[answer.model].append(answer.cost_usd)
    mean_cost = {model: float(np.mean(costs)) if costs else None for model, costs in recorded.items()}
    if answers:
        quality = predictor.predict([answer.prompt for answer in answers]).quality
        column = {name: j for j, name in enumerate(predictor.models)}
    for i, answer in enumerate(answers):
        for model in models:
            if model == answer.model:
                rows.append(
                    OutcomeRow(
                        prompt_id=answer.prompt_id,
                        prompt=answer.prompt,
                        model=model,
                        score=answer.score,
                        cost_usd=answer.cost_usd,
                        input_tokens=answer.input_tokens,
                        output_tokens=answer.output_tokens,
                    )
                )
            else:
                rows.append(
                    OutcomeRow(
                        prompt_id=answer.prompt_id,
                        prompt=answer.prompt,
                        model=model,
                        score=float(np.clip(quality[i, column[model]], 0.0, 1.0)),
                        cost_usd=mean_cost[model],
                    )
                )
    return OutcomeTable(rows)


def retrain_with_feedback(
    feedback_log: str | Path,
    base: str | Path,
    out: str | Path,
    *,
    key: str | None = None,
    seed: int = 0,
    encoder: PromptEncoder | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Write ``base`` retrained on ``feedback_log``'s scored answers to ``out``; return what was done.

    Args:
        feedback_log: A log written by ``FusionChatModel(feedback_log=...)`` with scores in it.
        base: A policy folder written by ``emafusion train`` (left as it is).
        out: A new (or empty) folder.
        key: Use only feedback of this key (LangSmith's feedback key); None: every score.
        seed: Seed of the fit.
        encoder: Prompt encoder (default: the process-wide one).
        progress: Show progress bars.

    Returns:
        The report also written to ``out/feedback.json`` (and as the manifest's ``feedback``): the log's account
        (examples, what was left out and why) and the table the policy was retrained on.

    Raises:
        FeedbackLogError: The log has no scored answer of a single member or names members the base does not
            have, ``base`` is not a policy folder with its training table, or ``out`` is not empty.
    """
    from langchain_emafusion.evaluation.table import write_outcomes
    from langchain_emafusion.evaluation.training import (
        MANIFEST_FILE,
        TRAIN_TABLE_FILE,
        load_training_table,
        train_policy,
    )
    from langchain_emafusion.fusion.model import TIER2_FILE
    from langchain_emafusion.tier1.predictor import Tier1Predictor

    examples = read_feedback_examples(feedback_log, key=key)
    account = examples.account()
    if not len(examples):
        raise FeedbackLogError(
            f"{feedback_log}: no scored answer of a single member to learn from ({json.dumps(account)}); "
            "score answers with llm.record_feedback(run_id, score) or import_langsmith_feedback"
        )
    source, target = Path(base), Path(out)
    if not (source / MANIFEST_FILE).is_file() or not (source / TRAIN_TABLE_FILE).is_file():
        raise FeedbackLogError(
            f"--base {base}: not a policy written by `emafusion train` with its training table "
            f"({TRAIN_TABLE_FILE}), which retraining on feedback extends; train one on an outcome table of the "
            "pool first (`emafusion synth` writes one for any pool)"
        )
    if target.exists() and any(target.iterdir()):
        raise FeedbackLogError(f"{target} is not empty: choose a new folder for the retrained router")
    if target.resolve() == source.resolve():
        raise FeedbackLogError("--out must differ from --base: the base is kept as it is")
    try:
        table = load_training_table(source)
    except (OSError, ValueError) as error:
        raise FeedbackLogError(f"--base {base}: {error}") from error
    base_manifest = json.loads((source / MANIFEST_FILE).read_text(encoding="utf-8"))
    predictor = Tier1Predictor.load(source, encoder=encoder)
    answers = [
        ScoredAnswer(
            prompt_id=f"{FEEDBACK_PROMPT_PREFIX}{run_id}",
            prompt=prompt,
            model=model,
            score=score,
            cost_usd=cost,
            input_tokens=input_tokens or None,
            output_tokens=output_tokens or None,
        )
        for run_id, prompt, model, score, cost, input_tokens, output_tokens in zip(
            examples.run_ids,
            examples.prompts,
            examples.models,
            examples.scores,
            examples.cost_usd,
            examples.input_tokens,
            examples.output_tokens,
            strict=True,
        )
    ]
    augmented = feedback_training_table(table, predictor, answers)
    target.mkdir(parents=True, exist_ok=True)
    table_file = target / TRAIN_TABLE_FILE
    write_outcomes(augmented, table_file)
    tier2 = (source / TIER2_FILE).is_file()
    # Tier 2 is not refitted: the log keeps no member's answer, so there is nothing new for its judge.
    manifest = train_policy(
        table_file,
        target,
        seed=seed,
        encoder=encoder,
        progress=progress,
        features=predictor.featurizer.config,
        training=predictor.training,
        tier2=False,
    )
    if tier2:
        shutil.copyfile(source / TIER2_FILE, target / TIER2_FILE)
        manifest["tier2"] = base_manifest.get("tier2")
        manifest["policy"] = base_manifest.get("policy", manifest["policy"])
    report: dict[str, Any] = {
        "feedback_log": str(Path(feedback_log).resolve()),
        "sha256": hashlib.sha256(Path(feedback_log).read_bytes()).hexdigest(),
        "key": key,
        "base": str(source.resolve()),
        "account": account,
        "method": "retrained on the base's training table plus each scored answer's prompt (the answering "
        "member's score revealed, the others' imputed by the base router's predicted quality)",
        "table": {
            "base_prompts": table.n_prompts
            - sum(pid.startswith(FEEDBACK_PROMPT_PREFIX) for pid in table.prompt_ids),
            "feedback_prompts": len(answers),
            "n_prompts": augmented.n_prompts,
        },
        "tier2": "kept from the base" if tier2 else None,
    }
    manifest["feedback"] = report
    (target / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (target / _FEEDBACK_REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
