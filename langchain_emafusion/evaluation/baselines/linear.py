"""Cost-aware linear router: one soft-label logistic regression per model on prompt embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from langchain_emafusion.evaluation.baselines.common import fit_soft_logistic, sigmoid
from langchain_emafusion.evaluation.baselines.cost_aware import CostAwareRouterPolicy

__all__ = ["LinearRouterPolicy"]


class LinearRouterPolicy(CostAwareRouterPolicy):
    """Per-model logistic regression p(correct | prompt embedding); route to argmax p − λ·cost (knob: λ)."""

    name = "linear-router"
    regularization = 1.0
    """scikit-learn's ``C`` (inverse L2 strength) of each per-model regression."""

    weights: np.ndarray = np.zeros((0, 0))
    bias: np.ndarray = np.zeros(0)

    def fit_quality(self, embeddings: np.ndarray, scores: np.ndarray) -> None:
        """Fit one logistic regression per model."""
        fitted = [
            fit_soft_logistic(embeddings, scores[:, m], regularization=self.regularization, seed=self.seed)
            for m in range(scores.shape[1])
        ]
        self.weights = np.stack([weights for weights, _ in fitted])
        self.bias = np.array([bias for _, bias in fitted])

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
