"""Helpers shared by the baseline policies: train-table statistics, prompt embeddings, soft-label logistic fits."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from langchain_emafusion.evaluation.table import OutcomeTable
from langchain_emafusion.routing.encoder import PromptEncoder

if TYPE_CHECKING:
    from scipy import sparse

__all__ = [
    "LAMBDA_SETTINGS",
    "TrainStats",
    "unit_interval_hash",
    "embed",
    "fit_soft_logistic",
    "sigmoid",
    "CV_FOLDS",
    "cv_folds",
    "brier",
]

CV_FOLDS = 3
"""Folds of the cross-validation that picks each baseline's own hyper-parameter on the training table."""

LAMBDA_SETTINGS: list[float] = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.0, 5.0, 100.0]
"""λ values of the cost-aware routers (quality − λ·normalized cost): 0 = quality only, 100 = cheapest only."""


class TrainStats:
    """Per-model statistics of a training table: accuracy, mean cost, normalized cost, cheapest and best model.

    Attributes:
        models: Model names, in the table's order.
        accuracy: Mean score per model.
        mean_cost: Mean cost per call per model (US$).
        normalized_cost: ``mean_cost / max(mean_cost)`` (all 0 when every model is free).
        best: The most accurate model (ties: cheaper, then earlier).
        cheapest: The cheapest model (ties: more accurate, then earlier).
    """

    def __init__(self, table: OutcomeTable) -> None:
        """Compute the statistics of a training table."""
        self.models: list[str] = list(table.models)
        self.accuracy = table.scores.mean(axis=0)
        self.mean_cost = table.costs.mean(axis=0)
        top = float(self.mean_cost.max())
        self.normalized_cost = self.mean_cost / top if top > 0 else np.zeros_like(self.mean_cost)
        order = range(len(self.models))
        self.best = self.models[min(order, key=lambda m: (-self.accuracy[m], self.mean_cost[m], m))]
        self.cheapest = self.models[min(order, key=lambda m: (self.mean_cost[m], -self.accuracy[m], m))]


def unit_interval_hash(text: str, seed: int) -> float:
    """Map (text, seed) to a fixed pseudo-random number in [0, 1): reproducible per prompt, no shared RNG state."""
    digest = hashlib.sha256(f"{seed}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def embed(encoder: PromptEncoder, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
    """Embed texts with the encoder (float64 for the linear algebra that follows)."""
    return encoder.encode(list(texts), show_progress=progress).astype(np.float64)


def cv_folds(n: int, seed: int, folds: int = CV_FOLDS) -> np.ndarray:
    """(n,) a seeded assignment of training prompts to cross-validation folds."""
    order = np.random.default_rng(seed).permutation(n)
    assignment = np.zeros(n, dtype=np.int64)
    for fold in range(folds):
        assignment[order[fold::folds]] = fold
    return assignment


def brier(predicted: np.ndarray, scores: np.ndarray) -> float:
    """Mean squared error of predicted probabilities against recorded scores (lower is better)."""
    return float(np.mean((np.asarray(predicted) - np.asarray(scores)) ** 2))


def sigmoid(values: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * values)))


def fit_soft_logistic(
    features: np.ndarray | sparse.csr_matrix,
    targets: np.ndarray,
    *,
    regularization: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, float]:
    """Fit a logistic regression to soft targets in [0, 1] (fractional scores count as weighted 1s and 0s).

    Each example enters as a positive with weight ``t`` and a negative with weight ``1 - t``, the maximum
    likelihood fit for soft labels.

    Args:
        features: Array (n, d), dense or a scipy CSR matrix (kept sparse: the judge's per-model blocks are).
        targets: Array (n,) in [0, 1].
        regularization: Inverse L2 strength (scikit-learn's ``C``).
        seed: Solver seed.

    Returns:
        (weights of shape (d,), bias). A constant target gives zero weights and the matching log-odds bias.
    """
    from scipy import sparse as scipy_sparse
    from sklearn.linear_model import LogisticRegression

    positive_weight = targets
    negative_weight = 1.0 - targets
    if positive_weight.sum() <= 0 or negative_weight.sum() <= 0:
        rate = float(np.clip(targets.mean(), 1e-4, 1 - 1e-4))
        return np.zeros(features.shape[1]), float(np.log(rate / (1 - rate)))
    keep_positive = np.flatnonzero(positive_weight > 0)
    keep_negative = np.flatnonzero(negative_weight > 0)
    stack = scipy_sparse.vstack if scipy_sparse.issparse(features) else np.vstack
    stacked = stack([features[keep_positive], features[keep_negative]])
    labels = np.concatenate([np.ones(len(keep_positive)), np.zeros(len(keep_negative))])
    weights = np.concatenate([positive_weight[keep_positive], negative_weight[keep_negative]])
    model = LogisticRegression(C=regularization, max_iter=2000, random_state=seed)
    model.fit(stacked, labels, sample_weight=weights)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])
