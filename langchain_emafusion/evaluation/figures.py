"""Figures of ``../shared/docs/EVALUATION.md``, computed on a test table and the policies' replay runs.

Conventions (where the document leaves a choice):

- **best single model**: the most accurate; ties go to the cheaper, then to the earlier model in the table.
- **oracle**: per prompt, the best score any model reaches (a prompt is right if any model is right; with
  fractional scores, the highest score); its cost is the cheapest model reaching that score, and when no model
  gets any credit (best score 0) the cheapest model's cost, since a real router still has to call one.
- **accuracy at the best single model's cost**: None when no frontier point is that cheap.
- **cost ratio**: None when the frontier never reaches the best single model's accuracy, or that model is free.
- **normalized AUC**: when the cheapest and the best single model cost the same, the range is a point and the
  figure is the envelope's value there.
- Comparisons allow a relative slack of 1e-9 on costs and 1e-12 on accuracies, so that a policy that always
  picks the best single model is counted as matching it despite float summation order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from langchain_emafusion.evaluation.replay import PolicyRun
from langchain_emafusion.evaluation.table import OutcomeTable

__all__ = [
    "model_figures",
    "best_single_model",
    "cheapest_single_model",
    "oracle_figures",
    "upper_envelope",
    "auc_normalized",
    "accuracy_at_cost",
    "cost_ratio_to_accuracy",
    "build_report",
]

_COST_SLACK = 1e-9
_ACCURACY_SLACK = 1e-12

Point = tuple[float, float]
"""A frontier point: (mean cost in US$, accuracy)."""


def _within_budget(cost: float, budget: float) -> bool:
    return cost <= budget * (1 + _COST_SLACK) + 1e-15


def model_figures(table: OutcomeTable) -> dict[str, dict[str, Any]]:
    """Return each single model's accuracy and mean cost per prompt (plus latency percentiles where present)."""
    figures: dict[str, dict[str, Any]] = {}
    for m, model in enumerate(table.models):
        entry: dict[str, Any] = {
            "accuracy": float(table.scores[:, m].mean()),
            "cost_usd": float(table.costs[:, m].mean()),
        }
        latencies = table.latencies[:, m]
        if np.isfinite(latencies).any():
            entry["latency_p50_s"] = float(np.nanpercentile(latencies, 50))
            entry["latency_p95_s"] = float(np.nanpercentile(latencies, 95))
        figures[model] = entry
    return figures


def best_single_model(models: dict[str, dict[str, Any]]) -> str:
    """Return the most accurate model (ties: the cheaper, then the first listed)."""
    order = list(models)
    return min(
        order, key=lambda name: (-models[name]["accuracy"], models[name]["cost_usd"], order.index(name))
    )


def cheapest_single_model(models: dict[str, dict[str, Any]]) -> str:
    """Return the cheapest model (ties: the more accurate, then the first listed)."""
    order = list(models)
    return min(
        order, key=lambda name: (models[name]["cost_usd"], -models[name]["accuracy"], order.index(name))
    )


def oracle_figures(table: OutcomeTable) -> dict[str, float]:
    """Return the oracle's accuracy and mean cost (see the module docstring for the conventions)."""
    best_scores = table.scores.max(axis=1)
    reaching = table.scores >= best_scores[:, None]
    # With no credit anywhere every model "reaches" 0, so the cheapest model's cost is taken, as documented.
    costs = np.where(reaching, table.costs, np.inf).min(axis=1)
    return {"accuracy": float(best_scores.mean()), "cost_usd": float(costs.mean())}


def upper_envelope(points: Sequence[Point]) -> list[Point]:
    """Return the non-decreasing upper envelope of frontier points, sorted by cost.

    Args:
        points: (cost, accuracy) pairs in any order.

    Returns:
        One point per distinct cost, with the best accuracy reached at that cost or less.
    """
    envelope: list[Point] = []
    best = -np.inf
    for cost, accuracy in sorted(points, key=lambda point: (point[0], -point[1])):
        best = max(best, accuracy)
        if envelope and envelope[-1][0] == cost:
            continue  # same cost: the first (most accurate) point already holds the best value
        envelope.append((float(cost), float(best)))
    return envelope


