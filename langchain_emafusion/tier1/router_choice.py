"""Choosing tier 1's quality predictor by validation on the training table alone (training side, never served).

Every family of :mod:`langchain_emafusion.tier1.blend` predicts each training prompt out of fold (the same folds
as the network's out-of-fold predictions): its own hyper-parameter (ridge penalty, neighbour count, cluster
count) is the one with the lowest out-of-fold Brier score. Then every convex blend of the families on a grid
(weights in steps of ``blend_step``, the pure families included) is routed by the same selector as at serving
time (predicted quality − knob · normalized expected cost, expected costs from the replay cards and the
network's predicted output tokens), billed the training rows' recorded costs, and scored by the normalized AUC of
its frontier (``../shared/docs/EVALUATION.md``). The blend with the highest out-of-fold AUC is kept; nothing of
any test table is read, and there are no per-table constants.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from langchain_emafusion.evaluation.baselines.common import brier
from langchain_emafusion.evaluation.converters import estimate_tokens
from langchain_emafusion.evaluation.figures import accuracy_at_cost, auc_normalized
from langchain_emafusion.evaluation.table import OutcomeTable
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.tier1.blend import (
    FAMILIES,
    ClusterQuality,
    RidgeQuality,
    RouterBlend,
    neighbour_scores,
)
from langchain_emafusion.tier1.selector import KNOB_SETTINGS

__all__ = [
    "RouterChoiceConfig",
    "RouterChoice",
    "choose_router",
    "expected_costs",
    "FrontierScorer",
    "frontier_figures",
]

_BLOCK = 1024


@dataclass(frozen=True)
class RouterChoiceConfig:
    """The candidates tried; the same for every table."""

    families: tuple[str, ...] = FAMILIES
    """Families that may enter the blend (``network`` is always among them)."""
    ridge_alphas: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0)
    """Ridge penalties tried (on standardized features)."""
    knn_counts: tuple[int, ...] = (5, 10, 25, 50, 100, 200)
    """Neighbour counts tried."""
    cluster_counts: tuple[int, ...] = (4, 8, 16, 32, 64)
    """Cluster counts tried (those leaving fewer than ``min_cluster_prompts`` prompts per cluster are not)."""
    min_cluster_prompts: int = 10
    """Fewest training prompts per cluster on average."""
    blend_step: float = 0.25
    """Grid step of the blend weights."""

    def __post_init__(self) -> None:
        if "network" not in self.families or set(self.families) - set(FAMILIES):
            raise ValueError(f"families must include 'network' and be among {FAMILIES}, got {self.families}")
        steps = 1.0 / self.blend_step
        if not 0 < self.blend_step <= 1 or abs(steps - round(steps)) > 1e-9:
            raise ValueError(f"blend_step must divide 1, got {self.blend_step}")


@dataclass
class RouterChoice:
    """The chosen blend and what validation measured."""

    blend: RouterBlend
    out_of_fold_quality: np.ndarray
    """(n, models) the chosen blend's out-of-fold predictions (what tier 2 trains on)."""
    report: dict[str, Any]


def expected_costs(
    prompts: Sequence[str], models: Sequence[str], cards: Sequence[ModelCard], output_tokens: np.ndarray
) -> np.ndarray:
    """(n, models) expected US$ of each call, as the selector computes it (card prices × estimated tokens)."""
    by_name = {card.name: card for card in cards}
    rows = []
    for p, prompt in enumerate(prompts):
        tokens_in = estimate_tokens(prompt)
        rows.append(
            [
                by_name[m].cost_usd(tokens_in, int(round(float(output_tokens[p, j]))))
                for j, m in enumerate(models)
            ]
        )
    return np.asarray(rows, dtype=np.float64)


