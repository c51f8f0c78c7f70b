"""Two-model cascade: call the cheap model, escalate to the strong one when a learned confidence is low."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from langchain_emafusion.evaluation.baselines.common import TrainStats, embed, fit_soft_logistic, sigmoid
from langchain_emafusion.evaluation.protocol import BaseReplayPolicy, Decision, PromptView
from langchain_emafusion.evaluation.table import OutcomeTable
from langchain_emafusion.routing.encoder import PromptEncoder

__all__ = ["CascadePolicy"]


class CascadePolicy(BaseReplayPolicy):
    """Cheapest model first; escalate to the most accurate one when p(cheap is right) < τ (knob: τ).

    The confidence is a logistic regression fitted on the training table. Its features are the prompt's
    embedding and, when the training table has the cheap model's responses, the embedding of the response just
    revealed, so the cascade judges the answer it got, not only the question. τ = 0 never escalates; τ = 1
    always does (paying for both calls).
    """

    name = "cascade"

    def __init__(
        self, encoder: PromptEncoder | None = None, *, seed: int = 0, progress: bool = False
    ) -> None:
        """Create the cascade.

        Args:
            encoder: Prompt encoder (default: the process-wide one).
            seed: Seed of the confidence model's solver.
            progress: Show progress bars while embedding.
        """
        self.encoder = encoder or PromptEncoder.shared()
        self.seed = seed
        self.progress = progress
        self.cheap = ""
        self.strong = ""
        self.uses_response = False
        self._weights = np.zeros(0)
        self._bias = 0.0
        self._confidence: dict[tuple[str, str | None], float] = {}

    @staticmethod
    def applies_to(train: OutcomeTable) -> bool:
        """Whether the table has at least two models."""
        return len(train.models) >= 2

    def fit(self, train: OutcomeTable) -> None:
        """Pick the two models and fit the confidence of the cheap one."""
        stats = TrainStats(train)
        self.cheap = stats.cheapest
        others = [m for m in range(len(stats.models)) if stats.models[m] != self.cheap]
        self.strong = stats.models[min(others, key=lambda m: (-stats.accuracy[m], stats.mean_cost[m], m))]
        cheap_index = train.models.index(self.cheap)
        responses = [train.row(p, cheap_index).response for p in range(train.n_prompts)]
        self.uses_response = all(response is not None for response in responses)
        features = self._features(list(train.prompts), responses if self.uses_response else None)
        self._weights, self._bias = fit_soft_logistic(features, train.scores[:, cheap_index], seed=self.seed)
        self._confidence.clear()

    def _features(self, prompts: list[str], responses: list[str | None] | None) -> np.ndarray:
        prompt_vectors = embed(self.encoder, prompts, progress=self.progress)
        if responses is None:
            return prompt_vectors
        response_vectors = embed(self.encoder, [text or "" for text in responses], progress=self.progress)
        return np.hstack([prompt_vectors, response_vectors])

    def prepare(self, prompts: Sequence[str]) -> None:
        """Embed the test prompts in one batch (the encoder caches them for :meth:`confidence`)."""
        embed(self.encoder, list(dict.fromkeys(prompts)), progress=self.progress)

    def settings(self) -> list[float]:
        """Return τ = 0, 0.1, ..., 1."""
        return [round(float(value), 2) for value in np.linspace(0.0, 1.0, 11)]

    def confidence(self, prompt: str, response: str | None) -> float:
        """Predicted probability that the cheap model's answer is right."""
        key = (prompt, response if self.uses_response else None)
        if key not in self._confidence:
            features = self._features([prompt], [response] if self.uses_response else None)
            self._confidence[key] = float(sigmoid(features @ self._weights + self._bias)[0])
        return self._confidence[key]

    def decide(self, view: PromptView, setting: float) -> Decision:
        """Call the cheap model; call and return the strong one if the confidence is below τ."""
        first = view.call(self.cheap)
        if setting > 0 and self.confidence(view.prompt, first.response) < setting:
            view.call(self.strong)
            return Decision.respond(self.strong)
        return Decision.respond(self.cheap)