def _envelope_value(envelope: Sequence[Point], cost: float) -> float:
    if not envelope or cost < envelope[0][0]:
        return 0.0
    if cost >= envelope[-1][0]:
        return envelope[-1][1]
    costs = [point[0] for point in envelope]
    return float(np.interp(cost, costs, [point[1] for point in envelope]))


def auc_normalized(points: Sequence[Point], low: float, high: float) -> float:
    """Area under the frontier's upper envelope over [low, high], divided by ``high - low``.

    The envelope joins its points with straight lines, stays flat after its last point and is 0 below its
    cheapest point (RouterBench's AIQ, normalized to the cost range).

    Args:
        points: Frontier (cost, accuracy) pairs.
        low: Start of the cost range (the cheapest single model's cost).
        high: End of the cost range (the best single model's cost).

    Returns:
        The normalized area, in [0, 1] for accuracies in [0, 1].
    """
    envelope = upper_envelope(points)
    if high <= low:
        return _envelope_value(envelope, low)
    breaks = sorted({low, high, *(cost for cost, _ in envelope if low < cost < high)})
    area = 0.0
    for start, end in zip(breaks[:-1], breaks[1:], strict=True):
        if envelope and start >= envelope[0][0]:
            # Every envelope cost is a break, so the envelope is linear (and continuous) on [start, end].
            area += (end - start) * (_envelope_value(envelope, start) + _envelope_value(envelope, end)) / 2
    return area / (high - low)


def accuracy_at_cost(points: Sequence[Point], budget: float) -> float | None:
    """Return the highest accuracy among frontier points costing at most ``budget`` (None if none does)."""
    eligible = [accuracy for cost, accuracy in points if _within_budget(cost, budget)]
    return max(eligible) if eligible else None


def cost_ratio_to_accuracy(
    points: Sequence[Point], target_accuracy: float, reference_cost: float
) -> float | None:
    """Return the lowest cost reaching ``target_accuracy``, divided by ``reference_cost`` (None if never)."""
    costs = [cost for cost, accuracy in points if accuracy >= target_accuracy - _ACCURACY_SLACK]
    if not costs or reference_cost <= 0:
        return None
    return min(costs) / reference_cost


def build_report(table: OutcomeTable, runs: Sequence[PolicyRun]) -> dict[str, Any]:
    """Build the JSON report of a test table and its policies' replay runs.

    Args:
        table: The test table.
        runs: Each policy's replay at its knob settings.

    Returns:
        A JSON-serializable dict with the stable keys ``n_prompts``, ``models``, ``best_single_model``,
        ``oracle`` and ``policies`` (each with ``frontier``, ``accuracy_at_best_single_cost``,
        ``cost_ratio_to_best_single_accuracy`` and ``auc_normalized``), plus ``cheapest_single_model``.
    """
    models = model_figures(table)
    best = best_single_model(models)
    cheapest = cheapest_single_model(models)
    best_cost, best_accuracy = models[best]["cost_usd"], models[best]["accuracy"]
    low = models[cheapest]["cost_usd"]
    policies: dict[str, Any] = {}
    for run in runs:
        frontier = []
        for setting_run in run.settings:
            point: dict[str, Any] = {
                "setting": setting_run.setting,
                "accuracy": setting_run.accuracy,
                "cost_usd": setting_run.mean_cost_usd,
                "calls_per_prompt": setting_run.calls_per_prompt,
            }
            p50 = setting_run.latency_percentile(50)
            if p50 is not None:
                point["latency_p50_s"] = p50
                point["latency_p95_s"] = setting_run.latency_percentile(95)
            frontier.append(point)
        points = [(point["cost_usd"], point["accuracy"]) for point in frontier]
        policies[run.name] = {
            "frontier": frontier,
            "accuracy_at_best_single_cost": accuracy_at_cost(points, best_cost),
            "cost_ratio_to_best_single_accuracy": cost_ratio_to_accuracy(points, best_accuracy, best_cost),
            "auc_normalized": auc_normalized(points, low, best_cost),
        }
    return {
        "n_prompts": table.n_prompts,
        "models": models,
        "best_single_model": best,
        "cheapest_single_model": cheapest,
        "oracle": oracle_figures(table),
        "policies": policies,
    }
