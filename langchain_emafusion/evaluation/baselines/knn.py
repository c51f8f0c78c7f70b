"""kNN router: a model's quality on a prompt is its mean score on the k most similar training prompts."""

from __future__ import annotations

import numpy as np

from langchain_emafusion.evaluation.baselines.common import brier, cv_folds
from langchain_emafusion.evaluation.baselines.cost_aware import CostAwareRouterPolicy
from langchain_emafusion.routing.encoder import PromptEncoder

__all__ = ["KnnRouterPolicy"]


class KnnRouterPolicy(CostAwareRouterPolicy):
    """Cost-aware kNN router over prompt embeddings (cosine similarity; knob: λ)."""

    name = "knn-router"

    def __init__(
        self,
        encoder: PromptEncoder | None = None,
        *,
        k: int | None = None,
        k_grid: tuple[int, ...] = (5, 10, 25, 50, 100, 200),
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        """Create the router.

        Args:
            encoder: Prompt encoder (default: the process-wide one).
            k: Neighbours per prompt (default: chosen from ``k_grid`` by cross-validation on the training table).
            k_grid: Neighbour counts tried when ``k`` is not given.
            seed: Seed of the cross-validation folds.
            progress: Show progress bars while embedding.
        """
        super().__init__(encoder, seed=seed, progress=progress)
        self.k = k or 25
        self.k_grid = (k,) if k else tuple(k_grid)
        self.validation: dict[str, float] = {}
        self._train_embeddings = np.zeros((0, 0))
        self._train_scores = np.zeros((0, 0))

    def fit_quality(self, embeddings: np.ndarray, scores: np.ndarray) -> None:
        """Pick k by out-of-fold Brier score on the training prompts; keep the embeddings and scores."""
        self.validation = {}
        if len(self.k_grid) > 1:
            folds = cv_folds(len(embeddings), self.seed)
            for k in self.k_grid:
                predicted = np.zeros_like(scores, dtype=np.float64)
                for fold in np.unique(folds):
                    held = folds == fold
                    predicted[held] = _mean_of_nearest(embeddings[held], embeddings[~held], scores[~held], k)
                self.validation[str(k)] = brier(predicted, scores)
            self.k = int(min(self.validation, key=self.validation.__getitem__))
        self._train_embeddings = embeddings
        self._train_scores = scores

    def predict_quality(self, embeddings: np.ndarray) -> np.ndarray:
        """Average the scores of the k nearest training prompts (chunked to bound memory)."""
        return _mean_of_nearest(embeddings, self._train_embeddings, self._train_scores, self.k)


def _mean_of_nearest(queries: np.ndarray, keys: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, len(keys))
    predicted = np.zeros((len(queries), scores.shape[1]))
    for start in range(0, len(queries), 1024):
        similarity = queries[start : start + 1024] @ keys.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        predicted[start : start + 1024] = scores[nearest].mean(axis=1)
    return predicted
