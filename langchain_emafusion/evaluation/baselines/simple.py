"""Baselines without learning from prompts: one fixed model, and a random mix of the cheapest and best models."""

from __future__ import annotations

import numpy as np

from langchain_emafusion.evaluation.baselines.common import TrainStats, unit_interval_hash
from langchain_emafusion.evaluation.protocol import BaseReplayPolicy, Decision, PromptView
from langchain_emafusion.evaluation.table import OutcomeTable

__all__ = ["SingleModelPolicy", "RandomMixPolicy"]


class SingleModelPolicy(BaseReplayPolicy):
    """Always call one model and return its response (one setting; its knob has no effect)."""

    def __init__(self, model: str) -> None:
        """Create the policy for one model name."""
        self.model = model
        self.name = f"single:{model}"

    def decide(self, view: PromptView, setting: float) -> Decision:
        """Call the model and return its response."""
        view.call(self.model)
        return Decision.respond(self.model)


class RandomMixPolicy(BaseReplayPolicy):
    """Send each prompt to the best train model with probability p, else to the cheapest (knob: p).

    The draw is a fixed hash of the prompt text and seed, shared by all settings, so a prompt sent to the best
    model at p stays there at every larger p: the frontier traces the straight line between the two models.
    """

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        """Create the policy; ``seed`` fixes the per-prompt draws."""
        self.seed = seed
        self._stats: TrainStats | None = None

    def fit(self, train: OutcomeTable) -> None:
        """Find the cheapest and the most accurate training model."""
        self._stats = TrainStats(train)

    def settings(self) -> list[float]:
        """Return p = 0, 0.1, ..., 1."""
        return [round(float(value), 2) for value in np.linspace(0.0, 1.0, 11)]

    def decide(self, view: PromptView, setting: float) -> Decision:
        """Call the best model if the prompt's draw is below p, else the cheapest."""
        if self._stats is None:
            raise RuntimeError("fit() the policy first")
        draw = unit_interval_hash(view.prompt, self.seed)
        model = self._stats.best if draw < setting else self._stats.cheapest
        view.call(model)
        return Decision.respond(model)
