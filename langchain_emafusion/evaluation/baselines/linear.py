"""Cost-aware linear router: one soft-label logistic regression per model on prompt embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from langchain_emafusion.evaluation.baselines.common import brier, cv_folds, fit_soft_logistic, sigmoid
from langchain_emafusion.evaluation.baselines.cost_aware import CostAwareRouterPolicy

__all__ = ["LinearRouterPolicy"]


class LinearRouterPolicy(CostAwareRouterPolicy):
    """Per-model logistic regression p(correct | prompt embedding); route to argmax p − λ·cost (knob: λ).

    Its L2 strength is chosen by cross-validation on the training table, as the project's own router is.
    """

    name = "linear-router"
    regularization_grid: tuple[float, ...] = (0.1, 1.0, 10.0)
    """scikit-learn ``C`` values (inverse L2 strength) tried; cross-validation on the training table picks one."""
    regularization = 1.0
    """The chosen ``C`` (set by :meth:`fit_quality`)."""
    validation: dict[str, float]
    """Out-of-fold Brier score per ``C`` tried (set by :meth:`fit_quality`)."""

    weights: np.ndarray = np.zeros((0, 0))
    bias: np.ndarray = np.zeros(0)

    def _fit(
        self, embeddings: np.ndarray, scores: np.ndarray, regularization: float
    ) -> tuple[np.ndarray, np.ndarray]:
        fitted = [
            fit_soft_logistic(embeddings, scores[:, m], regularization=regularization, seed=self.seed)
            for m in range(scores.shape[1])
        ]
        return np.stack([weights for weights, _ in fitted]), np.array([bias for _, bias in fitted])

    def fit_quality(self, embeddings: np.ndarray, scores: np.ndarray) -> None:
        """Pick ``C`` by out-of-fold Brier score on the training prompts, then fit one regression per model."""
        folds = cv_folds(len(embeddings), self.seed)
        self.validation = {}
        if len(self.regularization_grid) > 1 and len(embeddings) >= 3 * len(np.unique(folds)):
            for c in self.regularization_grid:
                predicted = np.zeros_like(scores, dtype=np.float64)
                for fold in np.unique(folds):
                    held = folds == fold
                    weights, bias = self._fit(embeddings[~held], scores[~held], c)
                    predicted[held] = sigmoid(embeddings[held] @ weights.T + bias)
                self.validation[str(c)] = brier(predicted, scores)
            self.regularization = float(min(self.validation, key=self.validation.__getitem__))
        self.weights, self.bias = self._fit(embeddings, scores, self.regularization)

    def predict_quality(self, embeddings: np.ndarray) -> np.ndarray:
        """Return each model's predicted probability of being correct."""
        return sigmoid(embeddings @ self.weights.T + self.bias)

    def save(self, path: str | Path) -> Path:
        """Save the fitted router as a ``.npz`` (no pickle): models, costs, weights, bias."""
        destination = Path(path)
        destination.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            destination,
            models=np.array(self.models),
            normalized_cost=self.normalized_cost,
            weights=self.weights,
            bias=self.bias,
        )
        return destination

    def load(self, path: str | Path) -> None:
        """Load a router saved by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as saved:
            self.set_costs([str(model) for model in saved["models"]], saved["normalized_cost"])
            self.weights = saved["weights"]
            self.bias = saved["bias"]
