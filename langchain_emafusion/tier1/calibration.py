"""Calibrate the tier-1 knob on a reference table: the setting that meets a target cost or a target accuracy.

RouteLLM calibrates one threshold between two models; here the knob ranks N models, so calibration sweeps it
over a grid, replays the selection on the reference table's prompts (choice made from predictions only,
outcome read from the table) and picks the setting that meets the target, reporting the expected figures.
``emafusion train`` stores the whole system's out-of-fold curve in the policy's manifest (see
:mod:`langchain_emafusion.routing.targets`); this module sweeps tier 1 alone, on any table and predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from langchain_emafusion.evaluation.converters import estimate_tokens
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.routing.targets import CalibrationPoint, CalibrationResult, choose_knob
from langchain_emafusion.tier1.predictor import Tier1Predictor
from langchain_emafusion.tier1.selector import SelectionCaps, select_models

__all__ = ["CalibrationPoint", "CalibrationResult", "calibrate", "knob_grid", "sweep", "sweep_predictions"]


def knob_grid() -> list[float]:
    """0 plus 60 log-spaced values from 0.001 to 1000."""
    return [0.0, *np.logspace(-3, 3, 60).tolist()]


def sweep_predictions(
    quality: np.ndarray,
    output_tokens: np.ndarray,
    predicted_models: Sequence[str],
    table: Any,
    cards: Sequence[ModelCard],
    *,
    knobs: Sequence[float],
    caps: SelectionCaps | None = None,
) -> list[CalibrationPoint]:
    """Accuracy and mean cost of the tier-1 choice at each knob, from given per-prompt predictions.

    ``quality`` and ``output_tokens`` are ``(table prompts, predicted_models)``; members without a card or a
    table column are left out of the choice.
    """
    card_by_name = {card.name: card for card in cards}
    models = [m for m in predicted_models if m in card_by_name and m in table.models]
    model_col = [table.models.index(m) for m in models]
    pred_col = [list(predicted_models).index(m) for m in models]
    usable = [card_by_name[m] for m in models]
    input_tokens = [estimate_tokens(prompt) for prompt in table.prompts]
    points = []
    for knob in knobs:
        correct, cost = [], []
        for p in range(len(table.prompts)):
            selection = select_models(
                usable,
                quality[p, pred_col],
                output_tokens[p, pred_col],
                input_tokens=input_tokens[p],
                knob=knob,
                caps=caps,
            )
            column = model_col[models.index(selection.best)]
            correct.append(table.scores[p, column])
            cost.append(table.costs[p, column])
        points.append(CalibrationPoint(float(knob), float(np.mean(correct)), float(np.mean(cost))))
    return points


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
    return sweep_predictions(
        predictions.quality,
        predictions.output_tokens,
        predictor.models,
        table,
        cards,
        knobs=knobs if knobs is not None else knob_grid(),
        caps=caps,
    )


def calibrate(
    predictor: Tier1Predictor,
    table: Any,
    cards: Sequence[ModelCard],
    *,
    target_cost_usd: float | None = None,
    target_accuracy: float | None = None,
    caps: SelectionCaps | None = None,
) -> CalibrationResult:
    """Find the knob that meets exactly one target on a reference table (see :func:`choose_knob`).

    With ``target_cost_usd`` the most accurate setting whose mean cost per prompt stays within the target;
    with ``target_accuracy`` the cheapest setting reaching it. When no setting meets the target the closest
    one is returned with ``met=False`` (the cheapest for a cost target, the most accurate for an accuracy one).

    Raises:
        InvalidInputError: (a ``ValueError``) Unless exactly one target is given, or for a target out of range.
    """
    if (target_cost_usd is None) == (target_accuracy is None):
        raise ValueError("give exactly one of target_cost_usd or target_accuracy")
    curve = sweep(predictor, table, cards, caps=caps)
    return choose_knob(
        curve,
        target_accuracy=target_accuracy,
        max_mean_cost_usd=target_cost_usd,
        source=f"tier 1 alone on a reference table of {len(table.prompts)} prompts",
    )
