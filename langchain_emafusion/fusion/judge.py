"""`AnswerJudge`: the learned probability that one called model's answer is right, given what is known.

The judges the seed describes, combined in one calibrated logistic model:

- **tier 1's prediction** for this model and prompt (its log-odds), with a learned per-model bias and a
  per-model, per-predicted-task reliability (the tier-1 task head's probabilities times the model);
- **agreement**: the share of the other answers already in hand that match this one's answer key, and the
  strongest tier-1 prediction among the models that agree;
- **cross-mentions** (numeric answers): whether the other responses that disagree write this answer's number
  somewhere in their working, and whether this response writes theirs. A model that computed another's final
  number on its way and then went one step further (or stopped one step short) is the common shape of a
  disagreement on worked math problems, and which side of it the right answer lies on is learnable;
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
from typing import TYPE_CHECKING, Any

import numpy as np

from langchain_emafusion.evaluation.extractors import normalize_number, numbers_in
from langchain_emafusion.fusion.signals import SIGNAL_NAMES, response_signals

if TYPE_CHECKING:
    from scipy import sparse

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
    other_responses: Sequence[str | None] = field(default_factory=tuple)
    """The other answers' response texts, in the order of ``others`` (for the cross-mention terms)."""
    signals: np.ndarray | None = None
    """This answer's text signals (:func:`~langchain_emafusion.fusion.signals.response_signals`), when already
    computed: training computes them once per (prompt, member) and reuses them in every row that answer is in."""


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
        cross_mentions: bool = True,
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
            cross_mentions: Include the cross-mention terms (judges saved before them have none).
        """
        self.models = list(models)
        self.task_labels = list(task_labels)
        self.answers_expected = answers_expected
        self.cross_mentions = cross_mentions
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
        if self.cross_mentions:
            # Shared terms, and per-model ones: what "the other side wrote my number" says depends on who
            # wrote it (a strong model that computed it on the way, a weak one that stopped there).
            names += list(_CROSS_MENTION_NAMES)
            names += [f"model={m}&{name}" for m in self.models for name in _CROSS_MENTION_NAMES]
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
        if self.cross_mentions:
            cross = _cross_mentions(item)
            per_model = np.zeros(n_models * len(cross))
            if item.model in self.models:
                m = self.models.index(item.model)
                per_model[m * len(cross) : (m + 1) * len(cross)] = cross
            agreement += [*cross, *per_model]
        signals = (
            item.signals
            if item.signals is not None
            else response_signals(item.response, item.answer, answers_expected=self.answers_expected)
        )
        return np.concatenate([[_logit(item.predicted_quality) / 4.0], one_hot, by_task, agreement, signals])

    def probability(self, item: JudgeInput, task_probs: np.ndarray | None = None) -> float:
        """P(this answer is right)."""
        z = float(self.features(item, task_probs) @ self.weights) + self.bias
        return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))

    def fit(
        self, features: np.ndarray | sparse.csr_matrix, targets: np.ndarray, *, seed: int = 0
    ) -> AnswerJudge:
        """Fit the logistic weights to rows of :meth:`features` and scores in [0, 1]; returns self.

        ``features`` may be a sparse matrix: most terms are per-model blocks, zero outside the answer's model.
        """
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
            "cross_mentions": self.cross_mentions,
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
                # Judges saved before the cross-mention terms have none.
                cross_mentions=bool(data.get("cross_mentions", False)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a saved answer judge: {exc}") from exc
        if judge.feature_names() != list(data.get("feature_names", [])):
            raise ValueError("saved answer judge has a different feature list than this version")
        return judge


_CROSS_MENTION_NAMES = ("mentioned_by_others", "mentions_others", "has_numeric_disagreement")


def _cross_mentions(item: JudgeInput) -> list[float]:
    """Shares of the disagreeing numeric answers in hand: that write this one's number, that this one writes.

    Only other answers with a different numeric key count (agreement has its own terms); all zero when this
    answer is not a number or no other answer disagrees with it numerically.
    """
    own = normalize_number(item.answer) if item.answer is not None else None
    if own is None:
        return [0.0, 0.0, 0.0]
    responses = list(item.other_responses) + [None] * (len(item.others) - len(item.other_responses))
    disagreeing = [
        (key, response)
        for (answer, _), response in zip(item.others, responses, strict=False)
        if answer is not None and (key := normalize_number(answer)) is not None and key != own
    ]
    if not disagreeing:
        return [0.0, 0.0, 0.0]
    own_numbers = numbers_in(item.response)
    mentioned_by = sum(own in numbers_in(response) for _, response in disagreeing if response is not None)
    mentions = sum(key in own_numbers for key, _ in disagreeing)
    return [mentioned_by / len(disagreeing), mentions / len(disagreeing), 1.0]