class FrontierScorer:
    """Routes predictions at every knob as the selector does; what does not depend on them is computed once."""

    def __init__(
        self,
        expected: np.ndarray,
        scores: np.ndarray,
        billed: np.ndarray,
        *,
        knobs: Sequence[float] = KNOB_SETTINGS,
    ) -> None:
        """Fix the table the frontiers are measured on.

        Args:
            expected: (n, m) expected cost of each call (the selector's input).
            scores: (n, m) recorded scores.
            billed: (n, m) recorded costs (what the chosen call is billed).
            knobs: The knob values swept.
        """
        self.scores, self.billed, self.knobs = scores, billed, list(knobs)
        accuracy, mean_cost = scores.mean(axis=0), billed.mean(axis=0)
        order = range(scores.shape[1])
        best = min(order, key=lambda j: (-accuracy[j], mean_cost[j], j))
        cheapest = min(order, key=lambda j: (mean_cost[j], -accuracy[j], j))
        self.best_cost, self.cheapest_cost = float(mean_cost[best]), float(mean_cost[cheapest])
        self.best_accuracy = float(accuracy[best])
        scale = expected.max(axis=1, keepdims=True)
        normalized = np.divide(expected, scale, out=np.zeros_like(expected), where=scale > 0)
        self.normalized = normalized
        # Ties go to the cheaper member, as in the selector.
        self.tie_break = 1e-9 * normalized
        self.rows = np.arange(scores.shape[0])

    def figures(self, quality: np.ndarray) -> dict[str, float | None]:
        """The frontier's normalized AUC and accuracy at the best single model's cost for (n, m) predictions."""
        points = []
        for knob in self.knobs:
            chosen = np.argmax(quality - knob * self.normalized - self.tie_break, axis=1)
            points.append(
                (float(self.billed[self.rows, chosen].mean()), float(self.scores[self.rows, chosen].mean()))
            )
        return {
            "auc": auc_normalized(points, self.cheapest_cost, self.best_cost),
            "accuracy_at_best_single_cost": accuracy_at_cost(points, self.best_cost),
            "best_single_accuracy": self.best_accuracy,
        }


def frontier_figures(
    quality: np.ndarray,
    expected: np.ndarray,
    scores: np.ndarray,
    billed: np.ndarray,
    *,
    knobs: Sequence[float] = KNOB_SETTINGS,
) -> dict[str, float | None]:
    """One frontier's figures (see :class:`FrontierScorer`, which scores many predictions of one table)."""
    return FrontierScorer(expected, scores, billed, knobs=knobs).figures(quality)


def _ridge_out_of_fold(
    features: np.ndarray, scores: np.ndarray, folds: np.ndarray, alphas: Sequence[float]
) -> dict[float, np.ndarray]:
    predicted = {alpha: np.zeros_like(scores, dtype=np.float64) for alpha in alphas}
    for fold in np.unique(folds):
        held, kept = folds == fold, folds != fold
        for model in RidgeQuality.fit_path(features[kept], scores[kept], tuple(alphas)):
            predicted[model.alpha][held] = model.predict(features[held])
    return predicted


def _knn_out_of_fold(
    keys: np.ndarray, scores: np.ndarray, folds: np.ndarray, counts: Sequence[int]
) -> dict[int, np.ndarray]:
    predicted = {k: np.zeros_like(scores, dtype=np.float64) for k in counts}
    for fold in np.unique(folds):
        held, kept = np.flatnonzero(folds == fold), np.flatnonzero(folds != fold)
        for start in range(0, len(held), _BLOCK):
            rows = held[start : start + _BLOCK]
            similarity = keys[rows] @ keys[kept].T
            for k in counts:
                predicted[k][rows] = neighbour_scores(similarity, scores[kept], k)
    return predicted


def _cluster_out_of_fold(
    keys: np.ndarray, scores: np.ndarray, folds: np.ndarray, counts: Sequence[int], seed: int
) -> dict[int, np.ndarray]:
    predicted = {c: np.zeros_like(scores, dtype=np.float64) for c in counts}
    for fold in np.unique(folds):
        held, kept = folds == fold, folds != fold
        for c in counts:
            model = ClusterQuality.fit(keys[kept], scores[kept], clusters=c, seed=seed)
            predicted[c][held] = model.predict(keys[held])
    return predicted


def _blend_grid(families: Sequence[str], step: float) -> list[dict[str, float]]:
    """Every weight vector on the simplex grid, network-heavy ones first (they win ties)."""
    units = int(round(1.0 / step))
    grid = []
    for combo in itertools.product(range(units + 1), repeat=len(families)):
        if sum(combo) == units:
            grid.append({f: c / units for f, c in zip(families, combo, strict=True) if c})
    grid.sort(key=lambda w: (-w.get("network", 0.0), len(w)))
    return grid


