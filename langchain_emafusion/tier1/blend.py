"""Simple quality predictors blended with tier 1's network: per-model ridge, k nearest prompts, prompt clusters.

On some outcome tables a per-model linear fit or the mean score of a prompt's neighbours predicts who answers
well as well as the network does (a few hundred prompts, few models, one dominant model); on others the network
wins. Rather than guess, training fits each family, scores every convex blend of them out of fold on the
training table alone (:mod:`langchain_emafusion.tier1.router_choice`) and keeps the best. This module is the
serving half: the fitted families and the blend weights, applied to a batch of prompt features, and their
persistence next to the network's weights.

Families (each predicts a probability of a good answer per (prompt, trained model)):

- ``network``: the tier-1 network (with its own neighbour term), always present;
- ``ridge``: one ridge regression per model on the standardized prompt features (one shared penalty);
- ``knn``: the mean recorded score of the ``k`` most similar training prompts (the predictor's memory keys);
- ``cluster``: the shrunken mean score of the prompt's nearest k-means cluster of training prompts (per-cluster
  model scores, as in Avengers-Pro).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "FAMILIES",
    "RidgeQuality",
    "ClusterQuality",
    "RouterBlend",
    "neighbour_scores",
    "unit_keys",
]

FAMILIES: tuple[str, ...] = ("network", "ridge", "knn", "cluster")
"""The quality families a blend may weight, in a fixed order."""

_PROBABILITY_FLOOR = 1e-3
_CLUSTER_PRIOR = 5.0
"""Pseudo-prompts pulling a small cluster's mean score toward the model's overall mean."""


def unit_keys(block: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine similarity becomes a dot product)."""
    block = np.asarray(block, dtype=np.float32)
    return block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)


def neighbour_scores(similarity: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Mean recorded score of each row's ``k`` most similar columns (NaN where every neighbour's is unknown)."""
    import warnings

    k = min(k, similarity.shape[1])
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: onboarded models
        return np.asarray(np.nanmean(scores[nearest].astype(np.float64), axis=1))


@dataclass
class RidgeQuality:
    """Per-model ridge regression of the score on standardized features (one penalty for every model)."""

    alpha: float
    mean: np.ndarray
    """(d,) feature means of the training prompts."""
    scale: np.ndarray
    """(d,) feature standard deviations (1 where constant)."""
    coef: np.ndarray
    """(n_models, d) weights on the standardized features."""
    intercept: np.ndarray
    """(n_models,) each model's mean training score."""

    @classmethod
    def fit_path(
        cls, features: np.ndarray, scores: np.ndarray, alphas: tuple[float, ...]
    ) -> list[RidgeQuality]:
        """Fit every penalty in ``alphas`` from one SVD of the standardized features."""
        x = np.asarray(features, dtype=np.float64)
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        z = (x - mean) / scale
        y = np.asarray(scores, dtype=np.float64)
        intercept = y.mean(axis=0)
        u, s, vt = np.linalg.svd(z, full_matrices=False)
        projected = u.T @ (y - intercept)  # (rank, n_models)
        fitted = []
        for alpha in alphas:
            shrink = s / (s**2 + alpha)
            coef = (vt.T @ (shrink[:, None] * projected)).T
            fitted.append(cls(float(alpha), mean, scale, coef, intercept))
        return fitted

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(n, n_models) predicted probability, clipped into (0, 1)."""
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        return np.clip(z @ self.coef.T + self.intercept, _PROBABILITY_FLOOR, 1 - _PROBABILITY_FLOOR)

    def without(self, index: int) -> RidgeQuality:
        """A copy without model ``index``."""
        keep = [i for i in range(len(self.intercept)) if i != index]
        return RidgeQuality(self.alpha, self.mean, self.scale, self.coef[keep], self.intercept[keep])


@dataclass
class ClusterQuality:
    """The mean score of the nearest k-means cluster of training prompts, shrunk toward each model's mean."""

    centroids: np.ndarray
    """(clusters, d) unit-length centroids of the training prompts' keys."""
    cluster_scores: np.ndarray
    """(clusters, n_models) shrunken mean score per cluster."""

    @classmethod
    def fit(cls, keys: np.ndarray, scores: np.ndarray, *, clusters: int, seed: int) -> ClusterQuality:
        """Cluster the training prompts' unit keys and average each model's scores per cluster."""
        from sklearn.cluster import KMeans

        clusters = max(1, min(clusters, len(keys)))
        kmeans = KMeans(n_clusters=clusters, n_init=1, max_iter=100, random_state=seed).fit(keys)
        labels = kmeans.labels_
        y = np.asarray(scores, dtype=np.float64)
        overall = y.mean(axis=0)
        sums = np.zeros((clusters, y.shape[1]))
        np.add.at(sums, labels, y)
        counts = np.bincount(labels, minlength=clusters)[:, None].astype(np.float64)
        shrunk = (sums + _CLUSTER_PRIOR * overall) / (counts + _CLUSTER_PRIOR)
        return cls(unit_keys(kmeans.cluster_centers_), shrunk)

    def predict(self, keys: np.ndarray) -> np.ndarray:
        """(n, n_models) the nearest cluster's scores."""
        nearest = np.argmax(np.asarray(keys, dtype=np.float32) @ self.centroids.T, axis=1)
        return np.clip(self.cluster_scores[nearest], _PROBABILITY_FLOOR, 1 - _PROBABILITY_FLOOR)

    def without(self, index: int) -> ClusterQuality:
        """A copy without model ``index``."""
        return ClusterQuality(self.centroids, np.delete(self.cluster_scores, index, axis=1))


