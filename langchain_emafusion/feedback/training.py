"""Correct a trained router with a feedback log: ``emafusion train --outcomes FEEDBACK --base POLICY --out NEW``.

The base (a folder written by ``emafusion train``, a bare tier-1 predictor folder, or ``"default"`` for the
predictor shipped for the embedded pool) is copied to ``out``; its tier-1 predictor gets a per-member correction
fitted on the log's scored answers (:func:`~langchain_emafusion.tier1.adjustment.fit_adjustment`, its strength
chosen by cross-validation on the feedback, no correction when none validates better); the rest of the folder
(tier 2, the training table, calibration) is unchanged. ``FusionChatModel(router=out)`` then routes with it. Each
run refits on the whole log, so a log that keeps growing is read again whole.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_emafusion.feedback.log import FeedbackLogError, read_feedback_examples

if TYPE_CHECKING:
    from langchain_emafusion.routing.encoder import PromptEncoder

__all__ = ["DEFAULT_BASE", "correct_router"]

DEFAULT_BASE = "default"
"""``--base default``: the predictor shipped for the embedded pool."""
_MANIFEST = "manifest.json"
_FEEDBACK_REPORT = "feedback.json"


def correct_router(
    feedback_log: str | Path,
    base: str | Path,
    out: str | Path,
    *,
    key: str | None = None,
    seed: int = 0,
    encoder: PromptEncoder | None = None,
) -> dict[str, Any]:
    """Write ``base`` corrected by ``feedback_log``'s scored answers to ``out``; return what was done.

    Args:
        feedback_log: A log written by ``FusionChatModel(feedback_log=...)`` with scores in it.
        base: A policy or tier-1 predictor folder, or ``"default"`` (the embedded pool's shipped predictor).
        out: A new (or empty) folder.
        key: Use only feedback of this key (LangSmith's feedback key); None: every score.
        seed: Seed of the cross-validation folds.
        encoder: Prompt encoder (default: the process-wide one).

    Returns:
        The report also written to ``out/feedback.json``: the log's account (examples, what was left out and why),
        the validation's figures and the correction chosen (or ``"none"``).

    Raises:
        FeedbackLogError: The log has no scored answer of a single member, names members the router does not
            have, or ``out`` is not empty.
        PredictorFileError: ``base`` holds no tier-1 predictor.
    """
    from langchain_emafusion.routing.default_predictor import default_predictor_path
    from langchain_emafusion.tier1.adjustment import fit_adjustment
    from langchain_emafusion.tier1.predictor import Tier1Predictor

    examples = read_feedback_examples(feedback_log, key=key)
    account = examples.account()
    if not len(examples):
        raise FeedbackLogError(
            f"{feedback_log}: no scored answer of a single member to learn from ({json.dumps(account)}); "
            "score answers with llm.record_feedback(run_id, score) or import_langsmith_feedback"
        )
    source = default_predictor_path() if str(base) == DEFAULT_BASE else Path(base)
    target = Path(out)
    if target.exists() and any(target.iterdir()):
        raise FeedbackLogError(f"{target} is not empty: choose a new folder for the corrected router")
    if target.resolve() == source.resolve():
        raise FeedbackLogError("--out must differ from --base: the base is kept as it is")
    predictor = Tier1Predictor.load(source, encoder=encoder)
    shutil.copytree(source, target, dirs_exist_ok=True)
    try:
        adjustment, validation = fit_adjustment(
            predictor, examples.prompts, examples.models, examples.scores, seed=seed
        )
    except ValueError as error:
        raise FeedbackLogError(f"{feedback_log}: {error}") from error
    predictor.adjustment = adjustment
    report: dict[str, Any] = {
        "feedback_log": str(Path(feedback_log).resolve()),
        "sha256": hashlib.sha256(Path(feedback_log).read_bytes()).hexdigest(),
        "key": key,
        "base": str(base),
        "account": account,
        "validation": validation,
        "correction": None if adjustment is None else adjustment.config(),
    }
    predictor.info["feedback"] = {k: v for k, v in report.items() if k != "correction"}
    predictor.save(target)
    manifest_path = target / _MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest["feedback"] = predictor.info["feedback"]
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (target / _FEEDBACK_REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
