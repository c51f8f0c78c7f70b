"""kNN router: a model's quality on a prompt is its mean score on the k most similar training prompts."""

from __future__ import annotations

import numpy as np

from langchain_emafusion.evaluation.baselines.cost_aware import CostAwareRouterPolicy
from langchain_emafusion.routing.encoder import PromptEncoder

__all__ = ["KnnRouterPolicy"]


class KnnRouterPolicy(CostAwareRouterPolicy):
    """Cost-aware kNN router over prompt embeddings (cosine similarity; knob: λ)."""

    name = "knn-router"

    def __init__(
        self, encoder: PromptEncoder | None = None, *, k: int = 25, seed: int = 0, progress: bool = False
    ) -> None:
        """Create the router.

        Args:
            encoder: Prompt encoder (default: the process-wide one).
            k: Neighbours per prompt.
            seed: Unused (kNN is deterministic); kept for a uniform constructor.
            progress: Show progress bars while embedding.
        """
        super().__init__(encoder, seed=seed, progress=progress)
        self.k = k
        self._train_embeddings = np.zeros((0, 0))
        self._train_scores = np.zeros((0, 0))

    def fit_quality(self, embeddings: np.ndarray, scores: np.ndarray) -> None:
        """Keep the training embeddings and scores."""
        self._train_embeddings = embeddings
        self._train_scores = scores

    def predict_quality(self, embeddings: np.ndarray) -> np.ndarray:
        """Average the scores of the k nearest training prompts (chunked to bound memory)."""
        k = min(self.k, len(self._train_embeddings))
        predicted = np.zeros((len(embeddings), self._train_scores.shape[1]))
        for start in range(0, len(embeddings), 1024):
            similarity = embeddings[start : start + 1024] @ self._train_embeddings.T
            nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
            predicted[start : start + 1024] = self._train_scores[nearest].mean(axis=1)
        return predicted
