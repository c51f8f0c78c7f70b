"""Tier 1 as a replay policy: predict every model's quality from the prompt, call the selected one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from langchain_emafusion.evaluation.converters import estimate_tokens
from langchain_emafusion.evaluation.protocol import BaseReplayPolicy, Decision, PromptView
from langchain_emafusion.tier1.predictor import Tier1Predictor, TrainingConfig
from langchain_emafusion.tier1.selector import KNOB_SETTINGS, Selection, SelectionCaps, select_models

__all__ = ["Tier1Policy"]


class Tier1Policy(BaseReplayPolicy):
    """Route each prompt to the model with the best predicted quality − knob · normalized expected cost.

    The knob is the selector's ``quality_cost_tradeoff``; expected costs use only the static cards' prices,
    the prompt's estimated input tokens and the predicted output tokens, as in live routing.
    """

    name = "tier1"

    def __init__(
        self,
        predictor: Tier1Predictor | None = None,
        *,
        training: TrainingConfig | None = None,
        caps: SelectionCaps | None = None,
        progress: bool = False,
    ) -> None:
        """Create the policy from a trained predictor, or untrained (``fit`` trains one)."""
        self.predictor = predictor
        self.training = training
        self.caps = caps
        self.progress = progress
        self._cache: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
        # The last selection: replay asks again for the same prompt and knob after each call a cascade makes.
        self._last_selection: tuple[str, float, Sequence[Any], Selection] | None = None

    def fit(self, train: Any) -> None:
        """Train the predictor on the training table."""
        self.predictor = Tier1Predictor.fit(train, training=self.training, show_progress=self.progress)
        self._cache.clear()
        self._last_selection = None

    def settings(self) -> list[float]:
        """The knob values swept for a frontier."""
        return list(KNOB_SETTINGS)

    def _require(self) -> Tier1Predictor:
        if self.predictor is None:
            raise RuntimeError("Tier1Policy has no predictor: call fit() or pass one")
        return self.predictor

    def prepare(self, prompts: Sequence[str]) -> None:
        """Predict all test prompts in one batch."""
        todo = [p for p in dict.fromkeys(prompts) if p not in self._cache]
        if todo:
            predictions = self._require().predict(todo)
            for i, prompt in enumerate(todo):
                task_probs = None if predictions.task_probs is None else predictions.task_probs[i]
                self._cache[prompt] = (predictions.quality[i], predictions.output_tokens[i], task_probs)

    def remember(
        self, prompt: str, quality: np.ndarray, output_tokens: np.ndarray, task_probs: np.ndarray | None
    ) -> None:
        """Use these predictions for ``prompt`` (tier 2's training replays with out-of-fold predictions)."""
        self._cache[prompt] = (quality, output_tokens, task_probs)
        self._last_selection = None

    def predictions(self, prompt: str) -> tuple[np.ndarray, np.ndarray]:
        """Predicted (quality, output tokens) per predictor model for one prompt."""
        quality, tokens, _ = self._predicted(prompt)
        return quality, tokens

    def task_probs(self, prompt: str) -> np.ndarray | None:
        """Predicted task probabilities for one prompt (None when the predictor has no task head)."""
        return self._predicted(prompt)[2]

    def _predicted(self, prompt: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        if prompt not in self._cache:
            self.prepare([prompt])
        return self._cache[prompt]

    def rank(self, view: PromptView, setting: float) -> list[str]:
        """The view's models ranked by the selector at this knob setting."""
        return self.selection(view, setting).ranked

    def selection(self, view: PromptView, setting: float) -> Selection:
        """The selector's full result for this prompt at this knob setting (ranking, predictions, costs)."""
        last = self._last_selection
        if last is not None and last[0] == view.prompt and last[1] == setting and last[2] is view.cards:
            return last[3]
        predictor = self._require()
        quality, tokens = self.predictions(view.prompt)
        index = {name: i for i, name in enumerate(predictor.models)}
        cards = [card for card in view.cards if card.name in index]
        selection = select_models(
            cards,
            [quality[index[c.name]] for c in cards],
            [tokens[index[c.name]] for c in cards],
            input_tokens=estimate_tokens(view.prompt),
            knob=setting,
            caps=self.caps,
        )
        self._last_selection = (view.prompt, setting, view.cards, selection)
        return selection

    def decide(self, view: PromptView, setting: float) -> Decision:
        """Call the selected model and return its response."""
        best = self.rank(view, setting)[0]
        view.call(best)
        return Decision.respond(best)