@dataclass
class RouterBlend:
    """A convex blend of the network with the simple families, as chosen out of fold at training time.

    ``weights`` maps family names to non-negative weights summing to 1. Families other than the network know
    only the models they were trained with (the first ``n_models`` columns); a model onboarded later keeps the
    network's prediction alone.
    """

    weights: dict[str, float]
    n_models: int
    ridge: RidgeQuality | None = None
    cluster: ClusterQuality | None = None
    knn_k: int = 0
    report: dict[str, Any] = field(default_factory=dict)
    """What training measured (each family's hyper-parameter and out-of-fold figures); saved, never read."""

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown router families {sorted(unknown)}; known: {', '.join(FAMILIES)}")
        if any(w < 0 for w in self.weights.values()) or not np.isclose(sum(self.weights.values()), 1.0):
            raise ValueError(f"blend weights must be non-negative and sum to 1, got {self.weights}")
        self.weights = {name: float(w) for name, w in self.weights.items() if w > 0}
        fitted = {
            "network": True,
            "ridge": self.ridge is not None,
            "cluster": self.cluster is not None,
            "knn": self.knn_k > 0,
        }
        missing = [name for name in self.weights if not fitted[name]]
        if missing:
            raise ValueError(f"blend weights {missing} but those families were not fitted")

    @property
    def is_network_only(self) -> bool:
        """Whether the blend is the network alone (nothing to add at prediction time)."""
        return set(self.weights) <= {"network"}

    @property
    def needs_memory(self) -> bool:
        """Whether the blend reads the predictor's memory (the kNN family)."""
        return "knn" in self.weights

    def combine(
        self,
        network: np.ndarray,
        features: np.ndarray,
        keys: np.ndarray,
        similarity: np.ndarray | None,
        memory_scores: np.ndarray | None,
    ) -> np.ndarray:
        """Blend the network's (n, models) probabilities with the families' predictions of the same prompts.

        Args:
            network: The network's probabilities, one column per current model.
            features: The prompts' feature vectors (for ridge).
            keys: Their unit similarity keys (for the clusters).
            similarity: Their similarity to the training prompts (for kNN; needed when it has weight).
            memory_scores: The training prompts' recorded scores (for kNN).
        """
        if self.is_network_only:
            return network
        m = self.n_models
        parts: dict[str, np.ndarray] = {}
        if "ridge" in self.weights and self.ridge is not None:
            parts["ridge"] = self.ridge.predict(features)
        if "cluster" in self.weights and self.cluster is not None:
            parts["cluster"] = self.cluster.predict(keys)
        if "knn" in self.weights:
            if similarity is None or memory_scores is None:
                raise RuntimeError("the blend weights the kNN family but the predictor keeps no memory")
            knn = neighbour_scores(similarity, memory_scores[:, :m], self.knn_k)
            parts["knn"] = np.where(np.isnan(knn), network[:, :m], knn)
        blended = self.weights.get("network", 0.0) * network[:, :m]
        for name, values in parts.items():
            blended = blended + self.weights[name] * values
        out = network.copy()
        out[:, :m] = blended
        return out

    def without(self, index: int) -> RouterBlend:
        """A copy without trained model ``index`` (onboarded models past ``n_models`` are not in the blend)."""
        if index >= self.n_models:
            return self
        return RouterBlend(
            dict(self.weights),
            self.n_models - 1,
            None if self.ridge is None else self.ridge.without(index),
            None if self.cluster is None else self.cluster.without(index),
            self.knn_k,
            dict(self.report),
        )

    # --- persistence ---------------------------------------------------------------------------------------------
    def tensors(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays to save (float32), named under ``prefix``."""
        arrays: dict[str, np.ndarray] = {}
        if self.ridge is not None and "ridge" in self.weights:
            for name in ("mean", "scale", "coef", "intercept"):
                arrays[f"{prefix}ridge.{name}"] = getattr(self.ridge, name).astype(np.float32)
        if self.cluster is not None and "cluster" in self.weights:
            arrays[f"{prefix}cluster.centroids"] = self.cluster.centroids.astype(np.float32)
            arrays[f"{prefix}cluster.scores"] = self.cluster.cluster_scores.astype(np.float32)
        return arrays

    def config(self) -> dict[str, Any]:
        """The JSON part (weights, sizes, the kNN count, the training report)."""
        return {
            "weights": self.weights,
            "n_models": self.n_models,
            "knn_k": self.knn_k,
            "ridge_alpha": None if self.ridge is None else self.ridge.alpha,
            "report": self.report,
        }

    @classmethod
    def restore(cls, config: Mapping[str, Any], arrays: Mapping[str, np.ndarray], prefix: str) -> RouterBlend:
        """Rebuild a blend from :meth:`config` and :meth:`tensors` (raises KeyError/ValueError when incomplete)."""
        weights = {str(k): float(v) for k, v in dict(config["weights"]).items()}
        ridge = None
        if "ridge" in weights:
            ridge = RidgeQuality(
                alpha=float(config["ridge_alpha"]),
                mean=np.asarray(arrays[f"{prefix}ridge.mean"], dtype=np.float64),
                scale=np.asarray(arrays[f"{prefix}ridge.scale"], dtype=np.float64),
                coef=np.asarray(arrays[f"{prefix}ridge.coef"], dtype=np.float64),
                intercept=np.asarray(arrays[f"{prefix}ridge.intercept"], dtype=np.float64),
            )
        cluster = None
        if "cluster" in weights:
            cluster = ClusterQuality(
                np.asarray(arrays[f"{prefix}cluster.centroids"], dtype=np.float32),
                np.asarray(arrays[f"{prefix}cluster.scores"], dtype=np.float64),
            )
        return cls(
            weights,
            int(config["n_models"]),
            ridge,
            cluster,
            int(config.get("knn_k", 0)),
            dict(config.get("report") or {}),
        )
