"""`AnswerJudge`: the learned probability that one called model's answer is right, given what is known.

The judges the seed describes, combined in one calibrated logistic model:

- **tier 1's prediction** for this model and prompt (its log-odds), with a learned per-model bias and a
  per-model, per-predicted-task reliability (the tier-1 task head's probabilities times the model);
- **agreement**: the share of the other answers already in hand that match this one's answer key, and the
  strongest tier-1 prediction among the models that agree;
- **text signals** of the answer itself (:mod:`~langchain_emafusion.fusion.signals`: arithmetic check, missing
  key, refusal, cut-off);
- **token-logprob confidence** where a local model reports it (``confidence`` = exp(mean logprob)).

It is fitted on outcome tables with tier-1 predictions made *out of fold* (a model never judges prompts it was
trained on), so the probabilities stay honest, and it is saved as plain JSON next to the tier-1 predictor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from langchain_emafusion.fusion.signals import SIGNAL_NAMES, response_signals

__all__ = ["AnswerJudge", "JudgeInput"]

_EPS = 1e-4


def _logit(p: float) -> float:
    p = min(max(float(p), _EPS), 1 - _EPS)
    return math.log(p / (1 - p))


@dataclass(frozen=True)
class JudgeInput:
    """Everything the judge reads about one called model's answer."""

    model: str
    predicted_quality: float
    """Tier 1's predicted probability that this model answers the prompt well."""
    response: str | None
    answer: str | None
    """The answer's comparable key (option letter, number, label), if one was extracted."""
    others: Sequence[tuple[str | None, float]] = field(default_factory=tuple)
    """The other answers in hand: (answer key, tier-1 predicted quality of its model)."""
    confidence: float | None = None
    """Token-logprob confidence reported by a local model (exp of the mean token logprob), if any."""


class AnswerJudge:
    """Calibrated P(answer is right) from tier-1's prediction, agreement and the answer's text signals."""

    def __init__(
        self,
        models: Sequence[str],
        task_labels: Sequence[str] = (),
        *,
        answers_expected: bool = False,
        weights: np.ndarray | None = None,
        bias: float = 0.0,
        selection_skill: float = 0.5,
    ) -> None:
        """Create a judge (untrained unless ``weights`` is given).

        Args:
            models: The models it knows (per-model terms); an unknown model gets only the shared terms.
            task_labels: Tier 1's task labels (per-model, per-task reliability terms).
            answers_expected: Whether the training table had answer keys (agreement and missing-key terms).
            weights: Logistic weights, one per feature (see :meth:`feature_names`).
            bias: Logistic intercept.
            selection_skill: Measured share of two-answer disagreements (exactly one right) in which the judge
                prefers the right answer; used to value a further call.
        """
        self.models = list(models)
        self.task_labels = list(task_labels)
        self.answers_expected = answers_expected
        self.weights = np.zeros(len(self.feature_names())) if weights is None else np.asarray(weights, float)
        self.bias = float(bias)
        self.selection_skill = float(selection_skill)
        if self.weights.shape != (len(self.feature_names()),):
            raise ValueError(
                f"judge weights have shape {self.weights.shape}, expected ({len(self.feature_names())},)"
            )

    def feature_names(self) -> list[str]:
        """Names of the features, in order."""
        names = ["tier1_logit", *(f"model={m}" for m in self.models)]
        names += [f"model={m}&task={t}" for m in self.models for t in self.task_labels]
        names += ["has_others", "agree_share", "agree_best_logit", "confidence", "has_confidence"]
        return names + list(SIGNAL_NAMES)

    def features(self, item: JudgeInput, task_probs: np.ndarray | None = None) -> np.ndarray:
        """The feature vector of one answer (``task_probs``: tier 1's task probabilities for the prompt)."""
        n_models, n_tasks = len(self.models), len(self.task_labels)
        one_hot = np.zeros(n_models)
        by_task = np.zeros(n_models * n_tasks)
        if item.model in self.models:
            m = self.models.index(item.model)
            one_hot[m] = 1.0
            if n_tasks and task_probs is not None and len(task_probs) == n_tasks:
                by_task[m * n_tasks : (m + 1) * n_tasks] = task_probs
        keyed = [(answer, quality) for answer, quality in item.others if answer is not None]
        agreeing = [quality for answer, quality in keyed if item.answer is not None and answer == item.answer]
        agreement = [
            1.0 if keyed else 0.0,
            len(agreeing) / len(keyed) if keyed else 0.0,
            max(_logit(q) for q in agreeing) / 4.0 if agreeing else 0.0,
            _logit(item.confidence) / 4.0 if item.confidence is not None else 0.0,
            1.0 if item.confidence is not None else 0.0,
        ]
        signals = response_signals(item.response, item.answer, answers_expected=self.answers_expected)
        return np.concatenate([[_logit(item.predicted_quality) / 4.0], one_hot, by_task, agreement, signals])

    def probability(self, item: JudgeInput, task_probs: np.ndarray | None = None) -> float:
        """P(this answer is right)."""
        z = float(self.features(item, task_probs) @ self.weights) + self.bias
        return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))

    def fit(self, features: np.ndarray, targets: np.ndarray, *, seed: int = 0) -> AnswerJudge:
        """Fit the logistic weights to rows of :meth:`features` and scores in [0, 1]; returns self."""
        from langchain_emafusion.evaluation.baselines.common import fit_soft_logistic

        self.weights, self.bias = fit_soft_logistic(features, np.asarray(targets, float), seed=seed)
        return self

    def to_json(self) -> dict[str, Any]:
        """A JSON-serializable form (see :meth:`from_json`)."""
        return {
            "models": self.models,
            "task_labels": self.task_labels,
            "answers_expected": self.answers_expected,
            "feature_names": self.feature_names(),
            "weights": [float(w) for w in self.weights],
            "bias": self.bias,
            "selection_skill": self.selection_skill,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnswerJudge:
        """Rebuild a judge saved with :meth:`to_json`.

        Raises:
            ValueError: The data is not a judge of this version (missing keys, wrong feature list).
        """
        try:
            judge = cls(
                data["models"],
                data["task_labels"],
                answers_expected=bool(data["answers_expected"]),
                weights=np.asarray(data["weights"], float),
                bias=float(data["bias"]),
                selection_skill=float(data["selection_skill"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a saved answer judge: {exc}") from exc
        if judge.feature_names() != list(data.get("feature_names", [])):
            raise ValueError("saved answer judge has a different feature list than this version")
        return judge