def choose_router(
    table: OutcomeTable,
    *,
    features: np.ndarray,
    keys: np.ndarray,
    allow_knn: bool,
    network_quality: np.ndarray,
    network_tokens: np.ndarray,
    folds: np.ndarray,
    cards: Sequence[ModelCard],
    config: RouterChoiceConfig | None = None,
    seed: int = 0,
) -> RouterChoice:
    """Fit the candidate families, score every blend out of fold, and return the best (fitted on all rows).

    Args:
        table: The training table.
        features: (n, d) the predictor's features of its prompts.
        keys: (n, e) their unit similarity keys (the predictor's memory keys).
        allow_knn: Whether the kNN family may enter (the predictor keeps its training prompts' keys).
        network_quality: (n, m) the network's out-of-fold predictions.
        network_tokens: (n, m) its out-of-fold output-token predictions (for expected costs).
        folds: (n,) the fold each prompt was held out in (the network's).
        cards: The replay cards (prices) the selector sees.
        config: The candidates.
        seed: Seed of the k-means fits.
    """
    cfg = config or RouterChoiceConfig()
    scores = np.asarray(table.scores, dtype=np.float64)
    billed = np.asarray(table.costs, dtype=np.float64)
    n, m = scores.shape
    scorer = FrontierScorer(
        expected_costs(table.prompts, table.models, cards, network_tokens), scores, billed
    )
    n_train = n - int(np.bincount(folds).max())
    candidates: dict[str, tuple[Any, np.ndarray]] = {"network": (None, network_quality)}
    families_report: dict[str, Any] = {}

    def pick(name: str, predicted: dict[Any, np.ndarray]) -> None:
        briers = {value: brier(p, scores) for value, p in predicted.items()}
        chosen = min(briers, key=briers.__getitem__)
        candidates[name] = (chosen, predicted[chosen])
        families_report[name] = {
            "chosen": chosen,
            "out_of_fold_brier": {str(v): round(b, 5) for v, b in briers.items()},
        }

    if "ridge" in cfg.families:
        pick("ridge", _ridge_out_of_fold(features, scores, folds, cfg.ridge_alphas))
    if "knn" in cfg.families and allow_knn:
        counts = sorted({min(k, n_train) for k in cfg.knn_counts})
        pick("knn", _knn_out_of_fold(keys, scores, folds, counts))
    cluster_counts = [c for c in cfg.cluster_counts if c * cfg.min_cluster_prompts <= n_train]
    if "cluster" in cfg.families and cluster_counts:
        pick("cluster", _cluster_out_of_fold(keys, scores, folds, cluster_counts, seed))
    families_report["network"] = {"out_of_fold_brier": round(brier(network_quality, scores), 5)}
    for name, (_, predicted) in candidates.items():
        families_report[name]["out_of_fold"] = _rounded(scorer.figures(predicted))

    grid = _blend_grid([f for f in FAMILIES if f in candidates], cfg.blend_step)
    scored = []
    for weights in grid:
        blended = np.sum([w * candidates[f][1] for f, w in weights.items()], axis=0)
        scored.append((scorer.figures(blended), weights, blended))
    best_index = max(range(len(scored)), key=lambda i: (scored[i][0]["auc"], -i))
    figures, weights, blended_oof = scored[best_index]

    ridge = cluster = None
    knn_k = 0
    if "ridge" in weights:
        ridge = RidgeQuality.fit_path(features, scores, (float(candidates["ridge"][0]),))[0]
    if "cluster" in weights:
        cluster = ClusterQuality.fit(keys, scores, clusters=int(candidates["cluster"][0]), seed=seed)
    if "knn" in weights:
        knn_k = int(candidates["knn"][0])
    report = {
        "criterion": "out-of-fold normalized AUC on the training table (selector routing, recorded costs)",
        "chosen": {name: round(w, 4) for name, w in weights.items()},
        "out_of_fold": _rounded(figures),
        "families": families_report,
        "blends_tried": len(grid),
        "runner_up": [
            {"weights": w, "auc": round(float(f["auc"] or 0.0), 5)}
            for f, w, _ in sorted(scored, key=lambda s: -float(s[0]["auc"] or 0.0))[1:4]
        ],
    }
    blend = RouterBlend(dict(weights), m, ridge, cluster, knn_k, report)
    return RouterChoice(blend, np.asarray(blended_oof, dtype=np.float64), report)


def _rounded(figures: dict[str, float | None]) -> dict[str, float | None]:
    return {k: None if v is None else round(float(v), 5) for k, v in figures.items()}
