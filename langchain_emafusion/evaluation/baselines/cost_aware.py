"""Base of the cost-aware routers: predict each model's quality from the prompt, route to argmax q − λ·cost."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from langchain_emafusion.evaluation.baselines.common import LAMBDA_SETTINGS, TrainStats, embed
from langchain_emafusion.evaluation.protocol import BaseReplayPolicy, Decision, PromptView
from langchain_emafusion.evaluation.table import OutcomeTable
from langchain_emafusion.routing.encoder import PromptEncoder

__all__ = ["CostAwareRouterPolicy"]


class CostAwareRouterPolicy(BaseReplayPolicy):
    """Route each prompt to the model maximizing predicted quality − λ · normalized mean cost (knob: λ).

    Costs are each model's mean training cost divided by the most expensive model's, so λ is on the same
    [0, 1] scale as the predicted quality whatever the currency amounts; ties go to the cheaper model.
    Subclasses implement :meth:`fit_quality` and :meth:`predict_quality` on prompt embeddings.
    """

    def __init__(
        self, encoder: PromptEncoder | None = None, *, seed: int = 0, progress: bool = False
    ) -> None:
        """Create the router.

        Args:
            encoder: Prompt encoder (default: the process-wide one).
            seed: Seed of any randomness in fitting.
            progress: Show progress bars while embedding.
        """
        self.encoder = encoder or PromptEncoder.shared()
        self.seed = seed
        self.progress = progress
        self.models: list[str] = []
        self.normalized_cost = np.zeros(0)
        self._quality_by_prompt: dict[str, np.ndarray] = {}
        self._order_by_cost: np.ndarray = np.zeros(0, dtype=np.int64)

    def fit(self, train: OutcomeTable) -> None:
        """Embed the training prompts, fit the quality predictor and record each model's cost."""
        stats = TrainStats(train)
        self.set_costs(stats.models, stats.normalized_cost)
        self.fit_quality(embed(self.encoder, train.prompts, progress=self.progress), train.scores)

    def set_costs(self, models: Sequence[str], normalized_cost: np.ndarray) -> None:
        """Set the model names and their normalized costs (used by ``fit`` and when loading a saved router)."""
        self.models = list(models)
        self.normalized_cost = np.asarray(normalized_cost, dtype=np.float64)
        # Stable sort: with equal penalized scores the cheaper model comes first in argmax order.
        self._order_by_cost = np.argsort(self.normalized_cost, kind="stable")
        self._quality_by_prompt.clear()

    def fit_quality(self, embeddings: np.ndarray, scores: np.ndarray) -> None:
        """Fit the per-model quality predictor on (n, d) embeddings and (n, n_models) scores."""
        raise NotImplementedError

    def predict_quality(self, embeddings: np.ndarray) -> np.ndarray:
        """Predict (n, n_models) quality in [0, 1] for (n, d) embeddings."""
        raise NotImplementedError

    def settings(self) -> list[float]:
        """Return the λ grid."""
        return list(LAMBDA_SETTINGS)

    def prepare(self, prompts: Sequence[str]) -> None:
        """Predict quality for all test prompts in one batch."""
        unique = [prompt for prompt in dict.fromkeys(prompts) if prompt not in self._quality_by_prompt]
        if unique:
            predicted = self.predict_quality(embed(self.encoder, unique, progress=self.progress))
            self._quality_by_prompt.update(zip(unique, predicted, strict=True))

    def quality(self, prompt: str) -> np.ndarray:
        """Return the predicted quality of every model for one prompt."""
        if prompt not in self._quality_by_prompt:
            self.prepare([prompt])
        return self._quality_by_prompt[prompt]

    def choose(self, prompt: str, setting: float) -> str:
        """Return the model maximizing predicted quality − λ·cost (ties: cheaper)."""
        utility = self.quality(prompt) - setting * self.normalized_cost
        ordered = utility[self._order_by_cost]
        return self.models[int(self._order_by_cost[int(np.argmax(ordered))])]

    def decide(self, view: PromptView, setting: float) -> Decision:
        """Call the chosen model and return its response."""
        model = self.choose(view.prompt, setting)
        view.call(model)
        return Decision.respond(model)
