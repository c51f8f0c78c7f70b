"""Majority vote: call every model, return the answer key with the most (accuracy-weighted) votes."""

from __future__ import annotations

from langchain_emafusion.evaluation.baselines.common import TrainStats
from langchain_emafusion.evaluation.protocol import BaseReplayPolicy, Decision, PromptView
from langchain_emafusion.evaluation.table import OutcomeTable

__all__ = ["MajorityVotePolicy"]


class MajorityVotePolicy(BaseReplayPolicy):
    """Vote over every model's ``answer`` key; each vote weighs ``train_accuracy ** α`` (knob: α).

    α = 0 is the plain majority; larger α lets the more accurate models outvote the others. Ties go to the
    answer backed by the most accurate single model. Models without an answer key abstain; when nobody has one
    the best training model's response is returned. Needs tables with ``answer``.
    """

    name = "majority-vote"

    def __init__(self) -> None:
        """Create the policy."""
        self._accuracy: dict[str, float] = {}
        self._best = ""

    @staticmethod
    def applies_to(train: OutcomeTable) -> bool:
        """Whether the table has answer keys to vote on."""
        return train.has_answers

    def fit(self, train: OutcomeTable) -> None:
        """Record each model's training accuracy."""
        stats = TrainStats(train)
        self._accuracy = {
            model: float(value) for model, value in zip(stats.models, stats.accuracy, strict=True)
        }
        self._best = stats.best

    def settings(self) -> list[float]:
        """Return α = 0, 0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 16."""
        return [0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0]

    def decide(self, view: PromptView, setting: float) -> Decision:
        """Call all models at once and return the winning answer key."""
        revealed = view.call_many(view.model_names)
        tally: dict[str, float] = {}
        strongest_backer: dict[str, float] = {}
        for row in revealed:
            if row.answer is None:
                continue
            accuracy = self._accuracy.get(row.model, 0.0)
            tally[row.answer] = tally.get(row.answer, 0.0) + accuracy**setting
            strongest_backer[row.answer] = max(strongest_backer.get(row.answer, -1.0), accuracy)
        if not tally:
            return Decision.respond(self._best if self._best in view.called else revealed[0].model)
        winner = max(tally, key=lambda answer: (tally[answer], strongest_backer[answer]))
        return Decision.fused(winner)
