"""`Tier1Router`: the live router over a trained tier-1 predictor."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from langchain_emafusion.fusion.model import TIER2_FILE, Tier2Model
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.routing.base import Router, RoutingDecision, RoutingRequest, eligible_cards, known_as
from langchain_emafusion.routing.targets import MANIFEST_FILE, CalibrationPoint, load_calibration
from langchain_emafusion.tier1.predictor import CONFIG_FILE, PredictorFileError, Tier1Predictor
from langchain_emafusion.tier1.selector import SelectionCaps, select_models

__all__ = ["Tier1Router"]

DEFAULT_QUALITY_COST_TRADEOFF = 0.2
"""Default knob: give up at most 0.2 of predicted probability to pay the full price spread of a request."""


class Tier1Router(Router):
    """Rank the eligible members by predicted quality − knob · normalized expected cost.

    The predictor is loaded on the first request and reused (one load per router). A member is known by its
    name, else by what it runs (``ModelCard.runs``). Members the predictor has never seen (added to the pool
    after training, not onboarded) get the average predicted quality of the known members for that prompt and
    the request's output budget as their length, and are named in the reason.

    Example:
        .. code-block:: python

            llm = FusionChatModel(pool=pool, router="predictor/")                      # default knob
            llm = FusionChatModel(pool=pool, router=Tier1Router("predictor/", quality_cost_tradeoff=0.5))
    """

    name = "tier1"

    def __init__(
        self,
        predictor: str | os.PathLike[str] | Tier1Predictor,
        *,
        quality_cost_tradeoff: float = DEFAULT_QUALITY_COST_TRADEOFF,
    ) -> None:
        """Create the router (nothing heavy is loaded here).

        Args:
            predictor: A folder written by ``emafusion train`` (or ``Tier1Predictor.save``), or a predictor.
            quality_cost_tradeoff: Default knob when the request does not set one (≥ 0).

        Raises:
            PredictorFileError: The folder holds no saved predictor.
            ValueError: A negative knob.
        """
        if not quality_cost_tradeoff >= 0:
            raise ValueError(f"quality_cost_tradeoff must be >= 0, got {quality_cost_tradeoff!r}")
        self.quality_cost_tradeoff = quality_cost_tradeoff
        self._lock = threading.Lock()
        self._tier2: Tier2Model | None = None
        self._tier2_loaded = False
        if isinstance(predictor, Tier1Predictor):
            self._predictor: Tier1Predictor | None = predictor
            self.path: Path | None = None
        else:
            self._predictor = None
            self.path = Path(predictor)
            if not (self.path / CONFIG_FILE).is_file():
                raise PredictorFileError(
                    f"{self.path} holds no tier-1 predictor ({CONFIG_FILE} missing): train one with "
                    "`emafusion train --outcomes TRAIN.jsonl --out DIR`"
                )

    @property
    def predictor(self) -> Tier1Predictor:
        """The predictor, loaded on first use."""
        if self._predictor is None:
            with self._lock:
                if self._predictor is None:
                    assert self.path is not None
                    self._predictor = Tier1Predictor.load(self.path)
        return self._predictor

    @property
    def tier2(self) -> Tier2Model | None:
        """The trained tier 2 saved next to the predictor (``tier2.json``), loaded on first use; None without."""
        if not self._tier2_loaded:
            with self._lock:
                if not self._tier2_loaded:
                    if self.path is not None and (self.path / TIER2_FILE).is_file():
                        self._tier2 = Tier2Model.load(self.path)
                    self._tier2_loaded = True
        return self._tier2

    def calibration(self) -> tuple[list[CalibrationPoint], str] | None:
        """The policy folder's out-of-fold knob curve (written by ``emafusion train``); None without a folder.

        Raises:
            InvalidInputError: The folder's policy was trained before curves were saved, or is malformed.
        """
        if self.path is None or not (self.path / MANIFEST_FILE).is_file():
            return None
        return load_calibration(self.path)

    def training_quality(self, pool: ModelPool) -> dict[str, float] | None:
        """The mean recorded score of each member on the training table (None when the predictor kept none)."""
        predictor = self.predictor
        scores = predictor.memory_scores
        if scores is None:
            return None
        index = {name: i for i, name in enumerate(predictor.models)}
        means: dict[str, float] = {}
        for card in pool:
            known = known_as(card, index)
            if known is None:
                continue
            recorded = scores[:, index[known]]
            recorded = recorded[~np.isnan(recorded)]
            if recorded.size:
                means[card.name] = float(recorded.mean())
        return means or None

    def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
        """Predict every eligible member's quality for this prompt and rank them under the knob and caps."""
        eligible = eligible_cards(request, pool)
        predictor = self.predictor
        predictions = predictor.predict([request.prompt])
        models = {name: i for i, name in enumerate(predictor.models)}
        # Pool member -> the predictor's column for it (by name, else by what it runs).
        index = {c.name: models[k] for c in pool if (k := known_as(c, models)) is not None}
        known = [index[c.name] for c in eligible if c.name in index]
        fallback_quality = float(predictions.quality[0, known].mean()) if known else 0.5
        quality = [
            float(predictions.quality[0, index[c.name]]) if c.name in index else fallback_quality
            for c in eligible
        ]
        tokens = [
            float(np.minimum(predictions.output_tokens[0, index[c.name]], request.max_output_tokens))
            if c.name in index
            else float(request.max_output_tokens)
            for c in eligible
        ]
        knob = (
            self.quality_cost_tradeoff
            if request.quality_cost_tradeoff is None
            else request.quality_cost_tradeoff
        )
        selection = select_models(
            eligible,
            quality,
            tokens,
            input_tokens=request.input_tokens,
            knob=knob,
            caps=SelectionCaps(max_cost_usd=request.max_cost_usd),
        )
        unknown = [c.name for c in eligible if c.name not in index]
        best = selection.best
        reason = (
            f"tier-1 predicted quality {selection.quality[best]:.3f} at expected "
            f"${selection.expected_cost_usd[best]:.6f} (knob {knob:g}) for {best}, best of {len(selection.ranked)}"
        )
        if unknown:
            reason += f"; not in the predictor (average quality assumed): {', '.join(unknown)}"
        strategy = "single"
        tier2 = self.tier2
        task_probs = None if predictions.task_probs is None else predictions.task_probs[0]
        if tier2 is not None and len(selection.ranked) > 1:
            if request.needs_tools or request.needs_structured_output:
                reason += "; tier 2: single (tool calls and structured output are not fused)"
            else:
                strategy = tier2.strategy_for(tier2.predicted_task(task_probs), knob)
                reason += f"; tier 2 strategy for this prompt and knob: {strategy}"
        return RoutingDecision(
            models=selection.ranked,
            strategy=strategy,
            router=self.name,
            reason=reason,
            scores=selection.quality,
            details={
                "task_probs": None if task_probs is None else [round(float(p), 6) for p in task_probs],
                "quality_cost_tradeoff": knob,
                "expected_cost_usd": selection.expected_cost_usd,
                "utility": selection.utility,
                "predicted_task": predictions.task(0),
                "excluded": selection.excluded,
                # Every pool member the predictor knows, eligible or not (the savings ledger's counterfactuals).
                "predicted_quality": {
                    c.name: round(float(predictions.quality[0, index[c.name]]), 6)
                    for c in pool
                    if c.name in index
                },
                "predicted_output_tokens": {
                    c.name: round(
                        float(
                            np.minimum(predictions.output_tokens[0, index[c.name]], request.max_output_tokens)
                        ),
                        1,
                    )
                    for c in pool
                    if c.name in index
                },
            },
        )
