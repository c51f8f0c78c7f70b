"""Calibrate the tier-1 knob on a reference table: the setting that meets a target cost or a target accuracy.

RouteLLM calibrates one threshold between two models; here the knob ranks N models, so calibration sweeps it
over a fine grid, replays the selection on the reference table's prompts (choice made from predictions only,
outcome read from the table) and picks the setting that meets the target, reporting the expected figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from langchain_emafusion.evaluation.converters import estimate_tokens
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.tier1.predictor import Tier1Predictor
from langchain_emafusion.tier1.selector import SelectionCaps, select_models

__all__ = ["CalibrationPoint", "CalibrationResult", "calibrate", "knob_grid"]


def knob_grid() -> list[float]:
    """0 plus 60 log-spaced values from 0.001 to 1000."""
    return [0.0, *np.logspace(-3, 3, 60).tolist()]


@dataclass(frozen=True)
class CalibrationPoint:
    """Figures of one knob setting on the reference table."""

    knob: float
    accuracy: float
    mean_cost_usd: float


@dataclass(frozen=True)
class CalibrationResult:
    """The chosen setting, what it is expected to achieve, and the whole sweep."""

    knob: float
    expected_accuracy: float
    expected_cost_usd: float
    target: str
    met: bool
    curve: list[CalibrationPoint]


def sweep(
    predictor: Tier1Predictor,
    table: Any,
    cards: Sequence[ModelCard],
    *,
    knobs: Sequence[float] | None = None,
    caps: SelectionCaps | None = None,
) -> list[CalibrationPoint]:
    """Accuracy and mean cost of the tier-1 choice at each knob on a reference outcome table."""
    predictions = predictor.predict(list(table.prompts))
    card_by_name = {card.name: card for card in cards}
    models = [m for m in predictor.models if m in card_by_name and m in table.models]
    model_col = [table.models.index(m) for m in models]
    pred_col = [predictor.models.index(m) for m in models]
    usable = [card_by_name[m] for m in models]
    points = []
    for knob in knobs if knobs is not None else knob_grid():
        correct, cost = [], []
        for p, prompt in enumerate(table.prompts):
            selection = select_models(
                usable,
                predictions.quality[p, pred_col],
                predictions.output_tokens[p, pred_col],
                input_tokens=estimate_tokens(prompt),
                knob=knob,
                caps=caps,
            )
            column = model_col[models.index(selection.best)]
            correct.append(table.scores[p, column])
            cost.append(table.costs[p, column])
        points.append(CalibrationPoint(float(knob), float(np.mean(correct)), float(np.mean(cost))))
    return points


def calibrate(
    predictor: Tier1Predictor,
    table: Any,
    cards: Sequence[ModelCard],
    *,
    target_cost_usd: float | None = None,
    target_accuracy: float | None = None,
    caps: SelectionCaps | None = None,
) -> CalibrationResult:
    """Find the knob that meets exactly one target on a reference table.

    With ``target_cost_usd`` the most accurate setting whose mean cost per prompt stays within the target;
    with ``target_accuracy`` the cheapest setting reaching it. When no setting meets the target the closest
    one is returned with ``met=False`` (the cheapest for a cost target, the most accurate for an accuracy one).

    Raises:
        ValueError: Unless exactly one target is given, or for a negative target.
    """
    if (target_cost_usd is None) == (target_accuracy is None):
        raise ValueError("give exactly one of target_cost_usd or target_accuracy")
    curve = sweep(predictor, table, cards, caps=caps)
    if target_cost_usd is not None:
        if target_cost_usd < 0:
            raise ValueError("target_cost_usd must be >= 0")
        within = [p for p in curve if p.mean_cost_usd <= target_cost_usd + 1e-12]
        met = bool(within)
        pick = (
            max(within, key=lambda p: (p.accuracy, -p.mean_cost_usd))
            if within
            else min(curve, key=lambda p: p.mean_cost_usd)
        )
        target = f"mean cost <= ${target_cost_usd:g}"
    else:
        assert target_accuracy is not None
        if not 0 <= target_accuracy <= 1:
            raise ValueError("target_accuracy must lie in [0, 1]")
        reaching = [p for p in curve if p.accuracy >= target_accuracy - 1e-12]
        met = bool(reaching)
        pick = (
            min(reaching, key=lambda p: (p.mean_cost_usd, -p.accuracy))
            if reaching
            else max(curve, key=lambda p: (p.accuracy, -p.mean_cost_usd))
        )
        target = f"accuracy >= {target_accuracy:g}"
    return CalibrationResult(
        knob=pick.knob,
        expected_accuracy=pick.accuracy,
        expected_cost_usd=pick.mean_cost_usd,
        target=target,
        met=met,
        curve=curve,
    )
